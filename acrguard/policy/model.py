"""policies.yaml: strict loading, and what applies to one registry (scope, exemptions, overrides).

The service never runs on a half-valid policy: every problem is reported at once, each naming
the file, the key path and the reason, and nothing is evaluated until the file is clean.
The ``rules:`` schema is assembled from the remediators present, so a new remediator module
brings its own config model. The schema is msgspec Structs: strict types, unknown keys refused,
and cheap to build on a cold start (pydantic cost about 60 ms there; docs/BENCHMARKS.md).
"""

from __future__ import annotations

import fnmatch
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec

from acrguard.azure.resource_ids import RegistryRef
from acrguard.policy import exemption
from acrguard.policy.text import MAX_EXPANDED_VALUES, MAX_POLICY_BYTES, load_yaml, read_policy_text
from acrguard.policy.validate import KINDS, PolicyError, check_each, convert, shown, struct_fields
from remediators import FieldError, Mode, Rule, RuleConfig, all_rules

__all__ = [
    "MAX_EXPANDED_VALUES",
    "MAX_POLICY_BYTES",
    "Policy",
    "PolicyError",
    "load_policy",
    "parse_policy",
    "shown",
]

GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_GUID_INSIDE = re.compile(r"(?i)^/?subscriptions/(" + GUID.pattern + r")/?$")


def fold(name: str) -> str:
    """Comparison key of an ARM name (case-insensitive): casefold, as 'STRASSE' == 'straße' needs."""
    return name.casefold()


def subscription_problem(value: str) -> str | None:
    """Why ``value`` is not a subscription ID written as ACR Guard compares them (a bare GUID)."""
    if GUID.fullmatch(value):
        return None
    if GUID.fullmatch(value.strip()):
        return f"{shown(value)} has spaces around it; write {value.strip()!r}"
    if inner := _GUID_INSIDE.match(value.strip()):
        return f"{shown(value)} is a resource ID; write the GUID alone: {inner[1]!r}"
    return f"{shown(value)} is not a subscription ID (a GUID)"


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A policy section: unknown keys are errors, values are never coerced ("1" is not 1)."""


def _registry_problem(value: str) -> str | None:
    try:
        RegistryRef.parse(value)  # raises ValueError naming what is wrong
    except ValueError as exc:
        return str(exc)
    return None


class Scope(_Strict):
    subscriptions: list[str] = []  # empty: every subscription the identity can read

    def __post_init__(self) -> None:
        check_each(self.subscriptions, "subscription", "subscriptions", subscription_problem, fold)


class ExemptEntry(_Strict):
    """An exemption by resource ID that ends (``until``), says why (``reason``), or covers only
    some ``rules`` (acrguard/policy/exemption.py)."""

    id: str
    until: str | None = None  # ISO 8601 with a timezone; over from that instant on
    reason: str | None = None
    rules: list[str] = []  # empty: every rule


class Exempt(_Strict):
    tags: dict[str, str] = {}  # value "*" matches any value of the tag
    until_tag: str = "acrguard-exempt-until"
    reason_tag: str = "acrguard-exempt-reason"
    rules_tag: str = "acrguard-exempt-rules"
    max_days: Annotated[int, msgspec.Meta(ge=1)] | None = None  # no exemption with an until further away
    require_reason: bool = False
    require_until: bool = False  # every exemption must end (an entry by ID too)
    registries: list[str | ExemptEntry] = []

    def __post_init__(self) -> None:
        ids = [e if isinstance(e, str) else e.id for e in self.registries]
        check_each(ids, "registry", "registries", _registry_problem, _registry_key)
        if problems := exemption.entry_problems(self, time.time()):
            raise FieldError.each(problems)


class Match(_Strict):
    subscription: str | None = None
    resource_group: str | None = None  # glob, case-insensitive
    name: str | None = None  # glob, case-insensitive
    tags: dict[str, str] = {}

    def __post_init__(self) -> None:
        if self.subscription is not None and (problem := subscription_problem(self.subscription)):
            raise FieldError("subscription", problem)
        if not (self.subscription or self.resource_group or self.name or self.tags):
            raise ValueError(
                "an override's match needs at least one of subscription, resource_group, name, tags"
            )

    def matches(self, ref: RegistryRef, tags: Mapping[str, str]) -> bool:
        if self.subscription and fold(self.subscription) != fold(ref.subscription_id):
            return False
        if self.resource_group and not fnmatch.fnmatchcase(
            fold(ref.resource_group), fold(self.resource_group)
        ):
            return False
        if self.name and not fnmatch.fnmatchcase(fold(ref.name), fold(self.name)):
            return False
        return _tags_match(self.tags, tags)


class WebhookSink(_Strict):
    url: str
    format: Literal["json", "teams", "slack"] = "json"


class EventGridSink(_Strict):
    endpoint: str
    key_setting: str | None = None  # name of the app setting holding the topic key; else the identity


class Notify(_Strict):
    webhooks: list[WebhookSink] = []
    eventgrid: list[EventGridSink] = []
    on_failed: bool = False


@cache
def rules_model() -> type[msgspec.Struct]:
    """The ``rules:`` model: one optional field per remediator, with its own config class."""
    fields = [
        (rem.name, rem.Config, msgspec.field(default_factory=_default_config(rem))) for rem in all_rules()
    ]
    return msgspec.defstruct("Rules", fields, bases=(_Strict,))


def _default_config(rem: Rule) -> Callable[[], RuleConfig]:
    # An omitted rule takes its remediator's default; network_rules defaults to off because no
    # allow-list is a safe guess (enabling it with none would lock clients out).
    return lambda: rem.Config(enabled=rem.default_enabled)


class Override(_Strict):
    match: Match
    mode: Mode | None = None
    rules: dict[str, Any] = {}  # partial rules, deep-merged over the base
    description: str | None = None


class PolicyDocument(_Strict):
    version: Literal[1]
    mode: Mode = "dry-run"
    scope: Scope = msgspec.field(default_factory=Scope)
    exempt: Exempt = msgspec.field(default_factory=Exempt)
    rules: dict[str, Any] = {}
    overrides: list[Override] = []
    notify: Notify = msgspec.field(default_factory=Notify)


def non_defaults(section: msgspec.Struct) -> dict[str, Any]:
    """A section's fields that differ from their defaults (how ``explain`` and traces show a match)."""
    out = {}
    for f in struct_fields(type(section)):
        value = getattr(section, f.name)
        if f.default is not msgspec.NODEFAULT:
            default = f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = f.default_factory()
        else:
            default = msgspec.NODEFAULT
        if value != default:
            out[f.name] = msgspec.to_builtins(value)
    return out


@dataclass(frozen=True)
class Resolution:
    """What applies to one registry, and the trail of why (for audit lines and ``explain``)."""

    ref: RegistryRef
    in_scope: bool
    exempt_reason: str | None
    rules: Mapping[str, RuleConfig]
    override_index: int | None
    trace: tuple[str, ...] = field(default=())
    #: Exempt by its tags alone: whoever can write the registry can grant that (exempt.registries
    #: is the policy owners' to grant).
    exempt_by_tag: bool = False
    #: Every exemption of the registry, in force or expired, the policy's first (acrguard.policy.exemption).
    exemptions: tuple[exemption.Exemption, ...] = ()

    def exemption_for(self, rule: str) -> exemption.Exemption | None:
        return exemption.for_rule(self.exemptions, rule)

    def enabled(self) -> list[str]:
        return [name for name, cfg in self.rules.items() if cfg.enabled]


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build it with :func:`load_policy`."""

    source: str
    doc: PolicyDocument
    rules: Mapping[str, RuleConfig]
    override_rules: tuple[Mapping[str, RuleConfig], ...]

    @property
    def subscriptions(self) -> list[str]:
        return list(self.doc.scope.subscriptions)

    def scope_reason(self, ref: RegistryRef) -> str | None:
        """Why this registry is out of scope, decided before any ARM call; None if in scope."""
        scoped = self.doc.scope.subscriptions
        if scoped and fold(ref.subscription_id) not in {fold(s) for s in scoped}:
            return f"subscription {ref.subscription_id} is not in the policy's scope.subscriptions"
        return None

    def resolve(
        self, ref: RegistryRef, tags: Mapping[str, str] | None, now: float | None = None
    ) -> Resolution:
        """``now`` (seconds since the epoch) decides which exemptions have expired: the engine
        passes its clock's time; None reads the wall clock."""
        tags = tags or {}
        trace: list[str] = []
        out_of_scope = self.scope_reason(ref)
        trace.append(
            out_of_scope
            or "in scope: " + ("listed subscription" if self.subscriptions else "all subscriptions")
        )
        exemptions = self._exemptions(ref, tags, time.time() if now is None else now)
        trace += [e.describe() + (f" ({e.problem})" if e.problem else "") for e in exemptions]
        everything = next((e for e in exemptions if e.in_force and e.rules is None), None)
        exempt, by_tag = (everything.describe(), everything.by == "tag") if everything else (None, False)
        rules, index = self.rules, None
        for i, override in enumerate(self.doc.overrides):
            if override.match.matches(ref, tags):
                rules, index = self.override_rules[i], i
                label = f" ({override.description})" if override.description else ""
                trace.append(f"override #{i}{label} matched {non_defaults(override.match)}")
                break
        else:
            trace.append("no override matched: base rules apply")
        return Resolution(ref, out_of_scope is None, exempt, rules, index, tuple(trace), by_tag, exemptions)

    def _exemptions(
        self, ref: RegistryRef, tags: Mapping[str, str], now: float
    ) -> tuple[exemption.Exemption, ...]:
        """The registry's exemptions by ID (the policy owners') and by tag (its writers')."""
        key = fold(ref.resource_id)
        found = [
            exemption.of_entry(entry, now)
            for entry in self.doc.exempt.registries
            if _registry_key(entry if isinstance(entry, str) else entry.id) == key
        ]
        if self.doc.exempt.tags and _tags_match(self.doc.exempt.tags, tags, any_of=True):
            found.append(exemption.of_tags(self.doc.exempt, tags, now))
        return tuple(found)


def _tags_match(wanted: Mapping[str, str], tags: Mapping[str, str], any_of: bool = False) -> bool:
    """Tag names compare case-insensitively (as ARM treats them); values exactly, '*' for any."""
    have = {fold(k): v for k, v in tags.items()}
    hits = [fold(k) in have and (v == "*" or have[fold(k)] == v) for k, v in wanted.items()]
    return any(hits) if any_of else all(hits)


def _registry_key(resource_id: str) -> str:
    """How exempt.registries entries compare: the parsed ID (child resources dropped), folded."""
    return fold(RegistryRef.parse(resource_id).resource_id)


def load_policy(path: str | Path) -> Policy:
    """Read and validate a policy file; raise :class:`PolicyError` naming every problem."""
    path = Path(path)
    return parse_policy(read_policy_text(path), str(path))


def parse_policy(text: str, source: str = "<policy>") -> Policy:
    """Validate a policy's text: every check (the sinks' too) runs here, and every problem is reported."""
    data = load_yaml(text, source)
    if data is None:
        empty = (
            "the file is empty; a policy needs at least `version: 1` (`acrguard init` writes a starter one)"
        )
        raise PolicyError(source, [("", empty)])
    if not isinstance(data, dict):
        found = KINDS.get(type(data), type(data).__name__)
        raise PolicyError(
            source, [("", f"expected keys (version, mode, scope, ...) at the top level, got {found}")]
        )
    problems: list[tuple[str, str]] = []
    doc = convert(data, PolicyDocument, "", problems)
    if doc is None:
        if isinstance(data.get("rules"), dict) and not any(p == "rules" for p, _ in problems):
            _validate_rules(rules_model(), data["rules"], "rules", problems)  # report those too
        problems.extend(_notify_problems(convert(data.get("notify", {}), Notify, "notify", [])))
        raise PolicyError(source, problems)
    model = rules_model()
    base = _validate_rules(model, doc.rules, "rules", problems)
    merged: list[Mapping[str, RuleConfig]] = []
    for i, override in enumerate(doc.overrides):
        rules = _validate_rules(
            model, _deep_merge(doc.rules, override.rules), f"overrides[{i}].rules", problems
        )
        merged.append(rules or {})
    problems.extend(_notify_problems(doc.notify))
    if problems or base is None:
        raise PolicyError(source, problems)
    return Policy(source, doc, base, tuple(merged))


def _notify_problems(notify: Notify | None) -> list[tuple[str, str]]:
    """Problems in ``notify:`` that the schema cannot see: a sink's endpoint must be https (a
    webhook may be http on loopback, for local tests) and a key setting must name an app setting.

    Checked here so the service refuses what ``acrguard validate`` refuses. The URL rule lives with
    the redaction of URLs, imported only when a sink is configured (off the cold-start path).
    """
    if notify is None or not (notify.webhooks or notify.eventgrid):
        return []
    from acrguard.settings import endpoint_problem

    problems: list[tuple[str, str]] = []
    for i, hook in enumerate(notify.webhooks):
        if problem := endpoint_problem(hook.url, allow_http_loopback=True):
            problems.append((f"notify.webhooks[{i}].url", problem))
    for i, topic in enumerate(notify.eventgrid):
        if problem := endpoint_problem(topic.endpoint, allow_http_loopback=False):
            problems.append((f"notify.eventgrid[{i}].endpoint", problem))
        if topic.key_setting is not None and not topic.key_setting.replace("_", "").isalnum():
            problems.append(
                (f"notify.eventgrid[{i}].key_setting", "must be the name of an app setting (A-Z, 0-9, _)")
            )
    return problems


def _validate_rules(
    model: type[msgspec.Struct], raw: Any, prefix: str, problems: list[tuple[str, str]]
) -> dict[str, RuleConfig] | None:
    rules = convert(raw, model, prefix, problems)
    if rules is None:
        return None
    return {name: getattr(rules, name) for name in model.__struct_fields__}


def _deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
