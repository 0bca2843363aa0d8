"""Verdict parity with Azure Policy and PSRule.

Each registry under tests/data/parity/ is judged by the other tool's condition (restated in
tests/data/parity/conditions.json, evaluated by tests/policy_eval.py) and by the ACR Guard rules
that answer the same question. They must agree, or the case is listed in DIFFERENCES with the
documented reason (the same reasons docs/RULES.md gives); a listed difference that no longer
occurs fails too, so the list stays true.
"""

from __future__ import annotations

import json

import pytest
import repo_paths
from azure.mgmt.containerregistry.models import Registry
from policy_eval import evaluate

from acrguard import catalogue
from remediators import Status, all_rules
from remediators.diagnostic_settings import DiagnosticSettingsConfig
from remediators.network_rules import NetworkRulesConfig

DATA = repo_paths.DATA / "parity"
CONDITIONS = json.loads((DATA / "conditions.json").read_text(encoding="utf-8"))
CASES = sorted(p.stem for p in DATA.glob("*.json") if p.stem != "conditions")
RULES = {r.name: r for r in all_rules()}
PARAMETERS = CONDITIONS["parameters"]
#: The policy ACR Guard is judged with: every rule's defaults, the firewall with one allowed range,
#: the diagnostic settings with the workspace the Log Analytics definition is assigned.
SPECIAL = {
    "network_rules": NetworkRulesConfig(allowed_ips=["20.1.2.0/24"]),
    "diagnostic_settings": DiagnosticSettingsConfig(workspace_id=PARAMETERS["logAnalytics"]),
}
CONFIGS = {name: SPECIAL.get(name) or rule.Config() for name, rule in RULES.items()}
_EXPORT_PREMIUM = "the export policy is Premium-only: ACR Guard reports the lower SKUs unsupported"
_DINE_SHAPE = "the built-in accepts only the exact setting it deploys, to its own destination"
_AUDIT_DESTINATION = "diagnostic_settings also requires the policy's workspace as the destination"
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
    # The DeployIfNotExists built-ins accept only the exact setting they deploy, to their own
    # destination; diagnostic_settings accepts any setting sending the audit logs to its workspace.
    ("56288eb2-4350-461d-9ece-2bb242269dce", "premium-open"): _DINE_SHAPE,
    ("9ba29e83-863d-4fec-81d0-16dd87067cc3", "premium-locked"): _DINE_SHAPE,
    ("9ba29e83-863d-4fec-81d0-16dd87067cc3", "premium-open"): _DINE_SHAPE,
    ("9ba29e83-863d-4fec-81d0-16dd87067cc3", "standard-open"): _DINE_SHAPE,
    ("106cd3bd-50a1-466c-869f-f9c2d310477b", "standard-open"): _DINE_SHAPE,
    ("Azure.ACR.AuditLogs", "premium-locked"): _AUDIT_DESTINATION,
    ("Azure.ACR.Logs", "premium-locked"): _AUDIT_DESTINATION,
}


def registry_doc(case: str) -> dict:
    """The case's registry GET document (its listed children are under ``children``, see below)."""
    doc = json.loads((DATA / f"{case}.json").read_text(encoding="utf-8"))
    doc.pop("children", None)
    return doc


def children_of(case: str) -> dict[str, list[dict]]:
    """What ARM lists for the case's child collections (none listed: empty)."""
    listed = json.loads((DATA / f"{case}.json").read_text(encoding="utf-8")).get("children", {})
    return {c: listed.get(c, []) for c in ("tokens", "cacheRules", "replications", "diagnosticSettings")}


def bind(condition: object, parameters: dict) -> object:
    """``"[parameters('x')]"`` replaced by the assignment's value."""
    if isinstance(condition, dict):
        return {k: bind(v, parameters) for k, v in condition.items()}
    if isinstance(condition, list):
        return [bind(v, parameters) for v in condition]
    if isinstance(condition, str) and condition.startswith("[parameters('"):
        return parameters[condition.removeprefix("[parameters('").removesuffix("')]")]
    return condition


def tool_says_noncompliant(control: dict, case: str) -> bool:
    doc = registry_doc(case)
    if "skus" in control and doc["sku"]["name"] not in control["skus"]:
        return False  # the tool's selector does not apply to this SKU
    children = children_of(case)
    if "each" in control:  # the definition targets the child type: one non-compliant child is enough
        return any(evaluate(control["noncompliant"], child) for child in children[control["each"]])
    if "ifNotExists" in control:
        condition = bind(control["existenceCondition"], {**PARAMETERS, "location": doc["location"]})
        return not any(evaluate(condition, child) for child in children[control["ifNotExists"]])  # type: ignore[arg-type]
    return evaluate(control["noncompliant"], doc)


def guard_says_noncompliant(rules: list[str], case: str) -> bool:
    """Non-compliant when an applicable rule finds drift, a flag or a block; unsupported everywhere is
    "no finding" (nothing on this SKU to fix)."""
    doc, children = registry_doc(case), children_of(case)
    statuses = [RULES[name].evaluate(Registry(doc), CONFIGS[name], children).status for name in rules]
    return any(s in (Status.DRIFT, Status.FLAGGED, Status.BLOCKED) for s in statuses)


PAIRS = [(cid, case) for tool in ("azure_policy", "psrule") for cid in CONDITIONS[tool] for case in CASES]


@pytest.mark.parametrize(("control_id", "case"), PAIRS)
def test_acr_guard_agrees_with_the_other_tool_or_names_the_difference(control_id, case):
    control = CONDITIONS["azure_policy"].get(control_id) or CONDITIONS["psrule"][control_id]
    theirs = tool_says_noncompliant(control, case)
    ours = guard_says_noncompliant(control["rules"], case)
    if (control_id, case) in DIFFERENCES:
        assert theirs != ours, f"documented difference no longer occurs: {DIFFERENCES[control_id, case]}"
    else:
        assert theirs == ours, (control_id, case, "theirs non-compliant" if theirs else "theirs compliant")


def test_every_case_has_a_pass_and_a_fail_for_every_control():
    """The test registries exercise both verdicts of every condition (a parity test of one side
    proves little)."""
    for tool in ("azure_policy", "psrule"):
        for cid, control in CONDITIONS[tool].items():
            verdicts = {tool_says_noncompliant(control, case) for case in CASES}
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
    from emulator.graph_api import _row

    doc = registry_doc(case)
    for name, rule in RULES.items():
        predicate = rule.kql_may_violate(CONFIGS[name])
        if predicate is None:
            continue
        selected = kql.parse(f"resources | where {predicate}").run([_row(copy.deepcopy(doc))])
        status = rule.evaluate(Registry(doc), CONFIGS[name], children_of(case)).status
        if status in (Status.DRIFT, Status.FLAGGED, Status.BLOCKED):
            assert selected, (name, predicate)
        elif (
            status is Status.COMPLIANT
            and name not in ("network_rules", "export_policy")
            and not rule.children
        ):
            # (a child-resource rule's predicate keeps every registry of its SKUs: ARG sees no children)
            assert not selected, (name, "a compliant registry is selected", predicate)
