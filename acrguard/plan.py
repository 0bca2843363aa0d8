"""The decision, as one pure function: registry state in, what will happen and why out.

``plan(policy, ref, registry, children)`` does no I/O. The engine writes what it returns,
``explain`` and ``check --dry-run`` show it, and the property tests check it: there is no second
copy of the decision anywhere, so what is explained is what is done. ``children`` are the child
collections :func:`children_needed` asked for, listed by the caller (acrguard.azure.children).

Mode precedence lives here and only here. A rule runs in dry-run when *any* source that applies
to it says dry-run: the operator (``--dry-run``, ``--mode``, ``ACRGUARD_MODE``), the rule's own
``mode``, the matching override's ``mode``, or the policy's ``mode``. ``enforce`` never upgrades
a dry-run stated elsewhere, so a "trial in dry-run" override cannot be overridden by accident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

from acrguard.audit import Outcome
from acrguard.run_mode import POLICY_DECIDES, RunMode
from remediators import Children, Evaluation, Rule, Status, all_rules, sku_name

if TYPE_CHECKING:
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.policy import Policy, Resolution
    from acrguard.policy.exemption import Exemption

Action = Literal["fix", "plan", "report"]

#: The outcome of a decision that writes nothing, by the rule's verdict.
_REPORTED: dict[Status, Outcome] = {
    Status.COMPLIANT: "compliant",
    Status.FLAGGED: "flagged",
    Status.BLOCKED: "flagged",  # a fix exists but is unsafe or impossible: a person decides
    Status.UNSUPPORTED: "skipped",
}
#: Properties a PATCH replaces whole (a list inside): sending one can drop what someone else just
#: added, so the engine writes one only once the list has been quiet (acrguard.engine.settle).
WHOLE_LIST_PROPERTIES = frozenset({"network_rule_set"})


@cache
def rules_by_name() -> Mapping[str, Rule]:
    return {r.name: r for r in all_rules()}


@dataclass(frozen=True)
class RuleDecision:
    """One rule's verdict, the mode it runs in, and where that mode came from."""

    evaluation: Evaluation
    mode: str  # "enforce", "dry-run", or "exempt" (report only)
    mode_from: str
    #: The exemption that decides this rule: in force (mode "exempt"), or expired (the rule applies
    #: again, and its record says so).
    exemption: Exemption | None = None

    @property
    def rule(self) -> str:
        return self.evaluation.rule

    @property
    def action(self) -> Action:
        if self.evaluation.status is not Status.DRIFT or self.mode == "exempt":
            return "report"
        return "fix" if self.mode == "enforce" else "plan"

    @property
    def needs_person(self) -> bool:
        """A finding no write of ours resolves: flagged, blocked, or a fix that leaves a note
        (e.g. a kept IP rule that still opens the registry to everyone)."""
        status = self.evaluation.status
        return status in (Status.FLAGGED, Status.BLOCKED) or bool(
            status is Status.DRIFT and self.evaluation.notes
        )

    @property
    def outcome(self) -> Outcome:
        """The outcome when nothing is written ("applied" is only known after the write)."""
        if self.mode == "exempt":
            return "skipped"
        if self.evaluation.status is Status.DRIFT:
            return "planned"
        return _REPORTED[self.evaluation.status]


@dataclass(frozen=True)
class Plan:
    """Everything decided about one registry state, before anything is written."""

    registry: str
    sku: str
    resolution: Resolution
    decisions: tuple[RuleDecision, ...]
    change: Mapping[str, Any] = field(default_factory=dict)  # RegistryUpdateParameters kwargs
    conflict: str | None = None  # two enforced rules want one property set differently

    @property
    def to_fix(self) -> tuple[RuleDecision, ...]:
        """The fixes that go into the registry's one PATCH."""
        return tuple(d for d in self.decisions if d.action == "fix" and not d.evaluation.writes)

    @property
    def child_fixes(self) -> tuple[RuleDecision, ...]:
        """The fixes written to child resources (a token's PATCH, a diagnostic setting's PUT)."""
        return tuple(d for d in self.decisions if d.action == "fix" and d.evaluation.writes)

    @property
    def writes(self) -> bool:
        return bool(self.change) and self.conflict is None

    @property
    def list_fixes(self) -> tuple[RuleDecision, ...]:
        """The fixes whose change replaces a whole list: they wait until the list is quiet."""
        return tuple(d for d in self.to_fix if WHOLE_LIST_PROPERTIES & set(d.evaluation.change))

    def params(self, *, lists: bool = True) -> Any:
        """The change as the SDK's ``RegistryUpdateParameters`` (None when nothing is written);
        ``lists=False``: without the fixes that replace a list (what may be written at once)."""
        if not self.writes:
            return None
        change = self.change
        if not lists and (held := self.list_fixes):
            change, _ = _merge(d for d in self.decisions if d.action == "fix" and d not in held)
        if not change:
            return None
        from azure.mgmt.containerregistry.models import RegistryUpdateParameters

        return RegistryUpdateParameters(**change)


def children_needed(policy: Policy, ref: RegistryRef, registry: Any) -> tuple[str, ...]:
    """The child collections :func:`plan` needs for ``registry``: those of the rules enabled for it
    (after overrides) that its SKU supports. Empty for the default policy: one GET, nothing more."""
    resolution = policy.resolve(ref, getattr(registry, "tags", None))
    rules = rules_by_name()
    sku = sku_name(registry)
    needed: dict[str, None] = {}
    for name in resolution.enabled():
        if sku in rules[name].skus:
            needed.update(dict.fromkeys(rules[name].children))
    return tuple(needed)


def plan(
    policy: Policy,
    ref: RegistryRef,
    registry: Any,
    children: Children | None = None,
    run: RunMode = POLICY_DECIDES,
    now: float | None = None,
) -> Plan:
    """Decide for ``registry`` (an SDK ``Registry`` as ARM returned it) and its listed ``children``,
    under the operator's ``run`` mode, at ``now`` (epoch seconds: which exemptions have ended; the
    engine passes its clock's time). Pure: no I/O."""
    resolution = policy.resolve(ref, getattr(registry, "tags", None), now)
    rules = rules_by_name()
    decisions = []
    for name in resolution.enabled():
        evaluation = rules[name].evaluate(registry, resolution.rules[name], children)
        mode, source = mode_of(policy, resolution, name, run)
        decisions.append(RuleDecision(evaluation, mode, source, resolution.exemption_for(name)))
    change, conflict = _merge(d for d in decisions if d.action == "fix")
    return Plan(ref.resource_id, sku_name(registry), resolution, tuple(decisions), change, conflict)


def _merge(fixes: Iterable[RuleDecision]) -> tuple[dict[str, Any], str | None]:
    """The fixes' changes as one PATCH's properties, and a conflict if two want one set differently."""
    change: dict[str, Any] = {}
    conflict = None
    for decision in fixes:
        for key, value in decision.evaluation.change.items():
            if isinstance(value, dict) and isinstance(change.get(key, {}), dict):
                # ``policies``: ARM's PATCH merges it one named policy at a time, so two rules
                # that set different policies (exports, ARM tokens) share one PATCH.
                merged = change.setdefault(key, {})
                for sub, sub_value in value.items():
                    if sub in merged and merged[sub] != sub_value:
                        conflict = f"rules disagree on {key}.{sub}: {decision.rule} and another rule"
                    merged.setdefault(sub, sub_value)
                continue
            if key in change and change[key] != value:
                conflict = f"rules disagree on {key}: {decision.rule} and another rule"
            change.setdefault(key, value)
    return change, conflict


def dry_run_everywhere(policy: Policy, run: RunMode, name: str | None = None) -> bool:
    """True when :func:`mode_of` says dry-run for every registry: the operator's mode, the policy's
    mode, or (with ``name``) the base rule's own mode, which holds under every override too. A
    dry-run stated only in an override is not everywhere."""
    if "dry-run" in (run.mode, policy.doc.mode):
        return True
    base = policy.rules.get(name) if name is not None else None
    return base is not None and base.mode == "dry-run"


def mode_of(policy: Policy, resolution: Resolution, name: str, run: RunMode) -> tuple[str, str]:
    """The mode one rule runs in, and its source. Dry-run from any source wins."""
    if (exempt := resolution.exemption_for(name)) and exempt.in_force:
        return "exempt", exempt.describe()
    index = resolution.override_index
    override = policy.doc.overrides[index] if index is not None else None
    rule_source = f"rules.{name}.mode"
    if override is not None and "mode" in (override.rules.get(name) or {}):
        rule_source += f" in override #{index}"
    sources = [
        (run.mode, run.label),
        (resolution.rules[name].mode, rule_source),
        # The base rule's own mode still counts under an override: its rules are merged over the
        # base, which would otherwise let an override's `enforce` replace the rule's dry-run.
        (policy.rules[name].mode if override is not None else None, f"rules.{name}.mode"),
        (override.mode if override is not None else None, f"mode of override #{index}"),
        (policy.doc.mode, "the policy's mode"),
    ]
    for mode, source in sources:
        if mode == "dry-run":
            return "dry-run", source
    return "enforce", next(source for mode, source in sources if mode == "enforce")
