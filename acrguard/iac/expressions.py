"""ARM template expressions (``"[concat('acr', parameters('env'))]"``): tokenized, parsed, evaluated.

A small recursive-descent parser over the template expression grammar (Microsoft Learn, "Syntax and
expressions in ARM templates": a string whose first character is ``[`` and last ``]`` is an
expression; ``[[`` escapes a literal ``[``; string literals in single quotes with ``''`` for a quote;
integers; function calls; ``.property`` and ``[index]`` access). No maintained Python library
evaluates ARM expressions, so this one is owned here, and kept to what registries use.

Evaluation never guesses: whatever cannot be known before the deployment (``reference()``,
``uniqueString()``, a parameter without a value, a function not listed in :data:`FUNCTIONS`) is an
:class:`~acrguard.iac.model.Unknown`, which spreads through every function that reads it except
where the answer does not depend on it (``if`` with a known condition, ``and``/``or`` decided by
one argument, ``coalesce`` with an earlier known value).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from acrguard.iac.model import ExpressionError, Unknown
from acrguard.iac.template_functions import FUNCTIONS, truthy

__all__ = ["ExpressionError", "Scope", "evaluate", "parse", "tokens"]

_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+)|(?P<name>[A-Za-z_][\w$]*(?:\.[A-Za-z_][\w$]*)?)"
    r"|(?P<punct>[()\[\],.]))"
)


@dataclass(frozen=True)
class Literal:
    value: Any


@dataclass(frozen=True)
class Call:
    name: str  # lower case; "ns.fn" for a user-defined function
    args: tuple[Any, ...]


@dataclass(frozen=True)
class Member:
    target: Any
    key: Any  # a Literal property name, or an index expression


def is_expression(text: Any) -> bool:
    return isinstance(text, str) and text.startswith("[") and text.endswith("]") and not text.startswith("[[")


def unescape(text: str) -> str:
    """A literal string that starts with ``[[``: ARM drops the first bracket."""
    return text[1:] if text.startswith("[[") else text


def tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match:
            raise ExpressionError(f"unexpected {text[pos : pos + 12]!r} at character {pos + 1}")
        kind = match.lastgroup or ""
        raw = match[kind]
        if kind == "string":
            out.append(("lit", raw[1:-1].replace("''", "'")))
        elif kind == "number":
            out.append(("lit", int(raw)))
        else:
            out.append((kind, raw))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = tokens(text)
        self.i = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, punct: str | None = None) -> tuple[str, Any]:
        tok = self.peek()
        if tok is None or (punct is not None and tok != ("punct", punct)):
            found = "the end" if tok is None else repr(tok[1])
            raise ExpressionError(f"expected {punct or 'a value'}, found {found}")
        self.i += 1
        return tok

    def expression(self) -> Any:
        kind, value = self.take()
        if kind == "lit":
            node: Any = Literal(value)
        elif kind == "name":
            if self.peek() == ("punct", "("):
                node = Call(value.lower(), self.arguments())
            elif value.lower() in ("true", "false", "null"):
                node = Literal({"true": True, "false": False, "null": None}[value.lower()])
            else:
                raise ExpressionError(f"{value!r} is not a function call (missing parentheses?)")
        else:
            raise ExpressionError(f"unexpected {value!r}")
        while (tok := self.peek()) in (("punct", "."), ("punct", "[")):
            self.take()
            if tok == ("punct", "."):
                kind, name = self.take()
                if kind != "name":
                    raise ExpressionError(f"expected a property name after '.', found {name!r}")
                for part in name.split("."):
                    node = Member(node, Literal(part))
            else:
                node = Member(node, self.expression())
                self.take("]")
        return node

    def arguments(self) -> tuple[Any, ...]:
        self.take("(")
        args: list[Any] = []
        if self.peek() == ("punct", ")"):
            self.take()
            return ()
        while True:
            args.append(self.expression())
            if self.take()[1] == ")":
                return tuple(args)


def parse(text: str) -> Any:
    """The tree of an expression string (with its brackets): ExpressionError if it does not parse."""
    if not is_expression(text):
        raise ExpressionError(f"{text!r} is not an expression")
    parser = _Parser(text[1:-1])
    node = parser.expression()
    if parser.peek() is not None:
        raise ExpressionError(f"unexpected {parser.peek()[1]!r} after the expression")  # type: ignore[index]
    return node


# --- evaluation -----------------------------------------------------------------------------------


class Scope:
    """What an expression can read: parameters, variables, the deployment's resource group."""

    def __init__(
        self,
        parameters: Callable[[str], Any],
        variables: Callable[[str], Any],
        resource_group: Mapping[str, Any],
        subscription: Mapping[str, Any],
    ) -> None:
        self.parameters = parameters
        self.variables = variables
        self.resource_group = resource_group
        self.subscription = subscription


def evaluate(value: Any, scope: Scope) -> Any:
    """A template value with every expression string inside it evaluated (objects and arrays too)."""
    if isinstance(value, str):
        return run(parse(value), scope) if is_expression(value) else unescape(value)
    if isinstance(value, dict):
        return {key: evaluate(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [evaluate(item, scope) for item in value]
    return value


def run(node: Any, scope: Scope) -> Any:
    if isinstance(node, Literal):
        return node.value
    if isinstance(node, Member):
        target = run(node.target, scope)
        key = run(node.key, scope)
        if isinstance(target, Unknown) or isinstance(key, Unknown):
            return target if isinstance(target, Unknown) else key
        return _member(target, key)
    lazy = _LAZY.get(node.name)
    if lazy is not None:
        return lazy(node.args, scope)
    fn = FUNCTIONS.get(node.name)
    if fn is None:
        return Unknown(f"{node.name}() is evaluated only at deployment")
    args = [run(arg, scope) for arg in node.args]
    if node.name in ("parameters", "variables"):
        if len(args) != 1:
            raise ExpressionError(f"{node.name}() takes one name")
        if isinstance(args[0], Unknown):
            return args[0]
        getter = scope.parameters if node.name == "parameters" else scope.variables
        return getter(str(args[0]))
    if node.name == "resourcegroup":
        return dict(scope.resource_group)
    if node.name == "subscription":
        return dict(scope.subscription)
    if node.name == "resourceid":  # resourceId([sub], [group], type, name...): the deployment's by default
        at = next((i for i, a in enumerate(args) if isinstance(a, str) and "/" in a), None)
        if at is None or at > 2:
            raise ExpressionError("resourceId() needs a resource type such as 'Microsoft.X/y'")
        given = args[:at]
        defaults = [scope.subscription["subscriptionId"], scope.resource_group["name"]]
        args = [*defaults[: 2 - len(given)], *given, *args[at:]]
    if node.name != "createobject":  # an object may hold an unknown value and still be an object
        for arg in args:
            if isinstance(arg, Unknown):
                return arg
    try:
        return fn(*args)
    except (TypeError, ValueError, KeyError, IndexError) as exc:
        raise ExpressionError(f"{node.name}(): {exc}") from None


def _member(target: Any, key: Any) -> Any:
    if isinstance(target, Mapping):
        for name, value in target.items():  # ARM property names compare ignoring case
            if str(name).lower() == str(key).lower():
                return value
        raise ExpressionError(f"the object has no property {key!r}")
    if isinstance(target, list) and isinstance(key, int):
        if not 0 <= key < len(target):
            raise ExpressionError(f"index {key} is outside the array of {len(target)}")
        return target[key]
    raise ExpressionError(f"cannot read {key!r} of {type(target).__name__}")


def _if(args: tuple[Any, ...], scope: Scope) -> Any:
    if len(args) != 3:
        raise ExpressionError("if() takes a condition and two values")
    condition = run(args[0], scope)
    if isinstance(condition, Unknown):
        return condition
    return run(args[1] if truthy(condition) else args[2], scope)


def _logic(stop: bool) -> Callable[[tuple[Any, ...], Scope], Any]:
    """``and``/``or``: decided by one known argument equal to ``stop``, else unknown if any is."""

    def apply(args: tuple[Any, ...], scope: Scope) -> Any:
        unknown = None
        for arg in args:
            value = run(arg, scope)
            if isinstance(value, Unknown):
                unknown = unknown or value
            elif truthy(value) is stop:
                return stop
        return unknown if unknown is not None else not stop

    return apply


def _coalesce(args: tuple[Any, ...], scope: Scope) -> Any:
    for arg in args:
        value = run(arg, scope)
        if value is not None:
            return value
    return None


_LAZY: dict[str, Callable[[tuple[Any, ...], Scope], Any]] = {
    "if": _if,
    "and": _logic(False),
    "or": _logic(True),
    "coalesce": _coalesce,
}


SUPPORTED = tuple(sorted({*FUNCTIONS, *_LAZY}))
ALWAYS_UNKNOWN = (
    "reference",
    "list*",
    "uniqueString",
    "guid",
    "newGuid",
    "utcNow",
    "deployment",
    "environment",
    "copyIndex",
    "managementGroup",
    "tenant",
    "user-defined functions",
)
