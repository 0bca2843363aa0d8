"""A strict interpreter for the KQL subset ACR Guard sends to Azure Resource Graph, and nothing more.

``resources | where <expr> | ... | project col, ...`` with ``==``, ``!=``, ``=~``, ``in~ (...)``,
``and``, ``or``, ``not(...)``, ``isnull()``, ``isnotnull()``, ``tostring()``, dotted property paths
(``properties.networkRuleSet.defaultAction``), array indexes (``ipRules[0]``; null past the end)
and string/bool/number literals. Anything else raises
:class:`KqlError` (the endpoint answers 400): an unknown operator is never guessed at, so a query
the product starts sending that real ARG might read differently fails loudly in the tests.

Null semantics follow Kusto: a missing property is null, a comparison with null is null, ``where``
keeps only rows whose predicate is true, ``not(null)`` is null, and ``and``/``or`` are three-valued.
``tostring`` of null is the empty string, of a bool ``true``/``false``, of an object or array its
compact JSON (which is why the product wraps properties that may be missing in ``tostring``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The columns of ARG's ``resources`` table.
COLUMNS = frozenset(
    {
        "id",
        "name",
        "type",
        "tenantId",
        "kind",
        "location",
        "resourceGroup",
        "subscriptionId",
        "managementGroup",
        "sku",
        "plan",
        "properties",
        "tags",
        "identity",
        "zones",
        "extendedLocation",
    }
)
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\")|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<op>in~|==|!=|=~|[|(),.\[\]])|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_FUNCTIONS = ("isnull", "isnotnull", "tostring", "not")

Row = Mapping[str, Any]
Expr = Callable[[Row], Any]


class KqlError(ValueError):
    """A query outside the supported subset, with where it went wrong."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class Query:
    """A parsed query: row filters in order, then the projected columns (None: every column)."""

    filters: tuple[Expr, ...]
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
        return json.dumps(value, separators=(",", ":"))
    return str(value)


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
        filters: list[Expr] = []
        columns: tuple[str, ...] | None = None
        while self.accept("|"):
            kind, word, pos = self.peek()
            if columns is not None:
                raise KqlError("project must be the last operator", pos)
            if word == "where":
                self.at += 1
                filters.append(self.disjunction())
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
            raise KqlError(f"failed to resolve column {name!r}", pos)
        return name

    def disjunction(self) -> Expr:
        parts = [self.conjunction()]
        while self.accept("or"):
            parts.append(self.conjunction())
        return parts[0] if len(parts) == 1 else _junction(parts, decisive=True)

    def conjunction(self) -> Expr:
        parts = [self.comparison()]
        while self.accept("and"):
            parts.append(self.comparison())
        return parts[0] if len(parts) == 1 else _junction(parts, decisive=False)

    def comparison(self) -> Expr:
        left = self.operand()
        kind, op, pos = self.peek()
        if op in ("==", "!=", "=~"):
            self.at += 1
            return _compare(op, left, self.operand())
        if op == "in~":
            self.at += 1
            self.take("(")
            values = [self.literal() for _ in self._commas()]
            self.take(")")
            if not all(isinstance(v, str) for v in values):
                raise KqlError("in~ takes string literals", pos)
            folded = frozenset(v.lower() for v in values)
            return lambda row: (lambda v: None if v is None else str(v).lower() in folded)(left(row))
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
                return lambda row: (lambda v: None if v is None else not v)(arg(row))
            if word == "tostring":
                return lambda row: tostring(arg(row))
            wanted_null = word == "isnull"
            return lambda row: (arg(row) is None) is wanted_null
        if kind in ("string", "number") or word in ("true", "false"):
            value = self.literal()
            return lambda row: value
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
        steps = [self.column()]
        while True:
            if self.accept("."):
                steps.append(self.take(kind="word"))
            elif self.accept("["):
                steps.append(self.literal())
                self.take("]")
            else:
                break

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

        return walk


def _compare(op: str, left: Expr, right: Expr) -> Expr:
    def compare(row: Row) -> bool | None:
        a, b = left(row), right(row)
        if a is None or b is None:
            return None
        if op == "=~":
            return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()
        same = type(a) is type(b) and a == b
        return same if op == "==" else not same

    return compare


def _junction(parts: list[Expr], decisive: bool) -> Expr:
    """``and`` (``decisive`` False) or ``or`` (True) in KQL's three-valued logic: one decisive
    operand decides; otherwise a null operand makes the whole null."""

    def combine(row: Row) -> bool | None:
        values = [p(row) for p in parts]
        if any(v is decisive for v in values):
            return decisive
        return None if any(v is None for v in values) else not decisive

    return combine
