"""Adversarial review of issue 17 ("Trust"): cases that still broke a safety promise.

Real SDK, real HTTPS, the emulator as ARM; a second writer (a person) is played through the
emulator's request hook, as in tests/engine/test_write_path.py.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest
from cli_helpers import invoke
from engine_helpers import SUB_A, as_person, make_harness, ours, rid, write_event

PROD = rid("contosoprod")
STD = rid("contosostd")


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_a_malformed_retry_after_is_a_transient_failure_not_a_crash(seeded, method):
    """Review of issue 17, "transient failures are retried then raised, never a crash": a 503
    whose ``Retry-After`` is neither seconds nor an HTTP date (``soon``; a proxy's or gateway's
    answer) made ``email.utils.parsedate_to_datetime`` raise ValueError inside the retry loop's
    wait. It escaped the engine as a bare ValueError: no audit line for the registry, no retry."""
    seeded.inject(method=method, resource_id=STD, status=503, headers={"Retry-After": "soon"}, times=1)
    h = make_harness(settle_s=0)
    h.engine.handle(write_event(STD))  # retried with the usual backoff; the second attempt works
    assert ("anonymous_pull", "applied") in h.outcomes(STD)


def test_a_malformed_retry_after_does_not_stop_a_sweep(seeded):
    """Review of issue 17 (item 11's promise, "one registry that cannot be handled never stops the
    sweep"): the same malformed ``Retry-After`` on every PATCH of one registry made ``reconcile``
    raise ValueError, so the sweep returned no summary at all (the CLI printed an internal error)."""
    seeded.inject(method="PATCH", resource_id=STD, status=503, headers={"Retry-After": "soon"}, times=None)
    h = make_harness(settle_s=0, max_attempts=2)
    summary = h.engine.reconcile([SUB_A])
    assert [r.outcome for r in summary.results if r.registry == STD] == ["failed"]
    assert summary.transient_errors  # raised by the timer, so the failure is seen
    assert ("anonymous_pull", "applied") in h.outcomes(PROD)


def test_a_rule_that_drifts_while_we_wait_to_settle_is_reported_when_our_patch_fixes_it(seeded):
    """Review of issue 17 (every write has its audit line; "fixed" is never reported as
    "compliant"): the firewall drifts, so the engine waits for the registry to settle. While it
    waits, a person turns anonymous pull on. The re-read's plan fixes both, and the PATCH turns
    anonymous pull off again, but the records were emitted from the first read: anonymous pull was
    reported "compliant" and no "applied" record (nor notification) ever said that we changed it.
    The person's own event then re-reads and finds it "compliant" too."""
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


def test_an_override_rule_enforce_does_not_upgrade_a_base_rule_dry_run(seeded):
    """Review of issue 17 item 1 ("a dry-run from any source means no write"; README: "enforce
    never upgrades a dry-run stated elsewhere"): the base rule says ``mode: dry-run``; an override
    that matches says ``rules.anonymous_pull.mode: enforce``. The override's rules are deep-merged
    over the base, so the rule's dry-run is replaced before ``mode_of`` looks, and the registry
    is written. (The opposite case, a base rule's enforce against an override's dry-run trial, is
    tested in test_policy.py and holds.)"""
    policy = f"""
version: 1
mode: enforce
rules:
  anonymous_pull: {{enabled: true, mode: dry-run}}
overrides:
  - match: {{subscription: '{SUB_A}'}}
    rules: {{anonymous_pull: {{mode: enforce}}}}
"""
    h = make_harness(policy, settle_s=0)
    h.engine.handle(write_event(STD))
    assert seeded.counters.writes(STD) == 0
    assert h.outcomes(STD) == [("anonymous_pull", "planned"), ("firewall_unavailable", "flagged")]


SECRET = "SECRETSIGNATURE123"


@pytest.mark.parametrize(
    "url",
    [
        # the storage account's "Blob service SAS URL" (no container): "names no container"
        f"https://acct.blob.core.windows.net/?sv=2022-11-02&ss=b&sig={SECRET}",
        # not a URL the parser takes at all
        f"acct.blob.core.windows.net/deadletters?sig={SECRET}",
        # userinfo: echoed in "N blob(s) in <url>" and in every storage error line
        f"https://user:{SECRET}@127.0.0.1:9/acct/deadletters",
    ],
    ids=["sas-no-container", "no-scheme", "userinfo"],
)
def test_a_dead_letter_url_secret_is_never_echoed(emu, url):
    """Review of issue 17 item 4 ("no CLI output may contain a URL's path, query or userinfo"):
    ``replay --dead-letter URL`` quoted the URL whole in its errors (a SAS token's ``sig=``) and
    kept its userinfo in the container label printed on every line."""
    result = invoke("replay", "--dead-letter", url, "-o", "json", AZURE_STORAGE_CONNECTION_STRING=None)
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
