"""The ARM template functions a registry's properties use, evaluated eagerly (every argument known):
strings, logic, comparison, objects and arrays, resource IDs. Unknown arguments never reach them:
:mod:`acrguard.iac.expressions` stops at the first one, and evaluates ``if``, ``and``, ``or`` and
``coalesce`` lazily itself. Semantics as Microsoft Learn's "ARM template functions" pages state them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from acrguard.iac.model import ExpressionError


def truthy(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, int):
        return value != 0
    raise ExpressionError(f"{value!r} is not a boolean")


def _text(value: Any) -> str:
    """A value as ``string()`` and ``format()`` write it: JSON for objects, arrays and booleans."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool) or value is None or isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _equals(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a == b  # equals() on strings is case-sensitive
    return bool(a == b and type(a) is type(b))


def _format(template: str, *args: Any) -> str:
    def field(match: re.Match[str]) -> str:
        if match[0] in ("{{", "}}"):
            return match[0][0]
        index = int(match[1])
        if index >= len(args):
            raise ValueError(f"format string refers to argument {index}, {len(args)} given")
        return _text(args[index])

    return re.sub(r"\{\{|\}\}|\{(\d+)(?::[^}]*)?\}", field, template)


def _concat(*args: Any) -> Any:
    if args and all(isinstance(a, list) for a in args):
        return [item for a in args for item in a]
    return "".join(_text(a) for a in args)


def _union(*args: Any) -> Any:
    if args and all(isinstance(a, dict) for a in args):
        out: dict[str, Any] = {}
        for a in args:
            out.update(a)
        return out
    if args and all(isinstance(a, list) for a in args):  # each value once, first occurrence kept
        seen = dict.fromkeys(json.dumps(i, sort_keys=True) for a in args for i in a)
        return [json.loads(i) for i in seen]
    raise ValueError("union() takes objects or arrays, all of one kind")


def _create_object(*args: Any) -> dict[str, Any]:
    if len(args) % 2:
        raise ValueError("createObject() takes name, value pairs")
    return {str(args[i]): args[i + 1] for i in range(0, len(args), 2)}


def _contains(container: Any, item: Any) -> bool:
    if isinstance(container, str):
        return str(item).lower() in container.lower()
    if isinstance(container, dict):
        return any(str(k).lower() == str(item).lower() for k in container)
    return item in container


def _resource_id(*parts: Any) -> str:
    """``resourceId([sub], [rg], type, name...)`` with the deployment's subscription and group."""
    sub, rg, kind, *names = parts
    segments = str(kind).split("/")
    path = "/".join(f"{t}/{n}" for t, n in zip(segments[1:], names, strict=False))
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/{segments[0]}/{path}"


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "parameters": lambda name: name,  # resolved in run(): they read the scope
    "variables": lambda name: name,
    "resourcegroup": dict,
    "subscription": dict,
    "resourceid": _resource_id,
    "concat": _concat,
    "format": _format,
    "equals": _equals,
    "not": lambda value: not truthy(value),
    "bool": truthy,
    "int": int,
    "string": _text,
    "tolower": lambda text: str(text).lower(),
    "toupper": lambda text: str(text).upper(),
    "trim": lambda text: str(text).strip(),
    "replace": lambda text, old, new: str(text).replace(old, new),
    "startswith": lambda text, prefix: str(text).lower().startswith(str(prefix).lower()),
    "endswith": lambda text, suffix: str(text).lower().endswith(str(suffix).lower()),
    "substring": lambda text, start, length=None: str(text)[
        start : None if length is None else start + length
    ],
    "length": len,
    "empty": lambda value: value is None or len(value) == 0,
    "contains": _contains,
    "first": lambda value: value[0],
    "last": lambda value: value[-1],
    "take": lambda value, n: value[: max(n, 0)],
    "skip": lambda value, n: value[max(n, 0) :],
    "split": lambda text, sep: str(text).split(sep),
    "join": lambda items, sep: str(sep).join(_text(i) for i in items),
    "createobject": _create_object,
    "createarray": lambda *items: list(items),
    "array": lambda value: value if isinstance(value, list) else [value],
    "union": _union,
    "json": json.loads,
    "true": lambda: True,
    "false": lambda: False,
    "null": lambda: None,
    "greater": lambda a, b: a > b,
    "greaterorequals": lambda a, b: a >= b,
    "less": lambda a, b: a < b,
    "lessorequals": lambda a, b: a <= b,
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "min": lambda *a: min(a[0] if len(a) == 1 and isinstance(a[0], list) else a),
    "max": lambda *a: max(a[0] if len(a) == 1 and isinstance(a[0], list) else a),
}
#: Listed for ``--help``/docs: what is evaluated, and what is always unknown before a deployment.
