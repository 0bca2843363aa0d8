"""Why a rule applies to a registry: scope, exemptions, the override that won, and each rule's verdict.

Read-only by construction: it takes the registry state as an argument and shows what
:func:`acrguard.plan.plan` decides, the very function the engine writes from, so an explanation
and the engine's decision cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import msgspec

from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import plan
from acrguard.policy import Policy, non_defaults
from acrguard.run_mode import POLICY_DECIDES, RunMode


@dataclass(frozen=True)
class RuleExplanation:
    name: str
    enabled: bool
    config_from: str  # "base rules", "default" or "override #i"
    mode: str | None
    mode_from: str | None
    verdict: str  # a rule's Status value, "disabled", or "not evaluated"
    reason: str
    config: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Explanation:
    registry: str
    in_scope: bool
    sku: str | None
    tags: dict[str, str]
    exempt_reason: str | None
    override: dict[str, Any] | None  # the winner: index, description, match
    also_matched: list[int]  # later overrides that match too, shadowed by first-match-wins
    mode: str | None
    trace: list[str]
    rules: list[RuleExplanation]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def explain(
    policy: Policy,
    ref: RegistryRef,
    registry: Any | None,
    children: Mapping[str, Any] | None = None,
    run: RunMode = POLICY_DECIDES,
) -> Explanation:
    """``registry`` is the SDK ``Registry`` read from ARM, or None when the ID is out of scope;
    ``children`` the child collections :func:`acrguard.plan.children_needed` names, as listed."""
    if registry is None:
        reason = policy.scope_reason(ref) or "the registry was not read"
        return Explanation(ref.resource_id, False, None, {}, None, None, [], None, [reason], [])
    tags: Mapping[str, str] = dict(getattr(registry, "tags", None) or {})
    decided = plan(policy, ref, registry, children, run)
    resolution = decided.resolution
    overrides = policy.doc.overrides
    winner = resolution.override_index
    matching = [i for i, o in enumerate(overrides) if o.match.matches(ref, tags)]
    override = None
    if winner is not None:
        chosen = overrides[winner]
        override = {
            "index": winner,
            "description": chosen.description,
            "match": non_defaults(chosen.match),
        }
    decisions = {d.rule: d for d in decided.decisions}
    rules = []
    for name, config in resolution.rules.items():
        config_from = "base rules" if name in policy.doc.rules else "default"
        if winner is not None and name in overrides[winner].rules:
            config_from = f"override #{winner}"
        decision = decisions.get(name)
        if decision is None:
            verdict, reason, mode, mode_from = "disabled", "the rule is disabled here", None, None
        else:
            verdict, reason = decision.evaluation.status.value, decision.evaluation.reason
            mode, mode_from = decision.mode, decision.mode_from
        rules.append(
            RuleExplanation(
                name,
                config.enabled,
                config_from,
                mode,
                mode_from,
                verdict,
                reason,
                _config_dict(config),
            )
        )
    modes = {d.mode for d in decided.decisions}
    return Explanation(
        registry=ref.resource_id,
        in_scope=resolution.in_scope,
        sku=decided.sku,
        tags=dict(tags),
        exempt_reason=resolution.exempt_reason,
        override=override,
        also_matched=[i for i in matching if i != winner],
        mode="exempt (report only)"
        if resolution.exempt_reason
        else (modes.pop() if len(modes) == 1 else "per rule" if modes else None),
        trace=list(resolution.trace),
        rules=rules,
    )


def _config_dict(config: Any) -> dict[str, Any]:
    """The rule's effective config, the fields every rule has (enabled, mode) first."""
    values = msgspec.structs.asdict(config)
    return {"enabled": values.pop("enabled"), "mode": values.pop("mode"), **values}
