"""The emulator's Log Analytics query API against azure-monitor-query 2.0's real LogsQueryClient and
Microsoft's documented answers (learn.microsoft.com/azure/azure-monitor/logs/api/response-format and
.../logs/api/errors): the shapes the SDK reads, and each documented refusal."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.identity import ManagedIdentityCredential
from azure.monitor.query import LogsQueryClient, LogsQueryStatus

WORKSPACE = "5b02755b-5bf4-430c-9487-45502a2a7e62"


@pytest.fixture
def client(emu):
    with LogsQueryClient(ManagedIdentityCredential(), endpoint=emu.logs_url) as logs:
        yield logs


def _post(emu, workspace: str, body: dict, token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"{emu.logs_url}/workspaces/{workspace}/query"
    return requests.post(url, json=body, headers=headers, verify=str(emu.ca_path), timeout=10)


def test_a_query_answers_typed_columns_the_sdk_turns_into_python_values(emu, client):
    """datetime (ISO 8601 with 100 ns ticks) -> an aware datetime, long -> int, dynamic -> its JSON
    text, under the table name PrimaryResult; the token was asked for the endpoint as audience."""
    at = time.time() - 60
    emu.log_workspace(WORKSPACE).trace({"outcome": "applied", "rule": "anonymous_pull"}, at)
    answer = client.query_workspace(
        WORKSPACE,
        "AppTraces | extend audit = parse_json(Message) | project TimeGenerated, Message, n = strlen(Message)",
        timespan=None,
    )
    assert answer.status == LogsQueryStatus.SUCCESS
    (table,) = answer.tables
    assert table.name == "PrimaryResult" and table.columns == ["TimeGenerated", "Message", "n"]
    assert table.columns_types == ["datetime", "string", "long"]
    (row,) = table.rows
    assert isinstance(row["TimeGenerated"], datetime) and row["TimeGenerated"].tzinfo is not None
    assert abs(row["TimeGenerated"].timestamp() - at) < 0.001
    assert json.loads(row["Message"])["rule"] == "anonymous_pull" and row["n"] == len(row["Message"])
    (asked,) = emu.requests_for(route="logs")
    assert asked.body == {"query": asked.body["query"], "timespan": None, "workspaces": None}


@pytest.mark.parametrize(
    ("query", "inner"),
    [("AppTraces | whre Message", "SyntaxError"), ("AppTraces | where Nope == 1", "SemanticError")],
)
def test_a_bad_query_is_400_bad_argument_with_the_reason_innermost(emu, client, query, inner):
    emu.log_workspace(WORKSPACE)
    with pytest.raises(HttpResponseError) as raised:
        client.query_workspace(WORKSPACE, query, timespan=None)
    assert raised.value.status_code == 400
    error = raised.value.response.json()["error"]
    assert error["code"] == "BadArgumentError" and error["innererror"]["code"] == inner


def test_an_unknown_workspace_is_404_path_not_found(emu, client):
    with pytest.raises(HttpResponseError) as raised:
        client.query_workspace(WORKSPACE, "AppTraces | take 1", timespan=None)
    assert raised.value.status_code == 404
    assert raised.value.response.json() == {
        "error": {"message": "The requested path does not exist", "code": "PathNotFoundError"}
    }


def test_authentication_refusals_are_the_documented_ones(emu):
    """No header: 401 AuthenticationFailed; a token it never issued: 403 InvalidAuthenticationToken;
    an ARM token: 403 InvalidAuthenticationTokenAudience. A Log Analytics token is answered."""
    emu.log_workspace(WORKSPACE)
    body = {"query": "AppTraces | take 1"}
    answers = [
        _post(emu, WORKSPACE, body, None),
        _post(emu, WORKSPACE, body, "emu.not-a-token-it-issued"),
        _post(emu, WORKSPACE, body, emu.issue_token()),
        _post(emu, WORKSPACE, body, emu.issue_token(resource="https://api.loganalytics.io")),
    ]
    assert [a.status_code for a in answers] == [401, 403, 403, 200]
    codes = [a.json()["error"]["code"] for a in answers[:3]]
    assert codes == [
        "AuthenticationFailed",
        "InvalidAuthenticationToken",
        "InvalidAuthenticationTokenAudience",
    ]


def test_a_timespan_it_would_not_apply_is_refused_not_ignored(emu, client):
    emu.log_workspace(WORKSPACE)
    with pytest.raises(HttpResponseError) as raised:
        client.query_workspace(WORKSPACE, "AppTraces | take 1", timespan=timedelta(days=1))
    assert raised.value.status_code == 400 and "timespan" in raised.value.response.text()


def test_rows_over_the_record_limit_are_cut_and_marked_partial(emu, client):
    workspace = emu.log_workspace(WORKSPACE, row_limit=2)
    for ago in (30, 20, 10):
        workspace.trace({"outcome": "compliant"}, time.time() - ago)
    answer = client.query_workspace(WORKSPACE, "AppTraces | order by TimeGenerated asc", timespan=None)
    assert answer.status == LogsQueryStatus.PARTIAL
    assert len(answer.partial_data[0].rows) == 2 and answer.partial_error.code == "PartialError"


def test_reset_forgets_the_workspaces(emu):
    emu.log_workspace(WORKSPACE)
    emu.reset()
    token = emu.issue_token(resource="https://api.loganalytics.io")
    assert _post(emu, WORKSPACE, {"query": "AppTraces"}, token).status_code == 404


def test_a_followed_audit_file_is_read_up_to_its_last_complete_line_before_each_query(emu, client, tmp_path):
    """Lines appended between two queries show up in the second; a line still being written (no
    newline yet) waits for the query after it is complete; a damaged line is skipped, not fatal."""
    trail = tmp_path / "audit.jsonl"
    line = '{"time": "2026-12-01T00:00:0%dZ", "outcome": "applied", "rule": "r%d"}'
    trail.write_text(line % (1, 1) + "\n" + "not json\n")
    emu.log_workspace(WORKSPACE).follow(trail)

    def rules() -> list[str]:
        answer = client.query_workspace(
            WORKSPACE, "AppTraces | order by TimeGenerated asc | project Message", timespan=None
        )
        return [json.loads(row["Message"])["rule"] for row in answer.tables[0].rows]

    assert rules() == ["r1"]
    with trail.open("a") as out:
        out.write(line % (2, 2) + "\n" + (line % (3, 3))[:20])
    assert rules() == ["r1", "r2"]
    with trail.open("a") as out:
        out.write((line % (3, 3))[20:] + "\n")
    assert rules() == ["r1", "r2", "r3"]


def test_ingesting_an_audit_file_refuses_a_line_that_is_no_timed_record(emu, tmp_path):
    trail = tmp_path / "audit.jsonl"
    trail.write_text('{"time": "2026-12-01T00:00:00Z", "outcome": "applied"}\n{"outcome": "applied"}\n')
    with pytest.raises(ValueError, match=r"audit\.jsonl:2: not an audit record with its time"):
        emu.log_workspace(WORKSPACE).ingest_audit_file(trail)
