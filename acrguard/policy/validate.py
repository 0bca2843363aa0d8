"""Policy problems in the policy's own words: every bad key reported at once, with its key path.

msgspec stops at the first error; :func:`convert` walks a section's keys first so that one run
reports them all. Split from :mod:`acrguard.policy`, which re-exports what callers use.
"""

from __future__ import annotations

import difflib
import re
import reprlib
import typing
from collections.abc import Callable, Mapping
from functools import cache
from typing import Any, Literal

import msgspec

from remediators import FieldError

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlist = _REPR.maxdict = _REPR.maxset = _REPR.maxtuple = 6
_REPR.maxlevel = 3


def shown(value: Any) -> str:
    """``repr`` clipped to a few lines, however large or deeply nested ``value`` is (an alias bomb)."""
    return _REPR.repr(value)


class PolicyError(ValueError):
    """Every problem of one policy file, each as 'file: key.path: reason'."""

    def __init__(self, file: str, problems: list[tuple[str, str]]) -> None:
        self.file = file
        self.problems = problems
        lines = [f"{file}: {path or '<root>'}: {reason}" for path, reason in problems]
        super().__init__("invalid policy\n  " + "\n  ".join(lines))


def check_each(
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


@cache
def struct_fields(kind: type[msgspec.Struct]) -> tuple[msgspec.structs.FieldInfo, ...]:
    """``msgspec.structs.fields``, once per class: it evaluates the string annotations every call
    (``from __future__ import annotations``), which was half of a policy load on a cold start."""
    return msgspec.structs.fields(kind)


KINDS = {list: "a list", str: "text", int: "a number", float: "a number", bool: "true/false"}


def convert(data: Any, kind: Any, path: str, problems: list[tuple[str, str]]) -> Any:
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
                    problems.append((path, f"unknown key {clip(ascii(key))} (not valid Unicode)"))
                else:
                    problems.append((_join(path, key), _unknown_key(key, fields)))
            else:
                convert(value, fields[key].type, _join(path, key), problems)
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
            convert(item, item_kind, f"{path}[{index}]", problems)
    elif typing.get_origin(kind) is dict and isinstance(data, dict):
        key_kind, value_kind = typing.get_args(kind)
        for key, value in data.items():
            if key_kind is str and not isinstance(key, str):
                hint = (
                    " (quote it: YAML reads on, off, yes and no as booleans)" if isinstance(key, bool) else ""
                )
                problems.append((path, f"key {shown(key)} must be text, got {type(key).__name__}{hint}"))
            elif not _is_unicode(key):
                problems.append((path, f"key {clip(ascii(key))} is not valid Unicode"))
            else:
                convert(value, value_kind, _join(path, key), problems)
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
    message = clip(message.replace("`", ""))  # "Expected `int`, got `str`" -> "expected int, got str"
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
    key = clip(str(key))
    return f"{path}.{key}" if path else key


def clip(text: str, limit: int = 200) -> str:
    """Bound a message part that quotes the input (msgspec's enum errors quote the whole value)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters)"
