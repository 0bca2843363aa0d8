"""ARM template expressions as the deployment evaluates them, and what stays unknown until then.

Function semantics are Microsoft Learn's template function reference
(learn.microsoft.com/azure/azure-resource-manager/templates/template-functions-*): ``equals`` is
case-sensitive on strings, ``format`` uses .NET composite formatting (``{0}``, ``{{`` escapes),
``[[`` at the start of a string escapes a literal bracket, ``''`` a quote inside a literal.
"""

from __future__ import annotations

from typing import Any

import pytest

from acrguard.iac.expressions import ExpressionError, Scope, evaluate, parse
from acrguard.iac.model import Unknown

PARAMS = {"env": "Prod", "admin": True, "tags": {"a": "1"}, "ips": ["20.1.2.3"], "n": 3}


def scope(location: Any = "westeurope") -> Scope:
    def parameter(name: str) -> Any:
        return PARAMS[name] if name in PARAMS else Unknown(f"parameter {name}")

    return Scope(
        parameter,
        lambda name: Unknown(f"variable {name}"),
        {"id": "/subscriptions/s/resourceGroups/rg", "name": "rg", "location": location},
        {"subscriptionId": "s", "id": "/subscriptions/s"},
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[concat('acr', toLower(parameters('env')))]", "acrprod"),
        ("[format('{0}-{1}', 'acr', parameters('n'))]", "acr-3"),
        ("[format('{{0}} {0}', 'x')]", "{0} x"),
        ("[if(equals(parameters('env'), 'prod'), 'a', 'b')]", "b"),  # equals is case-sensitive
        ("[if(equals(toLower(parameters('env')), 'prod'), 'Disabled', 'Enabled')]", "Disabled"),
        ("[not(parameters('admin'))]", False),
        ("[and(parameters('admin'), or(false(), true()))]", True),
        ("[bool('true')]", True),
        ("[toUpper('premium')]", "PREMIUM"),
        ("[resourceGroup().location]", "westeurope"),
        ("[createObject('status', 'enabled')]", {"status": "enabled"}),
        ("[union(parameters('tags'), createObject('b', '2'))]", {"a": "1", "b": "2"}),
        ("[empty(parameters('ips'))]", False),
        ("[length(parameters('ips'))]", 1),
        ("[parameters('ips')[0]]", "20.1.2.3"),
        ("[parameters('tags').a]", "1"),
        (
            "[resourceId('Microsoft.ContainerRegistry/registries', 'acr1')]",
            "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/acr1",
        ),
        ("[concat('it''s')]", "it's"),
        ("[[not an expression]", "[not an expression]"),
        ("plain", "plain"),
    ],
)
def test_known_values(text: str, value: Any) -> None:
    assert evaluate(text, scope()) == value


@pytest.mark.parametrize(
    "text",
    [
        "[uniqueString(resourceGroup().id)]",
        "[reference('x').loginServer]",
        "[concat('acr', uniqueString('a'))]",
        "[parameters('missing')]",
        "[not(parameters('missing'))]",
        "[if(parameters('missing'), 'a', 'b')]",
        "[resourceGroup().location]",  # with the location not given
        "[myns.fn('a')]",  # a user-defined function
    ],
)
def test_unknown_values(text: str) -> None:
    """What only the deployment knows spreads through every function that reads it."""
    assert isinstance(evaluate(text, scope(location=Unknown("location"))), Unknown)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("[if(true(), 'a', parameters('missing'))]", "a"),
        ("[or(parameters('admin'), parameters('missing'))]", True),
        ("[and(false(), parameters('missing'))]", False),
        ("[coalesce(null(), 'x', parameters('missing'))]", "x"),
        ("[createObject('a', parameters('missing')).a]", Unknown("parameter missing")),
    ],
)
def test_an_unknown_that_does_not_decide(text: str, value: Any) -> None:
    """Where the answer does not depend on the unknown value, it is known."""
    assert evaluate(text, scope()) == value


@pytest.mark.parametrize(
    "text",
    ["[concat('a'", "[concat('a')) ]", "[parameters]", "[concat('a',)]", "['unterminated]", "[a.]"],
)
def test_a_broken_expression_is_an_error(text: str) -> None:
    with pytest.raises(ExpressionError):
        parse(text)


def test_a_bad_call_is_an_error_not_a_crash() -> None:
    with pytest.raises(ExpressionError, match="format string refers to argument 2"):
        evaluate("[format('{2}', 'a')]", scope())
    with pytest.raises(ExpressionError, match="no property"):
        evaluate("[parameters('tags').missing]", scope())
