"""Shared by tests/iac: templates and plans written to files, and check-iac's verdicts on them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from acrguard.iac.check import Report, check, context
from acrguard.policy import Policy, parse_policy

DATA = Path(__file__).resolve().parents[1] / "data" / "iac"
SUB = "00000000-0000-0000-0000-00000000aaaa"
GROUP = "rg-iac"
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/wsp-audit"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"
PARAMETERS_SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentParameters.json#"
#: Every rule on, every one with the settings its check compares with.
ALL_RULES = f"""
version: 1
mode: enforce
exempt:
  tags: {{acrguard: exempt}}
rules:
  anonymous_pull: {{enabled: true}}
  admin_user: {{enabled: true}}
  arm_audience_tokens: {{enabled: true}}
  export_policy: {{enabled: true}}
  quarantine: {{enabled: true}}
  retention: {{enabled: true}}
  sku_private_link: {{enabled: true}}
  zone_redundancy: {{enabled: true}}
  customer_managed_key: {{enabled: true}}
  private_link: {{enabled: true}}
  public_network_access: {{enabled: true}}
  firewall_unavailable: {{enabled: true}}
  geo_replication: {{enabled: true}}
  network_rules: {{enabled: true, allowed_ips: ["20.1.2.3", "20.9.8.0/24"]}}
  repository_tokens: {{enabled: true, allowed: [ci-pull]}}
  cache_rules: {{enabled: true, allowed_sources: ["mcr.microsoft.com/*"]}}
  diagnostic_settings: {{enabled: true, workspace_id: {WORKSPACE}}}
"""


def all_rules() -> Policy:
    return parse_policy(ALL_RULES)


def registry(**fields: Any) -> dict[str, Any]:
    """A Premium registry resource named by the parameter ``name``, with ``fields`` set over it."""
    return {
        "type": "Microsoft.ContainerRegistry/registries",
        "apiVersion": "2023-07-01",
        "name": "[parameters('name')]",
        "location": "eastus",
        "sku": {"name": "Premium"},
        **fields,
    }


def template(*resources: Any, parameters: Any = None, variables: Any = None) -> dict[str, Any]:
    doc: dict[str, Any] = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "parameters": parameters or {}}
    if variables:
        doc["variables"] = variables
    doc["resources"] = list(resources)
    return doc


def parameter_file(values: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": PARAMETERS_SCHEMA,
        "contentVersion": "1.0.0.0",
        "parameters": {k: {"value": v} for k, v in values.items()},
    }


def write(directory: Path, name: str, doc: Any) -> Path:
    path = directory / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc, indent=2), encoding="utf-8")
    return path


def run_check(
    paths: list[Path] | Path,
    policy: Policy,
    parameters: Path | None = None,
    subscription: str | None = SUB,
    group: str | None = GROUP,
    location: str | None = "eastus",
) -> Report:
    return check(
        paths if isinstance(paths, list) else [paths],
        parameters,
        policy,
        context(subscription, group, location),
    )


def outcomes(report: Report, index: int = 0) -> dict[str, str]:
    """rule -> outcome for the ``index``-th registry found."""
    assert not report.errors, [str(e) for e in report.errors]
    return {v.rule: v.outcome for v in report.judged[index].verdicts}
