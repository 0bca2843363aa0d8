"""The engine's write path under retries, races and odd input.

Real SDK, real HTTPS, the emulator as ARM. A second writer (a person) is played through the
emulator's request hook: their GET and PATCH, with their own token, land exactly where the
scenario needs them, between our read and our write.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from engine_helpers import SUB_A, SimulatedClock, as_person, make_harness, ours, rid, write_event
from reliability import adversarial

from acrguard.audit import Audit
from acrguard.azure.arm import TransientArmError
from acrguard.azure.resource_ids import RegistryRef
from acrguard.notify import Notifier
from acrguard.notify.sinks import WebhookSink

PROD = rid("contosoprod")
STD = rid("contosostd")
USER_RULE = "192.0.2.55"


def add_rule_as_person(emu: Any, resource_id: str, value: str) -> None:
    """``az acr network-rule add``: a GET, then a PATCH of the whole rule set plus one rule."""
    rule_set = as_person(emu, "GET", resource_id)["properties"]["networkRuleSet"]
    rule_set["ipRules"] = [*rule_set["ipRules"], {"action": "Allow", "value": value}]
    as_person(emu, "PATCH", resource_id, {"properties": {"networkRuleSet": rule_set}})


def ip_rules(emu: Any, resource_id: str) -> list[str]:
    return [r["value"] for r in emu.get_registry(resource_id)["properties"]["networkRuleSet"]["ipRules"]]


FAILURES = {
    "409 (the person's write in flight)": {"status": 409},
    "503": {"status": 503},
    "connection reset": {"reset": "rst"},
}


@pytest.mark.parametrize("failure", list(FAILURES))
def test_a_retried_patch_is_recomputed_from_the_read_just_before_it(seeded, failure):
    """Our PATCH fails (409, 503, reset); meanwhile the person's write lands with
    a new IP rule. The retry used to resend the change computed from the first read, dropping the
    person's rule while the audit line said "applied". Now it re-reads and keeps it."""
    fired = threading.Event()

    def person_writes_then_our_patch_fails(request: Any) -> None:
        if request.method == "PATCH" and ours(seeded, request) and not fired.is_set():
            fired.set()
            add_rule_as_person(seeded, PROD, USER_RULE)
            seeded.inject(method="PATCH", resource_id=PROD, times=1, **FAILURES[failure])

    seeded.on_arm_request(person_writes_then_our_patch_fails)
    h = make_harness(settle_s=0)  # the retry alone: no waiting for the registry to settle
    h.engine.handle(write_event(PROD))

    assert fired.is_set()
    assert USER_RULE in ip_rules(seeded, PROD)
    assert {"20.1.2.0/24", "20.9.8.7"} <= set(ip_rules(seeded, PROD))
    applied = next(r for r in h.records if r.rule == "network_rules")
    assert applied.outcome == "applied"
    assert USER_RULE in [r["value"] for r in applied.after["networkRuleSet"]["ipRules"]]
    last_patch = seeded.requests_for(method="PATCH", resource_id=PROD)[-1].body
    assert USER_RULE in [r["value"] for r in last_patch["properties"]["networkRuleSet"]["ipRules"]]
    adversarial(
        2,
        f"our PATCH fails ({failure}) while a person adds an IP rule; then our retry",
        "the retry re-read and kept the person's rule; audit 'applied' with it in 'after'",
    )


def test_a_change_that_landed_before_the_retry_is_not_sent_twice(seeded):
    """The other half of the retry: our PATCH was accepted but its status poll failed; the
    retry re-reads, finds nothing left to change, and sends no second PATCH."""
    seeded.set_lro("async", polls=0, retry_after=1)
    seeded.inject(route="operation", reset="rst", times=1)
    h = make_harness(settle_s=0)
    h.engine.handle(write_event(STD))
    assert len(seeded.requests_for(method="PATCH", resource_id=STD)) == 1
    applied = next(r for r in h.records if r.rule == "anonymous_pull")
    assert applied.outcome == "applied"  # confirmed by the re-read
    assert applied.after == {"anonymousPullEnabled": False}
    adversarial(2, "our PATCH landed but its status poll failed", "one PATCH; the re-read confirmed it")


def test_a_kept_rule_open_to_everyone_is_flagged_on_the_first_pass(seeded):
    """defaultAction Allow with an existing 0.0.0.0/0 rule. The PATCH sets Deny
    and keeps 0.0.0.0/0 (keep mode), so the registry is still open to everyone: the decision for
    the firewall must be "flagged" (a person must act), not "applied"."""
    as_person(
        seeded,
        "PATCH",
        PROD,
        {"properties": {"networkRuleSet": {"defaultAction": "Allow", "ipRules": [{"value": "0.0.0.0/0"}]}}},
    )
    h = make_harness(settle_s=0)
    h.engine.handle(write_event(PROD))
    outcomes = dict(h.outcomes(PROD))
    assert outcomes == {"anonymous_pull": "applied", "network_rules": "flagged"}
    firewall = next(r for r in h.records if r.rule == "network_rules")
    assert "0.0.0.0/0" in firewall.reason and "a person must act" in firewall.reason
    assert firewall.after["networkRuleSet"]["defaultAction"] == "Deny"
    assert "0.0.0.0/0" in ip_rules(seeded, PROD)  # keep mode: never removed
    adversarial(
        6, "Allow + an existing 0.0.0.0/0 rule, keep mode", "Deny set, 0.0.0.0/0 kept, decision flagged"
    )


def test_a_failed_operation_with_a_transient_code_is_retried_and_then_raised(seeded):
    """A long-running PATCH that ends Failed with a transient code
    (InternalServerError, Conflict, throttling) was logged as "failed" and never raised, so the
    event was neither redelivered nor dead-lettered. Now it is retried, then raised."""
    seeded.set_lro("async", polls=0, retry_after=1, outcome="Failed", error_code="Conflict")
    h = make_harness(settle_s=0, max_attempts=2, retry_budget_s=20)
    with pytest.raises(TransientArmError, match="Failed"):
        h.engine.handle(write_event(STD))
    assert seeded.counters.writes(STD) == 2  # retried once, from a fresh read
    assert [r.outcome for r in h.records if r.registry == STD][-1] == "failed"
    adversarial(
        10, "the PATCH's operation ends Failed (Conflict) every time", "retried, then raised for redelivery"
    )


def test_a_failed_operation_is_retried_until_it_succeeds(seeded):
    """The first operation ends Failed (InternalServerError); the retry re-reads,
    sends the PATCH again, that operation succeeds, and the decision is "applied"."""
    seeded.set_lro("async", polls=0, retry_after=1, outcome="Failed", error_code="InternalServerError")
    patches = []

    def succeed_from_the_second_patch(request: Any) -> None:
        if request.method == "PATCH" and ours(seeded, request):
            patches.append(request)
            if len(patches) == 2:
                seeded.set_lro("sync")

    seeded.on_arm_request(succeed_from_the_second_patch)
    h = make_harness(settle_s=0)
    h.engine.handle(write_event(STD))
    assert len(patches) == 2
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is False
    assert ("anonymous_pull", "applied") in h.outcomes(STD)
    adversarial(
        10, "the first operation ends Failed (InternalServerError)", "re-read, PATCHed again, applied"
    )


def test_a_failed_operation_with_a_permanent_code_is_failed_and_not_raised(seeded):
    """A permanent failure code is not retried and not redelivered."""
    seeded.set_lro("async", polls=0, retry_after=1, outcome="Failed", error_code="InvalidParameter")
    h = make_harness(settle_s=0)
    h.engine.handle(write_event(STD))
    assert seeded.counters.writes(STD) == 1
    failed = next(r for r in h.records if r.rule == "anonymous_pull")
    assert failed.outcome == "failed" and "InvalidParameter" in failed.reason
    adversarial(
        10, "the operation ends Failed (InvalidParameter)", "failed with the code; not retried or raised"
    )


def test_polling_stops_at_the_retry_budget_and_raises_for_redelivery(seeded):
    """Polling ignored the retry budget (two polls with Retry-After: 45 took
    90 s with a 3 s budget). An operation still running when the budget is spent has an unknown
    outcome: raise so that the redelivered event re-reads and finds out."""
    seeded.set_lro("async", polls=5, retry_after=45)
    clock = SimulatedClock()
    h = make_harness(settle_s=0, retry_budget_s=3)
    h.engine.arm.clock = clock
    with pytest.raises(TransientArmError, match="still running"):
        h.engine.handle(write_event(STD))
    assert sum(clock.slept) <= 3
    assert [r.outcome for r in h.records if r.registry == STD][-1] == "failed"
    assert seeded.counters.writes(STD) == 1  # never a second PATCH while the first may still land
    adversarial(
        10,
        "polls answer Retry-After: 45 with a 3 s budget",
        f"raised for redelivery after {sum(clock.slept):g} s of waiting; one PATCH",
    )


def test_a_registry_id_the_parser_rejects_is_skipped_and_the_sweep_goes_on(seeded):
    """A listed registry whose ID the parser rejects is skipped with its reason, and the sweep goes on
    to the registries after it (a ValueError once escaped ``reconcile`` and stopped the sweep)."""
    good = seeded.get_registry(PROD)
    odd = {**good, "id": good["id"].replace("contosoprod", "bad_name!")}
    seeded.inject(route="list", status=200, body={"value": [odd, good]}, times=1)
    h = make_harness(settle_s=0)
    summary = h.engine.reconcile([SUB_A])
    skipped = [r for r in summary.results if r.registry and "bad_name" in r.registry]
    assert skipped and skipped[0].outcome == "skipped"
    assert "is not a container registry resource ID" in skipped[0].records[0].reason
    assert ("anonymous_pull", "applied") in h.outcomes(PROD)
    adversarial(11, "a listed registry ID the parser rejects", "skipped with the reason; the next one fixed")


_LOCK_STRIPES = 64  # the engine's former lock stripes (now one lock per registry)


def _same_stripe_as(name: str) -> str:
    """A registry name whose lock stripe is the same as ``name``'s (in this process)."""
    stripe = hash(RegistryRef.parse(rid(name)).key) % _LOCK_STRIPES
    for i in range(100_000):
        candidate = f"stripe{i:05d}"
        if hash(RegistryRef.parse(rid(candidate)).key) % _LOCK_STRIPES == stripe:
            return candidate
    raise AssertionError("no registry name on the same stripe")


def test_a_hanging_webhook_never_holds_up_a_decision_about_another_registry(seeded):
    """Notifications are sent after the per-registry lock is released, so a webhook that never
    answers holds up no delivery on the same lock stripe (19 s seen when they were sent under it)."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    arrived, release = threading.Event(), threading.Event()

    class Hanging(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            arrived.set()
            release.wait(30)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Hanging)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    other = _same_stripe_as("contosoprod")
    seeded.add_registry(
        subscription=SUB_A,
        resource_group="rg-platform",
        name=other,
        sku="Standard",
        properties={"anonymousPullEnabled": False},
    )
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        h = make_harness(settle_s=0)
        h.engine.audit = Audit([h.records.append, Notifier([WebhookSink(url, "json", timeout_s=60)])])
        first = threading.Thread(target=h.engine.handle, args=(write_event(PROD),))
        first.start()
        assert arrived.wait(20), "the first decision's notification never left"
        second = threading.Thread(target=h.engine.handle, args=(write_event(rid(other)),))
        second.start()
        second.join(timeout=10)
        decided = not second.is_alive()
        assert decided, "the second registry waited for the first one's webhook"
        assert ("anonymous_pull", "compliant") in h.outcomes(rid(other))
    finally:
        release.set()
        first.join(timeout=30)
        server.shutdown()
        server.server_close()
    adversarial(
        12,
        "a webhook that never answers while another registry on the same lock stripe is handled",
        "the other registry was decided while the webhook still hung",
    )


def test_a_rule_that_drifts_while_we_wait_to_settle_is_reported_when_our_patch_fixes_it(seeded):
    """Every write has its audit line, and "fixed" is never reported as "compliant": the firewall
    drifts, so the engine waits for the registry to settle; while it waits, a person turns
    anonymous pull on. The re-read's plan fixes both and the PATCH turns anonymous pull off again,
    so the records say anonymous pull was "applied" (emitted from the first read, they said
    "compliant", and no record or notification told that we changed it)."""
    as_person(seeded, "PATCH", PROD, {"properties": {"anonymousPullEnabled": False}})
    gets: list[Any] = []
    lock = threading.Lock()

    def person_enables_anonymous_pull_during_our_wait(request: Any) -> None:
        if request.method == "GET" and ours(seeded, request):
            with lock:
                gets.append(request)
                second = len(gets) == 2
            if second:
                as_person(seeded, "PATCH", PROD, {"properties": {"anonymousPullEnabled": True}})

    seeded.on_arm_request(person_enables_anonymous_pull_during_our_wait)
    h = make_harness(settle_s=0.5)
    h.engine.handle(write_event(PROD))

    last_patch = seeded.requests_for(method="PATCH", resource_id=PROD)[-1]
    assert ours(seeded, last_patch) and last_patch.body["properties"]["anonymousPullEnabled"] is False
    anonymous = [r.outcome for r in h.records if r.rule == "anonymous_pull"]
    assert "applied" in anonymous, f"our PATCH turned anonymous pull off, but the audit says {anonymous}"
