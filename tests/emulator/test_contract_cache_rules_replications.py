"""Contract: registries/cacheRules and registries/replications lists through the unmodified SDK.

The cache_rules and geo_replication rules report from one list call each.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.mgmt.containerregistry.models import CacheRule, Replication

from emulator import Emulator
from emulator.seeding import SeedError

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"
HUB = {"sourceRepository": "docker.io/library/nginx", "targetRepository": "hub/nginx"}


def _add(emu: Emulator, name: str, sku: str = "Premium", **children: list) -> str:
    return emu.add_registry(subscription=SUB, resource_group=RG, name=name, sku=sku, children=children)


def test_cache_rules_list_pages_and_carries_the_documented_fields(emu: Emulator, arm_client) -> None:
    credential_set = "/subscriptions/x/resourceGroups/y/providers/Microsoft.ContainerRegistry/registries/cachereg/credentialSets/hub"
    rules = [{"name": f"rule{index}", "properties": dict(HUB)} for index in range(3)]
    rules[0]["properties"]["credentialSetResourceId"] = credential_set
    rid = _add(emu, "cachereg", sku="Standard", cacheRules=rules)
    emu.page_size = 2

    listed = list(arm_client(SUB).cache_rules.list(RG, "cachereg"))

    assert [rule.name for rule in listed] == ["rule0", "rule1", "rule2"]
    first = listed[0]
    assert isinstance(first, CacheRule)
    assert first.id == f"{rid}/cacheRules/rule0"
    assert first.type == "Microsoft.ContainerRegistry/registries/cacheRules"
    assert (first.source_repository, first.target_repository) == ("docker.io/library/nginx", "hub/nginx")
    assert first.credential_set_resource_id == credential_set
    assert first.provisioning_state == "Succeeded" and first.creation_date is not None
    assert listed[1].credential_set_resource_id is None
    assert emu.counters.reads(f"{rid}/cacheRules") == 2  # two pages, one call each


def test_cache_rules_list_is_empty_without_rules_and_404_without_the_registry(
    emu: Emulator, arm_client
) -> None:
    _add(emu, "plain", sku="Basic")
    client = arm_client(SUB)
    assert list(client.cache_rules.list(RG, "plain")) == []
    with pytest.raises(ResourceNotFoundError) as missing:
        list(client.cache_rules.list(RG, "absent"))
    assert missing.value.error.code == "ParentResourceNotFound"


def test_premium_lists_the_seeded_replicas_then_its_home_one(emu: Emulator, arm_client) -> None:
    """ARM listed the replica added before the home region's (azure-mgmt-containerregistry 10.0.0,
    test_mgmt_containerregistry_2018_02_01_preview.test_replication.yaml): no order is promised."""
    rid = _add(
        emu,
        "georeg",
        replications=[{"location": "northeurope", "properties": {"zoneRedundancy": "Enabled"}}],
    )

    listed = list(arm_client(SUB).replications.list(RG, "georeg"))

    assert [(r.name, r.location) for r in listed] == [
        ("northeurope", "northeurope"),
        ("westeurope", "westeurope"),
    ]
    assert all(isinstance(r, Replication) for r in listed)
    north = listed[0]
    assert north.id == f"{rid}/replications/northeurope"
    assert north.type == "Microsoft.ContainerRegistry/registries/replications"
    assert north.provisioning_state == "Succeeded" and north.status.display_status == "Ready"
    assert north.region_endpoint_enabled is True and north.zone_redundancy == "Enabled"
    assert listed[1].zone_redundancy == "Disabled"


@pytest.mark.parametrize("sku", ["Basic", "Standard"])
def test_replications_list_empty_below_premium_and_cannot_be_seeded(
    emu: Emulator, arm_client, sku: str
) -> None:
    _add(emu, f"local{sku.lower()}", sku=sku)
    assert list(arm_client(SUB).replications.list(RG, f"local{sku.lower()}")) == []
    with pytest.raises(SeedError, match="geo-replication requires the Premium SKU"):
        _add(emu, f"geo{sku.lower()}", sku=sku, replications=[{"location": "northeurope"}])


def test_child_lists_check_api_version_and_rbac(emu: Emulator) -> None:
    from emulator import Principal

    rid = _add(emu, "checked", cacheRules=[{"name": "r", "properties": dict(HUB)}])
    for kind in ("cacheRules", "replications"):
        wrong = emu.arm_request("GET", f"{rid}/{kind}?api-version=2021-05-01-preview")
        assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "InvalidApiVersionParameter"
    only_tokens = Principal.user(
        "tokens@contoso.example", "Tokens", allowed_actions=frozenset({"*/tokens/read"})
    )
    denied = emu.arm_request("GET", f"{rid}/cacheRules?api-version=2025-11-01", principal=only_tokens)
    assert denied.status_code == 403
    assert "Microsoft.ContainerRegistry/registries/cacheRules/read" in denied.json()["error"]["message"]
    written = emu.arm_request("PUT", f"{rid}/cacheRules/r?api-version=2025-11-01", json={})
    assert written.status_code == 405


def test_seeded_cache_rules_and_replications_obey_the_contract(emu: Emulator) -> None:
    with pytest.raises(SeedError, match=r"cacheRules\[0\].*sourceRepository"):
        _add(emu, "badcache", cacheRules=[{"name": "r", "properties": {"sourceRepository": 7}}])
    with pytest.raises(SeedError, match=r"replications\[0\].*zoneRedundancy"):
        _add(emu, "badgeo", replications=[{"location": "eastus", "properties": {"zoneRedundancy": "maybe"}}])
    with pytest.raises(SeedError, match=r"unknown key\(s\) \['colour'\]"):
        _add(emu, "badkey", cacheRules=[{"name": "r", "colour": "red"}])
