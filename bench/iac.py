"""``acrguard check-iac`` over a generated corpus: time per template, agreement with ``plan()``.

1,000 ARM templates (a third literal, a third through parameters and variables with a parameter
file, a third leaving one parameter without a value) and as many Terraform plans, each holding one
registry drawn at random over the properties the rules read, judged with every rule enabled. For
each input whose values are all known, check-iac's verdict on every rule is compared with
``plan()`` on the registry document it was generated from: the agreement. Inputs with a value
left open count their ``unknown`` verdicts (never compliant). The time includes reading, parsing,
evaluating and judging, in this process (``check()``, as the command calls it).
"""

from __future__ import annotations

import json
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import log, median

COUNT = 1000
WORKSPACE = (
    "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-logs/providers/"
    "Microsoft.OperationalInsights/workspaces/wsp-audit"
)
POLICY = f"""
version: 1
mode: enforce
exempt: {{tags: {{acrguard: exempt}}}}
rules:
  anonymous_pull: {{enabled: true}}
  admin_user: {{enabled: true}}
  export_policy: {{enabled: true}}
  quarantine: {{enabled: true}}
  retention: {{enabled: true}}
  sku_private_link: {{enabled: true}}
  zone_redundancy: {{enabled: true}}
  public_network_access: {{enabled: true}}
  firewall_unavailable: {{enabled: true}}
  network_rules: {{enabled: true, allowed_ips: ["20.1.2.3"]}}
  geo_replication: {{enabled: true}}
  diagnostic_settings: {{enabled: true, workspace_id: {WORKSPACE}}}
"""
SUB, GROUP = "00000000-0000-0000-0000-00000000aaaa", "rg-bench"
SCHEMA = "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#"


def registry(rng: random.Random, i: int) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, values in (
        ("adminUserEnabled", [True, False]),
        ("anonymousPullEnabled", [True, False]),
        ("publicNetworkAccess", ["Enabled", "Disabled"]),
        ("zoneRedundancy", ["Enabled", "Disabled"]),
    ):
        if rng.random() < 0.7:
            props[key] = rng.choice(values)
    if rng.random() < 0.5:
        props["networkRuleSet"] = {
            "defaultAction": rng.choice(["Allow", "Deny"]),
            "ipRules": [{"action": "Allow", "value": "20.1.2.3"}] if rng.random() < 0.5 else [],
        }
    policies = {
        key: {"status": rng.choice(["enabled", "disabled"])}
        for key in ("exportPolicy", "quarantinePolicy")
        if rng.random() < 0.6
    }
    if rng.random() < 0.6:
        policies["retentionPolicy"] = {"status": "enabled", "days": 30}
    if policies:
        props["policies"] = policies
    return {
        "name": f"acrbench{i:05d}",
        "location": "eastus",
        "sku": {"name": rng.choice(["Basic", "Standard", "Premium"])},
        "tags": rng.choice([{}, {"env": "prod"}, {"acrguard": "exempt"}]),
        "properties": props,
    }


def arm(doc: dict[str, Any], kind: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """The template deploying ``doc``: literal, or its properties through parameters and variables
    (``open``: the first of them left without a value)."""
    resource = {"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", **doc}
    template: dict[str, Any] = {"$schema": SCHEMA, "contentVersion": "1.0.0.0", "resources": [resource]}
    if kind == "literal":
        return template, None
    parameters, values, variables, props = {}, {}, {}, {}
    for n, (key, value) in enumerate(doc["properties"].items()):
        kinds = {bool: "bool", str: "string", dict: "object"}
        parameters[f"p{n}"] = {"type": kinds[type(value)]}
        values[f"p{n}"] = {"value": value}
        variables[f"v{n}"] = (
            f"[if(equals(parameters('p{n}'), parameters('p{n}')), parameters('p{n}'), null())]"
        )
        props[key] = f"[variables('v{n}')]"
    resource["properties"] = props
    resource["name"] = "[toLower(concat('acr', parameters('suffix')))]"
    parameters["suffix"] = {"type": "string"}
    values["suffix"] = {"value": doc["name"].removeprefix("acr")}
    if kind == "open" and len(values) > 1:
        del values[next(iter(values))]
    template.update(parameters=parameters, variables=variables)
    return template, {"parameters": values}


def terraform(doc: dict[str, Any]) -> dict[str, Any]:
    p = doc["properties"]
    policies = p.get("policies", {})
    rule_set = p.get("networkRuleSet")
    after = {
        "name": doc["name"],
        "resource_group_name": GROUP,
        "location": doc["location"],
        "sku": doc["sku"]["name"],
        "tags": doc["tags"],
        "admin_enabled": p.get("adminUserEnabled", False),
        "anonymous_pull_enabled": p.get("anonymousPullEnabled", False),
        "public_network_access_enabled": p.get("publicNetworkAccess", "Enabled") == "Enabled",
        "zone_redundancy_enabled": p.get("zoneRedundancy") == "Enabled",
        "export_policy_enabled": policies.get("exportPolicy", {}).get("status") != "disabled",
        "quarantine_policy_enabled": policies.get("quarantinePolicy", {}).get("status") == "enabled",
        "retention_policy_in_days": 30 if "retentionPolicy" in policies else None,
        "network_rule_set": [
            {
                "default_action": rule_set["defaultAction"],
                "ip_rule": [{"action": "Allow", "ip_range": r["value"]} for r in rule_set["ipRules"]],
            }
        ]
        if rule_set
        else [],
        "georeplications": [],
    }
    change = {"actions": ["create"], "before": None, "after": after, "after_unknown": {"id": True}}
    return {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "azurerm_container_registry.acr",
                "mode": "managed",
                "type": "azurerm_container_registry",
                "name": "acr",
                "provider_name": "registry.terraform.io/hashicorp/azurerm",
                "change": change,
            }
        ],
    }


def measure(count: int = COUNT) -> dict[str, Any]:
    from azure.mgmt.containerregistry.models import Registry

    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.iac.check import check, context
    from acrguard.iac.expressions import ALWAYS_UNKNOWN, SUPPORTED
    from acrguard.plan import plan
    from acrguard.policy import parse_policy

    policy = parse_policy(POLICY)
    rng = random.Random(26)
    where = context(SUB, GROUP, "eastus")
    out: dict[str, Any] = {
        "count": count,
        "supported": list(SUPPORTED),
        "always_unknown": list(ALWAYS_UNKNOWN),
    }
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        cases = []
        for i in range(count):
            doc = registry(rng, i)
            kind = ("literal", "parameters", "open")[i % 3]
            template, params = arm(doc, kind)
            path = root / f"t{i:05d}.json"
            path.write_text(json.dumps(template), encoding="utf-8")
            param_path = None
            if params is not None:
                param_path = root / f"t{i:05d}.parameters.json"
                param_path.write_text(json.dumps(params), encoding="utf-8")
            plan_path = root / f"plan{i:05d}.json"
            plan_path.write_text(json.dumps(terraform(doc)), encoding="utf-8")
            cases.append((doc, kind, path, param_path, plan_path))
        for label, pick in (("arm", lambda c: (c[2], c[3])), ("terraform", lambda c: (c[4], None))):
            per: list[float] = []
            agree = total = unknown = unknown_open = 0
            started = time.perf_counter()
            for case in cases:
                doc, kind = case[0], case[1]
                path, params = pick(case)
                t0 = time.perf_counter()
                report = check([path], params, policy, where)
                per.append(time.perf_counter() - t0)
                assert not report.errors, [str(e) for e in report.errors]
                verdicts = report.judged[0].verdicts
                if label == "arm" and kind == "open":
                    unknown_open += sum(v.outcome == "unknown" for v in verdicts)
                    continue
                expected = plan(policy, RegistryRef(SUB, GROUP, doc["name"]), Registry(doc), _no_children())
                want = {d.rule: (d.evaluation.status.value, d.mode) for d in expected.decisions}
                got = {v.rule: (v.status, v.mode) for v in verdicts}
                total += len(want)
                agree += sum(got.get(rule) == value for rule, value in want.items())
                unknown += sum(v.outcome == "unknown" for v in verdicts)
            wall = time.perf_counter() - started
            out[label] = {
                "inputs": len(cases),
                "wall_s": wall,
                "median_ms": median(per) * 1000,
                "max_ms": max(per) * 1000,
                "verdicts_compared": total,
                "agreeing": agree,
                "unknown_when_all_known": unknown,
                "unknown_when_one_open": unknown_open,
            }
            log(f"check-iac {label}: {len(cases)} inputs in {wall:.1f} s, {agree}/{total} verdicts agree")
    out["pycep"] = _pycep_cost()
    return out


def _no_children() -> dict[str, list[Any]]:
    return {"tokens": [], "cacheRules": [], "replications": [], "diagnosticSettings": []}


def _pycep_cost() -> dict[str, Any]:
    """What reading .bicep directly through pycep-parser would cost: building the parser, one parse."""
    try:
        from pycep import BicepParser
    except ImportError:
        return {"unavailable": "pycep-parser is not installed (the dev extra)"}
    text = (
        "param n string\nresource r 'Microsoft.ContainerRegistry/registries@2023-07-01' = {\n  name: n\n}\n"
    )
    t0 = time.perf_counter()
    parser = BicepParser()
    built = time.perf_counter() - t0
    t0 = time.perf_counter()
    parser.parse(text=text)
    first = time.perf_counter() - t0
    t0 = time.perf_counter()
    parser.parse(text=text)
    second = time.perf_counter() - t0
    return {"build_s": built, "first_parse_s": first, "next_parse_s": second}


def render(x: dict[str, Any]) -> str:
    """docs/BENCHMARKS.md's section (bench/report.py calls it)."""
    rows = []
    for label, name in (("arm", "ARM templates"), ("terraform", "Terraform plans")):
        r = x[label]
        rows.append(
            f"| {name} | {r['inputs']} | {r['wall_s']:.1f} s | {r['median_ms']:.1f} ms | {r['max_ms']:.0f} ms | "
            f"{r['agreeing']}/{r['verdicts_compared']} | {r['unknown_when_all_known']} | {r['unknown_when_one_open']} |"
        )
    pycep = x["pycep"]
    bicep = (
        pycep["unavailable"]
        if "unavailable" in pycep
        else f"building pycep's parser took {pycep['build_s']:.2f} s, its first parse {pycep['first_parse_s'] * 1000:.0f} ms"
    )
    return "\n".join(
        [
            "## check-iac: templates and plans judged before deployment",
            "",
            f"{x['count']} generated ARM templates (a third literal, a third through parameters and variables, "
            "a third with one parameter left without a value) and as many Terraform plans, one registry each, "
            "every rule the registry document decides enabled (bench/iac.py). Agreement: check-iac's verdict "
            "(status and mode) against `plan()` on the generated document, for every input whose values are all "
            "known. Expressions evaluated: "
            f"{len(x['supported'])} functions; always unknown before a deployment: {', '.join(x['always_unknown'])}. "
            f"Bicep is read compiled: {bicep} (acrguard/iac/bicep.py has the other reasons).",
            "",
            "| input | count | wall | median | max | verdicts agreeing | unknown (all known) | unknown (one left open) |",
            "|---|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
