"""The fault matrix: every ARM fault the emulator injects x every entry point, outcome asserted.

Entry points: the real Event Grid function object, the real timer function object, and the CLI's
``check`` and ``sweep`` (subprocess). The target is a drifted Premium registry (contosoprod).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest
from cli_helpers import ROOT, run_cli
from engine_helpers import DEMO_SEED, SUB_A, function_object, rid, write_event
from reliability import record

from acrguard import runtime
from acrguard.arm import TransientArmError

PROD = rid("contosoprod")
ENV = {"ACRGUARD_MAX_ATTEMPTS": "3", "ACRGUARD_RETRY_BUDGET_S": "8", "ACRGUARD_HTTP_TIMEOUT_S": "1"}
POLICY = ROOT / "policies.yaml"


@dataclass
class Fault:
    name: str
    expected: str  # converged | re-raised | skipped | failed
    inject: dict[str, Any] = field(default_factory=dict)
    delete: bool = False
    hold_updating: int = 0
    expected_check: str | None = None  # `acrguard check` on one named registry, when it differs


FAULTS = [
    Fault("429 with Retry-After", "converged", {"status": 429, "retry_after": 1}),
    Fault("429 without Retry-After", "converged", {"status": 429}),
    Fault("500", "converged", {"status": 500}),
    Fault("502", "converged", {"status": 502}),
    Fault("503", "converged", {"status": 503}),
    Fault("503 persisting past the retry budget", "re-raised", {"status": 503, "times": None}),
    Fault("connection reset", "converged", {"reset": "rst"}),
    Fault("read timeout", "converged", {"delay": 2.5}),
    # A person who runs `acrguard check` on a registry that does not exist gets an error (exit 1).
    Fault("404 (deleted after the event)", "skipped", expected_check="failed", delete=True),
    Fault("409 (Updating)", "converged", hold_updating=2),
    Fault("400 (SKU)", "failed", {"method": "PATCH", "status": 400, "code": "NetworkRuleNotSupported"}),
    Fault("401", "converged", {"status": 401}),
    Fault("403", "failed", {"method": "PATCH", "status": 403}),
    Fault("managed-identity endpoint failing", "converged", {"route": "identity", "status": 500, "times": 2}),
]
ENTRIES = ["event", "reconcile", "cli check", "cli sweep"]


def _event() -> func.EventGridEvent:
    raw = write_event(PROD)
    return func.EventGridEvent(
        id=raw["id"],
        data=raw["data"],
        topic=raw["topic"],
        subject=raw["subject"],
        event_type=raw["eventType"],
        event_time=None,
        data_version=raw["dataVersion"],
    )


def _run(
    entry: str, emu: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> tuple[str, str]:
    """Run one entry point; return (observed outcome, the audit/CLI text that explains it)."""
    if entry.startswith("cli"):
        args = ["check", PROD] if entry == "cli check" else ["sweep", "--subscription", SUB_A]
        result: subprocess.CompletedProcess[str] = run_cli(
            emu, "-o", "json", "-v", *args, policy=POLICY, **ENV
        )
        text = result.stdout + result.stderr
        if result.returncode == 1:  # the CLI's error code: transient (after retries) or a failed decision
            return ("re-raised" if "still failing after" in result.stdout else "failed"), text
        return _from_audit(text), text
    for key, value in {**ENV, "ACRGUARD_POLICY_FILE": str(POLICY)}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("ACRGUARD_MODE", raising=False)
    runtime.reset()  # a cold instance: fresh credential, fresh clients
    caplog.set_level("INFO", logger="acrguard.audit")
    try:
        if entry == "event":
            function_object("on_registry_write")(_event())
        else:
            function_object("reconcile")(TimerRequest(past_due=False))
    except TransientArmError as exc:
        return "re-raised", str(exc)
    finally:
        runtime.reset()
    text = "\n".join(r.getMessage() for r in caplog.records if r.name == "acrguard.audit")
    return _from_audit(text), text


def _from_audit(text: str) -> str:
    prod_lines = [line for line in text.splitlines() if "contosoprod" in line and '"outcome"' in line]
    joined = "\n".join(prod_lines)
    if '"outcome":"failed"' in joined.replace(" ", ""):
        return "failed"
    if '"outcome":"applied"' in joined.replace(" ", ""):
        return "converged"
    if '"outcome":"skipped"' in joined.replace(" ", ""):
        return "skipped"
    return "lost"


@pytest.mark.parametrize("entry", ENTRIES)
@pytest.mark.parametrize("fault", FAULTS, ids=[f.name for f in FAULTS])
def test_fault_matrix(emu, monkeypatch, caplog, fault: Fault, entry: str) -> None:
    emu.seed(DEMO_SEED)
    if fault.delete:
        # Deleted between the event (or the list page) and the read that decides.
        emu.inject(
            method="GET", route="registry", resource_id=PROD, status=404, code="ResourceNotFound", times=None
        )
    if fault.hold_updating:
        emu.hold_updating(PROD, requests=fault.hold_updating)
    if fault.inject:
        criteria = {"times": 1, **fault.inject}
        # Single-registry entry points meet the fault on contosoprod's calls; sweeps meet status-only
        # faults on their first call (the list page), and write faults on contosoprod's PATCH.
        if criteria.get("route") != "identity" and ("method" in criteria or entry in ("event", "cli check")):
            criteria.setdefault("resource_id", PROD)
        emu.inject(**criteria)

    expected = (fault.expected_check if entry == "cli check" else None) or fault.expected
    observed, text = _run(entry, emu, monkeypatch, caplog)
    record(
        "fault", fault=fault.name, entry=entry, observed=observed, expected=expected, ok=observed == expected
    )
    assert observed == expected, text[-3000:]

    # Nothing lost: every outcome is a fix, an explained skip/failure, or a raise (already asserted).
    assert observed != "lost"
    # Nothing wrong or duplicated: at most one accepted PATCH, and only ever the compliant state.
    accepted = [r for r in emu.requests_for(method="PATCH", resource_id=PROD) if r.status in (200, 201)]
    doc = emu.get_registry(PROD)["properties"]
    if observed == "converged":
        assert len(accepted) == 1, [r.status for r in emu.requests_for(method="PATCH", resource_id=PROD)]
        assert doc["anonymousPullEnabled"] is False and doc["networkRuleSet"]["defaultAction"] == "Deny"
    else:
        assert accepted == []
        if not fault.delete:
            assert doc["anonymousPullEnabled"] is True  # untouched
    for patch in emu.requests_for(method="PATCH"):
        assert set(patch.body["properties"]) <= {
            "anonymousPullEnabled",
            "networkRuleSet",
            "networkRuleBypassOptions",
        }
