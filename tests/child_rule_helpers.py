"""The child-resource rules' test setup: a policy enabling exactly some rules, a registry with
children, and the ARM calls the emulator saw.

The four child rules (repository_tokens, cache_rules, geo_replication, diagnostic_settings) each
list one collection of the registry; :data:`CHILD_RULES` names it as the emulator's route does.
"""

from __future__ import annotations

from remediators import all_rules

SUB = "00000000-0000-0000-0000-00000000aaaa"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-monitor/providers/Microsoft.OperationalInsights/workspaces/law-sec"
#: rule -> the collection it lists (the emulator's route name for it)
CHILD_RULES = {
    "repository_tokens": "tokens",
    "cache_rules": "cacheRules",
    "geo_replication": "replications",
    "diagnostic_settings": "diagnosticSettings",
}
CONFIG = {"diagnostic_settings": f"workspace_id: {WORKSPACE}"}


def policy(*rules: str, mode: str = "enforce", **configs: str) -> str:
    """Exactly ``rules`` enabled (with ``configs``: extra YAML flow-mapping entries per rule)."""
    lines = []
    for r in all_rules():
        if r.name == "network_rules":
            continue
        extra = ", ".join(
            x for x in (CONFIG.get(r.name) if r.name in rules else None, configs.get(r.name)) if x
        )
        enabled = "true" if r.name in rules else "false"
        lines.append(f"  {r.name}: {{enabled: {enabled}{', ' + extra if extra else ''}}}")
    return (
        f"version: 1\nmode: {mode}\nexempt:\n  tags: {{acrguard: exempt}}\nrules:\n" + "\n".join(lines) + "\n"
    )


def add(emu, name: str, sku: str = "Premium", tags: dict | None = None, **children) -> str:
    """A registry in rg-platform with ``children`` (collection name -> its documents); its ID."""
    return emu.add_registry(
        subscription=SUB, resource_group="rg-platform", name=name, sku=sku, tags=tags, children=children
    )


def calls(emu) -> list[tuple[str, str]]:
    """(method, route) of every ARM request the emulator saw, identity token requests left out."""
    return [(r.method, r.route) for r in emu.requests if r.route != "identity"]


def audit_setting(name: str = "sec", workspace: str = WORKSPACE, **log) -> dict:
    """A diagnostic setting sending ``log`` (default: the audit category group) to ``workspace``."""
    logs = [log or {"categoryGroup": "audit", "enabled": True}]
    return {"name": name, "properties": {"workspaceId": workspace, "logs": logs}}
