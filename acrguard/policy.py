"""policies.yaml: strict loading, and what applies to one registry (scope, exemptions, overrides).

The service never runs on a half-valid policy: every problem is reported at once, each naming
the file, the key path and the reason, and nothing is evaluated until the file is clean.
The ``rules:`` schema is assembled from the remediators present, so a new remediator module
brings its own config model.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    create_model,
    field_validator,
    model_validator,
)

from acrguard.resource_ids import RegistryRef
from remediators import Remediator, RuleConfig, all_remediators
from remediators.base import Mode

GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")


class PolicyError(ValueError):
    """Every problem of one policy file, each as 'file: key.path: reason'."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '<root>'}: {reason}" for path, reason in problems]
        super().__init__("invalid policy\n  " + "\n  ".join(lines))


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _unique(values: list[str], what: str) -> list[str]:
    seen: set[str] = set()
    for value in values:
        if value.lower() in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value.lower())
    return values


class Scope(_Strict):
    subscriptions: list[str] = Field(default_factory=list)  # empty: every subscription the identity can read

    @field_validator("subscriptions")
    @classmethod
    def _guids(cls, values: list[str]) -> list[str]:
        for value in values:
            if not GUID.match(value):
                raise ValueError(f"{value!r} is not a subscription ID (a GUID)")
        return _unique(values, "subscription")


class Exempt(_Strict):
    tags: dict[str, str] = Field(default_factory=dict)  # value "*" matches any value of the tag
    registries: list[str] = Field(default_factory=list)

    @field_validator("registries")
    @classmethod
    def _ids(cls, values: list[str]) -> list[str]:
        for value in values:
            RegistryRef.parse(value)  # raises ValueError naming what is wrong
        return _unique(values, "registry")


class Match(_Strict):
    subscription: str | None = None
    resource_group: str | None = None  # glob, case-insensitive
    name: str | None = None  # glob, case-insensitive
    tags: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _not_empty(self) -> Match:
        if not (self.subscription or self.resource_group or self.name or self.tags):
            raise ValueError(
                "an override's match needs at least one of subscription, resource_group, name, tags"
            )
        return self

    def matches(self, ref: RegistryRef, tags: Mapping[str, str]) -> bool:
        if self.subscription and self.subscription.lower() != ref.subscription_id.lower():
            return False
        if self.resource_group and not fnmatch.fnmatchcase(
            ref.resource_group.lower(), self.resource_group.lower()
        ):
            return False
        if self.name and not fnmatch.fnmatchcase(ref.name.lower(), self.name.lower()):
            return False
        return _tags_match(self.tags, tags)


class WebhookSink(_Strict):
    url: str
    format: Literal["json", "teams", "slack"] = "json"


class EventGridSink(_Strict):
    endpoint: str
    key_setting: str | None = None  # name of the app setting holding the topic key; else the identity


class Notify(_Strict):
    webhooks: list[WebhookSink] = Field(default_factory=list)
    eventgrid: list[EventGridSink] = Field(default_factory=list)
    on_failed: bool = False


@cache
def rules_model() -> type[BaseModel]:
    """The ``rules:`` model: one optional field per remediator, with its own config class."""
    fields: dict[str, Any] = {}
    for rem in all_remediators():
        fields[rem.name] = (rem.Config, Field(default_factory=_default_config(rem)))
    return create_model("Rules", __config__=ConfigDict(extra="forbid", frozen=True), **fields)


def _default_config(rem: Remediator) -> Any:
    # An omitted rule takes its remediator's default; network_rules defaults to off because no
    # allow-list is a safe guess (enabling it with none would lock clients out).
    return lambda: rem.Config.model_construct(enabled=rem.default_enabled)


class Override(_Strict):
    match: Match
    mode: Mode | None = None
    rules: dict[str, Any] = Field(default_factory=dict)  # partial rules, deep-merged over the base
    description: str | None = None


class PolicyDocument(_Strict):
    version: Literal[1]
    mode: Mode = "dry-run"
    scope: Scope = Field(default_factory=Scope)
    exempt: Exempt = Field(default_factory=Exempt)
    rules: dict[str, Any] = Field(default_factory=dict)
    overrides: list[Override] = Field(default_factory=list)
    notify: Notify = Field(default_factory=Notify)


@dataclass(frozen=True)
class Resolution:
    """What applies to one registry, and the trail of why (for audit lines and ``explain``)."""

    ref: RegistryRef
    in_scope: bool
    exempt_reason: str | None
    rules: Mapping[str, RuleConfig]
    mode: Mode
    forced_dry_run: bool
    override_index: int | None
    trace: tuple[str, ...] = field(default=())

    def rule_mode(self, name: str) -> Mode:
        if self.forced_dry_run:
            return "dry-run"
        return self.rules[name].mode or self.mode

    def enabled(self) -> list[str]:
        return [name for name, cfg in self.rules.items() if cfg.enabled]


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build it with :func:`load_policy`."""

    source: str
    doc: PolicyDocument
    rules: Mapping[str, RuleConfig]
    override_rules: tuple[Mapping[str, RuleConfig], ...]
    mode_override: Mode | None = None  # ACRGUARD_MODE or the CLI's --dry-run

    def with_mode(self, mode: Mode | None) -> Policy:
        return Policy(self.source, self.doc, self.rules, self.override_rules, mode or self.mode_override)

    @property
    def subscriptions(self) -> list[str]:
        return list(self.doc.scope.subscriptions)

    def scope_reason(self, ref: RegistryRef) -> str | None:
        """Why this registry is out of scope, decided before any ARM call; None if in scope."""
        scoped = self.doc.scope.subscriptions
        if scoped and ref.subscription_id.lower() not in {s.lower() for s in scoped}:
            return f"subscription {ref.subscription_id} is not in the policy's scope.subscriptions"
        return None

    def resolve(self, ref: RegistryRef, tags: Mapping[str, str] | None) -> Resolution:
        tags = tags or {}
        trace: list[str] = []
        out_of_scope = self.scope_reason(ref)
        trace.append(
            out_of_scope
            or "in scope: " + ("listed subscription" if self.subscriptions else "all subscriptions")
        )
        exempt = self._exempt_reason(ref, tags)
        if exempt:
            trace.append(exempt)
        rules, index = self.rules, None
        for i, override in enumerate(self.doc.overrides):
            if override.match.matches(ref, tags):
                rules, index = self.override_rules[i], i
                label = f" ({override.description})" if override.description else ""
                trace.append(
                    f"override #{i}{label} matched {override.match.model_dump(exclude_defaults=True)}"
                )
                break
        else:
            trace.append("no override matched: base rules apply")
        forced = self.mode_override == "dry-run"
        base_mode: Mode = "enforce" if self.mode_override == "enforce" else self.doc.mode
        mode = (self.doc.overrides[index].mode if index is not None else None) or base_mode
        if forced:
            trace.append("mode forced to dry-run (ACRGUARD_MODE or --dry-run)")
        return Resolution(ref, out_of_scope is None, exempt, rules, mode, forced, index, tuple(trace))

    def _exempt_reason(self, ref: RegistryRef, tags: Mapping[str, str]) -> str | None:
        if ref.key in {RegistryRef.parse(r).key for r in self.doc.exempt.registries}:
            return "exempt: listed in exempt.registries"
        if self.doc.exempt.tags and _tags_match(self.doc.exempt.tags, tags, any_of=True):
            pairs = ", ".join(f"{k}={v}" for k, v in self.doc.exempt.tags.items())
            return f"exempt: tagged {pairs}"
        return None


def _tags_match(wanted: Mapping[str, str], tags: Mapping[str, str], any_of: bool = False) -> bool:
    """Tag names compare case-insensitively (as ARM treats them); values exactly, '*' for any."""
    have = {k.lower(): v for k, v in tags.items()}
    hits = [k.lower() in have and (v == "*" or have[k.lower()] == v) for k, v in wanted.items()]
    return any(hits) if any_of else all(hits)


# --- loading -----------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of duplicate keys silently; a policy must not (two rules, one lost)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # `? [a, b]`: PyYAML's own check comes too late here
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a scalar, not a {type(key).__name__}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_policy(path: str | Path, mode_override: Mode | None = None) -> Policy:
    """Read and validate a policy file; raise :class:`PolicyError` naming every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(str(path), [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    return parse_policy(text, str(path), mode_override)


def parse_policy(text: str, source: str = "<policy>", mode_override: Mode | None = None) -> Policy:
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except RecursionError:
        raise PolicyError(source, [("", "not valid YAML: nested too deeply")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise PolicyError(source, [("", f"{where}not valid YAML: {problem}")]) from None
    if not isinstance(data, dict):
        raise PolicyError(source, [("", f"expected a mapping at the top level, got {type(data).__name__}")])
    try:
        doc = PolicyDocument.model_validate(data)
    except ValidationError as exc:
        raise PolicyError(source, _problems(exc)) from None
    model = rules_model()
    problems: list[tuple[str, str]] = []
    base = _validate_rules(model, doc.rules, "rules", problems)
    merged: list[Mapping[str, RuleConfig]] = []
    for i, override in enumerate(doc.overrides):
        rules = _validate_rules(
            model, _deep_merge(doc.rules, override.rules), f"overrides[{i}].rules", problems
        )
        merged.append(rules or {})
    if problems or base is None:
        raise PolicyError(source, problems)
    return Policy(source, doc, base, tuple(merged), mode_override)


def _validate_rules(
    model: type[BaseModel], raw: Any, prefix: str, problems: list[tuple[str, str]]
) -> dict[str, RuleConfig] | None:
    try:
        rules = model.model_validate(raw)
    except ValidationError as exc:
        problems.extend((f"{prefix}.{p}" if p else prefix, why) for p, why in _problems(exc))
        return None
    return {name: getattr(rules, name) for name in type(rules).model_fields}


def _deep_merge(base: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in patch.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        path = ""
        for part in err["loc"]:
            path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown key"
        elif err["type"] == "literal_error":
            message = f"{message}, got {err['input']!r}"
        out.append((path, message))
    return out
