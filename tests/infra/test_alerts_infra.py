"""What infra/ deploys for alerting and the workbook: one source per query, receivers from
parameters, the webhook kept secret, and the logs the dead-letter rule reads actually sent.
The queries' meaning is tested in tests/infra/test_alert_queries.py."""

from __future__ import annotations

import json
import re
from typing import Any

from bicep_eval import Template, parse
from repo_paths import ROOT
from test_alert_queries import ALERTS, WORKSPACE_ID, alert_rules, condition, workbook_queries
from workbook_sync import WORKBOOK, query_file, query_items, render

MAIN = ROOT / "infra" / "main.bicep"
QUERIES = ROOT / "infra" / "queries"
DEPLOY_DOC = ROOT / "docs" / "DEPLOY.md"


def module_params(symbol: str, **main: Any) -> dict[str, Any]:
    """What main.bicep passes to one of its modules, with ``main``'s parameters (defaults else)."""
    given = {"environmentName": "prod", "location": "westeurope", "enabledRules": ["anonymous_pull"], **main}
    params = dict(given)
    for name, spec in parse(MAIN)["parameters"].items():
        if name not in given and "default" in spec:
            params[name] = Template(MAIN, params).value(spec["default"])
    module = parse(MAIN)["modules"][symbol]["config"]
    return {key: Template(MAIN, params).value(value) for key, value in module["params"].items()}


def deployed(module: dict[str, Any]) -> Template:
    return Template(ALERTS, module)


def test_each_alert_query_file_is_one_rule_and_each_rule_reads_its_file():
    """One source of truth: a rule's query is the text of infra/queries/alert-<rule>.kql, loaded by
    Bicep; no alert query lives anywhere else, and no alert-*.kql is left undeployed."""
    rules = alert_rules()
    files = {path.stem.removeprefix("alert-"): path for path in QUERIES.glob("alert-*.kql")}
    assert set(rules) == set(files) == {
        "failed", "flagged", "deadletter", "function-failures", "reconcile-silence", "exposure-p95",
    }  # fmt: skip
    for name, rule in rules.items():
        assert condition(rule)["query"] == files[name].read_text(encoding="utf-8"), name
        assert rule["properties"]["scopes"] == [WORKSPACE_ID] and rule["kind"] == "LogAlert"
        assert rule["properties"]["skipQueryValidation"] is True  # tables appear with their first row
    loads = [
        call["function"]["parameters"]["file_path"] for call in _calls(parse(ALERTS), "load_text_content")
    ]
    assert sorted(loads) == sorted(f"../queries/{path.name}" for path in files.values())


def _calls(node: Any, kind: str) -> list[dict[str, Any]]:
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("function"), dict) and node["function"].get("type") == kind:
            found.append(node)
        for value in node.values():
            found += _calls(value, kind)
    elif isinstance(node, list):
        for value in node:
            found += _calls(value, kind)
    return found


def test_rule_windows_fit_what_log_search_alerts_allow():
    """Frequency at most the window (no record left unevaluated) and a window of at most two days
    (MicrosoftDocs/azure-docs articles/azure-monitor/alerts/alerts-create-log-alert-rule.md: "The
    alert time range is limited to a maximum of two days")."""

    def hours(duration: str) -> float:
        days, hrs, mins = re.fullmatch(r"P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?)?", duration).groups()
        return int(days or 0) * 24 + int(hrs or 0) + int(mins or 0) / 60

    for hours_silent in (1, 12, 48):
        for name, rule in alert_rules(silence_h=hours_silent).items():
            props = rule["properties"]
            assert hours(props["evaluationFrequency"]) <= hours(props["windowSize"]) <= 48, name
    main = parse(MAIN)["parameters"]["alertReconcileSilenceHours"]["decorators"]
    assert {"type": "max_value", "argument": 48} in main


def test_alerts_go_to_the_action_group_of_the_given_receivers():
    """Comma-separated e-mails and a webhook, as azd passes them, become the action group's
    receivers and every rule routes to it; with neither, no action group and no routing (the
    alerts still show in Azure Monitor)."""
    params = module_params(
        "alerts",
        alertEmails="ops@contoso.example, sec@contoso.example",
        alertWebhookUrl="https://hooks.example/T/abc",
    )
    template = deployed(params)
    group = parse(ALERTS)["resources"]["actionGroup"]["config"]
    assert template.value(group["condition"]) is True
    properties = template.value(group["config"]["properties"])
    assert [r["emailAddress"] for r in properties["emailReceivers"]] == [
        "ops@contoso.example",
        "sec@contoso.example",
    ]
    assert len({r["name"] for r in properties["emailReceivers"]}) == 2
    assert [r["serviceUri"] for r in properties["webhookReceivers"]] == ["https://hooks.example/T/abc"]
    rules = template.value(parse(ALERTS)["resources"]["alertRules"]["config"])
    assert all(r["properties"]["actions"]["actionGroups"] == ["<actionGroup.id>"] for r in rules)

    quiet = deployed(module_params("alerts"))
    assert quiet.value(group["condition"]) is False
    rules = quiet.value(parse(ALERTS)["resources"]["alertRules"]["config"])
    assert all(r["properties"]["actions"]["actionGroups"] == [] for r in rules)


def test_the_alert_webhook_is_a_secure_parameter_never_an_output():
    """Such URLs carry a token: @secure() where main.bicep takes it and where the module does."""
    for path, name in ((MAIN, "alertWebhookUrl"), (ALERTS, "alertWebhookUrl")):
        decorators = {d["type"] for d in parse(path)["parameters"][name]["decorators"]}
        assert "secure" in decorators, (path.name, name)
        assert name not in json.dumps(parse(path).get("outputs", {})), path.name


def test_the_deadletter_rule_reads_logs_the_template_sends():
    """StorageBlobLogs exists only if a diagnostic setting sends the blob service's write and
    delete logs to the workspace the rule queries: that of the app's own storage account."""
    params = module_params("alerts")
    assert params["storageAccountName"] == "<storage.outputs.name>"
    assert params["workspaceId"] == "<monitoring.outputs.logAnalyticsWorkspaceId>"
    resources = parse(ALERTS)["resources"]
    setting = resources["blobLogs"]["config"]
    assert setting["scope"] == "blobService" and resources["blobService"]["config"]["name"] == "default"
    properties = deployed({**params, "namePrefix": "p"}).value(setting["properties"])
    assert properties["workspaceId"] == params["workspaceId"]
    assert {log["category"] for log in properties["logs"] if log["enabled"]} == {
        "StorageWrite",
        "StorageDelete",
    }
    assert "StorageBlobLogs" in condition(alert_rules()["deadletter"])["query"]


def test_workbook_json_holds_the_query_files_and_the_workspace_at_deployment():
    """`python -m tests.workbook_sync` is current: each query item is its workbook-<name>.kql, each
    such file is an item, and the deployed workbook points its queries at the workspace."""
    text = WORKBOOK.read_text(encoding="utf-8")
    assert render(text) == text, "stale: run `python -m tests.workbook_sync`"
    items = query_items(json.loads(text))
    assert sorted(query_file(item).name for item in items) == sorted(
        p.name for p in QUERIES.glob("workbook-*.kql")
    )
    assert set(workbook_queries()) == {"decisions", "exposure", "drift", "exemptions", "attention"}
    module = ROOT / "infra" / "modules" / "workbook.bicep"
    workbook = Template(module, {"location": "westeurope", "tags": {}, "workspaceId": WORKSPACE_ID}).value(
        parse(module)["resources"]["workbook"]["config"]
    )
    data = json.loads(workbook["properties"]["serializedData"])
    assert "__WORKSPACE_ID__" not in workbook["properties"]["serializedData"]
    assert (
        data["fallbackResourceIds"] == [WORKSPACE_ID] and workbook["properties"]["sourceId"] == WORKSPACE_ID
    )
    assert all(item["content"]["crossComponentResources"] == [WORKSPACE_ID] for item in query_items(data))
    assert re.fullmatch(r"[0-9a-f-]{36}", workbook["name"]), "a workbook's name must be a GUID"


def test_deploy_doc_has_a_runbook_row_for_every_alert():
    """docs/DEPLOY.md's Alerts table names each rule (its display name) and what to do."""
    section = DEPLOY_DOC.read_text(encoding="utf-8").partition("\n## Alerts")[2].split("\n## ", 1)[0]
    rows = {row.split("|")[1].strip(): row for row in section.splitlines() if row.startswith("| ")}
    for rule in alert_rules().values():
        name = rule["properties"]["displayName"].removeprefix("ACR Guard: ")
        assert any(name in key for key in rows), f"docs/DEPLOY.md, Alerts: no row for {name!r}"
