"""``acrguard history --workspace``: the decisions the Function App logged, read back over HTTPS
with azure-monitor-query's real ``LogsQueryClient`` and the product's credential (the emulator's
managed identity), from the emulator's Log Analytics query API (emulator/log_analytics.py).

The workspace's ``AppTraces`` is filled the way Azure fills it: by the ``acrguard.audit`` logger of
the real Function App entry points (emulator/log_workspace.py ``capture()``)."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import kusto_language
import pytest
from cli_helpers import flat, invoke, json_out
from engine_helpers import POLICY, rid, write_event
from function_harness import function_app_env, grid_event

from acrguard import history
from emulator.log_workspace import TABLES

WORKSPACE = "5b02755b-5bf4-430c-9487-45502a2a7e62"  # a customerId, as Workspaces - Get shows one
PROD, STD = rid("contosoprod"), rid("contosostd")
TOKEN = re.compile(r"emu\.[A-Za-z0-9_-]{20,}")


def _history(*args: str, **env: str | None) -> Any:
    return invoke("-o", "json", "history", *args, ACRGUARD_AUDIT_FILE=None, **env)


def _without_time(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    kept = [{k: v for k, v in d.items() if k != "time"} for d in found]
    return sorted(kept, key=lambda d: (d["rule"] or "", d["outcome"], d.get("event_id") or ""))


def _newest_first(found: list[dict[str, Any]]) -> bool:
    times = [datetime.fromisoformat(d["time"].replace("Z", "+00:00")) for d in found]
    return times == sorted(times, reverse=True)


def test_history_over_https_gives_the_same_decisions_as_the_audit_file_of_the_same_run(
    seeded, monkeypatch, tmp_path
):
    """One run of the Function App writes both trails: its audit logger (what App Insights sends to
    the workspace's AppTraces) and the local audit file. ``history --workspace`` over HTTPS and
    ``history`` from the file list the same decisions, newest first, with before/after intact."""
    trail = tmp_path / "audit.jsonl"
    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    workspace = seeded.log_workspace(WORKSPACE)
    with (
        function_app_env(monkeypatch, policy, ACRGUARD_AUDIT_FILE=str(trail)) as app,
        workspace.capture(),
    ):
        for registry in (PROD, STD, PROD):  # the second event for PROD finds it compliant
            app.on_registry_write(grid_event(write_event(registry)))

    remote = _history(PROD, "--workspace", WORKSPACE)
    assert remote.returncode == 0, remote.stderr
    local = invoke("-o", "json", "history", PROD, ACRGUARD_AUDIT_FILE=str(trail))
    assert local.returncode == 0, local.stderr
    from_workspace, from_file = json_out(remote)["results"], json_out(local)["results"]

    assert _without_time(from_workspace) == _without_time(from_file)
    assert _newest_first(from_workspace)
    pull = [d for d in from_workspace if d["rule"] == "anonymous_pull"]
    assert [d["outcome"] for d in pull] == ["compliant", "applied"]
    assert pull[1]["before"] == {"anonymousPullEnabled": True}
    assert pull[1]["after"] == {"anonymousPullEnabled": False}
    assert all(d["registry"] == PROD for d in from_workspace)  # STD's decisions stay out

    (asked,) = seeded.requests_for(route="logs")
    assert asked.method == "POST" and asked.status == 200
    assert asked.path == f"/v1/workspaces/{WORKSPACE}/query"
    assert asked.body["query"].startswith("AppTraces")
    assert asked.principal == seeded.managed_identity  # DefaultAzureCredential -> managed identity


def test_rule_since_and_a_bare_name_narrow_the_workspace_query(emu):
    """--since keeps the window, --rule one rule, a bare name the registry's last ID segment: the
    service answers only those rows (the filter is in the KQL, not applied afterwards)."""
    workspace = emu.log_workspace(WORKSPACE)
    now = time.time()

    def line(ago_s: float, outcome: str, rule: str = "anonymous_pull", registry: str = PROD) -> None:
        workspace.trace({"outcome": outcome, "registry": registry, "rule": rule, "reason": "r"}, now - ago_s)

    line(5 * 3600, "applied")
    line(3600, "compliant")
    line(600, "planned", "network_rules")
    line(60, "applied", registry=rid("contosoprodx"))  # a name that only starts the same
    line(30, "flagged", registry=STD)

    week = json_out(_history(PROD, "--workspace", WORKSPACE))["results"]
    assert [d["outcome"] for d in week] == ["planned", "compliant", "applied"]
    recent = json_out(_history(PROD, "--since", "2h", "--workspace", WORKSPACE))["results"]
    assert [d["outcome"] for d in recent] == ["planned", "compliant"]
    one_rule = json_out(_history("contosoprod", "--rule", "anonymous_pull", "--workspace", WORKSPACE))
    assert [d["outcome"] for d in one_rule["results"]] == ["compliant", "applied"]
    for asked in emu.requests_for(route="logs"):
        assert "datetime(" in asked.body["query"]  # the window is the query's, not a client filter
    assert "anonymous_pull" in emu.requests_for(route="logs")[-1].body["query"]


@pytest.mark.parametrize(
    ("case", "says"),
    [
        ("unknown workspace", "PathNotFoundError"),
        ("partial result", "PartialError"),
        ("refused query", "BadArgumentError"),
    ],
)
def test_an_error_from_the_service_is_one_clear_line_without_token_or_traceback(emu, case, says):
    """An unknown workspace ID (404), a result the service cut short (200 with a PartialError:
    history never shows part of a registry's decisions as if it were all of them) and a query the
    service refused (400): exit 1, one line naming the workspace and the service's code."""
    target = WORKSPACE
    if case == "unknown workspace":
        target = "0d5e2c9a-0000-4000-8000-000000000001"
    elif case == "partial result":
        workspace = emu.log_workspace(WORKSPACE, row_limit=1)
        for ago in (20, 10):
            workspace.trace(
                {"outcome": "applied", "registry": PROD, "rule": "anonymous_pull"}, time.time() - ago
            )
    else:
        emu.log_workspace(WORKSPACE)
        emu.inject(
            route="logs",
            status=400,
            body={
                "error": {
                    "message": "The request had some invalid properties",
                    "code": "BadArgumentError",
                    "innererror": {"code": "SyntaxError", "message": "Syntax Error"},
                }
            },
        )
    result = invoke("history", PROD, "--workspace", target, ACRGUARD_AUDIT_FILE=None)
    assert result.returncode == 1, result.stdout
    output = result.stdout + result.stderr
    assert "Traceback" not in output and not TOKEN.search(output) and "Bearer" not in output
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert "workspace" in errors[0] and says in errors[0], errors[0]
    assert target in flat(result.stderr)


def test_history_kql_passes_kusto_language_for_every_shape_of_question():
    """Microsoft's parser and binder (Kusto.Language) over AppTraces' real columns: 0 diagnostics
    for a resource ID, a bare name, a rule, and a name with a quote in a literal; the same check
    reports a misspelt column (it is no rubber stamp)."""
    since = datetime.now(UTC) - timedelta(days=7)
    questions = [
        history.Query(PROD, since),
        history.Query("contosoprod", since),
        history.Query(PROD, since, "network_rules"),
        history.Query("it's", since, "anonymous_pull"),
    ]
    queries = [history.kql(q) for q in questions]
    misspelt = queries[0].replace("Message", "Mesage", 1)
    results = kusto_language.check(
        {"tables": {"AppTraces": TABLES["AppTraces"]}, "queries": [*queries, misspelt]}
    )
    *clean, wrong = [r["diagnostics"] for r in results]
    assert clean == [[]] * len(queries), clean
    assert wrong and wrong[0]["code"] == "KS142", wrong


def test_a_result_the_service_cut_short_is_refused_in_words_not_a_python_repr(emu):
    """The service caps a result (500,000 records) and says so with a PartialError beside the rows:
    history refuses part of a registry's decisions and says which limit and what to do (a shorter
    --since or one --rule), not the SDK object's repr."""
    workspace = emu.log_workspace(WORKSPACE, row_limit=1)
    for ago in (20, 10):
        workspace.trace({"outcome": "applied", "registry": PROD, "rule": "anonymous_pull"}, time.time() - ago)
    result = invoke("history", PROD, "--workspace", WORKSPACE, ACRGUARD_AUDIT_FILE=None)
    assert result.returncode == 1
    message = flat(result.stderr)
    assert "PartialError" in message and "record count limit 1" in message, message
    assert "--since" in message and "--rule" in message, message
    assert "{" not in message and "LogsQueryStatus" not in message, message


def test_a_workspace_name_or_resource_id_is_a_usage_error_before_any_request(emu):
    """The query API takes the workspace ID (its customerId GUID); a name or an ARM resource ID is
    the common mistake the service answers only with "The requested path does not exist"
    (Azure/azure-sdk-for-python#32798). History says so first, and sends nothing."""
    arm_id = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.OperationalInsights/workspaces/law"
    for wrong in ("law-acrguard", arm_id):
        result = invoke("history", PROD, "--workspace", wrong, ACRGUARD_AUDIT_FILE=None)
        assert result.returncode == 2, result.stdout
        message = flat(result.stderr)
        assert "--workspace" in message and "GUID" in message, message
    assert emu.requests_for(route="logs") == []
