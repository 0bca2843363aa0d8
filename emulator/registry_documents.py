"""Full GET-shaped registry documents (api-version 2025-11-01) with realistic defaults.

The shape follows tests/data/registries/*.json (from the ACR REST spec's examples): every SKU
reports the five policies; Premium registries also report a ``networkRuleSet`` (default Allow, no
rules), which Basic and Standard do not have.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from . import wire_schema
from .arm_paths import REGISTRY_TYPE, RegistryRef
from .timefmt import arm_timestamp

SKUS = ("Basic", "Standard", "Premium")
DEFAULT_LOCATION = "westeurope"
SEED_ACTOR = ("dev@contoso.example", "User")
SEED_TIME = "2026-01-10T08:00:00.0000000Z"


def canonical_sku(name: str) -> str | None:
    """SKU names are case-insensitive enums in ARM; return the canonical spelling or None."""
    for sku in SKUS:
        if sku.lower() == str(name).lower():
            return sku
    return None


def default_network_rule_set() -> dict[str, Any]:
    return {"defaultAction": "Allow", "ipRules": []}


def default_properties(name: str, sku: str, created_at: str = SEED_TIME) -> dict[str, Any]:
    """What a new registry of ``sku`` reports: the spec's examples, minus Premium-only networking.

    Every SKU reports the five policies of api-version 2025-11-01 (RegistryGet/RegistryCreate show
    them on a Standard registry). Only Premium reports a ``networkRuleSet``: IP rules are a Premium
    feature, ARM refuses the object on Basic and Standard, and answers it as absent there
    (docs/EMULATOR.md, "Contract").
    """
    policies: dict[str, Any] = {
        "quarantinePolicy": {"status": "disabled"},
        "trustPolicy": {"type": "Notary", "status": "disabled"},
        "retentionPolicy": {"days": 7, "lastUpdatedTime": created_at, "status": "disabled"},
        "exportPolicy": {"status": "enabled"},
        "azureADAuthenticationAsArmPolicy": {"status": "enabled"},
    }
    properties: dict[str, Any] = {
        "loginServer": f"{name.lower()}.azurecr.io",
        "creationDate": created_at,
        "provisioningState": "Succeeded",
        "adminUserEnabled": False,
    }
    if sku == "Premium":
        properties["networkRuleSet"] = default_network_rule_set()
    properties.update(
        {
            "policies": policies,
            "encryption": {"status": "disabled"},
            "dataEndpointEnabled": False,
            "dataEndpointHostNames": [],
            "privateEndpointConnections": [],
            "publicNetworkAccess": "Enabled",
            "networkRuleBypassOptions": "AzureServices",
            "networkRuleBypassAllowedForTasks": False,
            "zoneRedundancy": "Disabled",
            "anonymousPullEnabled": False,
            "roleAssignmentMode": "LegacyRegistryPermissions",
        }
    )
    return properties


def merge_properties(current: Mapping[str, Any], update: Mapping[str, Any]) -> dict[str, Any]:
    """ACR's PATCH semantics for ``properties`` (RegistryPropertiesUpdateParameters).

    Each top-level key given replaces that key; keys not given are kept; ``null`` means "not
    given" (the SDK never serialises None). ``policies`` is merged one level down: each named policy
    given replaces that policy, the others are kept. Everything else, notably ``networkRuleSet``
    and ``encryption``, is replaced as a whole: sending ``ipRules`` replaces the list, it never
    appends. Read-only keys are ignored, as ARM does, and the read-only values the server set
    inside a replaced object (``retentionPolicy.lastUpdatedTime``...) are kept.
    """
    read_only = wire_schema.read_only_properties()
    merged = copy.deepcopy(dict(current))
    for key, value in update.items():
        if value is None or key in read_only:
            continue
        if key == "policies" and isinstance(value, Mapping):
            policies = dict(merged.get("policies") or {})
            policies.update({k: copy.deepcopy(v) for k, v in value.items() if v is not None})
            merged["policies"] = policies
        else:
            merged[key] = copy.deepcopy(value)
    replaced = {
        key: current[key] for key, value in update.items() if isinstance(value, Mapping) and key in current
    }
    if replaced:
        wire_schema.carry_read_only({"properties": replaced}, {"properties": merged})
    return merged


def registry_document(
    *,
    subscription: str,
    resource_group: str,
    name: str,
    sku: str = "Premium",
    location: str = DEFAULT_LOCATION,
    tags: Mapping[str, str] | None = None,
    properties: Mapping[str, Any] | None = None,
    created_by: tuple[str, str] = SEED_ACTOR,
    created_at: str = SEED_TIME,
    modified_at: str | None = None,
) -> dict[str, Any]:
    """A complete registry as ARM's GET returns it, with ``properties`` overrides merged in."""
    sku_name = canonical_sku(sku)
    if sku_name is None:
        raise ValueError(f"unknown SKU {sku!r} for registry {name!r}; expected one of {SKUS}")
    ref = RegistryRef(subscription, resource_group, name)
    props = merge_properties(default_properties(name, sku_name, created_at), properties or {})
    return {
        "sku": {"name": sku_name, "tier": sku_name},
        "type": REGISTRY_TYPE,
        "id": ref.id,
        "name": name,
        "location": location,
        "tags": dict(tags or {}),
        "systemData": {
            "createdBy": created_by[0],
            "createdByType": created_by[1],
            "createdAt": created_at,
            "lastModifiedBy": created_by[0],
            "lastModifiedByType": created_by[1],
            "lastModifiedAt": modified_at or created_at,
        },
        "properties": props,
    }


def stamp_modified(
    doc: dict[str, Any], actor: tuple[str, str], *, created: bool = False, now: str | None = None
) -> None:
    """ARM keeps systemData itself: every write updates lastModified*, a create also created*."""
    now = now or arm_timestamp()
    system = doc.setdefault("systemData", {})
    if created:
        system.update(createdBy=actor[0], createdByType=actor[1], createdAt=now)
    system.update(lastModifiedBy=actor[0], lastModifiedByType=actor[1], lastModifiedAt=now)
