"""The demo's second story: a break-glass exemption that ends by itself.

A person (dev@contoso.example, with their own token, as ``acrguard exempt`` under their ``az
login``) exempts contosoprod for 2 hours with a reason, then opens anonymous pull again: the guard
leaves it open and tells a person. Then the guard's clock is moved 2 hours ahead (simulated time,
said on screen: the demo does not wait), the timer's sweep runs, the exemption has expired, and the
guard closes the registry again, saying that the exemption expired and when. ``acrguard history``
then shows all of it, read from the audit file the demo points ACRGUARD_AUDIT_FILE at.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

REGISTRY = "contosoprod"
RULE = "anonymous_pull"  # the exemption covers this rule only: the firewall stays guarded
FOR = timedelta(hours=2)
REASON = "INC-4711: partner pulls without a login until their CI has a token"
API = "2025-11-01"


class _Ahead:
    """The system clock with wall time ``ahead`` seconds later (monotonic time and sleeps as is)."""

    def __init__(self, ahead: float) -> None:
        self.ahead = ahead

    def time(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class _PersonsToken:
    """The person's credential: the bearer token the emulator issued to them (their ``az login``)."""

    def __init__(self, token: str) -> None:
        self.token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self.token, int(time.time()) + 3600)


def story(emu: Any, reconcile: Callable[[Any], None], audit_lines: list[str]) -> list[str]:
    """Run the story against ``emu`` (its events delivered to the real Function), and tell it."""
    import msgspec

    from acrguard import runtime
    from acrguard.audit import AuditRecord
    from acrguard.azure.arm import Arm
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.break_glass import grant
    from acrguard.engine import Engine
    from emulator.identity import DEV_USER

    guard = runtime.engine()
    doc = next(d for d in emu.registries() if d["name"] == REGISTRY)
    ref = RegistryRef.parse(doc["id"])
    lines: list[str] = []

    def told(since: int) -> None:
        for line in audit_lines[since:]:
            r = msgspec.json.decode(line, type=AuditRecord)
            if r.registry != ref.resource_id or r.rule not in (None, RULE):
                continue  # the story follows the rule the person opened
            reason = r.reason if len(r.reason) <= 240 else r.reason[:239] + "…"
            lines.append(f"  {r.source:<9} {r.outcome:<8} {r.rule or 'exemption'}: {reason}")
            lines.extend(f"  {'':<18} note: {note}" for note in r.notes if "expired" in note)

    mark = len(audit_lines)
    person = Engine(  # the guard's audit: the grant is in the same trail (and audit file)
        guard.policy,
        Arm(guard.arm.settings, credential=_PersonsToken(emu.issue_token(DEV_USER))),
        guard.audit,
    )
    granted = grant(
        person,
        ref,
        person.arm.get(ref),
        duration=FOR,
        reason=REASON,
        rules=[RULE],
        dry_run=False,
        source="cli",
    )
    emu.drain(timeout=30)
    lines.append(f'{DEV_USER.upn}: acrguard exempt {REGISTRY} --for 2h --rule {RULE} --reason "{REASON}"')
    told(mark)

    mark = len(audit_lines)
    emu.arm_request(
        "PATCH", f"{doc['id']}?api-version={API}", json={"properties": {"anonymousPullEnabled": True}}
    )
    emu.drain(timeout=30)
    lines.append(f"{DEV_USER.upn}: PATCH {REGISTRY} anonymousPullEnabled: true (while exempt)")
    told(mark)

    mark = len(audit_lines)
    saved = guard.arm.clock
    guard.arm.clock = _Ahead(FOR.total_seconds() + 1)  # simulated: 2 h and 1 s later
    try:
        reconcile(None)
        emu.drain(timeout=30)
    finally:
        guard.arm.clock = saved
    lines.append(f"(simulated time: 2 h later, past {granted.record.exempt_until}) the timer's sweep runs")
    told(mark)
    state = next(d for d in emu.registries() if d["name"] == REGISTRY)["properties"]["anonymousPullEnabled"]
    lines.append(f"{REGISTRY}: anonymousPullEnabled is {str(state).lower()} again")
    return lines


def history(registry_id: str) -> list[str]:
    """``acrguard history REGISTRY --rule anonymous_pull``, as a person would run it (the console
    script's module, in a process of its own), reading the demo's audit file: its table's lines."""
    import os
    import subprocess
    import sys

    command = ["history", registry_id, "--since", "1d", "--rule", RULE]
    done = subprocess.run(
        [sys.executable, "-m", "acrguard.cli", *command],
        env=os.environ.copy(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode != 0:
        raise RuntimeError(f"acrguard history failed: {done.stderr.strip()}")
    name = registry_id.rsplit("/", 1)[-1]
    return [f"$ acrguard history {name} --since 1d --rule {RULE}", *done.stdout.rstrip().splitlines()]
