"""Evaluate the Bicep expressions infra/ derives from acrguard/azure_contract.json, offline.

The Bicep CLI cannot run here (it is a downloaded binary), so the tests cannot compile a template
with a given ``enabledRules``. This interprets pycep's parse tree for exactly what the custom role
and the Event Grid filter use: parameters, variables, ``[for x in array: ...]``, property and index
access, ``loadJsonContent``, ``union`` (arrays: each value once, first occurrence kept) and
``flatten``. Anything else raises :class:`Unsupported`, so a template change cannot pass by being
skipped: the test then says what to teach this evaluator (or to compile with the CLI).
"""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pycep import BicepParser  # pycep-parser, in the dev extra


class Unsupported(ValueError):
    """An expression this evaluator does not interpret."""


@functools.cache
def parse(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


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
            return self.variable(node) if node in self.doc.get("variables", {}) else node
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
        if "operator" in node:
            return self._operator(node["operator"])
        return {key: self.value(item) for key, item in node.items()}  # an object literal

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
        kind, args = fn["type"], fn.get("parameters") or {}
        if kind == "load_json_content" and not args.get("json_path"):
            return json.loads((self.path.parent / args["file_path"]).read_text(encoding="utf-8"))
        if kind == "union":
            arrays = [self.value(args[key]) for key in sorted(args)]
            if all(isinstance(a, list) for a in arrays):
                return list(dict.fromkeys(item for array in arrays for item in array))
        if kind == "flatten":
            (inner,) = args.values()
            return [item for array in self.value(inner) for item in array]
        raise Unsupported(f"{self.path.name}: function {kind}({args})")

    def _operator(self, op: dict[str, Any]) -> Any:
        operands = op["operands"]
        if op["type"] == "property_accessor":
            return self._access(self.value(operands["operand_1"]), operands["operand_2"])
        if op["type"] == "index_accessor":
            return self.value(operands["operand_1"])[self.value(operands["operand_2"])]
        raise Unsupported(f"{self.path.name}: operator {op['type']}")

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
