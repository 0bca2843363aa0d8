"""The Resource Graph sweep (`sweep --tenant`, `--management-group`, the timer with
ACRGUARD_RECONCILE_SOURCE=arg) against the emulator's ARG endpoint, and that endpoint's contract:
strict KQL subset, paging, quota headers and throttling, resultTruncated, subscription batches."""

from __future__ import annotations

import pytest
import requests
from cli_helpers import invoke, json_out, writes
from engine_helpers import DEMO_SEED, SUB_A, SUB_B, make_harness, patch_as_user, rid

from acrguard.azure.resource_graph import ResourceGraph
from acrguard.engine import graph_sweep, pushdown
from emulator.faults import Fault

PROD, LOCKED, STD = rid("contosoprod"), rid("contosolocked"), rid("contosostd")
ARG = "/providers/Microsoft.ResourceGraph/resources?api-version=2021-03-01"


@pytest.fixture
def seeded(emu):
    emu.seed(DEMO_SEED)
    return emu


def post(emu, body, principal=None):
    headers = emu.auth_headers() if principal is None else emu.auth_headers(principal)
    return requests.post(emu.arm_url + ARG, json=body, headers=headers, timeout=10)


def graph_queries(emu):
    return emu.requests_for(route="resourcegraph")


# --- the emulator's endpoint ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "query",
    [
        "resources | extend x = 1",
        "resources | where name contains 'contoso'",
        "resources | where name !~ 'x'",
        "resources | summarize count()",
        "resourcecontainers",
        "resources | where tolower(name) == 'x'",
        "resources | where nosuchcolumn == 'x'",
        "resources | project id | where name == 'x'",
    ],
)
def test_a_query_outside_the_subset_is_answered_400_not_guessed(seeded, query):
    response = post(seeded, {"query": query})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "BadRequest" and error["details"][0]["code"] == "InvalidQuery"


def test_the_subset_filters_with_kusto_null_semantics(seeded):
    rows = post(seeded, {"query": "resources | where properties.anonymousPullEnabled == true | project id"})
    ids = {r["id"] for r in rows.json()["data"]}
    assert PROD in ids and STD in ids and LOCKED not in ids
    # A missing property is null, and null != 'x' is true (learn.microsoft.com/kusto/query/
    # scalar-data-types/null-values): every row is kept, as it is for tostring() of it ("").
    missing = "properties.noSuchProperty"
    total = post(seeded, {"query": "resources"}).json()["totalRecords"]
    assert post(seeded, {"query": f"resources | where {missing} != 'x'"}).json()["count"] == total
    assert post(seeded, {"query": f"resources | where {missing} == 'x'"}).json()["count"] == 0
    assert post(seeded, {"query": f"resources | where tostring({missing}) != 'x'"}).json()["count"] == total
    assert post(seeded, {"query": f"resources | where isnull({missing})"}).json()["count"] == total


def test_pages_of_top_with_skip_token_and_quota_headers(seeded):
    body = {"query": "resources | project id, name", "options": {"$top": 2}}
    first = post(seeded, body)
    assert first.headers["x-ms-user-quota-remaining"] == "14"
    assert first.headers["x-ms-user-quota-resets-after"] == "00:00:05"
    page = first.json()
    assert page["count"] == 2 and page["resultTruncated"] == "false" and page["$skipToken"]
    seen = [r["id"] for r in page["data"]]
    while token := page.get("$skipToken"):
        page = post(seeded, {**body, "options": {"$top": 2, "$skipToken": token}}).json()
        seen += [r["id"] for r in page["data"]]
    assert len(seen) == len(set(seen)) == page["totalRecords"] == len(seeded.registries())


def test_a_projection_without_id_cannot_page_and_says_result_truncated(seeded):
    page = post(seeded, {"query": "resources | project name", "options": {"$top": 2}}).json()
    assert page["resultTruncated"] == "true" and "$skipToken" not in page and page["count"] == 2


def test_over_the_quota_is_429_with_the_reset(seeded):
    seeded.resource_graph.quota = 2
    assert [post(seeded, {"query": "resources"}).status_code for _ in range(2)] == [200, 200]
    throttled = post(seeded, {"query": "resources"})
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "RateLimiting"
    assert throttled.headers["x-ms-user-quota-remaining"] == "0"


def test_scope_limits(seeded):
    seeded.resource_graph.max_subscriptions = 1
    too_many = post(seeded, {"query": "resources", "subscriptions": [SUB_A, SUB_B]})
    assert too_many.status_code == 400 and "at most 1" in too_many.text
    unknown = post(seeded, {"query": "resources", "managementGroups": ["nosuchgroup"]})
    assert unknown.status_code == 403 and unknown.json()["error"]["code"] == "AuthorizationFailed"


# --- the sweep -----------------------------------------------------------------------------------


def test_sweep_tenant_fixes_the_drifted_with_one_query_and_no_read_of_compliant_registries(seeded):
    """One query finds what may be written; policies.yaml's report-only rule (firewall_unavailable)
    adds a second, whose registries are decided from the rows (tests/engine/test_sweep_phases.py)."""
    result = invoke("-o", "json", "sweep", "--tenant")
    out = json_out(result)
    summary = out["summary"]
    assert summary["source"] == "resource-graph" and summary["phases"]["fix"]["arg_queries"] == 1, (
        result.stderr
    )
    assert summary["arg_queries"] == 2 and summary["phases"]["report"]["arg_queries"] == 1
    assert summary["applied"] == 3 and summary["failed"] == 0
    assert len(graph_queries(seeded)) == 2 and seeded.requests_for(route="list") == []
    # Only the drifted ones are read (before their write) and written: 2 ARM calls each.
    gets = {r.resource_id.lower() for r in seeded.requests_for(method="GET", route="registry")}
    assert LOCKED.lower() not in gets and len(gets) == 3
    assert len(writes(seeded)) == 3
    again = json_out(invoke("-o", "json", "sweep", "--tenant"))["summary"]
    # exempt-by-tag rows still come back, and so do the open Basic/Standard registries that
    # firewall_unavailable flags on every sweep (a finding, read from the row: no GET)
    assert again["applied"] == 0 and again["candidates"] <= 4


def test_sweep_management_group_covers_only_its_subscriptions(seeded):
    seeded.resource_graph.add_management_group("mg-platform", [SUB_A])
    out = json_out(invoke("-o", "json", "sweep", "--management-group", "mg-platform"))
    assert {r["registry"].split("/")[2] for r in out["results"]} == {SUB_A}
    assert graph_queries(seeded)[0].body["managementGroups"] == ["mg-platform"]


def test_sweep_tenant_falls_back_to_the_list_when_resource_graph_is_forbidden_and_says_so(seeded):
    seeded.inject(route="resourcegraph", status=403, times=None)
    result = invoke("-o", "json", "sweep", "--tenant")
    summary = json_out(result)["summary"]
    assert summary["source"] == "list" and "fell back to listing" in summary["fallback"]
    assert "fell back to listing" in result.stderr
    assert summary["applied"] == 3 and seeded.requests_for(route="list")


def test_management_group_without_resource_graph_fails_clearly(seeded):
    seeded.inject(route="resourcegraph", status=403, times=None)
    result = invoke("sweep", "--management-group", "mg-platform")
    assert result.returncode != 0 and "pass --subscription instead" in result.stderr
    assert writes(seeded) == []


def test_a_truncated_answer_is_not_trusted(seeded):
    body = {"totalRecords": 9, "count": 1, "resultTruncated": "true", "data": []}
    seeded.inject(Fault(route="resourcegraph", status=200, body=body))
    summary = graph_sweep.sweep(make_harness().engine)
    assert summary.details["source"] == "list" and "truncated" in summary.details["fallback"]


def test_a_429_storm_is_waited_out_from_the_quota_headers(seeded):
    headers = {"x-ms-user-quota-remaining": "0", "x-ms-user-quota-resets-after": "00:00:01"}
    seeded.inject(route="resourcegraph", status=429, code="RateLimiting", headers=headers, times=2)
    summary = graph_sweep.sweep(make_harness().engine)
    assert summary.details["source"] == "resource-graph" and summary.counts["applied"] == 3
    assert [r.status for r in graph_queries(seeded)] == [429, 429, 200]


def test_the_quota_is_honoured_without_a_429(seeded):
    seeded.resource_graph.quota, seeded.resource_graph.window_s = 2, 1.0
    graph = ResourceGraph(make_harness().engine.arm, page_size=1)
    rows = list(graph.rows("resources | project id"))
    assert len(rows) == len(seeded.registries()) >= 4
    assert graph.stats.quota_waits >= 1 and graph.stats.quota_remaining == 0
    assert {r.status for r in graph_queries(seeded)} == {200}


def test_subscriptions_are_sent_in_batches(seeded):
    seeded.resource_graph.max_subscriptions = 1
    graph = ResourceGraph(make_harness().engine.arm, max_subscriptions=1)
    rows = list(graph.rows("resources | project id", subscriptions=[SUB_A, SUB_B]))
    assert len(rows) == len(seeded.registries()) and graph.stats.batches == 2
    assert [q.body["subscriptions"] for q in graph_queries(seeded)] == [[SUB_A], [SUB_B]]


def test_resource_graph_is_a_hint_a_stale_row_is_re_read_and_not_written(seeded):
    seeded.resource_graph.freeze()  # ARG's index trails ARM
    assert patch_as_user(seeded, STD, {"anonymousPullEnabled": False}).status_code == 200
    harness = make_harness()
    graph_sweep.sweep(harness.engine)
    assert dict(harness.outcomes(STD)) == {"anonymous_pull": "compliant", "network_rules": "skipped"}
    assert len([w for w in writes(seeded) if w.resource_id == STD]) == 1  # the person's, not ours
    assert seeded.requests_for(method="GET", route="registry", resource_id=STD)


def test_the_timer_uses_resource_graph_when_the_setting_says_arg(seeded):
    harness = make_harness(reconcile_source="arg")
    summary = graph_sweep.reconcile(harness.engine)
    assert summary.details["source"] == "resource-graph" and summary.counts["applied"] == 3
    listed = make_harness()
    assert listed.engine.arm.settings.reconcile_source == "list"
    assert graph_sweep.reconcile(listed.engine).details == {}


def test_a_rule_without_a_predicate_turns_the_pushdown_off(monkeypatch):
    """A new rule that states no KQL predicate must never let ARG skip a registry."""
    from acrguard.plan import rules_by_name

    policy = make_harness().engine.policy
    assert pushdown.policy_predicate(policy) is not None
    monkeypatch.setattr(type(rules_by_name()["anonymous_pull"]), "kql_may_violate", lambda self, config: None)
    assert pushdown.policy_predicate(policy) is None
    assert "anonymousPullEnabled" not in pushdown.query(policy)
