"""policies.yaml: strict loading, and what applies to one registry (scope, exemptions, overrides).

The service never runs on a half-valid policy: every problem is reported at once, each naming
the file, the key path and the reason, and nothing is evaluated until the file is clean.
The ``rules:`` schema is assembled from the remediators present, so a new remediator module
brings its own config model. The schema is msgspec Structs: strict types, unknown keys refused,
and cheap to build on a cold start (pydantic cost about 60 ms there; docs/BENCHMARKS.md).
"""

from __future__ import annotations

import difflib
import fnmatch
import re
import reprlib
import typing
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Literal

import msgspec
import yaml

from acrguard.resource_ids import RegistryRef
from remediators import Remediator, RuleConfig, all_remediators
from remediators.base import FieldError, Mode

GUID = re.compile(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}")
_GUID_INSIDE = re.compile(r"(?i)^/?subscriptions/(" + GUID.pattern + r")/?$")

MAX_POLICY_BYTES = 256 << 10  # a policy is a few kilobytes; this bounds the parse time (~1.5 s)
MAX_EXPANDED_VALUES = 100_000  # values after aliases are expanded (a real policy: a few hundred)

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxdict = _REPR.maxset = _REPR.maxtuple = 6
_REPR.maxlevel = 3


def shown(value: Any) -> str:
    """``repr`` clipped to a few lines, however large or deeply nested ``value`` is (an alias bomb)."""
    return _REPR.repr(value)


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


class PolicyError(ValueError):
    """Every problem of one policy file, each as 'file: key.path: reason'."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '<root>'}: {reason}" for path, reason in problems]
        super().__init__("invalid policy\n  " + "\n  ".join(lines))


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """A policy section: unknown keys are errors, values are never coerced ("1" is not 1)."""


def _check_each(
    values: list[str], what: str, key: str, problem: Callable[[str], str | None], by: Callable[[str], str]
) -> None:
    """Every bad or duplicate entry of a list, each as ``key[index]``: one line each in the report."""
    found: list[tuple[str, str]] = []
    seen: set[str] = set()
    for index, value in enumerate(values):
        if reason := problem(value):
            found.append((f"{key}[{index}]", reason))
        elif by(value) in seen:
            found.append((f"{key}[{index}]", f"duplicate {what} {shown(value)}"))
        else:
            seen.add(by(value))
    if found:
        raise FieldError.each(found)


def _registry_problem(value: str) -> str | None:
    try:
        RegistryRef.parse(value)  # raises ValueError naming what is wrong
    except ValueError as exc:
        return str(exc)
    return None


class Scope(_Strict):
    subscriptions: list[str] = []  # empty: every subscription the identity can read

    def __post_init__(self) -> None:
        _check_each(self.subscriptions, "subscription", "subscriptions", subscription_problem, fold)


class Exempt(_Strict):
    tags: dict[str, str] = {}  # value "*" matches any value of the tag
    registries: list[str] = []

    def __post_init__(self) -> None:
        _check_each(self.registries, "registry", "registries", _registry_problem, _registry_key)


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
        (rem.name, rem.Config, msgspec.field(default_factory=_default_config(rem)))
        for rem in all_remediators()
    ]
    return msgspec.defstruct("Rules", fields, bases=(_Strict,))


def _default_config(rem: Remediator) -> Callable[[], RuleConfig]:
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


@cache
def struct_fields(kind: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """``msgspec.structs.fields``, once per class: it evaluates the string annotations every call
    (``from __future__ import annotations``), which was half of a policy load on a cold start."""
    return msgspec.structs.fields(kind)


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

    def enabled(self) -> list[str]:
        return [name for name, cfg in self.rules.items() if cfg.enabled]


@dataclass(frozen=True)
class Policy:
    """A validated policy. Build it with :func:`load_policy`."""

    source: str
    doc: PolicyDocument
    rules: Mapping[str, RuleConfig]
    override_rules: tuple[Mapping[str, RuleConfig], ...]
    mode_override: Mode | None = None  # the operator's: ACRGUARD_MODE, --mode or --dry-run
    mode_source: str = "ACRGUARD_MODE"  # where mode_override came from (acrguard.plan reports it)

    def with_mode(self, mode: Mode | None, source: str = "ACRGUARD_MODE") -> Policy:
        """The same policy under the operator's mode (``acrguard.plan.mode_of`` applies it)."""
        if mode is None:
            return self
        return Policy(self.source, self.doc, self.rules, self.override_rules, mode, source)

    @property
    def subscriptions(self) -> list[str]:
        return list(self.doc.scope.subscriptions)

    def scope_reason(self, ref: RegistryRef) -> str | None:
        """Why this registry is out of scope, decided before any ARM call; None if in scope."""
        scoped = self.doc.scope.subscriptions
        if scoped and fold(ref.subscription_id) not in {fold(s) for s in scoped}:
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
                trace.append(f"override #{i}{label} matched {non_defaults(override.match)}")
                break
        else:
            trace.append("no override matched: base rules apply")
        return Resolution(ref, out_of_scope is None, exempt, rules, index, tuple(trace))

    def _exempt_reason(self, ref: RegistryRef, tags: Mapping[str, str]) -> str | None:
        if fold(ref.resource_id) in {_registry_key(r) for r in self.doc.exempt.registries}:
            return "exempt: listed in exempt.registries"
        if self.doc.exempt.tags and _tags_match(self.doc.exempt.tags, tags, any_of=True):
            pairs = ", ".join(f"{k}={v}" for k, v in self.doc.exempt.tags.items())
            return f"exempt: tagged {pairs}"
        return None


def _tags_match(wanted: Mapping[str, str], tags: Mapping[str, str], any_of: bool = False) -> bool:
    """Tag names compare case-insensitively (as ARM treats them); values exactly, '*' for any."""
    have = {fold(k): v for k, v in tags.items()}
    hits = [fold(k) in have and (v == "*" or have[fold(k)] == v) for k, v in wanted.items()]
    return any(hits) if any_of else all(hits)


def _registry_key(resource_id: str) -> str:
    """How exempt.registries entries compare: the parsed ID (child resources dropped), folded."""
    return fold(RegistryRef.parse(resource_id).resource_id)


# --- loading -----------------------------------------------------------------------------------


_MERGE = "tag:yaml.org,2002:merge"
_TOO_BIG = "the file is larger than 256 KiB; a policy is a few kilobytes"


class _Unbounded(ValueError):
    """A document whose aliases expand without bound (an alias bomb, or an alias inside itself)."""


def _check_expansion(root: yaml.Node) -> None:
    """Count the values the document holds once every alias is expanded, without expanding any.

    PyYAML shares an aliased node, so composing and constructing stay cheap; everything after
    (merge keys, validation, an error message's repr) walks the expanded tree. Nine levels of nine
    aliases are 387 million values, so the count stops at :data:`MAX_EXPANDED_VALUES`.
    """
    sizes: dict[int, int] = {}
    open_nodes: set[int] = set()

    def size(node: yaml.Node) -> int:
        if id(node) in sizes:
            return sizes[id(node)]
        if id(node) in open_nodes:
            raise _Unbounded("an alias refers to its own anchor (a structure that contains itself)")
        open_nodes.add(id(node))
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = node.value
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        total = 1
        for child in children:
            total += size(child)
            if total > MAX_EXPANDED_VALUES:
                raise _Unbounded(
                    f"aliases expand the document to more than {MAX_EXPANDED_VALUES:,} values "
                    "(anchors reused inside anchors: an alias bomb?); a policy needs a few hundred"
                )
        open_nodes.discard(id(node))
        sizes[id(node)] = total
        return total

    size(root)


#: libyaml's parser when PyYAML has it (its wheels do): the pure-Python one was most of the policy
#: load on a cold start. Both give the same nodes; the checks below work on nodes.
_SafeLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_SafeLoader):  # type: ignore[valid-type,misc]
    """PyYAML keeps the last of duplicate keys silently; a policy must not (two rules, one lost).

    Only the keys written in a mapping are compared: keys that ``<<: *anchor`` merges in may be
    overridden there (that is what merge keys are for). PyYAML rewrites a merged mapping's node in
    place, so each node's own keys are noted before that happens.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._written: dict[int, list[yaml.Node]] = {}

    def get_single_node(self) -> yaml.Node | None:
        node = super().get_single_node()
        if node is not None:
            _check_expansion(node)  # before anything walks the expanded tree
        return node

    def flatten_mapping(self, node: yaml.MappingNode) -> None:
        self._written.setdefault(id(node), [key for key, _ in node.value])
        super().flatten_mapping(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node in self._written.get(id(node)) or [key for key, _ in node.value]:
            if key_node.tag == _MERGE:
                if _MERGE in seen:
                    raise yaml.constructor.ConstructorError(
                        None,
                        None,
                        "duplicate key '<<' (merge several with <<: [*a, *b])",
                        key_node.start_mark,
                    )
                seen.add(_MERGE)
                continue  # SafeLoader merges it below, and the keys written here win
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, Hashable):  # `? [a, b]`: PyYAML's own check comes too late here
                raise yaml.constructor.ConstructorError(
                    None, None, f"a key must be a scalar, not a {type(key).__name__}", key_node.start_mark
                )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {shown(key)}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_policy(path: str | Path, mode_override: Mode | None = None) -> Policy:
    """Read and validate a policy file; raise :class:`PolicyError` naming every problem."""
    path = Path(path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_POLICY_BYTES + 1)  # never more: the size is bounded before parsing
    except OSError as exc:
        raise PolicyError(str(path), [("", f"cannot read the file: {exc.strerror or exc}")]) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(str(path), [("", _TOO_BIG)])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PolicyError(str(path), [("", f"not UTF-8 text (byte {exc.start})")]) from None
    return parse_policy(text, str(path), mode_override)


def parse_policy(text: str, source: str = "<policy>", mode_override: Mode | None = None) -> Policy:
    """Validate a policy's text: every check (the sinks' too) runs here, and every problem is reported."""
    if len(text) > MAX_POLICY_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_POLICY_BYTES:
        raise PolicyError(source, [("", _TOO_BIG)])
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except _Unbounded as exc:
        raise PolicyError(source, [("", str(exc))]) from None
    except RecursionError:
        raise PolicyError(source, [("", "not valid YAML: nested too deeply")]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = _clip(getattr(exc, "problem", None) or str(exc))
        raise PolicyError(source, [("", f"{where}not valid YAML: {problem}")]) from None
    if data is None:
        empty = (
            "the file is empty; a policy needs at least `version: 1` (`acrguard init` writes a starter one)"
        )
        raise PolicyError(source, [("", empty)])
    if not isinstance(data, dict):
        found = _KINDS.get(type(data), type(data).__name__)
        raise PolicyError(
            source, [("", f"expected keys (version, mode, scope, ...) at the top level, got {found}")]
        )
    problems: list[tuple[str, str]] = []
    doc = _convert(data, PolicyDocument, "", problems)
    if doc is None:
        if isinstance(data.get("rules"), dict) and not any(p == "rules" for p, _ in problems):
            _validate_rules(rules_model(), data["rules"], "rules", problems)  # report those too
        problems.extend(_notify_problems(_convert(data.get("notify", {}), Notify, "notify", [])))
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
    return Policy(source, doc, base, tuple(merged), mode_override)


_KINDS = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}


def _notify_problems(notify: Notify | None) -> list[tuple[str, str]]:
    """The sinks' own checks (https, key setting names): the ones ``acrguard validate`` always ran.

    They live with the sinks; calling them here makes the service refuse what ``validate`` refuses.
    Imported lazily, and only when a sink is configured, to keep the sinks off the cold-start path.
    """
    if notify is None or not (notify.webhooks or notify.eventgrid):
        return []
    from acrguard.notify import config_problems

    return config_problems(Policy("", PolicyDocument(version=1, notify=notify), {}, ()))


def _validate_rules(
    model: type[msgspec.Struct], raw: Any, prefix: str, problems: list[tuple[str, str]]
) -> dict[str, RuleConfig] | None:
    rules = _convert(raw, model, prefix, problems)
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


# --- problems, every one with its key path ------------------------------------------------------


def _convert(data: Any, kind: Any, path: str, problems: list[tuple[str, str]]) -> Any:
    """``msgspec.convert`` that reports every bad key, not only the first.

    msgspec stops at the first error, so a section's keys (and a list's items, a mapping's values)
    are checked one by one first; the whole section is converted only once its parts are clean,
    which also runs its ``__post_init__`` checks. Returns None when it appended problems.
    """
    before = len(problems)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct) and isinstance(data, dict):
        fields = {f.encode_name: f for f in struct_fields(kind)}
        bad: set[Any] = set()
        for key, value in data.items():
            seen = len(problems)
            if key not in fields:
                if not _is_unicode(key):  # a lone surrogate cannot be printed: named escaped, not as a path
                    problems.append((path, f"unknown key {_clip(ascii(key))} (not valid Unicode)"))
                else:
                    problems.append((_join(path, key), _unknown_key(key, fields)))
            else:
                _convert(value, fields[key].type, _join(path, key), problems)
            if len(problems) > seen:
                bad.add(key)
        for name, f in fields.items():
            if f.required and name not in data:
                problems.append((_join(path, name), "required key is missing"))
        if len(problems) > before:
            _field_checks(kind, {k: v for k, v in data.items() if k not in bad}, path, problems)
    elif typing.get_origin(kind) is list and isinstance(data, list):
        (item_kind,) = typing.get_args(kind)
        for index, item in enumerate(data):
            _convert(item, item_kind, f"{path}[{index}]", problems)
    elif typing.get_origin(kind) is dict and isinstance(data, dict):
        key_kind, value_kind = typing.get_args(kind)
        for key, value in data.items():
            if key_kind is str and not isinstance(key, str):
                hint = (
                    " (quote it: YAML reads on, off, yes and no as booleans)" if isinstance(key, bool) else ""
                )
                problems.append((path, f"key {shown(key)} must be text, got {type(key).__name__}{hint}"))
            elif not _is_unicode(key):
                problems.append((path, f"key {_clip(ascii(key))} is not valid Unicode"))
            else:
                _convert(value, value_kind, _join(path, key), problems)
    if len(problems) > before:
        return None
    try:
        return msgspec.convert(data, kind)
    except msgspec.ValidationError as exc:
        problems.extend(_problems(exc, kind, path, data))
        return None
    except UnicodeEncodeError:  # msgspec reads strings as UTF-8; YAML lets "\ud800" escapes through
        problems.append(
            (path, "text that is not valid Unicode (a lone surrogate, e.g. from a \\ud800 escape)")
        )
        return None


def _field_checks(kind: Any, clean: dict[Any, Any], path: str, problems: list[tuple[str, str]]) -> None:
    """A section with bad keys still gets its per-field checks on the good ones (a private CIDR is
    reported beside a bad ``bypass``). Checks of the whole section (the lockout guard, an empty
    ``match``) wait for a clean section: with keys missing they would only guess."""
    try:
        msgspec.convert(clean, kind)
    except msgspec.ValidationError as exc:
        if isinstance(exc.__cause__, FieldError):
            problems.extend(p for p in _problems(exc, kind, path, clean) if p not in problems)
    except UnicodeEncodeError:
        pass  # reported by the key's own check


_AT = re.compile(r"^(?P<message>.*?)(?: - at (?P<key>`key` in )?`\$(?P<where>[^`]*)`)?$", re.DOTALL)
_KEY = re.compile(r"^Object (?:contains unknown|missing required) field `(?P<key>.*)`$", re.DOTALL)


def _problems(exc: msgspec.ValidationError, kind: Any, path: str, value: Any) -> list[tuple[str, str]]:
    """msgspec's message as (key path, reason) pairs in the policy's own words."""
    found = _AT.match(str(exc))
    message, where = (found["message"], found["where"] or "") if found else (str(exc), "")
    path = path + where if path or not where.startswith(".") else where[1:]
    if isinstance(exc.__cause__, FieldError):  # a __post_init__ check that names its fields
        return [(_join(path, field), reason) for field, reason in exc.__cause__.problems]
    if key := _KEY.match(message):
        if "unknown" in message:
            return [(_join(path, key["key"]), "unknown key")]
        return [(_join(path, key["key"]), "required key is missing")]
    allowed = _literal_values(kind)
    if allowed and not where:  # a fixed choice: say which values it takes
        return [(path, f"must be {' or '.join(repr(v) for v in allowed)}, got {shown(value)}")]
    message = _clip(message.replace("`", ""))  # "Expected `int`, got `str`" -> "expected int, got str"
    message = message[:1].lower() + message[1:]
    return [(path, f"a key: {message}" if found and found["key"] else message)]


def _unknown_key(key: Any, fields: Mapping[str, Any]) -> str:
    """'unknown key' with the nearest allowed key (a typo), else every allowed one."""
    near = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
    if near:
        return f"unknown key; did you mean `{near[0]}`?"
    return f"unknown key; allowed: {', '.join(fields)}"


def _literal_values(kind: Any) -> list[Any]:
    if typing.get_origin(kind) is Literal:
        return list(typing.get_args(kind))
    return [v for arg in typing.get_args(kind) for v in _literal_values(arg)]


def _is_unicode(value: Any) -> bool:
    try:
        str(value).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _join(path: str, key: Any) -> str:
    key = _clip(str(key))
    return f"{path}.{key}" if path else key


def _clip(text: str, limit: int = 200) -> str:
    """Bound a message part that quotes the input (msgspec's enum errors quote the whole value)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"
