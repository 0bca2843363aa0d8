"""The verdicts on one :class:`~acrguard.iac.model.Found`: run time's own ``plan()``, and unknowns.

``plan()`` (acrguard/plan.py) decides on the registry document the input would deploy, with the
policy's scope, overrides, exemptions (by tag, and by resource ID when the ID resolves), SKUs and
modes, exactly as at run time. A value the input leaves open cannot be decided by guessing one:
each open value is tried, one at a time from a baseline where every open value is absent (ARM's
default), with every value that can change a verdict: absence, ARM's enumerations, booleans, the
policy's own strings and tags, the strings the input holds, and what the rules want there (their
fixes on the baseline, every property rule's wanted value). A rule whose verdict (outcome, status
or mode) moves is reported ``unknown``, naming the value. An open child, or a child's whole
``properties``, cannot be stood for by a list of values: the rules reading that collection are
unknown. A rule that never reads it keeps its verdict: a Basic registry's anonymous pull is
"skipped" whatever the parameter says. The property tests (tests/iac/test_iac_agrees_with_plan.py)
check that every verdict given with values left open is the one the real values get.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
from azure.core.exceptions import DeserializationError
from azure.mgmt.containerregistry.models import Registry

from acrguard.azure.resource_ids import RegistryRef
from acrguard.iac.model import Found, IacError, Maybe, Unknown, unknowns
from acrguard.plan import Plan, plan, rules_by_name
from acrguard.policy import Policy
from acrguard.run_mode import POLICY_DECIDES, RunMode
from remediators import Status
from remediators.base import PropertyRule


class _Absent:
    """A candidate: the property not set at all. One instance, kept by ``copy.deepcopy``."""

    def __deepcopy__(self, memo: dict[int, Any]) -> _Absent:
        return self

    def __repr__(self) -> str:
        return "ABSENT"


ABSENT = _Absent()
PLACEHOLDER = {
    "subscription": "00000000-0000-0000-0000-000000000000",
    "resource_group": "unresolved-group",
    "name": "unresolvedname",
}
_ENUMS = (
    "Enabled", "Disabled", "enabled", "disabled", "Allow", "Deny", "AzureServices", "None",
    "Basic", "Standard", "Premium", "Approved", "Pending", "audit", "allLogs", "",
)  # fmt: skip
_VALUES: tuple[Any, ...] = (True, False, 0, 7, 30, 365, {}, [], [{"action": "Allow", "value": "0.0.0.0/0"}])
FINDINGS = ("drift", "flagged", "unknown")


@dataclass(frozen=True)
class Verdict:
    """One rule on one registry: ``outcome`` is compliant, drift, flagged, unknown or skipped."""

    rule: str
    outcome: str
    status: str  # the rule's own verdict (Status), "unknown" when it depends on an open value
    reason: str
    mode: str

    @property
    def finding(self) -> bool:
        return self.outcome in FINDINGS


@dataclass
class Judged:
    found: Found
    resource_id: str | None
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def findings(self) -> list[Verdict]:
        return [v for v in self.verdicts if v.finding]


def judge(found: Found, policy: Policy, run: RunMode = POLICY_DECIDES) -> Judged:
    """The verdicts on ``found`` under ``policy`` and the operator's ``run`` mode, as at run time."""
    subject = {"ref": found.ref, "document": found.document, "children": found.children}
    open_values = list(unknowns(subject))
    baseline = copy.deepcopy(subject)
    for path, value in open_values:
        _put(baseline, path, _first(path, value, policy))
    base, decided = _decide(found, baseline, policy, run)
    moved = _moved(found, (policy, run), subject, open_values, baseline, base, decided) if open_values else {}
    verdicts = []
    for rule, (outcome, status, reason, mode) in base.items():
        if rule in moved:
            reason = f"depends on what the input leaves open: {'; '.join(moved[rule])}"
            verdicts.append(Verdict(rule, "unknown", "unknown", reason, mode))
        else:
            verdicts.append(Verdict(rule, outcome, status, reason, mode))
    for rule in sorted(set(moved) - set(base)):  # enabled only for some values (an override)
        reason = f"may apply, depending on: {'; '.join(moved[rule])}"
        verdicts.append(Verdict(rule, "unknown", "unknown", reason, "unknown"))
    ref = found.ref
    known = all(isinstance(ref[k], str) for k in PLACEHOLDER)
    resource_id = (
        RegistryRef(ref["subscription"], ref["resource_group"], ref["name"]).resource_id if known else None
    )
    return Judged(found, resource_id, verdicts)


def _moved(
    found: Found,
    judging: tuple[Policy, RunMode],
    subject: dict[str, Any],
    open_values: list[tuple[tuple[Any, ...], Unknown]],
    baseline: dict[str, Any],
    base: dict[str, tuple[str, str, str, str]],
    decided: Plan,
) -> dict[str, list[str]]:
    """rule -> the open values its verdict depends on (see the module's docstring)."""
    moved: dict[str, list[str]] = {}
    policy, run = judging

    def compare(variant: dict[str, Any], whys: list[str]) -> None:
        try:
            other, _ = _decide(found, variant, policy, run)
        except IacError:
            return  # a value of a type ARM would refuse: not a deployment that can happen
        for rule in base.keys() | other.keys():  # a rule that one value turns off moves too
            if rule not in base or rule not in other or _verdict(other[rule]) != _verdict(base[rule]):
                listed = moved.setdefault(rule, [])
                listed += [why for why in whys if why not in listed]

    values = policy_values(policy, subject)
    fixed = _fixed(baseline, decided)
    # A second baseline: every open value as the rules want it, at once (a diagnostic setting whose
    # workspace and logs are both open is compliant only with both right).
    wanted = copy.deepcopy(baseline)
    joint = [(path, value) for path, value in open_values if any(True for _ in _from_fixed(path, fixed))]
    for path, _value in joint:
        _put(wanted, path, next(_from_fixed(path, fixed)))
    baselines = [baseline]
    if joint:
        compare(wanted, [value.why for _, value in joint])
        baselines.append(wanted)
    for start in baselines:
        for path, value in open_values:
            tried: set[str] = set()
            for candidate in (*_from_fixed(path, fixed), *_candidates(path, value, policy, values)):
                key = repr(candidate)
                if key not in tried:
                    tried.add(key)
                    compare(_with(start, path, candidate), [value.why])
    for rule, why in _open_children(open_values, base):
        moved.setdefault(rule, [])
        if why not in moved[rule]:
            moved[rule].append(why)
    return moved


def _verdict(decided: tuple[str, str, str, str]) -> tuple[str, str, str]:
    """What must not move for a verdict to stand: outcome, the rule's status, and the mode."""
    outcome, status, _, mode = decided
    return outcome, status, mode


def _open_children(
    open_values: list[tuple[tuple[Any, ...], Unknown]], base: dict[str, tuple[str, str, str, str]]
) -> Iterator[tuple[str, str]]:
    """A child resource, or its whole ``properties``, left open: no list of values can stand for an
    object, so every rule that reads the collection is unknown (unless its SKU rules it out)."""
    for path, value in open_values:
        inner = any(True for _ in unknowns(value.value)) if isinstance(value, Maybe) else False
        whole = path[0] == "children" and path[3:] in ((), ("properties",)) and not isinstance(value, Maybe)
        if not (whole or inner):
            continue
        for name, rule in rules_by_name().items():
            if path[1] in rule.children and name in base and base[name][1] != Status.UNSUPPORTED.value:
                yield name, value.why


def _decide(
    found: Found, subject: dict[str, Any], policy: Policy, run: RunMode
) -> tuple[dict[str, tuple[str, str, str, str]], Plan]:
    """rule -> (outcome, status, reason, mode), from ``plan()`` on one fully known subject; and the plan."""
    ref = subject["ref"]
    registry_ref = RegistryRef(str(ref["subscription"]).lower(), str(ref["resource_group"]), str(ref["name"]))
    children = _plain(subject["children"])  # a child, or a child's property, may be left out
    try:
        decided = plan(policy, registry_ref, Registry(_plain(subject["document"])), children, run)
    except (DeserializationError, AttributeError, TypeError, ValueError) as exc:
        raise IacError(found.file, f"{found.symbol}: ARM would not accept this registry: {exc}") from None
    out = {}
    exempt_by_tag = decided.resolution.exempt_by_tag
    for d in decided.decisions:
        status = d.evaluation.status
        if d.mode == "exempt":
            # Deploying is a write by a person: run time flags a tag-exempt registry left drifting.
            outcome = "flagged" if exempt_by_tag and status is Status.DRIFT else "skipped"
        else:
            outcome = {
                Status.COMPLIANT: "compliant",
                Status.DRIFT: "drift",
                Status.FLAGGED: "flagged",
                Status.BLOCKED: "flagged",
                Status.UNSUPPORTED: "skipped",
            }[status]
        reason = d.evaluation.reason if d.mode != "exempt" else f"{d.mode_from}; {d.evaluation.reason}"
        out[d.rule] = (outcome, status.value, reason, d.mode)
    return out, decided


#: Registry keys outside ``properties`` that a rule's ``after`` may name (``sku.name``).
_TOP_LEVEL = frozenset({"sku", "tags", "location", "identity"})
_MISSING = object()


def _fixed(baseline: dict[str, Any], decided: Plan) -> dict[str, Any]:
    """The registry as the rules want it: every fix of the baseline's plan applied (its ``after``,
    its child writes), and every property rule's wanted value. An open object (a parameter of type
    object, a Terraform block unknown until apply) is tried with these: no list of values could
    guess one, but the value a rule wants is the one that can change its verdict."""
    doc = copy.deepcopy(_plain(baseline["document"]))
    for rule in rules_by_name().values():
        if isinstance(rule, PropertyRule):
            *parents, last = rule.path.split(".")
            target = doc
            for step in parents:
                target = target.setdefault(step, {}) if isinstance(target.get(step, {}), dict) else {}
            target[last] = rule.wanted
    children: dict[str, list[Any]] = {}
    for d in decided.decisions:
        for key, value in d.evaluation.after.items():
            _merge(doc if key in _TOP_LEVEL else doc.setdefault("properties", {}), key, value)
        for write in d.evaluation.writes:
            children.setdefault(write.collection, []).append({"name": write.name, **write.body})
    return {"document": doc, "children": children}


def _merge(target: dict[str, Any], key: str, value: Any) -> None:
    if isinstance(value, dict) and isinstance(target.get(key), dict):
        for sub, item in value.items():
            _merge(target[key], sub, item)
    else:
        target[key] = value


def _from_fixed(path: tuple[Any, ...], fixed: dict[str, Any]) -> Iterator[Any]:
    """The value at ``path`` in :func:`_fixed`'s registry (for a child: in each child written)."""
    if path[0] == "document":
        sources: list[Any] = [fixed["document"]]
        rest = path[1:]
    elif path[0] == "children" and len(path) >= 3:
        sources, rest = fixed["children"].get(path[1], []), path[3:]
    else:
        return
    for source in sources:
        value = source
        for step in rest:
            value = value.get(step, _MISSING) if isinstance(value, dict) else _MISSING
        if value is not _MISSING:
            yield copy.deepcopy(value)


def _plain(value: Any) -> Any:
    """The document without ABSENT entries (a key not set; an array element dropped)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not ABSENT}
    if isinstance(value, list):
        return [_plain(v) for v in value if v is not ABSENT]
    return value


def _settled(value: Any) -> Any:
    """``value`` with what is open inside it left out (ARM's default), as the baseline has it."""
    if isinstance(value, Unknown):
        return ABSENT
    if isinstance(value, dict):
        return {k: _settled(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_settled(v) for v in value]
    return value


def _with(subject: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """``subject`` with ``value`` at ``path``: the containers on the path copied, the rest shared
    (plan() only reads it)."""
    top = copy.copy(subject)
    target: Any = top
    for step in path[:-1]:
        target[step] = copy.copy(target[step])
        target = target[step]
    target[path[-1]] = value
    return top


def _put(subject: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    target: Any = subject
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value


def _first(path: tuple[Any, ...], value: Unknown, policy: Policy) -> Any:
    if path[0] == "ref":
        return PLACEHOLDER[path[1]]
    return ABSENT


def _candidates(
    path: tuple[Any, ...],
    value: Unknown,
    policy: Policy,
    values: tuple[tuple[str, ...], tuple[dict[str, str], ...]],
) -> Iterator[Any]:
    if isinstance(value, Maybe):  # a child that may or may not be this registry's
        yield _settled(value.value)
        return
    if path[0] == "ref":
        yield from _ref_candidates(path[1], policy)
        return
    strings, tags = values
    yield from _ENUMS
    yield from _VALUES
    yield from strings
    if path[-1] == "tags":
        yield from tags
    if path[-1] == "ipRules":  # an allow-list: each address the policy or the input names
        yield from ([{"action": "Allow", "value": s}] for s in strings)


def _ref_candidates(part: str, policy: Policy) -> Iterator[str]:
    """Names, groups and subscriptions that an override or an exemption of the policy matches."""
    for override in policy.doc.overrides:
        match = override.match
        glob = {
            "name": match.name,
            "resource_group": match.resource_group,
            "subscription": match.subscription,
        }[part]
        if glob:
            yield _instance(glob, part)
    for resource_id in policy.doc.exempt.registries:
        ref = RegistryRef.parse(resource_id)
        yield {"name": ref.name, "resource_group": ref.resource_group, "subscription": ref.subscription_id}[
            part
        ]


def _instance(glob: str, part: str) -> str:
    """A value the glob matches (``pub*`` -> ``pubx0000``): enough to tell whether it matters."""
    text = "".join("x" if c in "*?" else c for c in glob if c not in "[]")
    if part == "name":
        text = "".join(c for c in text if c.isalnum()).ljust(5, "0")
    return text if fnmatch.fnmatchcase(text.casefold(), glob.casefold()) or part != "name" else glob


def policy_values(policy: Policy, subject: Any = None) -> tuple[tuple[str, ...], tuple[dict[str, str], ...]]:
    """Every string the policy compares with (allow-lists, workspace, token names, tag values...)
    and every string the input itself holds (an open value may equal any of them: the home region
    its replica's), and the tags the policy's exemptions and overrides match."""
    strings: dict[str, None] = {}

    def walk(value: Any) -> None:
        if isinstance(value, str):
            strings[value] = None
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    data = msgspec.to_builtins(policy.doc)
    for section in ("rules", "exempt", "overrides"):
        walk(data.get(section, {}))
    walk(subject)
    tags = [dict([pair]) for pair in data.get("exempt", {}).get("tags", {}).items()]
    tags += [o["match"]["tags"] for o in data.get("overrides", []) if o.get("match", {}).get("tags")]
    return tuple(strings), tuple(tags)
