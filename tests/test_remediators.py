"""Each rule x each SKU, as pure functions over typed SDK Registry models (no I/O)."""

from __future__ import annotations

import copy

import pytest
from azure.mgmt.containerregistry.models import Registry, RegistryUpdateParameters

from remediators import Status, all_remediators
from remediators.admin_user import AdminUser
from remediators.anonymous_pull import AnonymousPull
from remediators.base import RuleConfig
from remediators.network_rules import NetworkRules, NetworkRulesConfig
from remediators.public_network_access import PublicNetworkAccess, PublicNetworkAccessConfig

ALLOWED = ["203.0.113.0/24", "198.51.100.7"]


def registry(doc: dict, sku: str | None = None, **props) -> Registry:
    doc = copy.deepcopy(doc)
    if sku:
        doc["sku"] = {"name": sku, "tier": sku}
    doc["properties"].update(props)
    return Registry(doc)


@pytest.fixture
def open_premium(load_sample):
    return load_sample("registries/premium-open.json")


def net(**kw) -> NetworkRulesConfig:
    return NetworkRulesConfig(**{"allowed_ips": ALLOWED, **kw})


def denying(*allowed: str) -> dict:
    """A ``networkRuleSet`` that denies all but ``allowed`` (ARM's REST form)."""
    return {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": v} for v in allowed]}


def test_discovery_finds_one_remediator_per_module():
    assert [r.name for r in all_remediators()] == [
        "admin_user",
        "anonymous_pull",
        "arm_audience_tokens",
        "cache_rules",
        "customer_managed_key",
        "diagnostic_settings",
        "export_policy",
        "firewall_unavailable",
        "geo_replication",
        "network_rules",
        "private_link",
        "public_network_access",
        "quarantine",
        "repository_tokens",
        "retention",
        "sku_private_link",
        "zone_redundancy",
    ]


@pytest.mark.parametrize(
    ("sku", "expected"),
    [("Basic", Status.UNSUPPORTED), ("Standard", Status.DRIFT), ("Premium", Status.DRIFT)],
)
def test_anonymous_pull_per_sku(open_premium, sku, expected):
    ev = AnonymousPull().evaluate(registry(open_premium, sku), RuleConfig())
    assert ev.status is expected
    if expected is Status.DRIFT:
        assert ev.change == {"anonymous_pull_enabled": False}
        assert ev.before == {"anonymousPullEnabled": True} and ev.after == {"anonymousPullEnabled": False}
    else:
        assert ev.change == {} and "Basic" in ev.reason and "Standard or Premium" in ev.reason


def test_anonymous_pull_compliant(load_sample):
    ev = AnonymousPull().evaluate(Registry(load_sample("registries/premium-compliant.json")), RuleConfig())
    assert ev.status is Status.COMPLIANT and ev.change == {}


@pytest.mark.parametrize("sku", ["Basic", "Standard"])
def test_network_rules_skip_below_premium_and_name_the_sku(open_premium, sku):
    ev = NetworkRules().evaluate(registry(open_premium, sku), net())
    assert ev.status is Status.UNSUPPORTED and ev.change == {}
    assert sku in ev.reason and "Premium" in ev.reason


def test_network_rules_deny_with_allow_list(open_premium):
    ev = NetworkRules().evaluate(registry(open_premium), net())
    assert ev.status is Status.DRIFT
    params = RegistryUpdateParameters(**ev.change).as_dict()
    assert params == {
        "properties": {
            "networkRuleSet": {
                "defaultAction": "Deny",
                "ipRules": [
                    {"action": "Allow", "value": "203.0.113.0/24"},
                    {"action": "Allow", "value": "198.51.100.7"},
                ],
            }
        }
    }


def test_network_rules_keep_merges_and_never_removes(open_premium):
    reg = registry(
        open_premium,
        networkRuleSet=denying("192.0.2.10"),
    )
    ev = NetworkRules().evaluate(reg, net())
    values = [r["value"] for r in ev.after["networkRuleSet"]["ipRules"]]
    assert values == ["192.0.2.10", *ALLOWED]


def test_network_rules_replace_replaces(open_premium):
    reg = registry(
        open_premium,
        networkRuleSet=denying("192.0.2.10"),
    )
    ev = NetworkRules().evaluate(reg, net(existing_rules="replace"))
    assert [r["value"] for r in ev.after["networkRuleSet"]["ipRules"]] == ALLOWED
    assert "-1 rules" in ev.reason


def test_network_rules_same_rules_other_form_is_compliant(load_sample):
    reg = registry(
        load_sample("registries/premium-compliant.json"),
        networkRuleSet=denying("198.51.100.7/32", "203.0.113.0/24"),
    )
    assert NetworkRules().evaluate(reg, net(existing_rules="replace")).status is Status.COMPLIANT


def test_network_rules_bypass_is_preserved_and_restored(load_sample):
    compliant = load_sample("registries/premium-compliant.json")
    ev = NetworkRules().evaluate(registry(compliant, networkRuleBypassOptions="None"), net())
    assert ev.status is Status.DRIFT
    assert ev.change == {"network_rule_bypass_options": "AzureServices"}  # and nothing else
    ev = NetworkRules().evaluate(registry(compliant, networkRuleBypassOptions="None"), net(bypass="None"))
    assert ev.status is Status.COMPLIANT


def test_public_network_access_disabled_counts_as_compliant(open_premium):
    ev = NetworkRules().evaluate(registry(open_premium, publicNetworkAccess="Disabled"), net())
    assert ev.status is Status.COMPLIANT


def test_broad_existing_rule_is_flagged_not_removed(load_sample):
    reg = registry(
        load_sample("registries/premium-compliant.json"),
        networkRuleSet=denying("0.0.0.0/0", "203.0.113.0/24", "198.51.100.7"),
    )
    ev = NetworkRules().evaluate(reg, net())
    assert ev.status is Status.FLAGGED and ev.change == {}
    assert "0.0.0.0/0" in ev.reason


def test_ip_rule_cap_blocks_instead_of_truncating(open_premium):
    """Issue 17: ARM's cap is 200 IP rules per registry since January 2026 (was 100)."""
    existing = [{"action": "Allow", "value": f"198.18.{i // 256}.{i % 256}"} for i in range(199)]
    ev = NetworkRules().evaluate(
        registry(open_premium, networkRuleSet={"defaultAction": "Allow", "ipRules": existing}), net()
    )
    assert ev.status is Status.BLOCKED and ev.change == {}
    assert "201 IP rules" in ev.reason and "limit of 200" in ev.reason
    ev = NetworkRules().evaluate(
        registry(open_premium, networkRuleSet={"defaultAction": "Allow", "ipRules": existing[:198]}), net()
    )
    assert ev.status is Status.DRIFT
    assert len(ev.change["network_rule_set"].ip_rules) == 200


def test_the_patch_carries_only_canonical_ip_entries(open_premium):
    """Issue 17 item 8: entries went into the PATCH as written. Every entry sent, the registry's own
    (as ARM returned them) and the policy's, is now ipaddress's canonical form; a single address is
    sent bare, as ACR's docs write it."""
    existing = [
        {"action": "Allow", "value": "192.0.2.10/32"},
        {"action": "Allow", "value": "192.0.2.77/24"},  # host bits: the same range as 192.0.2.0/24
    ]
    ev = NetworkRules().evaluate(
        registry(open_premium, networkRuleSet={"defaultAction": "Allow", "ipRules": existing}),
        net(allowed_ips=["198.51.100.7/32", "203.0.113.0/24"]),
    )
    sent = [rule.ip_address_or_range for rule in ev.change["network_rule_set"].ip_rules]
    assert sent == ["192.0.2.10", "192.0.2.0/24", "198.51.100.7", "203.0.113.0/24"]
    assert [r["value"] for r in ev.after["networkRuleSet"]["ipRules"]] == sent


def test_admin_user_all_skus(open_premium):
    for sku in ("Basic", "Standard", "Premium"):
        ev = AdminUser().evaluate(registry(open_premium, sku, adminUserEnabled=True), RuleConfig())
        assert ev.status is Status.DRIFT and ev.change == {"admin_user_enabled": False}


def test_public_network_access_needs_a_private_endpoint(open_premium):
    ev = PublicNetworkAccess().evaluate(registry(open_premium), PublicNetworkAccessConfig())
    assert ev.status is Status.BLOCKED and "lock every client out" in ev.reason
    ev = PublicNetworkAccess().evaluate(
        registry(open_premium), PublicNetworkAccessConfig(allow_without_private_endpoint=True)
    )
    assert ev.status is Status.DRIFT and ev.change == {"public_network_access": "Disabled"}
    pe = {"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}
    ev = PublicNetworkAccess().evaluate(
        registry(open_premium, privateEndpointConnections=[pe]), PublicNetworkAccessConfig()
    )
    assert ev.status is Status.DRIFT
