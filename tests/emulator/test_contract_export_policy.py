"""Contract: ACR refuses exports disabled while public network access is enabled (either order).

Learn, "Disable export of artifacts from an Azure container registry": to disable exports, public
network access must be disabled too, before or in the same request. The reverse refusal's message
is quoted from public reports of ARM's answer ("Enabling public network access is not supported
because the registry '<name>' has exports disabled.", code BadRequest).
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerregistry.models import (
    ExportPolicy,
    Policies,
    RegistryPropertiesUpdateParameters,
    RegistryUpdateParameters,
)

from emulator import Emulator
from emulator.seeding import SeedError

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


def _update(**properties: object) -> RegistryUpdateParameters:
    return RegistryUpdateParameters(properties=RegistryPropertiesUpdateParameters(**properties))


def _no_exports() -> Policies:
    return Policies(export_policy=ExportPolicy(status="disabled"))


def test_disabling_exports_while_public_access_stays_enabled_is_refused(emu: Emulator, arm_client) -> None:
    """ARM refuses this state, so the emulator does too (it once accepted it)."""
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="exportreg")
    with pytest.raises(HttpResponseError) as refused:
        arm_client(SUB).registries.begin_update(RG, "exportreg", _update(policies=_no_exports())).result()
    assert refused.value.status_code == 400
    assert refused.value.error.code == "BadRequest"
    assert "public network access" in refused.value.error.message
    assert "exportreg" in refused.value.error.message
    assert emu.get_registry(rid)["properties"]["policies"]["exportPolicy"] == {"status": "enabled"}
    emu.drain()
    assert emu.events == []


def test_disabling_exports_and_public_access_in_one_patch_is_accepted(emu: Emulator, arm_client) -> None:
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="exportreg")
    updated = (
        arm_client(SUB)
        .registries.begin_update(
            RG, "exportreg", _update(policies=_no_exports(), public_network_access="Disabled")
        )
        .result()
    )
    assert updated.policies.export_policy.status == "disabled"
    assert updated.public_network_access == "Disabled"
    assert emu.get_registry(rid)["properties"]["publicNetworkAccess"] == "Disabled"


def test_re_enabling_public_access_while_exports_are_disabled_is_refused(emu: Emulator, arm_client) -> None:
    emu.add_registry(
        subscription=SUB,
        resource_group=RG,
        name="lockedexports",
        properties={"publicNetworkAccess": "Disabled", "policies": {"exportPolicy": {"status": "disabled"}}},
    )
    client = arm_client(SUB)
    with pytest.raises(HttpResponseError) as refused:
        client.registries.begin_update(RG, "lockedexports", _update(public_network_access="Enabled")).result()
    assert refused.value.error.code == "BadRequest"
    assert refused.value.error.message == (
        "Enabling public network access is not supported because the registry 'lockedexports' has exports disabled."
    )
    both = _update(
        public_network_access="Enabled", policies=Policies(export_policy=ExportPolicy(status="enabled"))
    )
    assert (
        client.registries.begin_update(RG, "lockedexports", both).result().public_network_access == "Enabled"
    )


def test_a_seed_cannot_hold_exports_disabled_with_public_access(emu: Emulator) -> None:
    with pytest.raises(SeedError, match="exports"):
        emu.add_registry(
            subscription=SUB,
            resource_group=RG,
            name="impossible",
            properties={"policies": {"exportPolicy": {"status": "disabled"}}},
        )
