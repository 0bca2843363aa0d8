"""Evaluate the Bicep expressions infra/ derives from acrguard/azure_contract.json, offline.

The Bicep CLI cannot run here (it is a downloaded binary), so the tests cannot compile a template
with a given ``enabledRules``. This interprets pycep's parse tree for what the custom roles, the
Event Grid filter, the onboarding policies and the app settings use: parameters, variables,
``[for x in array: ...]``, property and index access, string interpolation, ``a ? b : c``, ``!``,
``==``, ``&&``, ``||``, ``loadJsonContent``, ``union`` (arrays: each value once, first occurrence kept),
``flatten``, ``concat``, ``take``, ``split``, ``last``, ``length``, ``empty``, ``string``,
``loadTextContent``, ``replace``, ``trim``,
``uniqueString`` and ``guid``
(deterministic stand-ins: only equality between two evaluations matters, not Azure's exact hash),
and ``resourceGroup(sub, rg)`` as a module scope. A resource or module symbol's property
(``role.id``) and ``managementGroup().id``-style calls evaluate to a ``<...>`` placeholder naming
what ARM would fill in. Anything else raises :class:`Unsupported`, so a template change cannot
pass by being skipped: the test then says what to teach this evaluator (or to compile with the CLI).
"""

from __future__ import annotations

import functools
import hashlib
import json
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser  # pycep-parser, in the dev extra


class Unsupported(ValueError):
    """An expression this evaluator does not interpret."""


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


@functools.cache
def _expression(text: str) -> Any:
    """The parse tree of one Bicep expression (the inside of a ``${...}``)."""
    return BicepParser().parse(text=f"var v = {text}\n")["variables"]["v"]["value"]


def _interpolations(text: str) -> list[tuple[str, bool]]:
    """``'a${x}b'`` as ``[('a', False), ('x', True), ('b', False)]`` (braces may nest)."""
    parts: list[tuple[str, bool]] = []
    i = start = 0
    while (i := text.find("${", start)) >= 0:
        depth, j = 1, i + 2
        while depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        parts += [(text[start:i], False), (text[i + 2 : j - 1], True)]
        start = j
    return [*parts, (text[start:], False)]


def _hash(*parts: Any) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _text(value: Any) -> str:
    """Bicep's string(): strings as they are, anything else as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


@dataclass(frozen=True)
class Template:
    """One Bicep file deployed with ``params``: evaluates its expressions."""

    path: Path
    params: dict[str, Any]
    local: dict[str, Any] = field(default_factory=dict)

    @property
    def doc(self) -> dict[str, Any]:
        return parse(self.path)

    def variable(self, name: str) -> Any:
        return self.value(self.doc["variables"][name]["value"])

    def value(self, node: Any) -> Any:
        if isinstance(node, str):  # pycep gives identifiers and string literals alike as str
            for names in (self.local, self.params):
                if node in names:
                    return names[node]
            if node in self.doc.get("variables", {}):
                return self.variable(node)
            if "${" in node:
                return "".join(
                    _text(self.value(_expression(part))) if code else part.replace("\\'", "'")
                    for part, code in _interpolations(node)
                )
            return node.replace("\\'", "'")
        if node is None or isinstance(node, bool | int | float):
            return node
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            raise Unsupported(f"{self.path.name}: {node!r}")
        if "loop_type" in node:
            return self._loop(node)
        if "function" in node:
            return self._function(node["function"])
        if "operator" in node and len(node) == 1 and "operands" in node["operator"]:
            return self._operator(node["operator"])  # not an object literal with an `operator` key
        # an object literal; pycep keeps a quoted key's quotes ('azd-env-name')
        return {key.strip("'"): self.value(item) for key, item in node.items()}

    def _loop(self, node: dict[str, Any]) -> list[Any]:
        detail = node["loop_type"]["detail"]
        if node.get("condition") is not None or set(detail) != {"item_name", "array_name"}:
            raise Unsupported(f"{self.path.name}: only [for x in array: ...] is interpreted: {node}")
        items = self.value(detail["array_name"])
        return [
            Template(self.path, self.params, {**self.local, detail["item_name"]: item}).value(node["config"])
            for item in items
        ]

    def _function(self, fn: dict[str, Any]) -> Any:
        result = self._call(fn)
        if fn.get("index") is not None:
            result = result[self.value(fn["index"])]
        if fn.get("property_name") is not None and not isinstance(result, str):
            result = result[fn["property_name"]]
        return result

    def _call(self, fn: dict[str, Any]) -> Any:
        kind, args = fn["type"], fn.get("parameters") or {}
        values = [self.value(args[key]) for key in args if args[key] is not None]
        if kind in ("management_group", "subscription", "resource_group", "tenant") and not values:
            return f"<{kind}().{fn.get('property_name') or ''}>"  # what ARM fills in at deployment
        if kind == "resource_group":
            return {
                "subscriptionId": self.value(args["subscription_id"]),
                "resourceGroup": self.value(args["resource_group_name"]),
            }
        if kind == "load_text_content":
            return (self.path.parent / self.value(args["file_path"])).read_text(encoding="utf-8")
        if kind == "replace":
            text, old, new = (self.value(args[k]) for k in ("original_string", "old_string", "new_string"))
            return text.replace(old, new)
        if kind == "split":
            return self.value(args["input_string"]).split(self.value(args["delimiter"]))
        if kind in ("last", "length", "empty", "string", "to_lower", "trim"):
            (arg,) = values
            return {
                "last": lambda: arg[-1],
                "length": lambda: len(arg),
                "empty": lambda: not arg,
                "string": lambda: _text(arg),
                "to_lower": lambda: arg.lower(),
                "trim": lambda: arg.strip(),
            }[kind]()
        if kind == "tenant_resource_id":
            return "/providers/" + "/".join(_text(v) for v in values)
        if kind == "concat":
            if all(isinstance(v, list) for v in values):
                return [item for v in values for item in v]
            return "".join(_text(v) for v in values)
        if kind == "take":
            return self.value(args["original_value"])[: self.value(args["number_to_take"])]
        if kind == "unique_string":
            return _hash("uniqueString", *values)[:13]
        if kind == "guid":
            return str(uuid.UUID(_hash("guid", *values)[:32]))
        if kind == "load_json_content" and not args.get("json_path"):
            return json.loads((self.path.parent / args["file_path"]).read_text(encoding="utf-8"))
        if kind == "union":
            arrays = [self.value(args[key]) for key in sorted(args)]
            if all(isinstance(a, list) for a in arrays):
                return list(dict.fromkeys(item for array in arrays for item in array))
            if all(isinstance(a, dict) for a in arrays):  # objects: later keys win (shallow)
                return {k: v for a in arrays for k, v in a.items()}
        if kind == "flatten":
            (inner,) = args.values()
            return [item for array in self.value(inner) for item in array]
        raise Unsupported(f"{self.path.name}: function {kind}({args})")

    def _operator(self, op: dict[str, Any]) -> Any:
        operands = op["operands"]
        if op["type"] == "property_accessor":
            base = operands["operand_1"]
            symbols = {**self.doc.get("resources", {}), **self.doc.get("modules", {})}
            indexed = base.get("operator", {}) if isinstance(base, dict) else {}
            if indexed.get("type") == "index_accessor":  # ``assignments[0].identity``
                symbol, index = indexed["operands"]["operand_1"], indexed["operands"]["operand_2"]
                if isinstance(symbol, str) and symbol in symbols and symbol not in self.local:
                    return f"<{symbol}[{self.value(index)}].{self._path(operands['operand_2'])}>"
            if isinstance(base, str) and base in symbols and base not in self.local:
                return f"<{base}.{self._path(operands['operand_2'])}>"  # known only once deployed
            return self._access(self.value(base), operands["operand_2"])
        if op["type"] == "conditional":
            chosen = "true_value" if self.value(operands["condition"]) else "false_value"
            return self.value(operands[chosen])
        if op["type"] in ("and", "or"):
            left, right = (self.value(operands[k]) for k in ("operand_1", "operand_2"))
            return (left and right) if op["type"] == "and" else (left or right)
        if op["type"] == "not":
            return not self.value(operands["bool_value"])
        if op["type"] in ("equals", "not_equals"):
            same = self.value(operands["operand_1"]) == self.value(operands["operand_2"])
            return same if op["type"] == "equals" else not same
        if op["type"] == "index_accessor":
            return self.value(operands["operand_1"])[self.value(operands["operand_2"])]
        raise Unsupported(f"{self.path.name}: operator {op['type']}")

    def _path(self, path: Any) -> str:
        """``outputs.name`` for a property path tree (a placeholder's text)."""
        if isinstance(path, str):
            return path
        op = path.get("operator", {}) if isinstance(path, dict) else {}
        if op.get("type") == "property_accessor":
            operands = op["operands"]
            return f"{self._path(operands['operand_1'])}.{self._path(operands['operand_2'])}"
        raise Unsupported(f"{self.path.name}: symbol path {path}")

    def _access(self, base: Any, path: Any) -> Any:
        """``base.path``: pycep nests ``a.b[c].d`` as a.(b[c].d), so the path is itself a tree."""
        if isinstance(path, str):
            return base[path]
        op = path.get("operator", {}) if isinstance(path, dict) else {}
        operands = op.get("operands", {})
        if op.get("type") == "property_accessor":
            return self._access(self._access(base, operands["operand_1"]), operands["operand_2"])
        if op.get("type") == "index_accessor":
            return self._access(base, operands["operand_1"])[self.value(operands["operand_2"])]
        raise Unsupported(f"{self.path.name}: access path {path}")
