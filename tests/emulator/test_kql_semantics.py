"""The emulator's KQL gives the results Microsoft's Kusto documentation defines, construct by construct.

Each case names the page it follows (learn.microsoft.com/kusto/query/<page>); the emulator's
interpreter (emulator/kql.py) runs the ``where`` over one ``resources`` row.
"""

from __future__ import annotations

import pytest
from reliability import adversarial

from emulator import kql

DOCS = "https://learn.microsoft.com/kusto/query/"
ROW = {
    "id": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/café",
    "name": "café",
    "type": "microsoft.containerregistry/registries",
    "properties": {
        "present": "x",
        "flag": True,
        "label": "ÉTÉ",
        "rules": [{"action": "Allow", "value": "203.0.113.0/24", "note": "café"}],
    },
}


def keeps(predicate: str, row: dict | None = None) -> bool:
    return bool(kql.parse(f"resources | where {predicate}").run([row or ROW]))


@pytest.mark.parametrize(
    ("predicate", "kept", "page"),
    [
        # null == non-null is false; null != non-null is true; two nulls give null (row dropped).
        ("properties.missing == 'x'", False, "scalar-data-types/null-values"),
        ("properties.missing != 'x'", True, "scalar-data-types/null-values"),
        ("properties.missing == true", False, "scalar-data-types/null-values"),
        ("properties.missing != true", True, "scalar-data-types/null-values"),
        ("properties.missing == properties.absent", False, "scalar-data-types/null-values"),
        ("properties.missing != properties.absent", False, "scalar-data-types/null-values"),
        # not() of those follows: not(false) is true, not(true) false.
        ("not(properties.missing == 'x')", True, "not-function"),
        ("not(properties.missing != 'x')", False, "not-function"),
        # bool(null) and true is false; bool(null) or true is true.
        ("properties.missing == properties.absent and true", False, "logical-operators"),
        ("properties.missing and true", False, "logical-operators"),
        ("properties.missing or true", True, "logical-operators"),
        ("not(properties.missing == properties.absent and true)", True, "logical-operators"),
    ],
)
def test_null_comparisons_and_logic_follow_the_kusto_docs(predicate, kept, page):
    """A missing property compared with == / != and combined with and / or / not() gives what the
    Kusto documentation's page says, not SQL's three-valued logic."""
    assert keeps(predicate) is kept, DOCS + page


def test_null_semantics_case_for_reliability():
    assert keeps("properties.missing != 'Disabled'")  # documented: null != non-null is true
    assert not keeps("properties.missing == 'Disabled'")
    adversarial(
        4,
        "KQL over a missing property: `properties.missing != 'Disabled'`, `not(... == ...)`, `bool(null) and true`",
        "kept / kept / dropped, as Kusto's null-values and logical-operators pages define (before: null, row dropped)",
        round=4,
    )


@pytest.mark.parametrize(
    "predicate",
    ["properties.flag", "properties", "name", "tostring(properties.flag)", "1", "'true'"],
)
def test_where_over_a_non_boolean_expression_is_kustos_semantic_error(predicate):
    """``where`` needs a bool: Kusto.Language answers KS141 "The expression must have the type
    bool." even for a dynamic property that holds true (where-operator)."""
    with pytest.raises(kql.KqlError, match="KS141"):
        kql.parse(f"resources | where {predicate}")


def test_not_of_a_non_boolean_and_and_of_a_string_are_refused():
    """not() takes a bool (KS107); and/or are not defined for a string operand (KS106)."""
    with pytest.raises(kql.KqlError, match="KS107"):
        kql.parse("resources | where not(properties.flag)")
    with pytest.raises(kql.KqlError, match="KS106"):
        kql.parse("resources | where name and true")
    assert keeps("properties.flag and true")  # a dynamic operand is allowed, as Kusto.Language does


@pytest.mark.parametrize(
    ("predicate", "kept"),
    [
        ("name =~ 'CAFé'", True),
        ("name =~ 'CAFÉ'", False),  # non-ASCII letters do not fold
        ("tostring(properties.label) =~ 'été'", False),
        ("tostring(properties.label) =~ 'ÉtÉ'", True),
        ("name in~ ('CAFÉ')", False),
        ("name in~ ('x', 'Café')", True),
        ("properties.present =~ 'X'", True),
        ("properties.missing =~ ''", True),  # a string operator reads null as ""
        ("properties.missing in~ ('x')", False),
        ("not(properties.missing in~ ('x'))", True),
    ],
)
def test_case_insensitive_operators_fold_ascii_only(predicate, kept):
    """=~ and in~ ignore case, and "case-insensitive operators are currently supported only for
    ASCII-text" (equals-operator, in-operator): É and é are different characters to them."""
    assert keeps(predicate) is kept, DOCS + "in-operator"


def test_tostring_of_dynamic_prints_json_as_kusto_does_without_python_escapes():
    """tostring() of an array or object is its compact JSON with the characters themselves (no
    \\u escapes, no Python repr), so a comparison against the literal JSON text matches."""
    text = '[{"action":"Allow","value":"203.0.113.0/24","note":"café"}]'
    assert kql.tostring(ROW["properties"]["rules"]) == text
    assert keeps(f"tostring(properties.rules) == '{text}'")
    assert keeps("tostring(properties.flag) == 'true'") and keeps("tostring(properties.missing) == ''")
    assert keeps("properties.flag in~ ('TRUE')")  # in~ of a dynamic compares its tostring()
    adversarial(
        4,
        "`=~`/`in~` over non-ASCII text, and `tostring()` of an array holding 'café'",
        "É and é stay different (Kusto folds ASCII only); the JSON carries 'café', not '\\u00e9' (before: folded, escaped)",
        round=4,
    )


def test_the_resources_schema_has_managed_by_and_no_management_group_column():
    """Resource Graph's resources table has managedBy; a query naming a column it lacks is refused."""
    assert kql.parse("resources | project id, managedBy").columns == ("id", "managedBy")
    with pytest.raises(kql.KqlError, match="KS142"):
        kql.parse("resources | project managementGroup")
