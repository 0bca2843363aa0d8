"""The fault matrix: every ARM fault the emulator injects x every entry point, outcome asserted.

Entry points: the real Event Grid function object (``on_registry_write``), the real timer function
object (``reconcile``), and the CLI's ``check`` and ``sweep`` (in process; tests/test_cli.py runs
each command once as the installed entry point). Each cell starts cold (a fresh credential and fresh
clients), seeds the demo estate and targets its drifted Premium registry, contosoprod. Waits are
counted, not waited (tests/simulated_time.py): each cell asserts the ones it asked for.

Expected outcomes follow the retry design in acrguard/azure/arm.py:

- transient (429, 5xx, connection reset, read timeout, 409 while Updating, ARM 401, managed-
  identity failures): **converged** when the fault is finite (retried, then fixed with one
  write), **re-raised** when it persists past the retry budget (the Function raises so Event
  Grid redelivers; the timer invocation fails; the CLI exits 1);
- 404: **skipped** with the reason (``acrguard check`` on a registry that does not exist is a
  usage error instead: exit 1);
- 400 and 403: **failed** with the reason in the audit line (403 names the missing action), not
  retried and not raised: a redelivery would not help.

Every cell also asserts that nothing is lost (a fix, an audit line with the reason, or a raise)
and that no write is wrong or duplicated (the emulator's request log: accepted PATCHes, their
bodies, and no write to any registry that is compliant, Basic or exempt). Each cell's observation
is recorded for docs/RELIABILITY.md (``make reliability``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from cli_helpers import invoke
from engine_helpers import (
    DEMO_POLICY,
    DEMO_SEED,
    SUB_A,
    SimulatedClock,
    function_object,
    make_harness,
    rid,
    write_event,
)
from reliability import record
from simulated_time import skip_waits

from acrguard import runtime
from acrguard.azure.arm import TransientArmError
from emulator.event_delivery import host_event

PROD = rid("contosoprod")
UNTOUCHABLE = [rid(n) for n in ("contosolocked", "contosobasic", "publicdist")]  # compliant, Basic, exempt
POLICY = DEMO_POLICY
ENTRIES = ("event", "reconcile", "cli check", "cli sweep")
# Small budgets keep the matrix fast; the defaults (6 attempts, 60 s, 20 s) only scale the same
# logic. Status faults carry Retry-After: 0 (honoured: no wait) except the "429 without
# Retry-After" row; resets and timeouts carry no header and exercise the exponential backoff.
FINITE_ENV = {"ACRGUARD_MAX_ATTEMPTS": "4", "ACRGUARD_RETRY_BUDGET_S": "8", "ACRGUARD_HTTP_TIMEOUT_S": "5"}
PERSISTENT_ENV = {
    "ACRGUARD_MAX_ATTEMPTS": "2",
    "ACRGUARD_RETRY_BUDGET_S": "3",
    "ACRGUARD_HTTP_TIMEOUT_S": "5",
}
TIMEOUT_ENV = {"ACRGUARD_HTTP_TIMEOUT_S": "0.5"}  # the emulator waits 1.5 s: a read timeout
PATCH_KEYS = {"anonymousPullEnabled", "networkRuleSet", "networkRuleBypassOptions"}


def read_call(entry: str) -> dict[str, Any]:
    """The first ARM call that decides: the registry GET, or the list page of a sweep."""
    if entry in ("reconcile", "cli sweep"):
        return {"route": "list"}
    return {"method": "GET", "resource_id": PROD}


WRITE_CALL = {"method": "PATCH", "resource_id": PROD}
WHERE = {
    "read+write": "first read and PATCH",
    "read": "first read",
    "write": "PATCH",
    "get": "registry GET",
    "identity": "token request",
}


@dataclass(frozen=True)
class Fault:
    name: str
    expected: str  # converged | re-raised | skipped | failed
    action: dict[str, Any] = field(default_factory=dict)  # status/retry_after/reset/delay/code
    where: str = "read+write"  # read | write | read+write | identity
    persistent: bool = False
    expected_check: str | None = None  # `acrguard check`, when it differs
    reason: str | None = None  # must appear in the audit line / CLI output of a skip or failure
    max_accepted_writes: int = 1  # a timed-out PATCH may still land after the retry (see below)
    env: dict[str, str] = field(default_factory=dict)  # settings for this row (timeouts)

    def inject(self, emu: Any, entry: str) -> list[Any]:
        times = None if self.persistent else 1
        if self.where == "identity":
            return [emu.inject(route="identity", times=None if self.persistent else 2, **self.action)]
        faults = []
        if "read" in self.where:
            faults.append(emu.inject(times=times, **read_call(entry), **self.action))
        if "write" in self.where:
            faults.append(emu.inject(times=times, **WRITE_CALL, **self.action))
        return faults


TRANSIENT: list[tuple[str, dict[str, Any], str]] = [
    ("429 with Retry-After", {"status": 429, "retry_after": 1}, "read+write"),
    ("429 without Retry-After", {"status": 429}, "read+write"),
    ("500", {"status": 500, "retry_after": 0}, "read+write"),
    ("502", {"status": 502, "retry_after": 0}, "read+write"),
    ("503", {"status": 503, "retry_after": 0}, "read+write"),
    ("connection reset", {"reset": "rst"}, "read+write"),
    ("read timeout", {"delay": 1.5}, "read"),
    # A registry read while Updating is not written at all (tests/engine/test_provisioning_states.py); an
    # update that begins between our read and our PATCH gets ACR's 409 (the emulator's wording).
    ("409 Conflict (an update began after our read)", {"status": 409, "code": "Conflict"}, "write"),
    ("401 from ARM", {"status": 401, "retry_after": 0}, "read+write"),
    ("managed-identity endpoint failing (500)", {"status": 500}, "identity"),
]
NOT_FOUND = {"status": 404, "code": "ResourceNotFound"}
# Permanent answers, on every attempt: never retried or raised; the reason reaches the audit line.
# (name, outcome, action, where, reason)
PERMANENT: list[tuple[str, str, dict[str, Any], str, str]] = [
    ("404 (deleted between the event and the read)", "skipped", NOT_FOUND, "get", "not found"),
    ("404 (deleted between the read and the PATCH)", "skipped", NOT_FOUND, "write", "not found"),
    (
        "400 (SKU: NetworkRuleNotSupported)",
        "failed",
        {"status": 400, "code": "NetworkRuleNotSupported"},
        "write",
        "400 NetworkRuleNotSupported",
    ),
    (
        "403 on the write (role lacks registries/write)",
        "failed",
        {"status": 403},
        "write",
        "lacks Microsoft.ContainerRegistry/registries/write",
    ),
]
PERMANENT_FAULTS = [
    # `acrguard check` on a registry whose read answers 404 is a usage error instead: exit 1.
    Fault(
        name,
        expected,
        action,
        where,
        persistent=True,
        reason=reason,
        expected_check="failed" if where == "get" else None,
    )
    for name, expected, action, where, reason in PERMANENT
]
FAULTS: list[Fault] = [
    Fault(name, "converged", action, where, env=TIMEOUT_ENV if "delay" in action else {})
    for name, action, where in TRANSIENT
]
FAULTS += [
    Fault(
        f"{name}, persisting",
        "re-raised",
        action,
        "read" if where == "read+write" else where,
        persistent=True,
        env=TIMEOUT_ENV if "delay" in action else {},
    )
    for name, action, where in TRANSIENT
]
FAULTS += [
    # The PATCH times out client-side, but the server applies it late: ACR Guard re-reads before
    # retrying (nothing landed yet), PATCHes again, and the first one lands afterwards. Two
    # identical writes, same final state; no write can be lost or wrong. Documented race.
    Fault(
        "read timeout on the PATCH (the write lands late)",
        "converged",
        {"delay": 1.5},
        "write",
        max_accepted_writes=2,
        env=TIMEOUT_ENV,
    ),
    *PERMANENT_FAULTS,
]


def _fault_404(emu: Any, entry: str) -> list[Any]:
    # Deleted after the event (or after the list page): the registry GET answers 404.
    return [emu.inject(method="GET", resource_id=PROD, times=None, **NOT_FOUND)]


INJECTORS: dict[str, Callable[[Fault, Any, str], list[Any]]] = {
    "get": lambda fault, emu, entry: _fault_404(emu, entry),
}


def grid_event(resource_id: str = PROD) -> func.EventGridEvent:
    """The object the Functions host hands the Event Grid trigger."""
    return host_event(write_event(resource_id))


@dataclass
class Observation:
    outcome: str  # converged | re-raised | skipped | failed | lost
    text: str  # the audit lines / CLI output that explain it
    prod_records: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    exit_code: int | None = None


def _outcome(records: list[dict[str, Any]]) -> str:
    outcomes = {r["outcome"] for r in records}
    for outcome, label in (("failed", "failed"), ("applied", "converged"), ("skipped", "skipped")):
        if outcome in outcomes:
            return label
    return "lost"


def _is_prod(registry: str | None) -> bool:
    return bool(registry) and registry.lower() == PROD.lower()


def run_entry(
    entry: str,
    emu: Any,
    env: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> Observation:
    if entry.startswith("cli"):
        args = ["check", PROD] if entry == "cli check" else ["sweep", "--subscription", SUB_A]
        result = invoke("-o", "json", "-v", *args, policy=POLICY, **env)
        text = result.stdout + result.stderr
        try:
            document = json.loads(result.stdout)
        except ValueError:
            return Observation("lost", text, exit_code=result.returncode)
        items = [i for i in document["results"] if _is_prod(i.get("registry"))]
        records = [r for i in items for r in i["records"]]
        if result.returncode == 1:
            transient = "still failing after" in result.stdout
            return Observation("re-raised" if transient else "failed", text, records, 1)
        return Observation(_outcome(records), text, records, result.returncode)

    for key, value in {**env, "ACRGUARD_POLICY_FILE": str(POLICY)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ACRGUARD_MODE", raising=False)
    runtime.reset()  # a cold Function instance: fresh credential, fresh clients
    caplog.set_level(logging.INFO, logger="acrguard.audit")
    raised: TransientArmError | None = None
    try:
        if entry == "event":
            function_object("on_registry_write")(grid_event())
        else:
            function_object("reconcile")(TimerRequest(past_due=False))
    except TransientArmError as exc:
        raised = exc
    finally:
        runtime.reset()
    lines = [r.getMessage() for r in caplog.records if r.name == "acrguard.audit"]
    records = [json.loads(line) for line in lines]
    text = "\n".join(lines) + (f"\nraised: {raised}" if raised else "")
    prod = [r for r in records if _is_prod(r["registry"])]
    if raised is not None:
        # Nothing lost: the event handler logs the raise as a failed decision before it propagates.
        # (The timer may fail before any registry is named: listing the subscriptions themselves.)
        if entry == "event":
            assert any(r["outcome"] == "failed" and "redelivered" in r["reason"] for r in prod), text
        return Observation("re-raised", text, prod)
    return Observation(_outcome(prod), text, prod)


def expected_for(fault: Fault, entry: str) -> str:
    return (fault.expected_check if entry == "cli check" else None) or fault.expected


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_matrix(emu, monkeypatch, caplog, fault: Fault, entry: str) -> None:
    emu.seed(DEMO_SEED)
    before = {r: emu.get_registry(r) for r in UNTOUCHABLE}
    injected = (INJECTORS.get(fault.where) or Fault.inject)(fault, emu, entry)
    base = PERSISTENT_ENV if fault.persistent and fault.expected == "re-raised" else FINITE_ENV
    env = {**base, **fault.env}
    clock = skip_waits(monkeypatch)  # backoffs and Retry-After are counted, not waited
    started = clock.monotonic()
    seen = run_entry(entry, emu, env, monkeypatch, caplog)
    elapsed = clock.monotonic() - started  # what the cell would have taken, waits included
    emu.drain(timeout=15)  # a delayed request may still be in flight: let it land before checking

    expected = expected_for(fault, entry)
    patches = emu.requests_for(method="PATCH", resource_id=PROD)
    accepted = [r for r in patches if r.status in (200, 201)]
    faulted = [r for r in emu.requests if r.fault]
    record(
        "fault",
        fault=fault.name,
        order=FAULTS.index(fault),
        where=WHERE[fault.where],
        entry=entry,
        expected=expected,
        observed=seen.outcome,
        ok=seen.outcome == expected,
        persistent=fault.persistent,
        faulted_calls=len(faulted),
        identity_requests=emu.counters.identity_requests,
        patch_attempts=len(patches),
        accepted_writes=len(accepted),
        exit_code=seen.exit_code,
        seconds=round(elapsed, 2),
    )
    assert seen.outcome == expected, seen.text[-4000:]

    # The fault really happened (a test that cannot meet its fault proves nothing).
    if injected:
        assert all(f.hits >= 1 for f in injected), [f.describe() for f in injected]

    # Nothing lost: a fix, a raise, or an audit line / CLI message carrying the reason.
    if fault.reason:
        assert fault.reason in seen.text, seen.text[-4000:]
    if seen.outcome in ("skipped", "failed") and not (entry == "cli check" and fault.expected_check):
        assert seen.prod_records and all(r["reason"] for r in seen.prod_records)

    # Nothing wrong or duplicated.
    doc = emu.get_registry(PROD)["properties"]
    if seen.outcome == "converged":
        assert 1 <= len(accepted) <= fault.max_accepted_writes, [r.status for r in patches]
        assert len({json.dumps(r.body, sort_keys=True) for r in accepted}) == 1  # identical
        assert doc["anonymousPullEnabled"] is False
        assert doc["networkRuleSet"]["defaultAction"] == "Deny"
        assert [r["value"] for r in doc["networkRuleSet"]["ipRules"]] == ["20.1.2.0/24", "20.9.8.7"]
        assert doc["networkRuleBypassOptions"] == "AzureServices"
    else:
        assert accepted == []
        if fault.where != "get":
            assert doc["anonymousPullEnabled"] is True  # untouched
    for patch in emu.requests_for(method="PATCH"):
        assert set(patch.body["properties"]) <= PATCH_KEYS, patch.body
    for resource_id, state in before.items():
        assert emu.counters.writes(resource_id) == 0 and emu.get_registry(resource_id) == state

    # Bounded: persistent faults stop at the attempt budget; permanent ones are not retried.
    per_call = Counter(r.path for r in faulted)  # reconcile lists two subscriptions: two calls
    if fault.persistent and fault.expected == "re-raised" and fault.where != "identity":
        assert max(per_call.values()) <= int(PERSISTENT_ENV["ACRGUARD_MAX_ATTEMPTS"]), per_call
    # Retries honoured: one wait before each retried ARM call (every faulted call but the last of a
    # persisting one), of the Retry-After ARM sent, else of the exponential backoff. (The identity
    # endpoint's retries are azure-identity's own, inside one attempt.)
    if fault.where != "identity" and fault.expected in ("converged", "re-raised"):
        retried = len(faulted) - (len(per_call) if fault.persistent else 0)
        assert len(clock.sleeps) == retried, (clock.sleeps, [r.path for r in faulted])
        if "retry_after" in fault.action:
            assert set(clock.sleeps) == {fault.action["retry_after"]}, clock.sleeps
        else:
            assert all(0 < s <= 8 for s in clock.sleeps), clock.sleeps  # acrguard.azure.errors.BACKOFF
    else:
        assert clock.sleeps == []
    if fault.expected in ("failed", "skipped") and fault.where == "write":
        assert len(patches) == 1  # 400, 403 and 404 are final: one PATCH, no retry


# --- beyond the matrix: the write path's corner cases, and the token request's own time bound ---


def test_registry_deleted_between_the_read_and_the_write_is_a_skip_not_a_failure(seeded):
    """404 on the PATCH: the registry is gone, as with a 404 on the read. The event is consumed
    with a skip naming the deletion; nothing is retried, raised or reported as failed."""
    seeded.inject(method="PATCH", resource_id=PROD, status=404, code="ResourceNotFound", times=None)
    h = make_harness()
    h.engine.handle(write_event(PROD))  # does not raise
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "skipped"), ("network_rules", "skipped")]
    assert all("not found" in r.reason for r in h.records)
    assert len(seeded.requests_for(method="PATCH", resource_id=PROD)) == 1


def test_forbidden_read_is_failed_naming_the_read_permission_and_not_raised(seeded):
    seeded.inject(method="GET", resource_id=PROD, status=403, times=None)
    h = make_harness()
    h.engine.handle(write_event(PROD))
    [failed] = h.records
    assert failed.outcome == "failed" and "Microsoft.ContainerRegistry/registries/read" in failed.reason
    assert len(seeded.requests_for(method="GET", resource_id=PROD)) == 1
    assert seeded.counters.writes() == 0


def test_a_hanging_identity_endpoint_is_bounded_by_the_http_timeout(seeded):
    """The token request gets ACRGUARD_HTTP_TIMEOUT_S too (azure-core's default is 300 s, which
    would let a hung identity endpoint hold an invocation far past ACRGUARD_RETRY_BUDGET_S)."""
    hung = seeded.inject(route="identity", delay=3.0, times=1)
    h = make_harness(http_timeout_s=1.0, retry_budget_s=8.0)
    h.engine.arm.clock = SimulatedClock()  # the retry's backoff, without waiting for it
    h.engine.handle(write_event(PROD))
    seeded.drain(timeout=10)
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    # The token came from a second request: the hung one (held 3 s) was given up after the 1 s
    # timeout. Without the timeout it would have been waited for, and answered: one request.
    requests = seeded.requests_for(route="identity")
    assert hung.hits == 1 and len(requests) == 2, requests
    assert sorted(bool(r.fault) for r in requests) == [False, True]


def test_a_write_whose_poll_failed_is_confirmed_by_a_read_not_repeated(seeded):
    """The PATCH was accepted (201, long-running) but polling it failed: the retry re-reads,
    finds the change in place, and does not PATCH again (each attempt of the engine's PATCH decides from its own read)."""
    seeded.set_lro("async", polls=1, retry_after=1)
    poll = seeded.inject(route="operation", status=500, times=1)
    h = make_harness()
    h.engine.handle(write_event(PROD))
    assert poll.hits == 1
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    assert [r.status for r in seeded.requests_for(method="PATCH", resource_id=PROD)] == [201]
    assert seeded.counters.reads(PROD) == 2  # the decision's read, then the confirmation
