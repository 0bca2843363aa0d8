"""Every Resource Graph query the product can send passes Microsoft's own Kusto parser.

The queries (``acrguard.engine.pushdown.phases`` and ``query``, what acrguard/engine/graph_sweep.py sends through
acrguard/resource_graph.py) are generated for the shipped policies.yaml, the ``acrguard init``
starter, every policy in the README, docs/, examples/, demo/ and bench/, every policy text in the tests, and
hypothesis-generated policies. They are checked in one Node process (tests/kusto_check.mjs) by
Kusto.Language (npm ``@kusto/language-service-next``, the parser and binder behind Azure Data
Explorer's editors) against the schema of Resource Graph's ``resources`` table
(tests/data/resource_graph.json): no diagnostic, and only the tabular operators Resource Graph
documents as supported.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any

import kusto_language
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_strategies import policies
from reliability import adversarial
from repo_paths import ROOT

from acrguard.engine import pushdown
from acrguard.policy import Policy, PolicyError, load_policy, parse_policy
from acrguard.policy.starter import STARTER
from emulator import kql

SCHEMA = json.loads((ROOT / "tests" / "data" / "resource_graph.json").read_text())
#: Rules that validate with only ``enabled: true`` (the others need site values: drawn elsewhere).
SIMPLE_RULES = [
    "admin_user", "anonymous_pull", "arm_audience_tokens", "cache_rules", "customer_managed_key",
    "export_policy", "firewall_unavailable", "geo_replication", "private_link", "public_network_access",
    "quarantine", "repository_tokens", "retention", "sku_private_link", "zone_redundancy",
]  # fmt: skip


def check(queries: list[str]) -> list[dict[str, Any]]:
    """Kusto.Language's diagnostics and query operators for each query, from one Node process."""
    return kusto_language.check({"table": SCHEMA["table"], "columns": SCHEMA["columns"], "queries": queries})


def queries_for(policy: Policy) -> list[str]:
    fix, report = pushdown.phases(policy)
    return [q for q in (fix, report, pushdown.query(policy)) if q is not None]


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```ya?ml\n(.*?)```", text, flags=re.DOTALL)


def _policy_constants(folder: str) -> list[str]:
    """String constants in a folder's Python that read as a policy (``version: 1`` ... ``rules:``)."""
    texts = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            text = node.value if isinstance(node, ast.Constant) else None
            if isinstance(text, str) and "version: 1" in text and "rules:" in text:
                texts.append(text)
    return texts


def written_policies() -> dict[str, list[Policy]]:
    """Every policy the project writes down, by where it comes from (those that validate)."""
    found: dict[str, list[Policy]] = {
        "shipped": [load_policy(ROOT / "policies.yaml")],
        "starter": [parse_policy(STARTER, "starter.yaml")],
    }
    sources = {
        "examples": [
            block
            for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
            for block in _yaml_blocks(doc.read_text())
        ]
        + [p.read_text() for p in sorted((ROOT / "examples").rglob("*.yaml"))]
        + _policy_constants("demo")
        + _policy_constants("bench"),
        "tests": _policy_constants("tests"),
    }
    for kind, texts in sources.items():
        found[kind] = []
        for text in texts:
            try:
                found[kind].append(parse_policy(text, kind))
            except PolicyError:
                continue  # an invalid policy is never loaded, so it sends no query
    return found


@st.composite
def wider_policies(draw: st.DrawFn) -> Policy:
    """The property tests' policies (tests/registry_strategies.py), plus scope, exemptions by ID
    and any of the simple rules."""
    _, doc = draw(policies())
    for name in draw(st.lists(st.sampled_from(SIMPLE_RULES), unique=True, max_size=len(SIMPLE_RULES))):
        doc["rules"].setdefault(name, {"enabled": True})
    subscriptions = draw(st.lists(st.uuids().map(str), max_size=3))
    if subscriptions:
        doc["scope"] = {"subscriptions": subscriptions}
    names = st.from_regex(r"[a-z][a-z0-9]{4,20}", fullmatch=True)
    groups = st.from_regex(r"[A-Za-z0-9_.()-]{0,20}[A-Za-z0-9_()-]", fullmatch=True)
    exempt = draw(st.lists(st.tuples(st.uuids().map(str), groups, names), max_size=3))
    doc["exempt"]["registries"] = [
        f"/subscriptions/{s}/resourceGroups/{g}/providers/Microsoft.ContainerRegistry/registries/{n}"
        for s, g, n in exempt
    ]
    return parse_policy(json.dumps(doc), "generated.yaml")


def generated_queries(examples: int) -> list[str]:
    collected: list[str] = []

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(policy=wider_policies())
    def collect(policy: Policy) -> None:
        collected.extend(queries_for(policy))

    collect()
    return collected


def test_every_query_the_product_can_send_passes_kusto_language_with_supported_operators():
    """0 diagnostics from Kusto.Language over Resource Graph's resources schema, and only operators
    Resource Graph supports, for every query of every written and generated policy."""
    written = written_policies()
    counts = {kind: len(found) for kind, found in written.items()}
    assert counts["shipped"] == counts["starter"] == 1 and counts["tests"] >= 5, counts  # examples: may be 0
    queries = [q for found in written.values() for policy in found for q in queries_for(policy)]
    queries += generated_queries(300)
    unique = sorted(set(queries))
    results = check(unique)
    supported = set(SCHEMA["operators"])
    problems = {
        text: result
        for text, result in zip(unique, results, strict=True)
        if result["diagnostics"] or not set(result["operators"]) <= supported
    }
    assert not problems, json.dumps(problems, indent=1)[:4000]
    for text in unique:  # and the emulator's interpreter reads each of them
        kql.parse(text)
    print(f"Kusto.Language checked {len(unique)} distinct queries ({counts}, 300 generated): 0 diagnostics")
    adversarial(
        4,
        "every Resource Graph query of the shipped, starter, test and 300 generated policies, through Kusto.Language",
        f"{len(unique)} distinct queries: 0 diagnostics; operators {sorted({SCHEMA['operators'][o] for r in results for o in r['operators']})}, all in ARG's supported list",
        round=4,
    )


def test_the_checker_reports_what_kusto_refuses():
    """The driver is not a rubber stamp: a non-boolean where, an unknown column and an operator
    Resource Graph lacks are each caught."""
    bad = check(
        [
            "resources | where properties.anonymousPullEnabled",
            "resources | where managementGroup == 'x'",
            "resources | where name == 'x' | make-series count() on id step 1",
        ]
    )
    assert bad[0]["diagnostics"][0]["code"] == "KS141"
    assert bad[1]["diagnostics"][0]["code"] == "KS142"
    assert not set(bad[2]["operators"]) <= set(SCHEMA["operators"])


def test_the_emulator_serves_the_resources_schema_kusto_is_checked_against():
    assert SCHEMA["columns"] == kql.SCHEMA
