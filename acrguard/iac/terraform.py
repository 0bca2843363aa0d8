"""Terraform plan JSON (``terraform show -json plan.tfplan``): azurerm registries as ARM would hold them.

Reads ``resource_changes`` (each resource's ``change.after``, with ``after_unknown`` marking what
is known only after apply: those values become :class:`~acrguard.iac.model.Unknown`) and maps the
provider's attributes to the ARM properties the rules read. The attribute names and defaults are
the azurerm provider's documentation (hashicorp/terraform-provider-azurerm,
website/docs/r/container_registry.html.markdown, container_registry_token, container_registry_cache_rule,
monitor_diagnostic_setting and private_endpoint pages; what the provider sends for each is in
internal/services/containers/container_registry_resource.go: a retention of 0 days, or none, is
sent as disabled, any other as enabled with those days). A child resource is tied to its registry
through the plan's ``configuration`` references (``azurerm_container_registry.acr.id``), since
the registry's ID is itself unknown until apply.
"""

from __future__ import annotations

import re
from typing import Any

from acrguard.iac.model import Found, IacError, Unknown

PROVIDER = "registry.terraform.io/hashicorp/azurerm"
REGISTRY = "azurerm_container_registry"
#: child resource type -> (collection, attributes that name the registry)
CHILDREN = {
    "azurerm_container_registry_token": ("tokens", ("container_registry_name",)),
    "azurerm_container_registry_cache_rule": ("cacheRules", ("container_registry_id",)),
    "azurerm_monitor_diagnostic_setting": ("diagnosticSettings", ("target_resource_id",)),
    "azurerm_private_endpoint": ("privateEndpoints", ("private_service_connection",)),
}


def is_plan(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and "format_version" in doc
        and ("resource_changes" in doc or "planned_values" in doc)
    )


def _with_unknowns(after: Any, unknown: Any, why: str) -> Any:
    """``after`` with every value ``after_unknown`` marks true replaced by an Unknown."""
    if unknown is True:
        return Unknown(why)
    if isinstance(unknown, dict):
        base = dict(after) if isinstance(after, dict) else {}
        for key, mark in unknown.items():
            base[key] = _with_unknowns(base.get(key), mark, f"{why}.{key}")
        return base
    if isinstance(unknown, list) and isinstance(after, list | type(None)):
        items = list(after or [])
        items += [None] * (len(unknown) - len(items))
        return [
            _with_unknowns(a, m, f"{why}[{i}]") for i, (a, m) in enumerate(zip(items, unknown, strict=False))
        ] + items[len(unknown) :]
    return after


def _switch(value: Any, on: str, off: str) -> Any:
    if value is None or isinstance(value, Unknown):
        return value
    return on if value else off


def _block(value: Any) -> Any:
    """A nested block (a list of at most one object in the plan): the object, None, or Unknown."""
    if isinstance(value, list):
        return value[0] if value else None
    return value


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    if value is None:
        return
    *parents, last = path.split(".")
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


def registry_document(address: str, values: dict[str, Any], context: dict[str, Any]) -> Found:
    get = values.get
    sub = context["subscription"]
    group = (
        get("resource_group_name") if get("resource_group_name") is not None else context["resource_group"]
    )
    doc: dict[str, Any] = {"name": get("name"), "type": "Microsoft.ContainerRegistry/registries"}
    for key in ("location", "tags"):
        if get(key) is not None:
            doc[key] = get(key)
    if get("sku") is not None:
        doc["sku"] = {"name": get("sku")}
    props: dict[str, Any] = {}
    _set(props, "adminUserEnabled", get("admin_enabled"))
    _set(props, "anonymousPullEnabled", get("anonymous_pull_enabled"))
    _set(props, "dataEndpointEnabled", get("data_endpoint_enabled"))
    _set(props, "publicNetworkAccess", _switch(get("public_network_access_enabled"), "Enabled", "Disabled"))
    _set(props, "zoneRedundancy", _switch(get("zone_redundancy_enabled"), "Enabled", "Disabled"))
    _set(props, "networkRuleBypassOptions", get("network_rule_bypass_option"))
    _set(props, "policies.exportPolicy.status", _switch(get("export_policy_enabled"), "enabled", "disabled"))
    _set(
        props,
        "policies.quarantinePolicy.status",
        _switch(get("quarantine_policy_enabled"), "enabled", "disabled"),
    )
    _set(props, "policies.trustPolicy.status", _switch(get("trust_policy_enabled"), "enabled", "disabled"))
    days = get("retention_policy_in_days")  # provider 4.x; 3.x: a retention_policy block
    old = _block(get("retention_policy"))
    if isinstance(old, dict):
        _set(props, "policies.retentionPolicy.status", _switch(old.get("enabled"), "enabled", "disabled"))
        _set(props, "policies.retentionPolicy.days", old.get("days"))
    elif isinstance(days, Unknown | int):
        # The provider sends a retention policy only for a value it has (4.x); no value: disabled.
        _set(
            props,
            "policies.retentionPolicy.status",
            days if isinstance(days, Unknown) else "enabled" if days else "disabled",
        )
        _set(props, "policies.retentionPolicy.days", days)
    rules = get("network_rule_set")
    rule_set = _block(rules)
    if isinstance(rule_set, Unknown):
        props["networkRuleSet"] = rule_set
    elif isinstance(rule_set, dict):
        ips = rule_set.get("ip_rule")
        props["networkRuleSet"] = {
            "defaultAction": rule_set.get("default_action", "Allow"),
            "ipRules": ips
            if isinstance(ips, Unknown)
            else [{"action": r.get("action", "Allow"), "value": r.get("ip_range")} for r in ips or []],
        }
    encryption = _block(get("encryption"))
    if isinstance(encryption, Unknown):
        props["encryption"] = encryption
    elif isinstance(encryption, dict):
        enabled = encryption.get("enabled", True)  # 3.x had an enabled flag; 4.x: the block means on
        props["encryption"] = {
            "status": _switch(enabled, "enabled", "disabled"),
            "keyVaultProperties": {
                "keyIdentifier": encryption.get("key_vault_key_id"),
                "identity": encryption.get("identity_client_id"),
            },
        }
    if props:
        doc["properties"] = props
    identity = _block(get("identity"))
    if isinstance(identity, dict):
        doc["identity"] = {"type": identity.get("type")}
    name = doc["name"]
    if not any(isinstance(v, Unknown) or v is None for v in (sub, group, name)):
        doc["id"] = (
            f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"
        )
    found = Found("", None, address, {"subscription": sub, "resource_group": group, "name": name}, doc)
    replicas = get("georeplications")
    if isinstance(replicas, Unknown):
        found.notes.append(f"georeplications unknown until apply ({replicas.why})")
        found.children["replications"] = [{"name": replicas, "location": replicas, "properties": {}}]
    else:
        found.children["replications"] = [
            {
                "name": r.get("location"),
                "location": r.get("location"),
                "properties": {
                    "zoneRedundancy": _switch(r.get("zone_redundancy_enabled"), "Enabled", "Disabled")
                },
            }
            for r in replicas or []
        ]
    return found


def child_document(kind: str, values: dict[str, Any]) -> dict[str, Any]:
    get = values.get
    if kind == "azurerm_container_registry_token":
        return {
            "name": get("name"),
            "properties": {"status": _switch(get("enabled", True), "enabled", "disabled")},
        }
    if kind == "azurerm_container_registry_cache_rule":
        return {"name": get("name"), "properties": {"sourceRepository": get("source_repo")}}
    if kind == "azurerm_monitor_diagnostic_setting":
        logs = get("enabled_log")
        entries: Any = logs
        if not isinstance(logs, Unknown):
            entries = [
                {
                    **({"category": log.get("category")} if log.get("category") else {}),
                    **({"categoryGroup": log.get("category_group")} if log.get("category_group") else {}),
                    "enabled": True,
                }
                for log in logs or []
            ]
        return {
            "name": get("name"),
            "properties": {"workspaceId": get("log_analytics_workspace_id"), "logs": entries},
        }
    connection = _block(get("private_service_connection"))  # azurerm_private_endpoint
    manual = connection.get("is_manual_connection") if isinstance(connection, dict) else connection
    status = manual if isinstance(manual, Unknown) else "Pending" if manual else "Approved"
    return {"name": get("name"), "properties": {"privateLinkServiceConnectionState": {"status": status}}}


def _references(doc: dict[str, Any]) -> dict[str, set[str]]:
    """address -> the resource addresses its configuration refers to (``module.m.azurerm_x.y``)."""
    out: dict[str, set[str]] = {}

    def walk(module: dict[str, Any], prefix: str) -> None:
        for resource in module.get("resources", []) or []:
            refs: set[str] = set()
            _collect(resource.get("expressions", {}), refs)
            out[prefix + str(resource.get("address"))] = {prefix + ".".join(r.split(".")[:2]) for r in refs}
        for name, call in (module.get("module_calls") or {}).items():
            walk((call or {}).get("module") or {}, f"{prefix}module.{name}.")

    walk((doc.get("configuration") or {}).get("root_module") or {}, "")
    return out


def _collect(value: Any, refs: set[str]) -> None:
    if isinstance(value, dict):
        refs.update(r for r in value.get("references", []) or [] if isinstance(r, str))
        for item in value.values():
            _collect(item, refs)
    elif isinstance(value, list):
        for item in value:
            _collect(item, refs)


def read_plan(file: str, doc: dict[str, Any], context: dict[str, Any]) -> tuple[list[Found], list[str]]:
    """The registries the plan leaves in place or creates, and why anything was not read."""
    changes = doc.get("resource_changes")
    if not isinstance(changes, list):
        raise IacError(
            file, "a Terraform plan without resource_changes: write it with `terraform show -json PLAN`"
        )
    registries: dict[str, Found] = {}
    children: list[tuple[str, str, dict[str, Any]]] = []
    providers: set[str] = set()
    for change in changes:
        if not isinstance(change, dict) or change.get("mode", "managed") != "managed":
            continue
        providers.add(str(change.get("provider_name", "")))
        kind, address = str(change.get("type")), str(change.get("address"))
        body = change.get("change") or {}
        after = body.get("after")
        if after is None:  # deleted by this plan
            continue
        values = _with_unknowns(after, body.get("after_unknown"), address)
        if kind == REGISTRY:
            found = registry_document(address, values, context)
            found.file = file
            registries[address] = found
        elif kind in CHILDREN:
            children.append((kind, address, values))
    if not registries:
        azurerm = any(p.endswith("hashicorp/azurerm") for p in providers)
        others = ", ".join(sorted(p for p in providers if p)) or "none"
        reason = (
            "no azurerm_container_registry in the plan"
            if azurerm
            else f"no azurerm resources (providers: {others})"
        )
        return [], [f"{file}: {reason}"]
    refs = _references(doc)
    by_config: dict[str, list[str]] = {}
    for address in registries:
        by_config.setdefault(_config_address(address), []).append(address)
    for kind, address, values in children:
        collection, link_attrs = CHILDREN[kind]
        owners = [a for ref in refs.get(_config_address(address), set()) for a in by_config.get(ref, [])]
        if not owners:  # no reference in the configuration: a literal name or ID
            linked = [v for attr in link_attrs if isinstance(v := values.get(attr), str)]
            owners = [a for a, r in registries.items() if any(_names(v, r.ref["name"]) for v in linked)]
        if not owners and len(registries) == 1:
            owners = list(registries)
            registries[owners[0]].notes.append(f"{address} taken as this registry's: nothing else names one")
        child = child_document(kind, values)
        for owner in owners:
            target = registries[owner]
            if collection == "privateEndpoints":
                properties = target.document.setdefault("properties", {})
                properties.setdefault("privateEndpointConnections", []).append(child)
            else:
                target.children[collection].append(child)
    return list(registries.values()), []


def _names(value: str, name: Any) -> bool:
    """A registry name or ID ``value`` names the registry called ``name``."""
    return isinstance(name, str) and value.rstrip("/").rsplit("/", 1)[-1].lower() == name.lower()


def _config_address(address: str) -> str:
    """``module.m["a"].azurerm_x.y[0]`` -> ``module.m.azurerm_x.y``: how configuration names it."""
    return re.sub(r"\[[^\]]*\]", "", address)
