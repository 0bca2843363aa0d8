"""Undo an ``applied`` decision: put back the properties it changed, without fighting the guard.

Order matters. The guard would re-fix an undone property at the very next event (our own PATCH is
one), so the registry is first exempted for the undone rules, for a while (acrguard.break_glass:
tags only), and only then PATCHed back. The PATCH is sent only while the registry still holds the
decision's ``after`` for the properties it changed, compared as the rule itself reads them (its
``check`` projects the registry onto the same keys, in the same spellings); anything else is a
:class:`Conflict` carrying the three states (before, after, now), and nothing is written.

The IP rule list is never put back by dropping a rule: the restored list is every rule present now
plus the rules the decision removed, and only ``defaultAction`` goes back to what it was. A rule the
guard added stays (behind ``Allow`` it changes nobody's access). Rules about child resources
(tokens, diagnostic settings, ...) are refused: they are not one registry PATCH.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acrguard.audit import AuditRecord

if TYPE_CHECKING:
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.engine import Engine

#: The property whose value is a list ARM replaces whole: restored by union, never by replacement.
RULE_SET = "networkRuleSet"
SOURCE = "undo"  # the ``source`` of an undo's audit records (and its exemption's)


class UndoRefused(Exception):
    """The decision cannot be undone safely; nothing was written (the message says why)."""


class Conflict(UndoRefused):
    """The registry no longer holds what the decision wrote: before, after and now, per rule."""

    def __init__(self, message: str, states: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.states = states


@dataclass(frozen=True)
class Step:
    """One rule's undo: the decision's before/after for the properties it changed, the registry's
    values for them now, and the properties the PATCH sends back (as ARM's REST names them)."""

    rule: str
    before: dict[str, Any]
    after: dict[str, Any]
    now: dict[str, Any]
    restore: dict[str, Any]

    def states(self) -> dict[str, Any]:
        return {"rule": self.rule, "before": self.before, "after": self.after, "now": self.now}


def is_grant(entry: Mapping[str, Any]) -> bool:
    """An exemption's own audit line (``exempt``, or an undo's first step): ``applied`` under an
    exemption in force, which no fix ever is (an exempt rule is only reported)."""
    return entry.get("outcome") == "applied" and entry.get("exemption") == "active"


def refusal(entry: Mapping[str, Any]) -> str | None:
    """Why this audit line is not a decision undo can take back, or None."""
    from acrguard.plan import rules_by_name
    from remediators.base import ChildRule

    rule = entry.get("rule")
    if entry.get("outcome") != "applied":
        return f"its outcome is {entry.get('outcome')!r}: only an applied decision changed anything"
    if is_grant(entry):
        return "it is an exemption being granted: remove the exemption tags instead"
    if entry.get("source") == SOURCE:
        return "it is an undo itself: `acrguard check` applies the policy again"
    if rule not in rules_by_name():
        return f"it names no rule ACR Guard knows ({rule!r})"
    if isinstance(rules_by_name()[rule], ChildRule):
        return (
            f"{rule} changes the registry's child resources one at a time (not one registry PATCH): "
            "restore them by hand from the decision's before"
        )
    if not changed(entry.get("before") or {}, entry.get("after") or {}):
        return "its before and after are the same: there is nothing to put back"
    return None


def same(a: Any, b: Any) -> bool:
    """Equal as the rules compare: text without regard to case, objects key by key, an IP rule list
    as a set of ranges (ACR keeps no order that means anything)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(
            _ranges(a[k]) == _ranges(b[k]) if k == "ipRules" else same(a[k], b[k]) for k in a
        )
    if isinstance(a, str) and isinstance(b, str):
        return a.casefold() == b.casefold()
    return a == b


def changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """The properties a decision changed (its record carries the rule's whole projection)."""
    return [k for k in after if k in before and not same(before[k], after[k])]


def now_of(engine: Engine, ref: RegistryRef, registry: Any, rule: str) -> dict[str, Any]:
    """The registry's values for ``rule``'s properties, as the rule reads them (its ``before``)."""
    from acrguard.plan import rules_by_name

    resolution = engine.policy.resolve(ref, getattr(registry, "tags", None), engine.clock.time())
    config = resolution.rules.get(rule) or engine.policy.rules[rule]
    return dict(rules_by_name()[rule].evaluate(registry, config).before or {})


def step(entry: Mapping[str, Any], now: Mapping[str, Any]) -> Step:
    """The undo of one applied record given the registry's ``now``; :class:`Conflict` if the
    registry moved on, :class:`UndoRefused` if the list cannot be restored without dropping a rule."""
    from remediators import ipranges

    rule, before, after = str(entry["rule"]), entry.get("before") or {}, entry.get("after") or {}
    keys = changed(before, after)
    states = Step(
        rule,
        {k: before[k] for k in keys},
        {k: after[k] for k in keys},
        {k: now.get(k) for k in keys},
        {},
    )
    moved = [k for k in keys if not _still(k, after[k], now.get(k))]
    if moved:
        raise Conflict(
            f"{rule}: the registry no longer holds the decision's after for {', '.join(moved)}: "
            "someone changed it since; nothing written",
            [states.states()],
        )
    restore = {k: before[k] for k in keys if k != RULE_SET}
    if RULE_SET in keys:
        present = list(now[RULE_SET].get("ipRules") or [])
        have = _ranges(present)
        back = [r for r in before[RULE_SET].get("ipRules") or [] if ipranges.key(r["value"]) not in have]
        if len(present) + len(back) > ipranges.MAX_IP_RULES:
            raise UndoRefused(
                f"{rule}: putting back {len(back)} removed IP rule(s) beside the {len(present)} present "
                f"would pass ACR's limit of {ipranges.MAX_IP_RULES}; no rule is dropped to make room"
            )
        restore[RULE_SET] = {
            "defaultAction": before[RULE_SET].get("defaultAction"),
            "ipRules": present + back,
        }
    return Step(rule, states.before, states.after, states.now, restore)


def _still(key: str, after: Any, now: Any) -> bool:
    """The registry still holds ``after`` for ``key``. The IP rule list may have grown since (a
    person's rule, which the undo keeps), but every rule the decision left must still be there."""
    if key == RULE_SET and isinstance(after, Mapping) and isinstance(now, Mapping):
        return same(after.get("defaultAction"), now.get("defaultAction")) and _ranges(
            after.get("ipRules")
        ) <= _ranges(now.get("ipRules"))
    return same(after, now)


def _ranges(rules: Any) -> frozenset[Any]:
    from remediators import ipranges

    return frozenset(ipranges.key(r["value"]) for r in rules or [] if isinstance(r, Mapping))


def patch(engine: Engine, ref: RegistryRef, steps: list[Step]) -> Any:
    """ONE PATCH of every step's properties (the SDK's model over their REST names and values, so
    nothing else is sent); ARM's answer, the registry as written."""
    from azure.mgmt.containerregistry.models import RegistryUpdateParameters

    from acrguard.azure.resource_ids import WRITE_ACTION

    properties: dict[str, Any] = {}
    for s in steps:
        properties.update(s.restore)
    parameters = RegistryUpdateParameters({"properties": properties})

    def send() -> Any:
        return (
            engine.arm.client(ref.subscription_id)
            .registries.begin_update(
                ref.resource_group,
                ref.name,
                parameters,
                polling=engine.arm.polling(f"PATCH {ref} (undo)", engine.clock.monotonic()),
            )
            .result()
        )

    return engine.arm.call(f"PATCH {ref} (undo)", WRITE_ACTION, ref, send)


def record(
    engine: Engine,
    ref: RegistryRef,
    s: Step,
    entry: Mapping[str, Any],
    *,
    dry_run: bool,
    done: Any = None,
    caller: dict[str, str] | None = None,
) -> AuditRecord:
    """The undo's own audit line for one rule (its notification follows from it): before is the
    registry as found, after what ARM answered (or, in a dry run, what would be sent)."""
    undone = entry.get("event_id") or entry.get("correlation_id") or "without an event ID"
    after = {k: v for k, v in now_of(engine, ref, done, s.rule).items() if k in s.restore} if done else None
    return engine.audit.emit(
        AuditRecord(
            outcome="planned" if dry_run else "applied",
            registry=ref.resource_id,
            rule=s.rule,
            reason=f"undo: {', '.join(s.restore)} put back as before the decision of {entry.get('time')}",
            mode="dry-run" if dry_run else "enforce",
            before=s.now,
            after=after or s.restore,
            caller=caller or {},
            source=SOURCE,
            state_from="arm",
            notes=[f"undoes decision {undone} ({s.rule}, applied {entry.get('time')})"],
        )
    )
