"""check-iac gives exactly run time's verdicts: one registry, three renderings, plan() as the judge.

Hypothesis draws registry documents over every field a rule reads, each absent or present (SKU,
admin user, anonymous pull, public network access, the firewall, bypass, the five policies, zone
redundancy, encryption, private endpoints, tags with the exemption tag) and the child resources
the child rules list (tokens, cache rules, replicas, diagnostic settings). Each is rendered as an
ARM template with literal values, as a template whose every value comes through parameters (a
parameter file) and variables (``concat``, ``if``/``equals``, ``bool``, ``createObject``,
``union``...), and as a Terraform plan. For each, check-iac's verdict on every rule must be the
status and mode ``acrguard.plan.plan()`` gives on the document that input deploys, and never
"unknown": every value is known.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

from azure.mgmt.containerregistry.models import Registry
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from iac_helpers import GROUP, SUB, WORKSPACE, all_rules, parameter_file, run_check, template, write

from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import plan

POLICY = all_rules()
NAME = "contosoiac"
ID = f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.ContainerRegistry/registries/{NAME}"
OTHER_WORKSPACE = WORKSPACE.replace("wsp-audit", "wsp-other")

status = st.sampled_from(["enabled", "disabled"])


def maybe(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)  # None: the template does not set it


@st.composite
def registries(draw: st.DrawFn) -> dict[str, Any]:
    props: dict[str, Any] = {}
    for key, values in (
        ("adminUserEnabled", st.booleans()),
        ("anonymousPullEnabled", st.booleans()),
        ("publicNetworkAccess", st.sampled_from(["Enabled", "Disabled"])),
        ("networkRuleBypassOptions", st.sampled_from(["AzureServices", "None"])),
        ("zoneRedundancy", st.sampled_from(["Enabled", "Disabled"])),
    ):
        if (value := draw(maybe(values))) is not None:
            props[key] = value
    if (action := draw(maybe(st.sampled_from(["Allow", "Deny"])))) is not None:
        ips = draw(
            st.lists(st.sampled_from(["20.1.2.3", "20.9.8.0/24", "0.0.0.0/0", "52.1.1.1"]), unique=True)
        )
        props["networkRuleSet"] = {
            "defaultAction": action,
            "ipRules": [{"action": "Allow", "value": i} for i in ips],
        }
    policies: dict[str, Any] = {}
    for key in ("exportPolicy", "quarantinePolicy", "azureADAuthenticationAsArmPolicy"):
        if (value := draw(maybe(status))) is not None:
            policies[key] = {"status": value}
    if (value := draw(maybe(status))) is not None:
        policies["retentionPolicy"] = {"status": value, "days": draw(st.sampled_from([7, 30]))}
    if policies:
        props["policies"] = policies
    if draw(st.booleans()):
        props["encryption"] = {
            "status": "enabled",
            "keyVaultProperties": {
                "keyIdentifier": "https://kv.vault.azure.net/keys/k",
                "identity": "client-id",
            },
        }
    endpoints = draw(st.lists(st.sampled_from(["Approved", "Pending"]), max_size=2))
    doc: dict[str, Any] = {
        "name": NAME,
        "location": "eastus",
        "sku": {"name": draw(st.sampled_from(["Basic", "Standard", "Premium"]))},
        "tags": draw(st.sampled_from([{}, {"acrguard": "exempt"}, {"env": "prod"}])),
        "properties": props,
    }
    tokens = draw(
        st.lists(st.tuples(st.sampled_from(["ci-pull", "legacy-push"]), status), unique_by=lambda t: t[0])
    )
    caches = draw(
        st.lists(st.sampled_from(["mcr.microsoft.com/dotnet", "docker.io/library/nginx"]), unique=True)
    )
    replicas = draw(st.lists(st.sampled_from(["eastus", "westeurope"]), unique=True))
    settings_ = draw(
        st.lists(
            st.tuples(
                st.sampled_from([WORKSPACE, OTHER_WORKSPACE]),
                st.sampled_from(["audit", "allLogs", "categories"]),
            ),
            max_size=2,
        )
    )
    children = {
        "tokens": [{"name": n, "properties": {"status": s}} for n, s in tokens],
        "cacheRules": [
            {"name": f"cache{i}", "properties": {"sourceRepository": s}} for i, s in enumerate(caches)
        ],
        "replications": [{"name": r, "location": r, "properties": {}} for r in replicas],
        "diagnosticSettings": [
            {"name": f"diag{i}", "properties": {"workspaceId": w, "logs": _logs(kind)}}
            for i, (w, kind) in enumerate(settings_)
        ],
    }
    return {"doc": doc, "children": children, "endpoints": endpoints}


def _logs(kind: str) -> list[dict[str, Any]]:
    if kind == "categories":
        return [
            {"category": "ContainerRegistryLoginEvents", "enabled": True},
            {"category": "ContainerRegistryRepositoryEvents", "enabled": True},
        ]
    return [{"categoryGroup": kind, "enabled": True}]


def expected(case: dict[str, Any]) -> dict[str, tuple[str, str]]:
    """rule -> (status, mode) as plan() decides on the document the input deploys."""
    doc = copy.deepcopy(case["doc"])
    connections = [
        {"properties": {"privateLinkServiceConnectionState": {"status": s}}} for s in case["endpoints"]
    ]
    if connections:
        doc["properties"]["privateEndpointConnections"] = connections
    decided = plan(POLICY, RegistryRef(SUB, GROUP, NAME), Registry(doc), case["children"])
    return {d.rule: (d.evaluation.status.value, d.mode) for d in decided.decisions}


def got(report: Any) -> dict[str, tuple[str, str]]:
    assert not report.errors, [str(e) for e in report.errors]
    assert len(report.judged) == 1
    return {v.rule: (v.status, v.mode) for v in report.judged[0].verdicts}


# --- ARM renderings ---------------------------------------------------------------------------


def arm_resources(case: dict[str, Any], registry: dict[str, Any], value: Any) -> list[dict[str, Any]]:
    """The registry and its children as template resources; ``value(x)`` writes each value."""
    children = case["children"]
    out = [{"type": "Microsoft.ContainerRegistry/registries", "apiVersion": "2023-07-01", **registry}]
    for kind, items in (("tokens", children["tokens"]), ("cacheRules", children["cacheRules"])):
        out += [
            {
                "type": f"Microsoft.ContainerRegistry/registries/{kind}",
                "apiVersion": "2023-07-01",
                "name": value(f"{NAME}/{c['name']}"),
                "properties": value(c["properties"]),
            }
            for c in items
        ]
    out += [
        {
            "type": "Microsoft.ContainerRegistry/registries/replications",
            "apiVersion": "2023-07-01",
            "name": value(f"{NAME}/{r['name']}"),
            "location": value(r["location"]),
            "properties": {},
        }
        for r in children["replications"]
    ]
    out += [
        {
            "type": "Microsoft.Insights/diagnosticSettings",
            "apiVersion": "2021-05-01-preview",
            "scope": f"[format('Microsoft.ContainerRegistry/registries/{{0}}', '{NAME}')]",
            "name": value(s["name"]),
            "properties": value(s["properties"]),
        }
        for s in children["diagnosticSettings"]
    ]
    for i, state in enumerate(case["endpoints"]):
        key = (
            "privateLinkServiceConnections" if state == "Approved" else "manualPrivateLinkServiceConnections"
        )
        connection = {
            "name": "c",
            "properties": {
                "privateLinkServiceId": f"[resourceId('Microsoft.ContainerRegistry/registries', '{NAME}')]",
                "groupIds": ["registry"],
            },
        }
        out.append(
            {
                "type": "Microsoft.Network/privateEndpoints",
                "apiVersion": "2023-04-01",
                "name": f"pe{i}",
                "location": "eastus",
                "properties": {"subnet": {"id": "/subscriptions/x/subnet"}, key: [connection]},
            }
        )
    return out


def literal_template(case: dict[str, Any]) -> dict[str, Any]:
    return template(*arm_resources(case, case["doc"], lambda v: v))


class Parameterised:
    """Every value of the registry through a parameter, most through a variable and a function."""

    def __init__(self) -> None:
        self.parameters: dict[str, Any] = {}
        self.values: dict[str, Any] = {}
        self.variables: dict[str, Any] = {}
        self.counter = itertools.count()

    def __call__(self, value: Any) -> Any:
        i = next(self.counter)
        name = f"p{i}"
        kind = {bool: "bool", int: "int", str: "string", dict: "object", list: "array"}[type(value)]
        self.parameters[name] = {"type": kind}
        self.values[name] = value
        ref = f"parameters('{name}')"
        way = i % 5
        if kind == "string" and way == 0:
            return f"[concat({ref}, '')]"
        if kind == "string" and way == 1:
            self.variables[f"v{i}"] = f"[format('{{0}}', {ref})]"
            return f"[variables('v{i}')]"
        if kind == "bool" and way == 0:
            return f"[if(equals({ref}, true()), bool('true'), not(true()))]"
        if kind == "bool" and way == 1:
            return f"[and(or({ref}, {ref}), {ref})]"
        if kind == "object" and way == 2:
            return f"[union(createObject(), {ref})]"
        if way == 3:
            self.variables[f"v{i}"] = f"[{ref}]"
            self.variables[f"w{i}"] = f"[variables('v{i}')]"
            return f"[variables('w{i}')]"
        return f"[{ref}]"

    def registry(self, doc: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self(doc["name"]), "location": self(doc["location"])}
        out["tags"] = self(doc["tags"])
        out["sku"] = {"name": self(doc["sku"]["name"])}
        out["properties"] = _deep(doc["properties"], self)
        return out


def _deep(value: Any, through: Parameterised) -> Any:
    """Objects kept as objects, each leaf through a parameter (arrays whole)."""
    if isinstance(value, dict) and value:
        return {k: _deep(v, through) for k, v in value.items()}
    return through(value)


def parameterised_template(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    through = Parameterised()
    registry = through.registry(case["doc"])
    resources = arm_resources(case, registry, through)
    return template(*resources, parameters=through.parameters, variables=through.variables), parameter_file(
        through.values
    )


# --- Terraform rendering ------------------------------------------------------------------------


def terraform_plan(case: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The plan of the azurerm configuration deploying ``case``, and the document it deploys (the
    provider cannot set ARM audience tokens, nor an explicitly disabled retention's days)."""
    doc, props = copy.deepcopy(case["doc"]), case["doc"]["properties"]
    deployed_props = doc["properties"]
    deployed_props.get("policies", {}).pop("azureADAuthenticationAsArmPolicy", None)

    def policy(key: str) -> Any:
        return props.get("policies", {}).get(key, {}).get("status")

    retention = props.get("policies", {}).get("retentionPolicy")
    if retention and retention["status"] == "disabled":
        deployed_props["policies"]["retentionPolicy"] = {"status": "disabled"}
    rule_set = props.get("networkRuleSet")
    values = {
        "name": NAME,
        "resource_group_name": GROUP,
        "location": doc["location"],
        "sku": doc["sku"]["name"],
        "tags": doc["tags"],
        "admin_enabled": props.get("adminUserEnabled", False),
        "anonymous_pull_enabled": props.get("anonymousPullEnabled", False),
        "public_network_access_enabled": props.get("publicNetworkAccess", "Enabled") == "Enabled",
        "network_rule_bypass_option": props.get("networkRuleBypassOptions", "AzureServices"),
        "zone_redundancy_enabled": props.get("zoneRedundancy") == "Enabled",
        "export_policy_enabled": policy("exportPolicy") != "disabled",
        "quarantine_policy_enabled": policy("quarantinePolicy") == "enabled",
        "retention_policy_in_days": retention["days"]
        if retention and retention["status"] == "enabled"
        else None,
        "trust_policy_enabled": False,
        "data_endpoint_enabled": False,
        "network_rule_set": [
            {
                "default_action": rule_set["defaultAction"],
                "ip_rule": [{"action": "Allow", "ip_range": r["value"]} for r in rule_set["ipRules"]],
            }
        ]
        if rule_set
        else [],
        "encryption": [
            {"key_vault_key_id": "https://kv.vault.azure.net/keys/k", "identity_client_id": "client-id"}
        ]
        if "encryption" in props
        else [],
        "georeplications": [
            {"location": r["location"], "zone_redundancy_enabled": False, "tags": {}}
            for r in case["children"]["replications"]
        ],
        "identity": [],
    }
    changes = [_change("azurerm_container_registry.acr", values, {"id": True, "login_server": True})]
    config = [_config("azurerm_container_registry", "acr", {})]
    children = case["children"]

    def child(kind: str, name: str, body: dict[str, Any], link: str, attribute: str) -> None:
        """A child resource whose ``link`` attribute refers to the registry's ``attribute``."""
        changes.append(
            _change(f"{kind}.{name}", body, {} if link == "container_registry_name" else {link: True})
        )
        refs = [f"azurerm_container_registry.acr.{attribute}", "azurerm_container_registry.acr"]
        config.append(_config(kind, name, {link: refs}))

    for i, token in enumerate(children["tokens"]):
        body = {"name": token["name"], "container_registry_name": NAME, "resource_group_name": GROUP}
        body["enabled"] = token["properties"]["status"] == "enabled"
        child("azurerm_container_registry_token", f"t{i}", body, "container_registry_name", "name")
    for i, cache in enumerate(children["cacheRules"]):
        body = {
            "name": cache["name"],
            "source_repo": cache["properties"]["sourceRepository"],
            "target_repo": "t",
        }
        child("azurerm_container_registry_cache_rule", f"c{i}", body, "container_registry_id", "id")
    for i, setting in enumerate(children["diagnosticSettings"]):
        logs = [
            {"category": log.get("category"), "category_group": log.get("categoryGroup")}
            for log in setting["properties"]["logs"]
        ]
        body = {
            "name": setting["name"],
            "log_analytics_workspace_id": setting["properties"]["workspaceId"],
            "enabled_log": logs,
        }
        child("azurerm_monitor_diagnostic_setting", f"d{i}", body, "target_resource_id", "id")
    for i, state in enumerate(case["endpoints"]):
        connection = {
            "name": "c",
            "is_manual_connection": state == "Pending",
            "subresource_names": ["registry"],
        }
        body = {"name": f"pe{i}", "private_service_connection": [connection]}
        unknown = {"private_service_connection": [{"private_connection_resource_id": True}]}
        changes.append(_change(f"azurerm_private_endpoint.pe{i}", body, unknown))
        refs = {
            "private_service_connection": [
                {
                    "private_connection_resource_id": {
                        "references": ["azurerm_container_registry.acr.id", "azurerm_container_registry.acr"]
                    }
                }
            ]
        }
        config.append(
            {
                "address": f"azurerm_private_endpoint.pe{i}",
                "type": "azurerm_private_endpoint",
                "expressions": refs,
            }
        )
    plan_doc = {
        "format_version": "1.2",
        "terraform_version": "1.9.0",
        "resource_changes": changes,
        "configuration": {"root_module": {"resources": config}},
    }
    return plan_doc, doc


def _change(address: str, after: dict[str, Any], unknown: dict[str, Any]) -> dict[str, Any]:
    kind, name = address.split(".")
    return {
        "address": address,
        "mode": "managed",
        "type": kind,
        "name": name,
        "provider_name": "registry.terraform.io/hashicorp/azurerm",
        "change": {"actions": ["create"], "before": None, "after": after, "after_unknown": unknown},
    }


def _config(kind: str, name: str, refs: dict[str, list[str]]) -> dict[str, Any]:
    return {
        "address": f"{kind}.{name}",
        "type": kind,
        "name": name,
        "expressions": {attr: {"references": r} for attr, r in refs.items()},
    }


# --- the property -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=registries())
def test_each_rendering_gets_plan_verdicts(tmp_path: Path, case: dict[str, Any]) -> None:
    """A registry written literally, through parameters and variables, and as a Terraform plan is
    judged exactly as plan() judges the registry it deploys, rule by rule (status and mode)."""
    want = expected(case)
    literal = write(tmp_path, "literal.json", literal_template(case))
    assert got(run_check(literal, POLICY)) == want, "literal template"

    doc, values = parameterised_template(case)
    params = write(tmp_path, "params.parameters.json", values)
    through = write(tmp_path, "parameterised.json", doc)
    assert got(run_check(through, POLICY, parameters=params)) == want, "parameters and variables"

    plan_doc, deployed = terraform_plan(case)
    tf = write(tmp_path, "plan.json", plan_doc)
    tf_case = {**case, "doc": deployed}
    assert got(run_check(tf, POLICY)) == expected(tf_case), "terraform plan"


def test_a_parameter_left_open_is_unknown_never_compliant(tmp_path: Path) -> None:
    """The same registry with one value missing from the parameter file: the rules that read it say
    unknown (whatever the missing value, they cannot pass silently), the others keep their verdict."""
    case = {
        "doc": {
            "name": NAME,
            "location": "eastus",
            "sku": {"name": "Premium"},
            "tags": {},
            "properties": {"adminUserEnabled": False, "anonymousPullEnabled": False},
        },
        "children": {"tokens": [], "cacheRules": [], "replications": [], "diagnosticSettings": []},
        "endpoints": [],
    }
    doc, values = parameterised_template(case)
    missing = next(name for name, value in values["parameters"].items() if value == {"value": False})
    del values["parameters"][missing]  # adminUserEnabled: the first False
    params = write(tmp_path, "params.parameters.json", values)
    report = run_check(write(tmp_path, "t.json", doc), POLICY, parameters=params)
    verdicts = {v.rule: v for v in report.judged[0].verdicts}
    assert verdicts["admin_user"].outcome == "unknown"
    assert f"parameter {missing} has no value" in verdicts["admin_user"].reason
    want = expected(case)
    for rule, verdict in verdicts.items():
        if rule != "admin_user":
            assert (verdict.status, verdict.mode) == want[rule], rule
    assert json.dumps(report.judged[0].found.ref)  # the ref stayed plain data


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=registries(), data=st.data())
def test_a_verdict_given_with_values_left_open_holds_for_the_real_values(
    tmp_path: Path, case: dict[str, Any], data: st.DataObject
) -> None:
    """Some parameters dropped from the parameter file at random: every verdict check-iac still gives
    (not unknown) must be the one plan() gives on the registry the full parameter file deploys. A
    verdict that depends on a dropped value cannot pass by luck of the value tried."""
    doc, values = parameterised_template(case)
    names = sorted(values["parameters"])
    dropped = data.draw(st.lists(st.sampled_from(names), unique=True, min_size=1, max_size=4))
    for name in dropped:
        del values["parameters"][name]
    params = write(tmp_path, "params.parameters.json", values)
    report = run_check(write(tmp_path, "open.json", doc), POLICY, parameters=params)
    assert not report.errors, [str(e) for e in report.errors]
    want = expected(case)
    for verdict in report.judged[0].verdicts:
        if verdict.outcome != "unknown":
            assert (verdict.status, verdict.mode) == want[verdict.rule], (verdict, dropped)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=registries(), data=st.data())
def test_a_verdict_on_a_plan_with_values_known_after_apply_holds_for_the_real_values(
    tmp_path: Path, case: dict[str, Any], data: st.DataObject
) -> None:
    """Terraform's ``after_unknown``: attributes of the registry and of its children marked known only
    after apply. Every verdict still given must be plan()'s on the registry the plan deploys."""
    plan_doc, deployed = terraform_plan(case)
    changes = plan_doc["resource_changes"]
    change = data.draw(st.sampled_from(changes))["change"]
    attributes = sorted(k for k in change["after"] if k not in ("name", "resource_group_name"))
    for attribute in data.draw(st.lists(st.sampled_from(attributes), unique=True, min_size=1, max_size=4)):
        del change["after"][attribute]
        change["after_unknown"][attribute] = True
    report = run_check(write(tmp_path, "plan.json", plan_doc), POLICY)
    assert not report.errors, [str(e) for e in report.errors]
    want = expected({**case, "doc": deployed})
    for verdict in report.judged[0].verdicts:
        if verdict.outcome != "unknown":
            assert (verdict.status, verdict.mode) == want[verdict.rule], verdict
