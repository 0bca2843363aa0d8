"""What one pass decided: per registry (its audit records and outcome), and per sweep (counts)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from acrguard.arm_errors import ArmError, TransientArmError
from acrguard.audit import AuditRecord, Outcome

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


@dataclass
class Summary:
    """Counts of registry outcomes for a reconcile or sweep."""

    results: list[RegistryResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # where the registries came from (graph_sweep)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r.outcome for r in self.results)
        return {
            o: counts.get(o, 0) for o in ("compliant", "applied", "planned", "flagged", "skipped", "failed")
        }

    @property
    def in_transition(self) -> dict[str, int]:
        """Registries left unwritten because ARM was creating, updating or deleting them, by state:
        Deleting ones are skipped, Creating/Updating ones raised for redelivery (acrguard.engine.provisioning)."""
        return dict(Counter(r.provisioning_state.capitalize() for r in self.results if r.provisioning_state))

    @property
    def transient_errors(self) -> list[ArmError]:
        return [r.error for r in self.results if isinstance(r.error, TransientArmError)]
