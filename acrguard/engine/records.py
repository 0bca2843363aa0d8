"""What one pass tells about one registry: an audit record per decision, gathered in its result."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from acrguard.audit import Audit, AuditRecord, Outcome
from acrguard.azure.errors import ArmError
from acrguard.engine.sources import Candidate
from acrguard.plan import RuleDecision, rules_by_name
from acrguard.policy import Policy
from acrguard.policy.exemption import exemption_fields, exemption_note
from acrguard.run_mode import RunMode, default_mode

#: A registry's overall outcome is its most serious rule outcome, in this order.
_SEVERITY: tuple[Outcome, ...] = ("failed", "applied", "planned", "flagged", "compliant", "skipped")


@dataclass
class RegistryResult:
    """Everything decided about one registry in one pass."""

    registry: str | None
    records: list[AuditRecord] = field(default_factory=list)
    error: ArmError | None = None  # a transient error the caller must surface (redelivery)
    #: The provisioningState (Creating, Updating, Deleting) that kept it from being written, if any.
    provisioning_state: str | None = None

    @property
    def outcome(self) -> Outcome:
        outcomes = {r.outcome for r in self.records}
        return next((o for o in _SEVERITY if o in outcomes), "skipped")


class Records:
    """One registry's records in one pass, each stamped with the event, the entry point (``source``),
    the time since the pass began and where the judged state came from (``origin``)."""

    def __init__(
        self, policy: Policy, audit: Audit, candidate: Candidate, source: str, run_mode: RunMode
    ) -> None:
        self.policy, self.audit, self.source = policy, audit, source
        self.mode = default_mode(policy, run_mode)  # of a record no rule answers for
        self.ref, self.context = candidate.ref, candidate.context
        self.result = RegistryResult(candidate.ref.resource_id)
        self.started = time.monotonic()
        self.origin: str | None = None  # where the state the next records judge came from

    def emit(
        self,
        outcome: Outcome,
        decision: RuleDecision | None,
        reason: str,
        *,
        after: dict[str, Any] | None = None,
        sku: str | None = None,
    ) -> None:
        ev = decision.evaluation if decision else None
        rule = rules_by_name().get(ev.rule) if ev else None
        context = self.context
        record = AuditRecord(
            outcome=outcome,
            registry=self.ref.resource_id,
            rule=ev.rule if ev else None,
            reason=reason,
            mode=(decision.mode if decision else None) or self.mode,
            before=(ev.before or None) if ev else None,
            after=after if after is not None else (ev.before if ev and outcome == "compliant" else None),
            event_id=context.event_id,
            event_time=context.event_time,
            correlation_id=context.correlation_id,
            caller=context.caller,
            duration_ms=round((time.monotonic() - self.started) * 1000, 1),
            sku=sku,
            notes=[*ev.notes, *exemption_note(decision)] if ev else [],
            source=self.source,
            state_from=self.origin,
            severity=rule.severity if rule else None,
            controls=rule.controls() if rule else {},
            references=list(rule.references) if rule else [],
            **exemption_fields(decision),
        )
        self.result.records.append(self.audit.emit(record))
