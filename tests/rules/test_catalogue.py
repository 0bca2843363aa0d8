"""``acrguard rules`` and docs/RULES.md come from the rules' JSON files, and the coverage tables
map every Azure Policy ACR built-in and every PSRule ``Azure.ACR.*`` rule."""

from __future__ import annotations

from cli_helpers import invoke, json_out

from acrguard import catalogue
from remediators import all_rules

#: The ACR built-ins of Azure Policy (Container Registry category, plus the ACR definitions filed under
#: Monitoring, Network, Resilience, Security Center and Mission) and PSRule's Azure.ACR.* rules, as
#: published when this was written. A new one upstream belongs in acrguard/catalogue.py and here.
AZURE_POLICY_ACR = {
    "42781ec6", "785596ed", "dc921057", "79fdfe03", "9f2dea28", "cced2946", "5b9159ae", "524b0254",
    "d0793b48", "84497762", "e9585a95", "e8eef0a8", "d85c6833", "0fdf0491", "a3701552", "bd560fc0",
    "ff05e24e", "a9b426fe", "696cb1d3", "9ba29e83", "56288eb2", "106cd3bd", "c4857be7", "9d2b0a20",
    "090c7b07", "5f0f936f",
}  # fmt: skip
PSRULE_ACR = {
    "AdminUser", "AnonymousAccess", "AuditLogs", "Logs", "ContainerScan", "ImageHealth", "ContentTrust",
    "ExportPolicy", "Firewall", "GeoReplica", "ReplicaLocation", "MinSku", "Name", "Naming",
    "Quarantine", "Retention", "SoftDelete", "Usage",
}  # fmt: skip


def test_rules_doc_is_generated_from_the_catalogue_and_up_to_date():
    assert catalogue.main(["--check"]) == 0, "run: python -m acrguard.catalogue --write"


def test_every_known_control_is_mapped_or_out_of_scope_with_a_reason():
    assert {c.id[:8] for c in catalogue.AZURE_POLICY} == AZURE_POLICY_ACR
    assert {c.id.removeprefix("Azure.ACR.") for c in catalogue.PSRULE} == PSRULE_ACR
    assert catalogue.problems() == []
    text = catalogue.RULES_DOC.read_text(encoding="utf-8")
    for control in (*catalogue.AZURE_POLICY, *catalogue.PSRULE):
        assert f"`{control.id}`" in text


def test_the_catalogue_names_a_rule_that_is_not_mapped():
    """problems() is what keeps a rule's azure_policy IDs and the coverage table in step."""
    rule = next(r for r in all_rules() if r.name == "quarantine")
    saved = rule.__class__.azure_policy
    rule.__class__.azure_policy = ("00000000-0000-0000-0000-000000000000",)
    try:
        assert catalogue.problems() == [
            "quarantine names 00000000-0000-0000-0000-000000000000, which the coverage table does not map to it"
        ]
    finally:
        rule.__class__.azure_policy = saved


def test_acrguard_rules_json_lists_every_rule_with_its_metadata():
    result = invoke("-o", "json", "rules")
    assert result.returncode == 0, result.stderr
    listed = {r["name"]: r for r in json_out(result)["results"]}
    assert set(listed) == {r.name for r in all_rules()}
    unworded = {"references": [], "title": "", "notes": "", "description": ""}
    assert listed["firewall_unavailable"] | unworded == {
        "name": "firewall_unavailable",
        "title": "",
        "fix": "report",
        "default": "on",
        "severity": "medium",
        "skus": ["Basic", "Standard", "Premium"],
        "azure_policy": ["d0793b48-0edc-4296-a390-4c75d1bdfd71", "0fdf0491-d080-4575-b627-ad0e843cba0f"],
        "psrule": [],
        "rbac_actions": ["Microsoft.ContainerRegistry/registries/read"],
        "references": [],
        "notes": "",
        "description": "",
    }
    assert listed["firewall_unavailable"]["description"].startswith(
        "A Basic or Standard registry with public"
    )
    assert listed["arm_audience_tokens"]["fix"] == "opt-in fix"
    assert listed["anonymous_pull"]["fix"] == "fix"
    assert "Microsoft.ContainerRegistry/registries/write" in listed["export_policy"]["rbac_actions"]


def test_acrguard_rules_table_names_every_rule():
    result = invoke("rules")
    assert result.returncode == 0, result.stderr
    for rule in all_rules():
        assert rule.name in result.stdout
    assert "opt-in fix" in result.stdout and "report" in result.stdout


def test_the_custom_role_grants_exactly_what_the_rules_need():
    """Least privilege: the role for every rule (infra/ builds the custom role from the contract) is
    the union of every rule's RBAC actions; tests/rules/test_least_privilege.py checks each rule's entry."""
    from acrguard.contract import role_actions, workspace_actions

    names = [rule.name for rule in all_rules()]
    needed = {action for rule in all_rules() for action in rule.rbac_actions()}
    assert needed == set(role_actions(names)) | set(workspace_actions(names))
    assert not set(role_actions(names)) & set(workspace_actions(names))  # the workspace's stay off the role
