"""The rules added for parity with Azure Policy and PSRule, end to end.

Per SKU, dry-run, exemption and the fix (where one exists) through the real engine and SDK against
the emulator, and what they cost: the report-only rules read only the registry's one GET.
"""

from __future__ import annotations

import pytest
from engine_helpers import make_harness, write_event

from remediators import Status, all_rules
from remediators.network_rules import NetworkRules, NetworkRulesConfig
from remediators.verdict import RuleConfig

SUB = "00000000-0000-0000-0000-00000000aaaa"
#: The report-only rules that read only the registry's GET (the child-resource ones list a collection:
#: tests/rules/test_rules_children.py).
REPORT_ONLY = [r.name for r in all_rules() if r.fix_type() == "report" and not r.children]


def policy(*rules: str, mode: str = "enforce", extra: str = "") -> str:
    """A policy enabling exactly ``rules`` (the default-on ones are switched off unless named)."""
    lines = [f"  {r.name}: {{enabled: {'true' if r.name in rules else 'false'}}}" for r in all_rules()]
    lines = [line for line in lines if not line.startswith("  network_rules:")]
    return (
        f"version: 1\nmode: {mode}\nexempt:\n  tags: {{acrguard: exempt}}\nrules:\n"
        + "\n".join(lines)
        + "\n"
        + extra
    )


def add(emu, name: str, sku: str = "Premium", tags: dict | None = None, **properties) -> str:
    return emu.add_registry(
        subscription=SUB, resource_group="rg-platform", name=name, sku=sku, tags=tags, properties=properties
    )


@pytest.mark.parametrize("sku", ["Basic", "Standard", "Premium"])
def test_report_only_rules_cost_no_call_beyond_the_one_read_on_every_sku(emu, sku):
    """Every report-only rule enabled at once: one GET, no write, no other request."""
    resource_id = add(emu, f"report{sku.lower()}", sku)
    h = make_harness(policy(*REPORT_ONLY))
    h.engine.handle(write_event(resource_id))
    assert {r.rule for r in h.records} == set(REPORT_ONLY)
    assert {r.outcome for r in h.records} <= {"flagged", "skipped", "compliant"}
    assert [(r.method, r.route) for r in emu.requests if r.route != "identity"] == [("GET", "registry")]


def test_firewall_unavailable_flags_open_lower_skus_and_passes_premium(emu):
    basic, std, prem = add(emu, "fwbasic", "Basic"), add(emu, "fwstd", "Standard"), add(emu, "fwprem")
    h = make_harness(policy("firewall_unavailable"))
    for resource_id in (basic, std, prem):
        h.engine.handle(write_event(resource_id))
    outcomes = {r.registry: (r.outcome, r.reason) for r in h.records}
    assert outcomes[basic][0] == outcomes[std][0] == "flagged"
    assert "Premium" in outcomes[std][1] and "Standard SKU has no firewall" in outcomes[std][1]
    assert outcomes[prem] == ("compliant", "the Premium SKU has a firewall: network_rules covers it")
    assert emu.counters.writes() == 0


def test_firewall_unavailable_is_on_in_the_default_policy():
    from acrguard.policy import parse_policy

    assert "firewall_unavailable" in parse_policy("version: 1\n", "p.yaml").rules
    assert parse_policy("version: 1\n", "p.yaml").rules["firewall_unavailable"].enabled


@pytest.mark.parametrize("sku", ["Basic", "Standard", "Premium"])
def test_arm_audience_tokens_fixed_by_one_patch_on_every_sku_absent_counts_as_enabled(emu, sku):
    resource_id = add(emu, f"armtok{sku.lower()}", sku)  # the emulator reports no such policy: enabled
    h = make_harness(policy("arm_audience_tokens"))
    h.engine.handle(write_event(resource_id))
    assert h.outcomes() == [("arm_audience_tokens", "applied")]
    doc = emu.get_registry(resource_id)["properties"]["policies"]
    assert doc["azureADAuthenticationAsArmPolicy"] == {"status": "disabled"}
    assert doc["exportPolicy"] == {"status": "enabled"}  # the other policies are untouched
    assert (emu.counters.reads(resource_id), emu.counters.writes(resource_id)) == (1, 1)


def test_arm_audience_tokens_dry_run_and_exemption_write_nothing(emu):
    dry = add(emu, "armtokdry")
    exempt = add(emu, "armtokexempt", tags={"acrguard": "exempt"})
    h = make_harness(policy("arm_audience_tokens", mode="dry-run"))
    h.engine.handle(write_event(dry))
    h.engine.handle(write_event(exempt))
    records = {r.registry: r for r in h.records}
    assert records[dry].outcome == "planned" and records[dry].mode == "dry-run"
    assert records[dry].after == {"policies": {"azureADAuthenticationAsArmPolicy": {"status": "disabled"}}}
    # A registry write left it drifting while exempt by tag: told, never written.
    assert records[exempt].outcome == "flagged" and "would be fixed" in records[exempt].reason
    assert emu.counters.writes() == 0


def test_arm_audience_tokens_already_disabled_is_compliant(emu):
    resource_id = add(emu, "armtokok", policies={"azureADAuthenticationAsArmPolicy": {"status": "disabled"}})
    h = make_harness(policy("arm_audience_tokens"))
    h.engine.handle(write_event(resource_id))
    assert h.outcomes() == [("arm_audience_tokens", "compliant")]
    assert emu.counters.writes() == 0


def test_export_policy_is_flagged_while_public_access_is_on_and_fixed_once_it_is_off(emu):
    resource_id = add(emu, "exportprem")
    h = make_harness(policy("export_policy"))
    h.engine.handle(write_event(resource_id))
    [first] = h.records
    assert first.outcome == "flagged" and "public network access is enabled" in first.reason
    assert emu.counters.writes() == 0
    closed = add(emu, "exportclosed", publicNetworkAccess="Disabled")
    h.engine.handle(write_event(closed))
    assert h.records[-1].outcome == "applied"
    props = emu.get_registry(closed)["properties"]
    assert (
        props["policies"]["exportPolicy"] == {"status": "disabled"}
        and props["publicNetworkAccess"] == "Disabled"
    )


def test_export_policy_and_public_access_converge_through_our_own_write_event(emu):
    """public_network_access disables public access; the write's event brings export_policy round."""
    resource_id = add(emu, "exportchain")
    h = make_harness(
        policy("export_policy").replace(
            "  public_network_access: {enabled: false}",
            "  public_network_access: {enabled: true, allow_without_private_endpoint: true}",
        )
    )
    h.engine.handle(write_event(resource_id))
    assert sorted(h.outcomes()) == [("export_policy", "flagged"), ("public_network_access", "applied")]
    h.engine.handle(write_event(resource_id))  # the event our PATCH caused
    assert sorted(h.outcomes()[2:]) == [("export_policy", "applied"), ("public_network_access", "compliant")]
    assert emu.counters.writes(resource_id) == 2


@pytest.mark.parametrize("sku", ["Basic", "Standard"])
def test_export_policy_is_unsupported_below_premium(emu, sku):
    resource_id = add(emu, f"export{sku.lower()}", sku)
    h = make_harness(policy("export_policy"))
    h.engine.handle(write_event(resource_id))
    [record] = h.records
    assert record.outcome == "skipped" and sku in record.reason and "Premium" in record.reason


def test_two_policy_rules_share_one_patch(emu):
    resource_id = add(emu, "bothpolicies", publicNetworkAccess="Disabled")
    h = make_harness(policy("export_policy", "arm_audience_tokens"))
    h.engine.handle(write_event(resource_id))
    assert sorted(h.outcomes()) == [("arm_audience_tokens", "applied"), ("export_policy", "applied")]
    [patch] = emu.requests_for(method="PATCH")
    assert emu.counters.writes(resource_id) == 1 and patch.status in (200, 201, 202)
    policies = emu.get_registry(resource_id)["properties"]["policies"]
    assert (
        policies["exportPolicy"]["status"]
        == policies["azureADAuthenticationAsArmPolicy"]["status"]
        == "disabled"
    )


def test_network_rules_bypass_for_tasks_only_when_configured(load_sample):
    from azure.mgmt.containerregistry.models import Registry

    doc = load_sample("registries/premium-compliant.json")
    base = {"allowed_ips": ["20.1.2.0/24", "20.9.8.7"]}
    left_alone = NetworkRules().evaluate(Registry(doc), NetworkRulesConfig(**base))
    assert (
        left_alone.status is Status.COMPLIANT and "networkRuleBypassAllowedForTasks" not in left_alone.before
    )
    wanted = NetworkRules().evaluate(Registry(doc), NetworkRulesConfig(**base, bypass_for_tasks=True))
    assert wanted.status is Status.DRIFT
    assert wanted.change == {"network_rule_bypass_allowed_for_tasks": True}
    assert "ACR Tasks bypass is false, policy wants true" in wanted.reason


@pytest.mark.parametrize(
    ("rule", "props", "status"),
    [
        ("quarantine", {"policies": {"quarantinePolicy": {"status": "enabled"}}}, Status.COMPLIANT),
        ("quarantine", {}, Status.FLAGGED),
        ("retention", {"policies": {"retentionPolicy": {"status": "enabled", "days": 7}}}, Status.COMPLIANT),
        ("retention", {}, Status.FLAGGED),
        ("customer_managed_key", {"encryption": {"status": "enabled"}}, Status.COMPLIANT),
        ("customer_managed_key", {}, Status.FLAGGED),
        ("zone_redundancy", {"zoneRedundancy": "Enabled"}, Status.COMPLIANT),
        ("zone_redundancy", {}, Status.FLAGGED),
        ("private_link", {}, Status.FLAGGED),
        ("sku_private_link", {}, Status.COMPLIANT),
    ],
)
def test_report_rules_on_premium(load_sample, rule, props, status):
    from azure.mgmt.containerregistry.models import Registry

    doc = load_sample("registries/premium-compliant.json")
    for key, value in props.items():
        if key == "policies":
            doc["properties"]["policies"].update(value)
        else:
            doc["properties"][key] = value
    found = next(r for r in all_rules() if r.name == rule)
    evaluation = found.evaluate(Registry(doc), RuleConfig())
    assert evaluation.status is status and evaluation.change == {}


def test_report_only_rules_never_drift_and_need_no_write_permission():
    for rule in all_rules():
        if rule.fix_type() == "report":
            assert rule.rbac_actions()[0] == "Microsoft.ContainerRegistry/registries/read", rule.name
            assert not [a for a in rule.rbac_actions() if a.endswith("/write")], rule.name
            assert len(rule.rbac_actions()) == 1 + len(rule.children), rule.name  # one read per list
