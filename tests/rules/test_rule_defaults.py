"""The defaults the rules give an absent property (remediators.fields.DEFAULTS) are the REST spec's.

DEFAULTS restates the ``"default"`` of each property in Azure/azure-rest-api-specs,
specification/containerregistry/resource-manager/Microsoft.ContainerRegistry/Registry/stable/
2025-11-01/containerregistry.json at commit 23a78d00c75519f9ecc5519f2965682a646117d0. The SDK's
generated models (azure-mgmt-containerregistry 15.x, the same api-version) carry no defaults, so
the table is checked against what they do carry, through the emulator's contract: the property
exists, is writable, and the default is one of its values in the spec's spelling. The emulator's
new registries report exactly these defaults, and every property a rule compares has one (or
its rule declares what ARM's silence means, where the spec documents none).
"""

from __future__ import annotations

import pytest

from emulator import registry_document, wire_schema
from remediators import all_rules
from remediators.fields import DEFAULTS, raw
from remediators.network_rules import NetworkRulesConfig

#: Properties a rule compares whose default the spec does not document: the SKU is required, the
#: IP rules are a list (judged whole), and customer_managed_key.json declares its ``absent``.
NO_DOCUMENTED_DEFAULT = {"sku.name", "properties.networkRuleSet.ipRules", "properties.encryption.status"}


def model_field(path: str) -> wire_schema.Field:
    schema: wire_schema.Schema | None = wire_schema.registry_schema()
    *parents, leaf = path.split(".")
    for step in parents:
        assert schema is not None, path
        schema = schema.fields[step].schema
    assert schema is not None and leaf in schema.fields, f"{path} is not in the SDK model"
    return schema.fields[leaf]


@pytest.mark.parametrize("path", sorted(DEFAULTS))
def test_each_default_is_a_value_the_sdk_model_declares_for_a_writable_property(path: str) -> None:
    spec, default = model_field(path), DEFAULTS[path]
    assert not spec.read_only, path
    if spec.kind == "enum":
        assert default in spec.enum_values, (path, default, spec.enum_values)  # canonical spelling
    else:
        assert {"bool": bool, "int": int}[spec.kind] is type(default), (path, spec.kind, default)


@pytest.mark.parametrize("sku", ["Basic", "Standard", "Premium"])
def test_a_new_registry_in_the_emulator_reports_the_spec_defaults(sku: str) -> None:
    doc = registry_document(
        subscription="00000000-0000-0000-0000-00000000aaaa", resource_group="rg", name="fresh", sku=sku
    )
    for path, default in DEFAULTS.items():
        if path.startswith("properties.networkRuleSet.") and sku != "Premium":
            assert raw(doc, "properties.networkRuleSet") is None  # no firewall below Premium
            continue
        assert raw(doc, path) == default, path


def test_every_property_a_rule_compares_has_a_default_or_a_declared_reading() -> None:
    compared: set[str] = set()
    for rule in all_rules():
        if rule.children:
            continue  # judged from the listed children, not the registry's properties
        config = NetworkRulesConfig(allowed_ips=["20.1.2.0/24"], bypass_for_tasks=True)
        settled = rule.settled(config if rule.name == "network_rules" else rule.Config())
        compared |= set(settled.fields()) if settled is not None else set()
    assert compared - NO_DOCUMENTED_DEFAULT <= set(DEFAULTS), sorted(
        compared - NO_DOCUMENTED_DEFAULT - set(DEFAULTS)
    )
    assert (
        "properties.anonymousPullEnabled" in compared
        and "properties.networkRuleBypassAllowedForTasks" in compared
    )
