"""The rules read a registry the way ARM and Azure Policy do.

Absent or null properties take the default the REST spec documents, and enum values compare
case-insensitively. The facts, checked against sources nobody here wrote:

- Defaults: Azure/azure-rest-api-specs, specification/containerregistry/resource-manager/
  Microsoft.ContainerRegistry/Registry/stable/2025-11-01/containerregistry.json at commit
  23a78d00c75519f9ecc5519f2965682a646117d0: ``adminUserEnabled`` and ``anonymousPullEnabled``
  default ``false``, ``publicNetworkAccess`` ``Enabled``, ``networkRuleBypassOptions``
  ``AzureServices``, ``networkRuleBypassAllowedForTasks`` ``false``, ``defaultAction`` ``Allow``,
  ``exportPolicy.status`` and ``azureADAuthenticationAsArmPolicy.status`` ``enabled``, the
  quarantine and retention statuses ``disabled``, ``zoneRedundancy`` ``Disabled``.
- Azure Policy 9f2dea28-e834-476c-99c5-3507b4728395 (anonymous pull; Azure/azure-policy,
  built-in-policies/policyDefinitions/Container Registry/ACR_AnonymousPullDisabled_AuditDeny.json
  at commit 04a62e1558e865fde1e561a7df850ccc7f8f1c1f) and dc921057-6b28-4fbe-9b83-f7bec05db6c2
  (admin user; ACR_AdminAccountDisabled_AuditDeny.json at 0ab9883215e0a65d4df270865fe828ea0149d407)
  are non-compliant only when the field ``equals`` true: an absent property is compliant
  (tests/data/parity/conditions.json restates them). Azure Policy's ``equals`` ignores case for
  strings, so ``deny`` is ``Deny``.
- PSRule.Rules.Azure, tests/PSRule.Rules.Azure.Tests/Resources.ACR.json at commit
  007d478c334d97751f2d01158ca1bad764c7dc1d: registries F to J (Standard and Premium) have no
  ``anonymousPullEnabled`` at all, and pass Azure.ACR.AnonymousAccess in its Pester tests.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from azure.mgmt.containerregistry.models import Registry
from reliability import adversarial

from emulator import registry_document
from remediators import Status, all_rules
from remediators.base import PropertyRule
from remediators.fields import DEFAULTS, raw
from remediators.network_rules import NetworkRulesConfig
from remediators.public_network_access import PublicNetworkAccessConfig

RULES = {r.name: r for r in all_rules()}
PROPERTY_RULES = sorted(name for name, rule in RULES.items() if isinstance(rule, PropertyRule))
ALLOWED = ["20.1.2.0/24", "20.9.8.7"]


def document(sku: str = "Premium", **properties: Any) -> dict[str, Any]:
    return registry_document(
        subscription="00000000-0000-0000-0000-00000000aaaa",
        resource_group="rg",
        name="semantics",
        sku=sku,
        properties=properties,
    )


def without(doc: dict[str, Any], path: str, *, null: bool) -> dict[str, Any]:
    """``doc`` with the property at ``path`` removed (or set to null)."""
    doc = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    holder = doc
    for step in parents:
        holder = holder.setdefault(step, {})
    if null:
        holder[leaf] = None
    else:
        holder.pop(leaf, None)
    return doc


def with_value(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    *parents, leaf = path.split(".")
    holder = doc
    for step in parents:
        holder = holder.setdefault(step, {})
    holder[leaf] = value
    return doc


@pytest.mark.parametrize("null", [False, True], ids=["absent", "null"])
@pytest.mark.parametrize("name", PROPERTY_RULES)
def test_a_property_arm_did_not_report_takes_the_default_the_spec_documents(name: str, null: bool) -> None:
    """For every declared property rule: the verdict on a registry without the property (or with
    null) is the verdict on the same registry holding the spec's default, and the reason says the
    property is not set instead of claiming a value."""
    rule = RULES[name]
    if rule.path not in DEFAULTS:
        pytest.skip(f"{rule.path}: the spec documents no default (the rule's JSON declares absent)")
    base = document()
    silent = rule.evaluate(Registry(without(base, rule.path, null=null)), rule.Config())
    explicit = rule.evaluate(Registry(with_value(base, rule.path, DEFAULTS[rule.path])), rule.Config())
    assert silent.status is explicit.status, (silent.reason, explicit.reason)
    assert silent.change == explicit.change
    assert "not set" in silent.reason, silent.reason


@pytest.mark.parametrize("null", [False, True], ids=["absent", "null"])
@pytest.mark.parametrize("name", ["anonymous_pull", "admin_user"])
def test_anonymous_pull_or_admin_user_not_reported_is_compliant_and_never_patched(
    name: str, null: bool
) -> None:
    """Azure Policy and PSRule find these registries compliant; ACR Guard PATCHed them."""
    rule = RULES[name]
    for sku in ("Standard", "Premium"):
        doc = without(document(sku), rule.path, null=null)
        verdict = rule.evaluate(Registry(doc), rule.Config())
        assert verdict.status is Status.COMPLIANT, verdict.reason
        assert verdict.change == {}
        assert "enabled" not in verdict.reason.replace("Enabled", ""), verdict.reason
        assert verdict.reason == f"{rule.path.removeprefix('properties.')} is not set (ARM's default: false)"
    adversarial(
        1,
        f"{rule.path.removeprefix('properties.')} {'null' if null else 'absent'} (spec default false)",
        f"compliant, no PATCH; reason: {verdict.reason}",
        round=4,
    )


def test_a_violation_on_a_property_not_set_says_so_instead_of_claiming_a_value() -> None:
    """``azureADAuthenticationAsArmPolicy.status`` absent is enabled (the spec's default): drift,
    and the reason names the default instead of claiming the document says enabled."""
    rule = RULES["arm_audience_tokens"]
    doc = without(document(), rule.path, null=False)
    verdict = rule.evaluate(Registry(doc), rule.Config())
    assert verdict.status is Status.DRIFT
    assert verdict.reason.startswith(
        "policies.azureADAuthenticationAsArmPolicy.status is not set (ARM's default: enabled)"
    )


def test_a_declared_absent_is_refused_where_the_spec_documents_the_default(tmp_path) -> None:
    """The JSON may not restate (or contradict) a default the spec documents: one source."""
    from remediators import discover
    from remediators.spec import RuleSpecError

    (tmp_path / "redundant.json").write_text(
        '{"title": "t", "description": "d", "severity": "low", "skus": ["Premium"],'
        ' "default_enabled": false, "fixes": false, "role_actions": ["Microsoft.ContainerRegistry/registries/read"],'
        ' "report": {"path": "properties.zoneRedundancy",'
        ' "wanted": "Enabled", "absent": "Enabled", "compliant": "c", "violation": "v"}}',
        encoding="utf-8",
    )
    with pytest.raises(RuleSpecError, match=re.escape("properties.zoneRedundancy has one (Disabled)")):
        discover("nowhere", tmp_path)


# --- enums compare case-insensitively -------------------------------------------------

CASINGS = [str.lower, str.upper, str.swapcase]


@pytest.mark.parametrize("spell", CASINGS, ids=lambda f: f.__name__)
def test_a_firewall_in_another_casing_is_compliant(spell) -> None:
    """``defaultAction: deny`` and ``networkRuleBypassOptions: azureservices`` are Deny and
    AzureServices to ARM and to Azure Policy's ``equals``; with the allow-list, nothing to fix."""
    doc = document(
        networkRuleSet={
            "defaultAction": spell("Deny"),
            "ipRules": [{"action": "Allow", "value": v} for v in ALLOWED],
        },
        networkRuleBypassOptions=spell("AzureServices"),
    )
    verdict = RULES["network_rules"].evaluate(Registry(doc), NetworkRulesConfig(allowed_ips=ALLOWED))
    assert verdict.status is Status.COMPLIANT, verdict.reason
    adversarial(
        2,
        f"defaultAction {spell('Deny')!r}, bypass {spell('AzureServices')!r}",
        "compliant, no PATCH",
        round=4,
    )


@pytest.mark.parametrize("spell", CASINGS, ids=lambda f: f.__name__)
def test_public_access_disabled_in_another_casing_satisfies_every_rule_that_reads_it(spell) -> None:
    doc = document(publicNetworkAccess=spell("Disabled"), networkRuleSet={"defaultAction": "Allow"})
    doc["properties"]["policies"]["exportPolicy"]["status"] = spell("disabled")
    assert raw(doc, "properties.publicNetworkAccess") == spell("Disabled")
    for name, config in [
        ("network_rules", NetworkRulesConfig(allowed_ips=ALLOWED)),
        ("public_network_access", PublicNetworkAccessConfig()),
        ("export_policy", RULES["export_policy"].Config()),
        ("firewall_unavailable", RULES["firewall_unavailable"].Config()),
    ]:
        verdict = RULES[name].evaluate(Registry(doc), config)
        assert verdict.status is Status.COMPLIANT, (name, verdict.reason)


@pytest.mark.parametrize("spell", CASINGS, ids=lambda f: f.__name__)
def test_an_approved_private_endpoint_in_another_casing_counts(spell) -> None:
    """A connection whose status is ``approved`` is an approved private endpoint: private_link is
    compliant and public_network_access may close public access (not blocked)."""
    doc = document()
    doc["properties"]["privateEndpointConnections"] = [
        {"name": "pe1", "properties": {"privateLinkServiceConnectionState": {"status": spell("Approved")}}}
    ]
    assert (
        RULES["private_link"].evaluate(Registry(doc), RULES["private_link"].Config()).status
        is Status.COMPLIANT
    )
    closing = RULES["public_network_access"].evaluate(Registry(doc), PublicNetworkAccessConfig())
    assert closing.status is Status.DRIFT and closing.change == {"public_network_access": "Disabled"}
    adversarial(2, f"private endpoint status {spell('Approved')!r}", "counted as approved", round=4)
