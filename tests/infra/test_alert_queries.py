"""The alert rules' and the workbook's KQL: Microsoft's parser accepts each, and each means what
docs/DEPLOY.md says, on audit lines and invocations the real Function App produces against the
emulator.

Parser: Kusto.Language (npm ``@kusto/language-service-next``, through tests/kusto_check.mjs) over
the ``AppTraces``, ``AppRequests`` and ``StorageBlobLogs`` schemas of Azure Monitor's table
reference (tests/data/log_analytics_tables.json): 0 diagnostics for every ``infra/queries/*.kql``
and every query of the workbook as deployed.

Logic: each query runs in duckdb-kql over a miniature workspace (emulator/log_workspace.py) filled by
running ``function_app.on_registry_write`` and ``reconcile`` through the engine against the
emulator, and each alert is judged with the criteria infra/modules/alerts.bicep deploys (count of
rows, or the measure column, against operator and threshold), as Azure Monitor judges it.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

import kusto_language
import pytest
from bicep_eval import Template, parse
from engine_helpers import POLICY, SUB_A, SUB_B, as_person, make_harness, rid, write_event
from function_harness import function_app_env, grid_event
from repo_paths import ROOT

from emulator.log_workspace import TABLES, Workspace

QUERIES = ROOT / "infra" / "queries"
ALERTS = ROOT / "infra" / "modules" / "alerts.bicep"
WORKBOOK_MODULE = ROOT / "infra" / "modules" / "workbook.bicep"
WORKSPACE_ID = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/log"

PROD, STD, PUBDIST = (rid(n) for n in ("contosoprod", "contosostd", "publicdist"))
APPS = rid("contosoapps", SUB_B, "rg-apps")
#: POLICY, reconciling the demo's subscription (the timer pages the subscriptions the policy names).
SCOPED = POLICY + f"scope: {{subscriptions: [{SUB_A}]}}\n"
#: Quick failures: a registry whose reads keep failing gives up after two attempts.
FAST = {"ACRGUARD_MAX_ATTEMPTS": "2", "ACRGUARD_RETRY_BUDGET_S": "2"}


# --------------------------------------------------------------------------------------------------
# what infra/ deploys


def alert_rules(threshold_s: int = 60, silence_h: int = 12) -> dict[str, dict[str, Any]]:
    """Each alert rule as infra/modules/alerts.bicep deploys it, by its short name."""
    template = Template(
        ALERTS,
        {
            "namePrefix": "acrguard-test",
            "location": "westeurope",
            "tags": {},
            "workspaceId": WORKSPACE_ID,
            "storageAccountName": "stacrguard",
            "alertEmails": ["ops@contoso.example"],
            "alertWebhookUrl": "",
            "exposureP95ThresholdS": threshold_s,
            "reconcileSilenceHours": silence_h,
        },
    )
    deployed = template.value(parse(ALERTS)["resources"]["alertRules"]["config"])
    return {rule["name"].removeprefix("acrguard-test-"): rule for rule in deployed}


def workbook_queries() -> dict[str, str]:
    """The workbook's queries as deployed (infra/modules/workbook.bicep's serializedData), by item."""
    template = Template(WORKBOOK_MODULE, {"location": "westeurope", "tags": {}, "workspaceId": WORKSPACE_ID})
    data = template.value(parse(WORKBOOK_MODULE)["resources"]["workbook"]["config"])["properties"]
    return {
        item["name"]: item["content"]["query"]
        for item in json.loads(data["serializedData"])["items"]
        if item["type"] == 3
    }


def condition(rule: dict[str, Any]) -> dict[str, Any]:
    (only,) = rule["properties"]["criteria"]["allOf"]
    return only


def fires(rule: dict[str, Any], rows: list[dict[str, Any]]) -> bool:
    """Azure Monitor's verdict on one evaluation (no dimensions): the number of rows (Count) or the
    measure column's total, compared with the threshold; a measure with no value never fires."""
    criteria = condition(rule)
    if criteria["timeAggregation"] == "Count":
        value: float | None = len(rows)
    else:
        values = [row[criteria["metricMeasureColumn"]] for row in rows]
        values = [v for v in values if v is not None]
        value = sum(values) if values else None
    if value is None:
        return False
    compare = {
        "GreaterThan": value > criteria["threshold"],
        "GreaterThanOrEqual": value >= criteria["threshold"],
        "LessThan": value < criteria["threshold"],
        "LessThanOrEqual": value <= criteria["threshold"],
        "Equals": value == criteria["threshold"],
    }
    return compare[criteria["operator"]]


def run_alert(workspace: Workspace, name: str, **deploy: int) -> tuple[list[dict[str, Any]], bool]:
    rule = alert_rules(**deploy)[name]
    rows = workspace.query(condition(rule)["query"])
    return rows, fires(rule, rows)


def lines(workspace: Workspace) -> list[tuple[datetime, dict[str, Any]]]:
    """The audit lines in the workspace, parsed by Python (the expectation's own reading)."""
    found = workspace.con.execute('SELECT "TimeGenerated", "Message" FROM "AppTraces"').fetchall()
    return [(at, json.loads(message)) for at, message in found]


def iso(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago, UTC).isoformat()


# --------------------------------------------------------------------------------------------------
# Microsoft's parser


def kusto_diagnostics(queries: list[str]) -> list[list[dict[str, Any]]]:
    return [result["diagnostics"] for result in kusto_language.check({"tables": TABLES, "queries": queries})]


def test_every_alert_and_workbook_query_passes_kusto_language_with_no_diagnostic():
    """Each file of infra/queries (the alerts', the workbook's and the saved search), the query of
    each deployed alert rule and each deployed workbook query: 0 diagnostics. The check is no rubber
    stamp: in the same run a misspelt column and a table the workspace lacks are each reported."""
    files = {path.name: path.read_text(encoding="utf-8") for path in sorted(QUERIES.glob("*.kql"))}
    deployed = {f"rule {name}": condition(rule)["query"] for name, rule in alert_rules().items()}
    deployed |= {f"workbook item {name}": text for name, text in workbook_queries().items()}
    checked = {**files, **deployed}
    assert len(files) >= 12 and len(deployed) == 11, sorted(checked)
    wrong = [
        "AppTraces | where Mesage startswith '{'",
        "AppRequests | where Succeeded == false",
        "traces | take 1",
    ]
    *found, misspelt, unknown_column, unknown_table = kusto_diagnostics([*checked.values(), *wrong])
    problems = {name: diagnostics for name, diagnostics in zip(checked, found, strict=True) if diagnostics}
    assert not problems, json.dumps(problems, indent=1)
    assert [d[0]["code"] for d in (misspelt, unknown_column, unknown_table)] == ["KS142", "KS142", "KS204"]
    print(f"Kusto.Language checked {len(checked)} queries over {sorted(TABLES)}: 0 diagnostics")


# --------------------------------------------------------------------------------------------------
# failed and flagged decisions


def test_failed_and_flagged_alerts_list_exactly_those_decisions_and_not_the_fixes(
    seeded, monkeypatch, tmp_path
):
    """A fix (applied), a refused PATCH (failed), an exempt drifting registry (flagged): the failed
    alert lists the failed decision only and fires; the flagged alert the flagged ones only."""
    seeded.inject(method="PATCH", resource_id=STD, status=403)
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workspace = Workspace()
    with function_app_env(monkeypatch, policy) as app, workspace.capture():
        for registry in (PROD, STD, PUBDIST):
            assert (
                workspace.invoke(
                    "on_registry_write", app.on_registry_write, grid_event(write_event(registry))
                )
                is None
            )
    audit = [line for _, line in lines(workspace)]
    outcomes = Counter(line["outcome"] for line in audit)
    assert outcomes["applied"] == 2 and outcomes["failed"] >= 1 and outcomes["flagged"] >= 1, outcomes

    for name, outcome in (("failed", "failed"), ("flagged", "flagged")):
        rows, fired = run_alert(workspace, name)
        expected = sorted(
            (line["registry"], line["rule"] or "", line["reason"])
            for line in audit
            if line["outcome"] == outcome
        )
        assert sorted((r["registry"], r["rule"], r["reason"]) for r in rows) == expected, name
        assert fired, name
    assert {r["registry"] for r in run_alert(workspace, "failed")[0]} == {STD}


def test_a_deployment_that_only_fixes_raises_neither_alert(seeded, monkeypatch, tmp_path):
    """Applied and compliant decisions are what ACR Guard is for: no row, no alert."""
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workspace = Workspace()
    with function_app_env(monkeypatch, policy) as app, workspace.capture():
        for _ in range(2):  # the second event finds it compliant
            workspace.invoke("on_registry_write", app.on_registry_write, grid_event(write_event(PROD)))
    assert {line["outcome"] for _, line in lines(workspace)} == {"applied", "compliant"}
    for name in ("failed", "flagged", "function-failures"):
        assert run_alert(workspace, name) == ([], False), name


# --------------------------------------------------------------------------------------------------
# function invocations and the reconcile heartbeat


def test_function_failure_alert_lists_the_invocation_that_raised(seeded, monkeypatch, tmp_path):
    """ARM keeps answering 503 for one registry: that event's invocation raises (Event Grid will
    redeliver it) and is the one row; the invocation for a healthy registry is not."""
    seeded.inject(method="GET", resource_id=APPS, status=503, times=None)
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workspace = Workspace()
    with function_app_env(monkeypatch, policy, **FAST) as app, workspace.capture():
        assert (
            workspace.invoke("on_registry_write", app.on_registry_write, grid_event(write_event(PROD)))
            is None
        )
        assert (
            workspace.invoke("on_registry_write", app.on_registry_write, grid_event(write_event(APPS)))
            is not None
        )
    rows, fired = run_alert(workspace, "function-failures")
    assert [row["function"] for row in rows] == ["on_registry_write"] and fired


def test_no_reconcile_alert_fires_on_silence_and_on_failed_reconciles_only(seeded, monkeypatch, tmp_path):
    """Nothing ran: the heartbeat fires. A reconcile that raised (ARM kept refusing one
    registry's fix with 503) is no heartbeat: it still fires. One that completed: it stops."""
    policy = tmp_path / "policies.yaml"
    policy.write_text(SCOPED)
    workspace = Workspace()
    rows, fired = run_alert(workspace, "reconcile-silence")
    assert rows == [{"completed": 0}] and fired

    seeded.inject(method="PATCH", resource_id=STD, status=503, times=None)
    with function_app_env(monkeypatch, policy, **FAST) as app, workspace.capture():
        assert workspace.invoke("reconcile", app.reconcile, None) is not None
        assert run_alert(workspace, "reconcile-silence") == ([{"completed": 0}], True)
        seeded.clear_faults()
        assert workspace.invoke("reconcile", app.reconcile, None) is None
    assert run_alert(workspace, "reconcile-silence") == ([{"completed": 1}], False)


def test_the_silence_window_is_twice_the_default_reconcile_interval():
    """The default schedule runs every 6 hours, so the heartbeat's window is 12 hours."""
    main = parse(ROOT / "infra" / "main.bicep")["parameters"]
    assert main["reconcileSchedule"]["default"] == "0 0 */6 * * *"
    assert main["alertReconcileSilenceHours"]["default"] == 2 * 6
    assert alert_rules(silence_h=12)["reconcile-silence"]["properties"]["windowSize"] == "PT12H"


# --------------------------------------------------------------------------------------------------
# exposure window


def test_exposure_alert_measures_event_time_to_fix_and_fires_above_the_threshold(
    seeded, monkeypatch, tmp_path
):
    """Three fixes of events written 2 s, 2 s and 400 s before delivery: the query's p95 is the
    nearest-rank 95th percentile of (audit line time - event_time) over those fixes alone (not
    the compliant decision, nor a CLI replay of an hour-old event); 400 s is above a 60 s
    threshold and below a 900 s one."""
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workspace = Workspace()
    with function_app_env(monkeypatch, policy) as app, workspace.capture():
        app.on_registry_write(grid_event(write_event(PROD, eventTime=iso(2))))  # two fixes
        app.on_registry_write(grid_event(write_event(STD, eventTime=iso(400))))  # one fix
        app.on_registry_write(grid_event(write_event(PROD, eventTime=iso(1))))  # compliant
        as_person(seeded, "PATCH", STD, {"properties": {"anonymousPullEnabled": True}})
        make_harness().engine.handle(write_event(STD, eventTime=iso(3600)), source="cli")
    fixes = [
        (at - datetime.fromisoformat(line["event_time"]).replace(tzinfo=None)).total_seconds()
        for at, line in lines(workspace)
        if line["outcome"] == "applied" and line["source"] == "event"
    ]
    assert len(fixes) == 3 and any(
        line["source"] == "cli" and line["outcome"] == "applied" for _, line in lines(workspace)
    )
    nearest_rank = sorted(fixes)[-1]  # ceil(0.95 * 3) = 3rd of 3
    rows, fired = run_alert(workspace, "exposure-p95", threshold_s=60)
    assert rows[0]["fixes"] == 3 and abs(rows[0]["p95_s"] - nearest_rank) < 0.01 and fired
    assert 399 < rows[0]["p95_s"] < 900
    assert run_alert(workspace, "exposure-p95", threshold_s=900)[1] is False


def test_exposure_alert_is_quiet_when_nothing_was_fixed():
    """No fix in the hour: p95 has no value, which never fires (not a 0 s exposure either)."""
    rows, fired = run_alert(Workspace(), "exposure-p95", threshold_s=1)
    assert rows == [{"p95_s": None, "fixes": 0}] and not fired


# --------------------------------------------------------------------------------------------------
# dead letters


def test_deadletter_alert_counts_dead_letters_written_and_not_yet_deleted():
    """Event Grid writes two dead letters; `acrguard replay --delete-replayed` deletes one, and a
    delete that was refused deletes nothing; the host's lock and the app package are other
    containers. One blob is left: the alert fires. Once it is deleted, it resolves.

    Rows in the StorageBlobLogs shape (Azure Monitor's table reference; OperationName values and
    StatusText "Success": learn.microsoft.com/rest/api/storageservices/storage-analytics-logged-
    operations-and-status-messages): Azurite keeps no such log."""
    workspace = Workspace()
    account = "https://stacrguard.blob.core.windows.net:443"
    first = f"{account}/deadletter/TOPIC/SUB/2026/12/06/10/a1.json"
    second = f"{account}/deadletter/TOPIC/SUB/2026/12/06/11/b2.json"
    now = time.time()
    workspace.blob_log(now - 600, "PutBlob", first)
    workspace.blob_log(now - 500, "PutBlockList", second)
    workspace.blob_log(now - 400, "PutBlob", f"{account}/app-package/released-package.zip")
    workspace.blob_log(now - 300, "PutBlob", f"{account}/azure-webjobs-hosts/locks/func/host")
    workspace.blob_log(now - 200, "DeleteBlob", f"{first}?timeout=30")
    workspace.blob_log(now - 100, "DeleteBlob", second, status="AuthorizationFailure")
    rows, fired = run_alert(workspace, "deadletter")
    assert [row["blob"] for row in rows] == [second] and fired
    workspace.blob_log(now - 50, "DeleteBlob", second)
    assert run_alert(workspace, "deadletter") == ([], False)


# --------------------------------------------------------------------------------------------------
# the workbook


@pytest.fixture
def drifted(seeded, monkeypatch, tmp_path) -> Workspace:
    """contosoprod drifts twice (a person re-opens it after the first fix), contosostd once and its
    fix is refused, publicdist (exempt) once: real events through the Function App."""
    seeded.inject(method="PATCH", resource_id=STD, status=403)
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workspace = Workspace()
    with function_app_env(monkeypatch, policy) as app, workspace.capture():
        app.on_registry_write(grid_event(write_event(PROD, eventTime=iso(3))))
        as_person(seeded, "PATCH", PROD, {"properties": {"anonymousPullEnabled": True}})
        app.on_registry_write(grid_event(write_event(PROD, eventTime=iso(20), id="second-drift")))
        app.on_registry_write(grid_event(write_event(STD, eventTime=iso(5))))
        app.on_registry_write(grid_event(write_event(PUBDIST, eventTime=iso(5))))
    return workspace


def test_workbook_decisions_over_time_count_each_outcome_and_rule(drifted):
    queries = workbook_queries()
    rows = drifted.query(queries["decisions"])
    counted = Counter()
    for row in rows:
        counted[row["series"]] += row["decisions"]
    expected = Counter(f"{line['outcome']} · {line['rule'] or '(no rule)'}" for _, line in lines(drifted))
    assert counted == expected and counted["applied · anonymous_pull"] == 2


def test_workbook_exposure_by_rule_covers_the_fixes_of_events(drifted):
    rows = {row["rule"]: row for row in drifted.query(workbook_queries()["exposure"])}
    assert {rule: row["fixes"] for rule, row in rows.items()} == {"anonymous_pull": 2, "network_rules": 1}
    pull = rows["anonymous_pull"]
    assert 3 <= pull["p50_s"] <= pull["p95_s"] <= pull["max_s"] and 20 <= pull["max_s"] < 60


def test_workbook_ranks_the_registries_that_drift_most_with_the_callers(drifted):
    """contosoprod (two drifting events) before contosostd and publicdist (one each); the caller
    is the event's person (its upn), never a token."""
    rows = drifted.query(workbook_queries()["drift"])
    assert [row["registry"] for row in rows][:1] == [PROD]
    by_registry = {row["registry"]: row for row in rows}
    assert by_registry[PROD]["drifts"] == 2 and by_registry[STD]["drifts"] == 1
    assert {PUBDIST, STD} <= set(by_registry)
    assert json.loads(by_registry[PROD]["callers"]) == ["dev@contoso.example"]


def test_workbook_lists_failed_and_flagged_decisions_newest_first_with_reasons(drifted):
    rows = drifted.query(workbook_queries()["attention"])
    expected = [line for _, line in lines(drifted) if line["outcome"] in ("failed", "flagged")]
    assert sorted((r["outcome"], r["registry"], r["reason"]) for r in rows) == sorted(
        (line["outcome"], line["registry"], line["reason"]) for line in expected
    )
    assert {r["outcome"] for r in rows} == {"failed", "flagged"}
    assert [r["TimeGenerated"] for r in rows] == sorted((r["TimeGenerated"] for r in rows), reverse=True)


def test_workbook_shows_exemptions_in_force_from_the_newest_decision(drifted):
    """Decisions naming ``exempt_until``/``exempt_reason`` (the fields a break-glass exemption
    adds to the audit line): one still running, one expired, and one registry whose newest decision
    no longer names the exemption it had. Only the running one is listed, with its reason."""
    real = next(line for _, line in lines(drifted) if line["outcome"] == "flagged")
    now = time.time()
    future, past = iso(-4 * 3600), iso(3600)
    # logged after the fixture's own decisions, so each is its registry's newest
    drifted.trace({**real, "exempt_until": future, "exempt_reason": "pipeline fix, INC-42"}, now + 2)
    drifted.trace({**real, "registry": STD, "exempt_until": past, "exempt_reason": "expired"}, now + 2)
    drifted.trace({**real, "registry": APPS, "exempt_until": future, "exempt_reason": "lifted"}, now + 1)
    drifted.trace({**real, "registry": APPS}, now + 3)
    rows = drifted.query(workbook_queries()["exemptions"])
    assert [(r["registry"], r["rule"], r["exempt_reason"]) for r in rows] == [
        (PUBDIST, real["rule"], "pipeline fix, INC-42")
    ]
