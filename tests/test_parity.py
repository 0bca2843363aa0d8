"""Issue 15: verdict parity with Azure Policy and PSRule.

Each registry under tests/data/parity/ is judged by the other tool's condition (restated in
tests/data/parity/conditions.json, evaluated by tests/policy_eval.py) and by the ACR Guard rules
that answer the same question. They must agree, or the case is listed in DIFFERENCES with the
documented reason (the same reasons docs/RULES.md gives); a listed difference that no longer
occurs fails too, so the list stays true.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from azure.mgmt.containerregistry.models import Registry
from policy_eval import evaluate

from acrguard import catalogue
from remediators import Status, all_remediators
from remediators.network_rules import NetworkRulesConfig

DATA = Path(__file__).parent / "data" / "parity"
CONDITIONS = json.loads((DATA / "conditions.json").read_text(encoding="utf-8"))
CASES = sorted(p.stem for p in DATA.glob("*.json") if p.stem != "conditions")
RULES = {r.name: r for r in all_remediators()}
#: The policy ACR Guard is judged with: every rule's defaults, the firewall with one allowed range.
CONFIGS = {
    name: (NetworkRulesConfig(allowed_ips=["203.0.113.0/24"]) if name == "network_rules" else rule.Config())
    for name, rule in RULES.items()
}
_EXPORT_PREMIUM = "the export policy is Premium-only: ACR Guard reports the lower SKUs unsupported"
DIFFERENCES = {
    ("524b0254-c285-4903-bee6-bb8126cde579", "basic-default"): _EXPORT_PREMIUM,
    ("524b0254-c285-4903-bee6-bb8126cde579", "standard-open"): _EXPORT_PREMIUM,
    ("Azure.ACR.ExportPolicy", "basic-default"): _EXPORT_PREMIUM,
    ("Azure.ACR.ExportPolicy", "standard-open"): _EXPORT_PREMIUM,
    ("d0793b48-0edc-4296-a390-4c75d1bdfd71", "premium-deny-other-ips"): (
        "ACR Guard also requires the allow-list IPs: Deny with other rules is not enough"
    ),
    ("Azure.ACR.Firewall", "premium-deny-other-ips"): (
        "ACR Guard also requires the allow-list IPs: Deny with other rules is not enough"
    ),
    ("Azure.ACR.Quarantine", "basic-default"): "quarantine is Premium-only; PSRule checks every SKU",
    ("Azure.ACR.Quarantine", "standard-open"): "quarantine is Premium-only; PSRule checks every SKU",
    ("Azure.ACR.MinSku", "standard-open"): "sku_private_link asks for Premium; MinSku accepts Standard",
}


def registry_doc(case: str) -> dict:
    return json.loads((DATA / f"{case}.json").read_text(encoding="utf-8"))


def tool_says_noncompliant(control: dict, doc: dict) -> bool:
    if "skus" in control and doc["sku"]["name"] not in control["skus"]:
        return False  # the tool's selector does not apply to this SKU
    return evaluate(control["noncompliant"], doc)


def guard_says_noncompliant(rules: list[str], doc: dict) -> bool:
    """Non-compliant when an applicable rule finds drift, a flag or a block; unsupported everywhere is
    "no finding" (nothing on this SKU to fix)."""
    statuses = [RULES[name].evaluate(Registry(doc), CONFIGS[name]).status for name in rules]
    return any(s in (Status.DRIFT, Status.FLAGGED, Status.BLOCKED) for s in statuses)


PAIRS = [(cid, case) for tool in ("azure_policy", "psrule") for cid in CONDITIONS[tool] for case in CASES]


@pytest.mark.parametrize(("control_id", "case"), PAIRS)
def test_acr_guard_agrees_with_the_other_tool_or_names_the_difference(control_id, case):
    control = CONDITIONS["azure_policy"].get(control_id) or CONDITIONS["psrule"][control_id]
    doc = registry_doc(case)
    theirs = tool_says_noncompliant(control, doc)
    ours = guard_says_noncompliant(control["rules"], doc)
    if (control_id, case) in DIFFERENCES:
        assert theirs != ours, f"documented difference no longer occurs: {DIFFERENCES[control_id, case]}"
    else:
        assert theirs == ours, (control_id, case, "theirs non-compliant" if theirs else "theirs compliant")


def test_every_case_has_a_pass_and_a_fail_for_every_control():
    """The test registries exercise both verdicts of every condition (a parity test of one side
    proves little)."""
    for tool in ("azure_policy", "psrule"):
        for cid, control in CONDITIONS[tool].items():
            verdicts = {tool_says_noncompliant(control, registry_doc(case)) for case in CASES}
            assert verdicts == {True, False}, cid


def test_the_conditions_cover_every_control_the_catalogue_maps():
    """Every mapped audit definition and PSRule rule has a condition here, naming the same rules
    (a modify definition shares its audit twin's condition)."""
    tables = {"azure_policy": catalogue.AZURE_POLICY, "psrule": catalogue.PSRULE}
    for tool, table in tables.items():
        mapped = {c.id: set(c.rules) for c in table if c.rules and "(modify)" not in c.what}
        assert {cid: set(c["rules"]) for cid, c in CONDITIONS[tool].items()} == mapped, tool


def test_differences_are_the_documented_ones():
    text = catalogue.RULES_DOC.read_text(encoding="utf-8")
    for control_id, _ in DIFFERENCES:
        row = next(line for line in text.splitlines() if line.startswith(f"| `{control_id}`"))
        assert row.rstrip(" |").split("|")[-1].strip() not in ("", "-"), control_id


@pytest.mark.parametrize("case", CASES)
def test_the_resource_graph_predicate_never_hides_a_finding(case):
    """Each rule's ``kql_may_violate`` (the Resource Graph pushdown) selects every parity registry
    on which the rule finds something, run by the emulator's strict KQL interpreter."""
    import copy

    from emulator import kql
    from emulator.resource_graph import _row

    doc = registry_doc(case)
    for name, rule in RULES.items():
        predicate = rule.kql_may_violate(CONFIGS[name])
        if predicate is None:
            continue
        selected = kql.parse(f"resources | where {predicate}").run([_row(copy.deepcopy(doc))])
        status = rule.evaluate(Registry(doc), CONFIGS[name]).status
        if status in (Status.DRIFT, Status.FLAGGED, Status.BLOCKED):
            assert selected, (name, predicate)
        elif status is Status.COMPLIANT and name not in ("network_rules", "export_policy"):
            assert not selected, (name, "a compliant registry is selected", predicate)
