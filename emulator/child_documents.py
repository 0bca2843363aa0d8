"""GET-shaped documents of a registry's child resources, and the rules ARM applies to them.

A child is given (in a seed, or to ``Emulator.add_child``) as its GET document without ``id`` and
``type``, which follow from the registry: ``{"name": "ci-push", "properties": {"status":
"disabled"}}``. What is left out gets the defaults of the REST spec's examples. Tokens, cache
rules and replications are then checked against the SDK's models (``Token``, ``CacheRule``,
``Replication``; emulator/wire_schema.py); diagnostic settings against ``check_diagnostic_setting``.

SKU rules (Learn, "Azure Container Registry SKU features and limits" and the pages it links):

- tokens and scope maps (repository-scoped permissions) are available in **all** service tiers
  (Learn, "Repository-scoped permissions": "This feature is available in all the service tiers");
  they were Premium-only while in preview, which older pages and providers still say;
- cache rules (artifact cache) exist on every SKU;
- geo-replication is Premium only: a replication cannot exist on Basic or Standard. A Premium
  registry always lists the replication of its home region (named after the location), which
  ACR creates with the registry; the emulator adds it unless the seed gives it.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any

from . import wire_schema
from .arm_paths import (
    CACHE_RULES,
    CHILD_KINDS,
    DIAGNOSTIC_SETTINGS,
    REPLICATIONS,
    TOKENS,
    ChildRef,
    RegistryRef,
    resource_key,
)
from .http_types import ArmError
from .registry_documents import SEED_ACTOR, SEED_TIME, stamp_modified

SDK_MODELS = {TOKENS: "Token", CACHE_RULES: "CacheRule", REPLICATIONS: "Replication"}
_ENTRY_KEYS = {"name", "id", "type", "properties", "systemData"}
_REPLICATION_KEYS = _ENTRY_KEYS | {"location", "tags"}


def home_replication(registry: Mapping[str, Any]) -> dict[str, Any]:
    """The replication a Premium registry has in its own region."""
    return child_document(registry, REPLICATIONS, {"location": registry["location"]})


def child_document(
    registry: Mapping[str, Any], kind: str, entry: Any, *, created_at: str = SEED_TIME
) -> dict[str, Any]:
    """The GET document of a child of ``registry`` (its document), or ValueError naming the fault."""
    if kind not in CHILD_KINDS:
        raise ValueError(f"unknown child kind {kind!r}; expected one of {', '.join(CHILD_KINDS)}")
    if not isinstance(entry, Mapping):
        raise ValueError(f"a {kind} entry must be a mapping, got {type(entry).__name__}")
    allowed = _REPLICATION_KEYS if kind == REPLICATIONS else _ENTRY_KEYS
    if unknown := set(entry) - allowed:
        raise ValueError(f"unknown key(s) {sorted(unknown)}; expected some of {sorted(allowed)}")
    ref = RegistryRef.parse(str(registry["id"]))
    name = entry.get("name") or (entry.get("location") if kind == REPLICATIONS else None)
    if not name or not isinstance(name, str):
        raise ValueError(f"a {kind} entry needs a 'name'")
    child = ChildRef(ref, kind, name)
    if "id" in entry and resource_key(str(entry["id"])) != child.key:
        raise ValueError(f"'id' {entry['id']!r} is not {child.id!r}")
    properties = dict(entry.get("properties") or {})
    doc: dict[str, Any] = {"id": child.id, "name": name, "type": child.type}
    if entry.get("systemData"):
        doc["systemData"] = copy.deepcopy(dict(entry["systemData"]))
    else:
        stamp_modified(doc, SEED_ACTOR, created=True, now=created_at)
    sku = str((registry.get("sku") or {}).get("name"))
    if kind == DIAGNOSTIC_SETTINGS:
        try:
            check_diagnostic_setting(properties)
        except ArmError as error:
            raise ValueError(error.message) from None
        doc["properties"] = copy.deepcopy(properties)
        return doc
    if kind == REPLICATIONS:
        if sku != "Premium":
            raise ValueError(f"geo-replication requires the Premium SKU; the registry is {sku}")
        doc["location"] = str(entry.get("location") or name)
        doc["tags"] = dict(entry.get("tags") or {})
    doc["properties"] = {**_defaults(kind, ref, created_at), **properties}
    try:
        return wire_schema.clean_model(doc, SDK_MODELS[kind], document=True)
    except ArmError as error:
        raise ValueError(error.message) from None


def _defaults(kind: str, ref: RegistryRef, created_at: str) -> dict[str, Any]:
    if kind == TOKENS:
        return {
            "creationDate": created_at,
            "provisioningState": "Succeeded",
            "scopeMapId": f"{ref.id}/scopeMaps/_repositories_pull",
            "credentials": {"certificates": [], "passwords": []},
            "status": "enabled",
        }
    if kind == CACHE_RULES:
        return {"creationDate": created_at, "provisioningState": "Succeeded"}
    return {
        "provisioningState": "Succeeded",
        "status": {"displayStatus": "Ready", "message": "The replication is ready.", "timestamp": created_at},
        "regionEndpointEnabled": True,
        "zoneRedundancy": "Disabled",
    }


# ---------------------------------------------------------------------------- diagnostic settings
LOG_CATEGORIES = ("ContainerRegistryLoginEvents", "ContainerRegistryRepositoryEvents")
"""The resource log categories of Microsoft.ContainerRegistry/registries (Learn, "Monitoring data
reference" for ACR)."""
CATEGORY_GROUPS = ("audit", "allLogs")
"""Both groups hold both categories for ACR (Learn, ACR monitoring data reference)."""
METRIC_CATEGORIES = ("AllMetrics",)
MAX_SETTINGS = 5
"""Azure Monitor: "Each Azure resource can have up to five diagnostic settings"."""
WORKSPACE_ID = re.compile(
    r"^/subscriptions/[^/]+/resourcegroups/[^/]+/providers/microsoft\.operationalinsights/workspaces/[^/]+$",
    re.IGNORECASE,
)
_DESTINATIONS = ("workspaceId", "storageAccountId", "eventHubAuthorizationRuleId", "marketplacePartnerId")
_STRING_PROPERTIES = (*_DESTINATIONS, "serviceBusRuleId", "eventHubName", "logAnalyticsDestinationType")


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def check_diagnostic_setting(properties: Any) -> None:
    """Raise ArmError(400 BadRequest) naming what Azure Monitor would refuse in ``properties``.

    The code is ARM's generic one; the messages are the emulator's, naming the value and the
    allowed values. Only a Log Analytics workspace is checked as a destination, because that is
    the one ACR Guard writes; the other destinations just have to be strings.
    """
    if not isinstance(properties, Mapping):
        raise _bad("properties must be an object.")
    for name in _STRING_PROPERTIES:
        if properties.get(name) is not None and not isinstance(properties[name], str):
            raise _bad(f"properties.{name} must be a string.")
    if not any(properties.get(name) for name in _DESTINATIONS):
        raise _bad(
            "A diagnostic setting needs a destination: one of properties."
            + ", properties.".join(_DESTINATIONS)
        )
    workspace = properties.get("workspaceId")
    if workspace is not None and not WORKSPACE_ID.match(workspace):
        raise _bad(
            f"properties.workspaceId '{workspace}' is not a Log Analytics workspace resource ID "
            "(/subscriptions/{id}/resourceGroups/{group}/providers/Microsoft.OperationalInsights/workspaces/{name})."
        )
    _check_entries(properties.get("logs"), "logs")
    _check_entries(properties.get("metrics"), "metrics")
    if not properties.get("logs") and not properties.get("metrics"):
        raise _bad("A diagnostic setting needs at least one of properties.logs or properties.metrics.")


def _check_entries(entries: Any, where: str) -> None:
    if entries is None:
        return
    if not isinstance(entries, list):
        raise _bad(f"properties.{where} must be an array.")
    for index, entry in enumerate(entries):
        path = f"properties.{where}[{index}]"
        if not isinstance(entry, Mapping):
            raise _bad(f"{path} must be an object.")
        if not isinstance(entry.get("enabled"), bool):
            raise _bad(f"{path}.enabled is required and must be true or false.")
        category, group = entry.get("category"), entry.get("categoryGroup")
        if where == "metrics":
            if category not in METRIC_CATEGORIES:
                raise _bad(f"{path}.category '{category}' is not supported; allowed: AllMetrics.")
            continue
        if (category is None) == (group is None):
            raise _bad(f"{path} needs exactly one of 'category' or 'categoryGroup'.")
        if category is not None and category not in LOG_CATEGORIES:
            raise _bad(
                f"{path}.category '{category}' is not supported for "
                f"Microsoft.ContainerRegistry/registries; allowed: {', '.join(LOG_CATEGORIES)}."
            )
        if group is not None and group not in CATEGORY_GROUPS:
            raise _bad(
                f"{path}.categoryGroup '{group}' is not supported; allowed: {', '.join(CATEGORY_GROUPS)}."
            )


def _sent_categories(properties: Mapping[str, Any]) -> set[str]:
    """The log categories a setting sends (its groups expanded)."""
    sent: set[str] = set()
    for entry in properties.get("logs") or []:
        if entry.get("enabled"):
            sent |= set(LOG_CATEGORIES) if entry.get("categoryGroup") else {entry.get("category")}
    return sent


def check_sink_reuse(name: str, properties: Mapping[str, Any], others: list[dict[str, Any]]) -> None:
    """Azure Monitor refuses a workspace that another setting of the resource already gets a
    category from: 409 Conflict, in the words of ARM's answer as quoted in public deployment logs."""
    workspace = str(properties.get("workspaceId") or "").lower()
    wanted = _sent_categories(properties)
    for other in others:
        theirs = other.get("properties") or {}
        if other["name"].lower() == name.lower() or str(theirs.get("workspaceId") or "").lower() != workspace:
            continue
        if shared := sorted(wanted & _sent_categories(theirs)):
            raise ArmError(
                409,
                "Conflict",
                f"Data sink '{properties['workspaceId']}' is already used in diagnostic setting "
                f"'{other['name']}' for category '{shared[0]}'. Data sinks can't be reused in different "
                "settings on the same category for the same resource.",
            )
