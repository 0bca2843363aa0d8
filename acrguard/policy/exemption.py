"""Exemptions that end by themselves: read from the policy and from the registry's tags, decided
against a given time, and written as tags (``acrguard exempt``; ``undo`` sets one first).

An exemption may carry ``until`` (ISO 8601 with a timezone) and ``reason``. The rule at the
boundary: an exemption is in force while ``now < until``; from ``until`` on (exactly at it too) it
is over, and the next event or sweep fixes the drift with the expiry in its audit record. The time
is the caller's (the engine's clock): nothing here reads the wall clock, so ``plan()`` stays pure.

What the policy asks of every exemption: ``exempt.require_reason``, ``exempt.require_until`` (it
must end) and ``exempt.max_days`` (its ``until`` no further away). Policy entries are the policy
owners' grant: one that falls short stops the policy from loading. Tags are anyone's who can write
the registry: one that falls short is honoured (nothing written, never a lock-out) but ``flagged``,
so that a person hears of it.
Everything here reads tags the registry's one GET (or list page, or Resource Graph row) already
carries: an exemption costs no ARM call.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from acrguard.policy import Exempt

Status = Literal["active", "expired", "flagged"]
#: ``--for`` and friends: a whole number and a unit (m minutes, h hours, d days), or several (1d12h).
_DURATION = re.compile(r"(\d+)([mhd])")
_UNITS = {"m": 60, "h": 3600, "d": 86400}


def parse_until(text: str) -> datetime:
    """An ISO 8601 time with a timezone (``Z`` or an offset), in UTC; ValueError says what is wrong."""
    try:
        value = datetime.fromisoformat(text.strip())
    except (ValueError, AttributeError):
        raise ValueError(f"{text!r} is not an ISO 8601 time (write e.g. 2026-12-31T18:00:00Z)") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no timezone: add Z for UTC or an offset such as +01:00")
    return value.astimezone(UTC)


def format_time(value: datetime) -> str:
    """How a time is written in tags, audit records and tables: UTC, seconds, ``Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str) -> timedelta:
    """``4h``, ``30m``, ``2d``, ``1d12h``: ValueError with the accepted forms otherwise."""
    compact = text.strip().lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValueError(f"{text!r} is not a duration: write a number and m, h or d (30m, 4h, 2d, 1d12h)")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValueError(f"{text!r} is no time at all: an exemption must last at least a minute")
    return timedelta(seconds=seconds)


@dataclass(frozen=True)
class Exemption:
    """One exemption of one registry, as decided at a given time."""

    by: Literal["policy", "tag"]
    why: str  # "exempt: listed in exempt.registries" / "exempt: tagged acrguard=exempt"
    rules: frozenset[str] | None = None  # None: every rule
    until: datetime | None = None
    reason: str | None = None
    problem: str | None = None  # a tag exemption the policy does not accept: honoured, flagged
    expired: bool = False

    @property
    def in_force(self) -> bool:
        return not self.expired

    @property
    def status(self) -> Status:
        return "expired" if self.expired else "flagged" if self.problem else "active"

    def covers(self, rule: str) -> bool:
        return self.rules is None or rule in self.rules

    def describe(self) -> str:
        """The audit reason's prefix: unchanged (``exempt: tagged acrguard=exempt``) when the
        exemption has neither an end nor a reason, as before exemptions could carry them."""
        text = self.why
        if self.rules is not None:
            text += f" for {', '.join(sorted(self.rules))}"
        if self.until is not None:
            text += f" {'expired at' if self.expired else 'until'} {format_time(self.until)}"
        if self.reason:
            text += f" ({self.reason})"
        return text

    def audit_fields(self) -> dict[str, Any]:
        """What the audit record carries (the workbook queries these columns)."""
        return {
            "exemption": self.status,
            "exempt_until": format_time(self.until) if self.until else None,
            "exempt_reason": self.reason,
        }

    def note(self) -> str | None:
        """The line a record of a decision taken *because* the exemption ended carries."""
        if self.expired and self.until is not None:
            return f"the exemption ({self.by}) expired at {format_time(self.until)}: the rule applies again"
        return None


def _fold(name: str) -> str:
    return name.casefold()


def _rules(value: str | Iterable[str] | None) -> frozenset[str] | None:
    if value is None:
        return None
    names = value.split(",") if isinstance(value, str) else value
    kept = frozenset(n.strip() for n in names if n.strip())
    return kept or None


def rule_problems(names: Iterable[str]) -> list[str]:
    """A message per unknown rule name, listing the rules there are."""
    import difflib

    from remediators import all_rules

    known = {rule.name for rule in all_rules()}
    found = []
    for name in (n for n in names if n not in known):
        near = difflib.get_close_matches(name, list(known), n=1)
        hint = f"did you mean {near[0]}? " if near else ""
        found.append(f"unknown rule {name!r}; {hint}rules: {', '.join(known)}")
    return found


def too_far(until: datetime, now: float, max_days: int | None) -> str | None:
    """Why ``until`` is further away than ``max_days`` allows (None when it is not)."""
    if max_days is not None and until.timestamp() - now > max_days * 86400:
        return f"until {format_time(until)} is more than exempt.max_days ({max_days}) away"
    return None


def entry_problems(exempt: Exempt, now: float) -> list[tuple[str, str]]:
    """(key, reason) for every ``exempt.registries`` entry the policy refuses (a load error)."""
    found: list[tuple[str, str]] = []
    for index, entry in enumerate(exempt.registries):
        key = f"registries[{index}]"
        if isinstance(entry, str):
            if exempt.require_until or exempt.require_reason:
                found.append(
                    (key, "write it as {id: ..., until: ..., reason: ...}: the policy requires them")
                )
            continue
        if exempt.require_until and entry.until is None:
            found.append((f"{key}.until", "required: exempt.require_until is true"))
        if exempt.require_reason and not (entry.reason or "").strip():
            found.append((f"{key}.reason", "required: exempt.require_reason is true"))
        if entry.until is not None:
            try:
                until = parse_until(entry.until)
            except ValueError as exc:
                found.append((f"{key}.until", str(exc)))
            else:
                if problem := too_far(until, now, exempt.max_days):
                    found.append((f"{key}.until", problem))
        found += [(f"{key}.rules", p) for p in rule_problems(entry.rules)]
    return found


def of_entry(entry: Any, now: float) -> Exemption:
    """An ``exempt.registries`` entry (a resource ID, or an entry with until/reason/rules)."""
    why = "exempt: listed in exempt.registries"
    if isinstance(entry, str):
        return Exemption("policy", why)
    until = parse_until(entry.until) if entry.until else None  # checked when the policy loaded
    expired = until is not None and now >= until.timestamp()
    return Exemption("policy", why, _rules(entry.rules), until, entry.reason, expired=expired)


def of_tags(exempt: Exempt, tags: Mapping[str, str], now: float) -> Exemption:
    """The exemption of a registry that carries the exemption tag (the policy matched it)."""
    have = {_fold(k): v for k, v in tags.items()}
    why = "exempt: tagged " + ", ".join(f"{k}={v}" for k, v in exempt.tags.items())
    reason = (have.get(_fold(exempt.reason_tag)) or "").strip() or None
    rules = _rules(have.get(_fold(exempt.rules_tag)))
    problems = rule_problems(rules or ())
    until = None
    if (raw := have.get(_fold(exempt.until_tag))) is not None:
        try:
            until = parse_until(raw)
        except ValueError as exc:
            problems.append(f"tag {exempt.until_tag}: {exc}")
    elif exempt.require_until:
        problems.append(f"no {exempt.until_tag} tag: it never ends, and exempt.require_until is true")
    if until is not None and (problem := too_far(until, now, exempt.max_days)):
        problems.append(problem)
    if exempt.require_reason and reason is None:
        problems.append(f"no {exempt.reason_tag} tag, and exempt.require_reason is true")
    expired = until is not None and now >= until.timestamp()
    problem = "; ".join(problems) or None
    return Exemption("tag", why, rules, until, reason, None if expired else problem, expired)


def for_rule(exemptions: Iterable[Exemption], rule: str) -> Exemption | None:
    """The exemption deciding ``rule``: the first in force that covers it (the policy's before the
    tags'), else the first expired one (so that the record says it expired), else None."""
    covering = [e for e in exemptions if e.covers(rule)]
    return next((e for e in covering if e.in_force), covering[0] if covering else None)


def exemption_tags(
    exempt: Exempt,
    current: Mapping[str, str] | None,
    until: datetime,
    reason: str,
    rules: Iterable[str] = (),
) -> dict[str, str]:
    """The registry's whole tag set with a time-boxed exemption in it (a PATCH replaces ``tags``
    whole): every other tag kept, the policy's exemption tag, until, reason and (only with
    ``rules``) the rules tag, each under the name the policy gives it."""
    if not exempt.tags:
        raise ValueError("the policy names no exemption tag (exempt.tags): exempt the registry by ID instead")
    name, value = next(iter(exempt.tags.items()))
    ours = {name: "exempt" if value == "*" else value, exempt.until_tag: format_time(until)}
    ours[exempt.reason_tag] = reason
    if rules := sorted(set(rules)):
        ours[exempt.rules_tag] = ",".join(rules)
    replaced = {_fold(k) for k in (*ours, exempt.rules_tag)}
    kept = {k: v for k, v in (current or {}).items() if _fold(k) not in replaced}
    return {**kept, **ours}


def exemption_fields(decision: Any) -> dict[str, Any]:
    """The audit record's exemption columns for a rule's decision (none when no exemption)."""
    found = getattr(decision, "exemption", None)
    return found.audit_fields() if found is not None else {}


def exemption_note(decision: Any) -> list[str]:
    """The note a decision carries when its rule applies again because its exemption ended, and
    finds something to fix (a compliant rule's record carries the columns, not the note)."""
    if getattr(decision, "action", None) not in ("fix", "plan"):
        return []
    found = getattr(decision, "exemption", None)
    note = found.note() if found is not None else None
    return [note] if note else []
