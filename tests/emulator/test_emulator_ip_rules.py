"""The emulator refuses the IP rules ARM refuses: only an IPv4 address or CIDR range as ACR documents
it. The 200-rule cap is tested in test_contract_registries."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerregistry.models import IPRule, NetworkRuleSet, RegistryUpdateParameters

from emulator import Emulator

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


def _patch(arm_client, name: str, values: list[str]):
    rules = NetworkRuleSet(default_action="Deny", ip_rules=[IPRule(ip_address_or_range=v) for v in values])
    poller = arm_client(SUB).registries.begin_update(
        RG, name, RegistryUpdateParameters(network_rule_set=rules)
    )
    return poller.result()


@pytest.mark.parametrize(
    "value", [" 198.51.100.7 ", "203.0.113.0/255.255.255.0", "203.0.113.0/0.0.0.255", "198.51.100.64/026"]
)
def test_non_canonical_ip_rules_answer_400_in_arms_error_shape(emu: Emulator, arm_client, value) -> None:
    """An IP rule in a spelling ACR does not take is a 400 in ARM's error shape, never stored (the
    emulator once stored any spelling ipaddress could read)."""
    emu.add_registry(subscription=SUB, resource_group=RG, name="iprules")
    with pytest.raises(HttpResponseError) as caught:
        _patch(arm_client, "iprules", ["192.0.2.10", value])
    error = caught.value.error
    assert (caught.value.status_code, error.code) == (400, "InvalidIpRule")
    assert f"ipRules[1].value {value!r}" in error.message and "CIDR" in error.message


def test_canonical_ip_rules_are_accepted_and_stored_as_sent(emu: Emulator, arm_client) -> None:
    """An address, with or without /32, and a CIDR range are what ACR takes."""
    emu.add_registry(subscription=SUB, resource_group=RG, name="iprules")
    values = ["198.51.100.7", "198.51.100.8/32", "198.51.100.64/26"]
    result = _patch(arm_client, "iprules", values)
    assert [r.ip_address_or_range for r in result.network_rule_set.ip_rules] == values
