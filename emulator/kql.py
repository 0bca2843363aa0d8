"""A strict interpreter for the KQL subset ACR Guard sends to Azure Resource Graph, and nothing more.

``resources | where <expr> | ... | project col, ...`` with ``==``, ``!=``, ``=~``, ``in~ (...)``,
``and``, ``or``, ``not(...)``, ``isnull()``, ``isnotnull()``, ``tostring()``, dotted property paths
(``properties.networkRuleSet.defaultAction``), array indexes (``ipRules[0]``; null past the end)
and string/bool/number literals. Anything else raises
:class:`KqlError` (the endpoint answers 400): an unknown operator is never guessed at, so a query
the product starts sending that real ARG might read differently fails loudly in the tests. Every
query the product can send is also checked by Microsoft's own parser (tests/kusto_check.mjs).

Semantics, as Microsoft's Kusto documentation defines them (learn.microsoft.com/kusto/query/...):

- ``scalar-data-types/null-values``: a missing property is null; ``==`` of a null and a non-null
  is false, ``!=`` of them true; of two nulls, null. ``where`` keeps only rows whose predicate is
  true (null is dropped). The ``string`` type has no null: a null string column reads as ``""``.
- ``logical-operators``: ``bool(null) and true`` is false, ``bool(null) or true`` true: ``and`` and
  ``or`` treat null as false. ``not()`` of a null is null (the page is silent; this drops the row).
- ``where-operator`` and Kusto.Language's binder: the predicate must have the type bool (semantic
  error KS141 "The expression must have the type bool."), ``not()`` takes a bool (KS107), and
  ``and``/``or`` take bool or dynamic operands (KS106).
- ``equals-operator``, ``in-operator``: ``=~`` and ``in~`` compare strings ignoring case, and
  "case-insensitive operators are currently supported only for ASCII-text": only A-Z fold.
- ``tostring()``: null is ``""``, a bool ``true``/``false``, an object or array its compact JSON
  with characters as they are (no ``\\u`` escapes for non-ASCII text).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The columns of ARG's ``resources`` table and their Kusto types.
SCHEMA: dict[str, str] = {
    "id": "string",
    "name": "string",
    "type": "string",
    "tenantId": "string",
    "kind": "string",
    "location": "string",
    "resourceGroup": "string",
    "subscriptionId": "string",
    "managedBy": "string",
    "sku": "dynamic",
    "plan": "dynamic",
    "properties": "dynamic",
    "tags": "dynamic",
    "identity": "dynamic",
    "zones": "dynamic",
    "extendedLocation": "dynamic",
}
COLUMNS = frozenset(SCHEMA)
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<op>in~|==|!=|=~|[|(),.\[\]])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_FUNCTIONS = ("isnull", "isnotnull", "tostring", "not")
_ASCII_FOLD = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

Row = Mapping[str, Any]
Eval = Callable[[Row], Any]


class KqlError(ValueError):
    """A query outside the supported subset, or one Kusto refuses, with where it went wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Expr:
    """A compiled expression and its static Kusto type (bool, string, long, real or dynamic)."""

    run: Eval
    type: str


@dataclass(frozen=True)
class Query:
    """A parsed query: row filters in order, then the projected columns (None: every column)."""

    filters: tuple[Eval, ...]
    columns: tuple[str, ...] | None

    def run(self, rows: list[Row]) -> list[Row]:
        return [r for r in rows if all(f(r) is True for f in self.filters)]

    def project(self, row: Row) -> dict[str, Any]:
        return dict(row) if self.columns is None else {c: row.get(c) for c in self.columns}


def tostring(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return str(value)


def fold(text: str) -> str:
    """Kusto's case folding for ``=~`` and ``in~``: ASCII letters only."""
    return text.translate(_ASCII_FOLD)


def parse(text: str) -> Query:
    return _Parser(text).query()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens: list[tuple[str, str, int]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match:
                raise KqlError(f"unexpected character {text[pos:].lstrip()[:1]!r}", pos)
            kind = match.lastgroup or ""
            self.tokens.append((kind, match.group(kind), match.start(kind)))
            pos = match.end()
        self.at = 0

    # -- tokens ---------------------------------------------------------------------------------
    def peek(self) -> tuple[str, str, int]:
        return self.tokens[self.at] if self.at < len(self.tokens) else ("end", "", len(self.text))

    def take(self, value: str | None = None, kind: str | None = None) -> str:
        got_kind, got, pos = self.peek()
        if (value is not None and got != value) or (kind is not None and got_kind != kind):
            wanted = value or kind
            raise KqlError(f"expected {wanted!r}, got {got or 'end of query'!r}", pos)
        self.at += 1
        return got

    def accept(self, value: str) -> bool:
        if self.peek()[1] == value:
            self.at += 1
            return True
        return False

    # -- grammar --------------------------------------------------------------------------------
    def query(self) -> Query:
        table = self.take(kind="word")
        if table.lower() != "resources":
            raise KqlError(f"unsupported table {table!r} (only resources)", 0)
        filters: list[Eval] = []
        columns: tuple[str, ...] | None = None
        while self.accept("|"):
            kind, word, pos = self.peek()
            if columns is not None:
                raise KqlError("project must be the last operator", pos)
            if word == "where":
                self.at += 1
                start = self.peek()[2]
                predicate = self.disjunction()
                if predicate.type != "bool":
                    raise KqlError("KS141: The expression must have the type bool.", start)
                filters.append(predicate.run)
            elif word == "project":
                self.at += 1
                columns = tuple(self.column() for _ in self._commas())
            else:
                raise KqlError(f"unsupported operator {word!r} (only where and project)", pos)
        kind, word, pos = self.peek()
        if kind != "end":
            raise KqlError(f"unexpected {word!r}", pos)
        return Query(tuple(filters), columns)

    def _commas(self) -> Any:
        yield None
        while self.accept(","):
            yield None

    def column(self) -> str:
        pos = self.peek()[2]
        name = self.take(kind="word")
        if name not in COLUMNS:
            raise KqlError(f"KS142: The name '{name}' does not refer to any known column", pos)
        return name

    def disjunction(self) -> Expr:
        return self._junction("or", self.conjunction)

    def conjunction(self) -> Expr:
        return self._junction("and", self.comparison)

    def _junction(self, word: str, operand: Callable[[], Expr]) -> Expr:
        """``and``/``or``: true only when all (``and``) or any (``or``) operand is true; a null or a
        non-bool dynamic value counts as false (logical-operators: ``bool(null) and true`` is false)."""
        pos = self.peek()[2]
        parts = [operand()]
        while self.accept(word):
            parts.append(operand())
        if len(parts) == 1:
            return parts[0]
        for part in parts:
            if part.type not in ("bool", "dynamic"):
                raise KqlError(
                    f"KS106: The operator '{word}' is not defined for the operand type {part.type}", pos
                )
        runs = [p.run for p in parts]
        if word == "and":
            return Expr(lambda row: all(r(row) is True for r in runs), "bool")
        return Expr(lambda row: any(r(row) is True for r in runs), "bool")

    def comparison(self) -> Expr:
        left = self.operand()
        kind, op, pos = self.peek()
        if op in ("==", "!="):
            self.at += 1
            return _equality(op == "==", left, self.operand())
        if op == "=~":
            self.at += 1
            right = self.operand()
            return Expr(lambda row: fold(_text(left, row)) == fold(_text(right, row)), "bool")
        if op == "in~":
            self.at += 1
            self.take("(")
            values = [self.literal() for _ in self._commas()]
            self.take(")")
            if not all(isinstance(v, str) for v in values):
                raise KqlError("in~ takes string literals", pos)
            folded = frozenset(fold(v) for v in values)
            return Expr(lambda row: fold(_text(left, row)) in folded, "bool")
        if (kind == "op" and op not in (")", "|", ",")) or (kind == "word" and op not in ("and", "or")):
            raise KqlError(f"unsupported operator {op!r}", pos)
        return left

    def operand(self) -> Expr:
        kind, word, pos = self.peek()
        if word == "(":
            self.at += 1
            inner = self.disjunction()
            self.take(")")
            return inner
        if kind == "word" and self.tokens[self.at + 1 : self.at + 2] and self.tokens[self.at + 1][1] == "(":
            if word not in _FUNCTIONS:
                raise KqlError(f"unsupported function {word!r}", pos)
            self.at += 2
            arg = self.disjunction() if word == "not" else self.operand()
            self.take(")")
            if word == "not":
                if arg.type != "bool":
                    raise KqlError("KS107: A value of type bool expected.", pos)
                return Expr(lambda row: (lambda v: None if v is None else not v)(arg.run(row)), "bool")
            if word == "tostring":
                return Expr(lambda row: tostring(arg.run(row)), "string")
            wanted_null = word == "isnull"
            return Expr(lambda row: (arg.run(row) is None) is wanted_null, "bool")
        if kind in ("string", "number") or word in ("true", "false"):
            value = self.literal()
            kql_type = {str: "string", bool: "bool", int: "long", float: "real"}[type(value)]
            return Expr(lambda row: value, kql_type)
        return self.path()

    def literal(self) -> Any:
        kind, word, pos = self.peek()
        self.at += 1
        if kind == "string":
            return json.loads('"' + word[1:-1].replace('"', '\\"').replace("\\'", "'") + '"')
        if kind == "number":
            return float(word) if "." in word else int(word)
        if word in ("true", "false"):
            return word == "true"
        raise KqlError(f"expected a literal, got {word or 'end of query'!r}", pos)

    def path(self) -> Expr:
        pos = self.peek()[2]
        steps: list[Any] = [self.column()]
        while True:
            if self.accept("."):
                steps.append(self.take(kind="word"))
            elif self.accept("["):
                steps.append(self.literal())
                self.take("]")
            else:
                break
        kql_type = SCHEMA[steps[0]]
        if kql_type == "string":
            if len(steps) > 1:
                raise KqlError(f"{steps[0]} is a string column: it has no members", pos)
            name = steps[0]
            return Expr(lambda row: row.get(name) or "", "string")  # a string is never null

        def walk(row: Row) -> Any:
            value: Any = row
            for step in steps:
                if isinstance(value, list) and type(step) is int:  # dynamic array index
                    value = value[step] if 0 <= step < len(value) else None
                else:
                    value = value.get(step) if isinstance(value, Mapping) else None
                if value is None:
                    return None
            return value

        return Expr(walk, "dynamic")


def _text(expr: Expr, row: Row) -> str:
    """A string operator's operand as text: dynamic values through ``tostring`` (null: "")."""
    return tostring(expr.run(row))


def _equality(equal: bool, left: Expr, right: Expr) -> Expr:
    """``==`` / ``!=`` per null-values: one null side gives false / true, two null sides null."""

    def compare(row: Row) -> bool | None:
        a, b = left.run(row), right.run(row)
        if a is None or b is None:
            return None if a is None and b is None else not equal
        same = type(a) is type(b) and a == b
        return same if equal else not same

    return Expr(compare, "bool")
