"""A small evaluator for Azure Policy ``if`` conditions (and PSRule conditions written the same way).

Just what tests/data/parity/conditions.json uses: ``field`` with equals / notEquals / exists / in /
notIn, ``anyOf`` / ``allOf`` / ``not``, and ``count`` of an array alias with an optional ``where``
compared by less / greaterOrEquals / equals. Fields are registry aliases written relative to
``Microsoft.ContainerRegistry/registries/`` (``sku.name``, ``type``, ``name`` and ``location`` read
the top level) or, for a child resource, relative to its own type. String comparisons ignore
case, as Azure Policy's do.
"""

from __future__ import annotations

from typing import Any

_MISSING = object()
#: Aliases of a resource's top-level fields (a child's ``type``, a replica's ``location``).
_TOP_LEVEL = frozenset({"type", "name", "location"})


def resolve(doc: dict[str, Any], alias: str, item: Any = _MISSING) -> Any:
    """The value of ``alias`` in a registry GET document (``item``: the current element in a count)."""
    if "[*]" in alias:
        if item is _MISSING:
            raise ValueError(f"{alias}: an array alias outside count")
        # An element's alias skips its ``properties`` hop, as ARM aliases do.
        value: Any = item.get("properties", item) if isinstance(item, dict) else item
        path = alias.split("[*]", 1)[1].lstrip(".")
    else:
        top = alias.startswith("sku.") or alias in _TOP_LEVEL
        value = doc if top else doc.get("properties", {})
        path = alias
    for part in filter(None, path.split(".")):
        if not isinstance(value, dict) or part not in value or value[part] is None:
            return _MISSING
        value = value[part]
    return value


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def evaluate(condition: dict[str, Any], doc: dict[str, Any], item: Any = _MISSING) -> bool:
    if "anyOf" in condition:
        return any(evaluate(c, doc, item) for c in condition["anyOf"])
    if "allOf" in condition:
        return all(evaluate(c, doc, item) for c in condition["allOf"])
    if "not" in condition:
        return not evaluate(condition["not"], doc, item)
    if "count" in condition:
        count = condition["count"]
        array = resolve(doc, count["field"].split("[*]", 1)[0])
        elements = array if isinstance(array, list) else []
        where = count.get("where")
        n = sum(1 for e in elements if where is None or evaluate(where, doc, e))
        (op, bound), *rest = [(k, v) for k, v in condition.items() if k != "count"]
        assert not rest, condition
        return {"less": n < bound, "greaterOrEquals": n >= bound, "equals": n == bound}[op]
    value = resolve(doc, condition["field"], item)
    if "exists" in condition:
        return (value is not _MISSING) == condition["exists"]
    if "equals" in condition:
        return value is not _MISSING and _same(value, condition["equals"])
    if "notEquals" in condition:
        return value is _MISSING or not _same(value, condition["notEquals"])
    if "in" in condition:
        return value is not _MISSING and any(_same(value, v) for v in condition["in"])
    if "notIn" in condition:
        return value is _MISSING or not any(_same(value, v) for v in condition["notIn"])
    raise ValueError(f"unsupported condition {condition}")
