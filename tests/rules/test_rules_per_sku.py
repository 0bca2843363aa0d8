"""Each rule x each SKU, as pure functions over typed SDK Registry models (no I/O); and discovery."""

from __future__ import annotations

import copy
import json
import uuid

import pytest
from azure.mgmt.containerregistry.models import Registry, RegistryUpdateParameters
from repo_paths import ROOT

from remediators import Status, all_rules, discover
from remediators.base import PropertyRule, ReportRule
from remediators.network_rules import NetworkRules, NetworkRulesConfig
from remediators.public_network_access import PublicNetworkAccessConfig
from remediators.spec import HELPERS, RuleSpecError
from remediators.verdict import RuleConfig

ALLOWED = ["20.1.2.0/24", "20.9.8.7"]
RULES = {r.name: r for r in all_rules()}


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


def test_discovery_finds_one_rule_per_json_file():
    assert [r.name for r in all_rules()] == [
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
    ev = RULES["anonymous_pull"].evaluate(registry(open_premium, sku), RuleConfig())
    assert ev.status is expected
    if expected is Status.DRIFT:
        assert ev.change == {"anonymous_pull_enabled": False}
        assert ev.before == {"anonymousPullEnabled": True} and ev.after == {"anonymousPullEnabled": False}
    else:
        assert ev.change == {} and "Basic" in ev.reason and "Standard or Premium" in ev.reason


def test_anonymous_pull_compliant(load_sample):
    ev = RULES["anonymous_pull"].evaluate(
        Registry(load_sample("registries/premium-compliant.json")), RuleConfig()
    )
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
                    {"action": "Allow", "value": "20.1.2.0/24"},
                    {"action": "Allow", "value": "20.9.8.7"},
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
        networkRuleSet=denying("20.9.8.7/32", "20.1.2.0/24"),
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
        networkRuleSet=denying("0.0.0.0/0", "20.1.2.0/24", "20.9.8.7"),
    )
    ev = NetworkRules().evaluate(reg, net())
    assert ev.status is Status.FLAGGED and ev.change == {}
    assert "0.0.0.0/0" in ev.reason


def test_ip_rule_cap_blocks_instead_of_truncating(open_premium):
    """ARM's cap is 200 IP rules per registry since January 2026 (was 100)."""
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
    """Entries went into the PATCH as written. Every entry sent, the registry's own
    (as ARM returned them) and the policy's, is now ipaddress's canonical form; a single address is
    sent bare, as ACR's docs write it."""
    existing = [
        {"action": "Allow", "value": "192.0.2.10/32"},
        {"action": "Allow", "value": "192.0.2.77/24"},  # host bits: the same range as 192.0.2.0/24
    ]
    ev = NetworkRules().evaluate(
        registry(open_premium, networkRuleSet={"defaultAction": "Allow", "ipRules": existing}),
        net(allowed_ips=["20.9.8.7/32", "20.1.2.0/24"]),
    )
    sent = [rule.ip_address_or_range for rule in ev.change["network_rule_set"].ip_rules]
    assert sent == ["192.0.2.10", "192.0.2.0/24", "20.9.8.7", "20.1.2.0/24"]
    assert [r["value"] for r in ev.after["networkRuleSet"]["ipRules"]] == sent


def test_admin_user_all_skus(open_premium):
    for sku in ("Basic", "Standard", "Premium"):
        ev = RULES["admin_user"].evaluate(registry(open_premium, sku, adminUserEnabled=True), RuleConfig())
        assert ev.status is Status.DRIFT and ev.change == {"admin_user_enabled": False}


def test_public_network_access_needs_a_private_endpoint(open_premium):
    ev = RULES["public_network_access"].evaluate(registry(open_premium), PublicNetworkAccessConfig())
    assert ev.status is Status.BLOCKED and "lock every client out" in ev.reason
    ev = RULES["public_network_access"].evaluate(
        registry(open_premium), PublicNetworkAccessConfig(allow_without_private_endpoint=True)
    )
    assert ev.status is Status.DRIFT and ev.change == {"public_network_access": "Disabled"}
    pe = {"properties": {"privateLinkServiceConnectionState": {"status": "Approved"}}}
    ev = RULES["public_network_access"].evaluate(
        registry(open_premium, privateEndpointConnections=[pe]), PublicNetworkAccessConfig()
    )
    assert ev.status is Status.DRIFT


# --------------------------------------------------------------------------------------------------
# discovery: one rule per <name>.json, the module beside it optional, mistakes fail at import

PACKAGE = ROOT / "remediators"
#: A valid rule file; each test below breaks it (or the module beside it) in one way.
SPEC = {
    "title": "Thing",
    "description": "Why the thing matters.",
    "severity": "medium",
    "skus": ["Standard", "Premium"],
    "default_enabled": False,
    "fixes": True,
    "role_actions": [
        "Microsoft.ContainerRegistry/registries/read",
        "Microsoft.ContainerRegistry/registries/write",
    ],
    "property": {
        "path": "properties.adminUserEnabled",
        "wanted": False,
        "compliant": "thing is off",
        "violation": "thing is on",
    },
}
MODULE = """
from remediators.base import Rule
from remediators.verdict import Status


class Thing(Rule):
    def check(self, registry, config):
        return self.result(Status.FLAGGED, "always")
"""


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A throwaway rule package on sys.path: ``write(name, json=..., py=...)`` then ``rules()``."""
    name = f"rules_{uuid.uuid4().hex}"
    directory = tmp_path / name
    directory.mkdir()
    (directory / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))

    class Package:
        def write(self, rule: str, spec: dict | None = None, py: str | None = None) -> None:
            if spec is not None:
                (directory / f"{rule}.json").write_text(json.dumps(spec), encoding="utf-8")
            if py is not None:
                (directory / f"{rule}.py").write_text(py, encoding="utf-8")

        def rules(self):
            return discover(name, directory)

    return Package()


def test_every_json_is_a_rule_and_every_rule_module_has_its_json():
    """The shipped package: helpers are never rules, and no module or file is left unpaired."""
    names = {r.name for r in all_rules()}
    assert names == {p.stem for p in PACKAGE.glob("*.json")}
    assert not names & HELPERS and {"base", "ipranges", "spec"} <= HELPERS
    modules = {p.stem for p in PACKAGE.glob("*.py")} - HELPERS - {"__init__"}
    assert modules < names  # the declarative rules have no module


def test_a_declarative_json_only_rule_is_built_from_its_check(package, open_premium):
    package.write("thing", SPEC)
    (rule,) = package.rules()
    assert isinstance(rule, PropertyRule) and not isinstance(rule, ReportRule)
    assert (rule.name, rule.title, rule.severity, rule.skus) == (
        "thing",
        "Thing",
        "medium",
        {"Standard", "Premium"},
    )
    assert (rule.description, rule.fix_type(), rule.references, rule.notes) == (
        "Why the thing matters.",
        "opt-in fix",
        (),
        "",
    )
    ev = rule.evaluate(registry(open_premium, adminUserEnabled=True), RuleConfig())
    assert (ev.rule, ev.status, ev.reason, ev.change) == (
        "thing",
        Status.DRIFT,
        "thing is on",
        {"admin_user_enabled": False},
    )
    assert rule.evaluate(registry(open_premium, "Basic"), RuleConfig()).status is Status.UNSUPPORTED
    report = {
        **{k: v for k, v in SPEC.items() if k != "property"},
        "fixes": False,
        "report": SPEC["property"],
    }
    package.write("other", report)
    again, _ = package.rules()  # name order: other, thing
    assert isinstance(again, ReportRule)
    assert (
        again.evaluate(registry(open_premium, adminUserEnabled=True), RuleConfig()).status is Status.FLAGGED
    )


def test_a_module_rule_takes_its_metadata_from_its_json(package, open_premium):
    package.write("thing", {k: v for k, v in SPEC.items() if k != "property"}, MODULE)
    (rule,) = package.rules()
    assert type(rule).__name__ == "Thing" and rule.name == "thing" and rule.title == "Thing"
    assert rule.evaluate(registry(open_premium), RuleConfig()).reason == "always"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"titel": "Thing"}, r"thing.json: Object contains unknown field `titel`"),
        ({"title": None}, r"thing.json: Expected `str`, got `null` - at `\$.title`"),
        (
            {"severity": "hgih"},
            r"thing.json: Invalid enum value 'hgih' - at `\$.severity` \(allowed: low, medium, high\)",
        ),
        (
            {"skus": ["Premum"]},
            r"Invalid enum value 'Premum' - at `\$.skus\[0\]` \(allowed: Basic, Standard, Premium\)",
        ),
        ({"skus": []}, r"thing.json: skus is empty"),
        ({"description": " "}, r"thing.json: description is empty: a rule says what it is and why"),
        ({"report": SPEC["property"]}, r"thing.json: has both a property and a report block"),
        ({"property": {**SPEC["property"], "wantde": False}}, r"unknown field `wantde` - at `\$.property`"),
        (
            {"role_actions": []},
            r"thing.json: role_actions is empty: a rule needs at least the registry's read",
        ),
        (
            {"workspace_actions": ["Microsoft.OperationalInsights/workspaces/*"]},
            r"thing.json: workspace_actions: Microsoft.OperationalInsights/workspaces/\* is a wildcard",
        ),
    ],
)
def test_a_typo_in_a_rules_json_names_the_file_and_the_key(package, change, message):
    package.write("thing", {**SPEC, **change})
    with pytest.raises(RuleSpecError, match=message):
        package.rules()


@pytest.mark.parametrize(
    "missing", ["title", "description", "severity", "skus", "default_enabled", "fixes", "role_actions"]
)
def test_a_missing_field_names_the_file_and_the_field(package, missing):
    package.write("thing", {k: v for k, v in SPEC.items() if k != missing})
    with pytest.raises(RuleSpecError, match=f"thing.json: Object missing required field `{missing}`"):
        package.rules()


def test_a_rule_module_without_its_json_is_an_error(package):
    """A misnamed module (or one whose JSON was forgotten) fails naming both files, not silently."""
    package.write("thing", SPEC)
    package.write("thinq", py=MODULE)
    with pytest.raises(RuleSpecError, match=r"thinq.py has no thinq.json: a rule module needs its metadata"):
        package.rules()


@pytest.mark.parametrize(
    ("spec", "py", "message"),
    [
        (
            SPEC,
            MODULE.replace("    def check", '    title = "Mine"\n\n    def check'),
            "Thing sets title; that belongs in thing.json",
        ),
        (
            SPEC,
            MODULE.replace("    def check", "    role_actions = ()\n\n    def check"),
            "Thing sets role_actions; that belongs in thing.json",
        ),
        (SPEC, MODULE, "has a property block, so Thing must be a PropertyRule, not a Rule"),
        (
            {**SPEC, "property": None},
            MODULE + "\n\nclass Other(Thing):\n    pass\n",
            r"must define exactly one rule .*\['Thing', 'Other'\]",
        ),
        ({**SPEC, "property": None}, "", r"thing.py must define exactly one rule .* found \[\]"),
        ({**SPEC, "property": None}, None, "a rule without thing.py needs a property or report block"),
        (
            {**SPEC, "property": {"path": "sku.name", "wanted": "Premium"}},
            None,
            "needs .* compliant and violation",
        ),
    ],
    ids=[
        "metadata-in-code",
        "actions-in-code",
        "block-without-propertyrule",
        "two-rules",
        "no-rule",
        "json-only-without-check",
        "json-only-without-reasons",
    ],
)
def test_a_rule_whose_json_and_module_disagree_fails_at_import(package, spec, py, message):
    package.write("thing", spec, py)
    with pytest.raises(RuleSpecError, match=message):
        package.rules()


def test_a_json_named_after_a_helper_is_refused(package):
    package.write("base", SPEC)
    with pytest.raises(RuleSpecError, match=r"base.json: base is a helper module, not a rule"):
        package.rules()
