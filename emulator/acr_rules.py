"""What ACR itself refuses: SKU-gated features and network-rule validation (all HTTP 400).

Codes and messages are ACR's own where they could be found in public reports of real ARM
responses; the two marked "emulator-chosen" had no public sample, so callers must rely on the
status (400) and treat the code as opaque.

- ``NetworkRuleNotSupported`` "The requested feature virtual network rule is not supported for
  the SKU <sku>." -- what ARM deployments report when a ``networkRuleSet`` (IP or VNet rules) is
  sent to a Basic/Standard registry (e.g. AVM container-registry deployment failures). ACR docs:
  firewall/IP access rules are a Premium feature
  (https://learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks).
  The same code is used for ``dataEndpointEnabled`` ("... feature data endpoint rule ...").
- ``BadRequest`` "Anonymous pull is not supported for SKU Managed_Basic." -- what
  ``az acr update --anonymous-pull-enabled`` reports on Basic. ACR docs: anonymous pull is
  available in the Standard and Premium tiers
  (https://learn.microsoft.com/azure/container-registry/anonymous-pull-access).
- ``DisablingPublicNetworkAccessNotSupported`` "Disabling public network access is not supported
  for the SKU <sku>. For more information, please visit https://aka.ms/acr/private-link."
- ``BadRequest`` "Enabling public network access is not supported because the registry '<name>'
  has exports disabled." -- what ARM answers (public CI logs) when public access is re-enabled on a
  registry whose ``exportPolicy`` is disabled. The opposite order, disabling exports while public
  access is (or stays) enabled, is refused too (Learn, "Disable export of artifacts": public network
  access must be disabled before or in the same request); no public sample of that answer was
  found, so its message is the emulator's and its code follows the reverse case's ``BadRequest``.
- ``TooManyIpRules`` (emulator-chosen code): more than 200 IP rules, ACR's cap per registry since
  January 2026 (the Learn page on ACR firewall rules; it was 100 before).
- ``InvalidIpRule`` (emulator-chosen code): a value that is not an IPv4 address or IPv4 CIDR range
  as ACR documents it, or an action other than Allow (which the contract, wire_schema.py, refuses
  first as an unknown enum value). ACR takes IPv4 only ("Specifies the IP or IP
  range in CIDR format. Only IPV4 address is allowed.", New-AzContainerRegistryIPRuleObject docs;
  "IPv4 address or CIDR range", ``az acr network-rule add``), and IPRule.action is the
  single-valued enum "Allow". Spellings that Python's ``ipaddress`` reads but that docs never show
  (surrounding spaces, a netmask such as ``/255.255.255.0``, a zero-padded prefix such as ``/026``)
  are refused: a client must not count on ARM accepting them.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Any

from .http_types import ArmError

MAX_IP_RULES = 200
# Dotted quad, optional /prefix, no padding: what ACR's docs write. Range checks are ipaddress's.
_IPV4_OR_CIDR = re.compile(r"(?a)(?:0|[1-9]\d{0,2})(?:\.(?:0|[1-9]\d{0,2})){3}(?:/(?:0|[1-9]\d?))?")
DEFAULT_ACTIONS = ("Allow", "Deny")


def _sku_of(doc: Mapping[str, Any]) -> str:
    return str((doc.get("sku") or {}).get("name", ""))


def check_registry(doc: Mapping[str, Any], requested: Mapping[str, Any] | None = None) -> None:
    """Raise ArmError(400) if ``doc`` (the state after a write) breaks an ACR rule.

    ``requested`` is the ``properties`` object of the request body: sending a ``networkRuleSet``
    at all to a non-Premium registry is refused, even one that only says Allow.
    """
    sku = _sku_of(doc)
    props: Mapping[str, Any] = doc.get("properties") or {}
    requested = requested or {}

    if sku != "Premium" and (requested.get("networkRuleSet") is not None or props.get("networkRuleSet")):
        raise ArmError(
            400,
            "NetworkRuleNotSupported",
            f"The requested feature virtual network rule is not supported for the SKU {sku}.",
        )
    if sku != "Premium" and props.get("dataEndpointEnabled"):
        raise ArmError(
            400,
            "NetworkRuleNotSupported",
            f"The requested feature data endpoint rule is not supported for the SKU {sku}.",
        )
    if sku == "Basic" and props.get("anonymousPullEnabled"):
        # ACR names its SKUs internally Managed_Basic/Managed_Standard/Managed_Premium.
        raise ArmError(400, "BadRequest", "Anonymous pull is not supported for SKU Managed_Basic.")
    if sku != "Premium" and str(props.get("publicNetworkAccess", "Enabled")).lower() == "disabled":
        raise ArmError(
            400,
            "DisablingPublicNetworkAccessNotSupported",
            f"Disabling public network access is not supported for the SKU {sku}. "
            "For more information, please visit https://aka.ms/acr/private-link.",
        )
    exports = ((props.get("policies") or {}).get("exportPolicy") or {}).get("status", "enabled")
    if (
        str(exports).lower() == "disabled"
        and str(props.get("publicNetworkAccess", "Enabled")).lower() != "disabled"
    ):
        name = doc.get("name", "")
        if str(requested.get("publicNetworkAccess", "")).lower() == "enabled":
            raise ArmError(
                400,
                "BadRequest",
                f"Enabling public network access is not supported because the registry '{name}' has exports disabled.",
            )
        raise ArmError(
            400,
            "BadRequest",
            f"Disabling exports is not supported because the registry '{name}' has public network access "
            "enabled. Disable public network access first, or in the same request. For more information, "
            "please visit https://aka.ms/acr/export-policy.",
        )
    if props.get("networkRuleSet") is not None:
        check_network_rule_set(props["networkRuleSet"])


def check_network_rule_set(rule_set: Any) -> None:
    if not isinstance(rule_set, Mapping):
        raise ArmError(400, "InvalidRequestContent", "networkRuleSet must be an object.")
    if str(rule_set.get("defaultAction", "")).capitalize() not in DEFAULT_ACTIONS:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"networkRuleSet.defaultAction must be one of {', '.join(DEFAULT_ACTIONS)}; "
            f"got {rule_set.get('defaultAction')!r}.",
        )
    ip_rules = rule_set.get("ipRules") or []
    if not isinstance(ip_rules, list):
        raise ArmError(400, "InvalidRequestContent", "networkRuleSet.ipRules must be an array.")
    if len(ip_rules) > MAX_IP_RULES:
        raise ArmError(
            400,
            "TooManyIpRules",
            f"The number of IP rules ({len(ip_rules)}) exceeds the maximum of {MAX_IP_RULES} "
            "allowed for a registry.",
        )
    for index, rule in enumerate(ip_rules):
        value = rule.get("value") if isinstance(rule, Mapping) else None
        action = rule.get("action", "Allow") if isinstance(rule, Mapping) else None
        if str(action).lower() != "allow":
            raise ArmError(400, "InvalidIpRule", f"ipRules[{index}].action must be 'Allow'; got {action!r}.")
        if not is_ipv4_address_or_range(value):
            raise ArmError(
                400,
                "InvalidIpRule",
                f"ipRules[{index}].value {_shown(value)} is not a valid IPv4 address or CIDR range.",
            )


def is_ipv4_address_or_range(value: Any) -> bool:
    """An IPv4 address or CIDR range written plainly (host bits are accepted, as before)."""
    if not isinstance(value, str) or not _IPV4_OR_CIDR.fullmatch(value):
        return False
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return network.version == 4


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:80] + "..."


def normalise_network_rule_set(rule_set: Mapping[str, Any]) -> dict[str, Any]:
    """ARM enums are case-insensitive on input but returned in canonical casing."""
    normalised = dict(rule_set)
    normalised["defaultAction"] = str(rule_set["defaultAction"]).capitalize()
    normalised["ipRules"] = [
        {**rule, "action": "Allow", "value": str(rule["value"])} for rule in rule_set.get("ipRules") or []
    ]
    return normalised
