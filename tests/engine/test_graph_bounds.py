"""A Resource Graph sweep is bounded whatever Resource Graph answers: paging that never ends stops,
no registry is decided twice, and no quota wait outlasts the retry budget. The answers, and the
sources of the facts behind them, are in tests/data/resource_graph_faults.yaml.

The emulator scripts the faults and the real SDK (azure-mgmt-resourcegraph) reads them; waits run
on a simulated clock, and each broken answer is scripted a bounded number of times, so code that
would loop shows it as a count of queries and decisions instead of hanging."""

from __future__ import annotations

import logging
from collections import Counter

import pytest
import yaml
from engine_helpers import SUB_A, SimulatedClock, make_harness
from reliability import adversarial
from repo_paths import DATA

from acrguard.azure.errors import quota_resets_after
from acrguard.azure.resource_graph import ResourceGraph
from acrguard.engine import graph_sweep

CASES = yaml.safe_load((DATA / "resource_graph_faults.yaml").read_text())
BROKEN = 25  # how many continuations a paging fault answers wrongly (bounds code that would loop)
BUDGET_S = 6.0  # make_harness's retry budget


def sweep_page_by_page(harness):
    """A sweep whose queries answer one row a page, so that every query after the first continues."""
    graph = ResourceGraph(harness.engine.arm, page_size=1)
    return graph_sweep.sweep(harness.engine, graph=graph), graph


def assert_each_registry_decided_once(emu, summary):
    decided = Counter(str(r.registry).lower() for r in summary.results)
    assert set(decided) == {doc["id"].lower() for doc in emu.registries()}
    assert max(decided.values()) == 1, decided.most_common(3)
    gets = Counter(r.resource_id.lower() for r in emu.requests_for(method="GET", route="registry"))
    assert max(gets.values(), default=0) <= 1, gets.most_common(3)  # one re-read before a write, at most
    assert summary.counts["applied"] == 3 and summary.counts["failed"] == 0


@pytest.mark.parametrize("case", CASES["paging"], ids=lambda case: case["fault"])
def test_paging_that_never_ends_stops_and_no_registry_is_decided_twice(seeded, case, caplog):
    """A $skipToken that never advances, or pages that run past totalRecords, stop the paging at
    once: the sweep lists the subscriptions instead, says why, and decides every registry once."""
    seeded.resource_graph.break_paging(case["fault"], times=BROKEN)
    with caplog.at_level(logging.WARNING, logger="acrguard.sweep"):
        summary, _ = sweep_page_by_page(make_harness(settle_s=0))
    queries = len(seeded.requests_for(route="resourcegraph"))
    # One row a page: a query per registry at most, then the list; broken pages are not followed.
    assert queries <= len(seeded.registries()), queries
    assert summary.details["source"] == "list" and case["reason"] in summary.details["fallback"]
    assert any(case["reason"] in r.getMessage() for r in caplog.records)  # the logged line says why
    assert_each_registry_decided_once(seeded, summary)
    adversarial(
        3,
        f"Resource Graph paging fault '{case['fault']}' ({case['reason']}) for {BROKEN} continuations",
        f"paging stopped after {queries} queries, fell back to the list; each registry decided once",
        round=3,
    )


@pytest.mark.parametrize("status", [200, 429])
def test_a_quota_that_refills_in_hours_is_not_waited_for_past_the_budget(seeded, status, caplog):
    """x-ms-user-quota-resets-after: 02:00:00 with a 6 s budget: no wait at all (it could not end in
    time); the sweep lists the subscriptions instead and says why, each registry decided once. On a
    200 the quota is Resource Graph's own (one query per two-hour window); a 429 says the same."""
    quota = CASES["quota"]
    if status == 200:
        seeded.resource_graph.quota = 1
        seeded.resource_graph.window_s = quota_resets_after(quota["resets_after"])
    else:
        headers = {
            "x-ms-user-quota-remaining": quota["remaining"],
            "x-ms-user-quota-resets-after": quota["resets_after"],
        }
        seeded.inject(route="resourcegraph", status=429, code="RateLimiting", headers=headers, times=None)
    harness = make_harness(settle_s=0, retry_budget_s=BUDGET_S)
    clock = harness.engine.arm.clock = SimulatedClock()
    with caplog.at_level(logging.WARNING, logger="acrguard.sweep"):
        summary, graph = sweep_page_by_page(harness)
    assert sum(clock.slept) <= BUDGET_S, clock.slept
    assert summary.details["source"] == "list" and "quota" in summary.details["fallback"]
    assert any("quota" in r.getMessage() for r in caplog.records)
    if status == 200:
        assert graph.stats.quota_remaining == int(quota["remaining"])
        assert quota["resets_after"] in summary.details["fallback"]
    assert_each_registry_decided_once(seeded, summary)
    adversarial(
        3,
        f"Resource Graph quota spent, x-ms-user-quota-resets-after {quota['resets_after']} on a {status}, "
        f"{BUDGET_S:g} s budget",
        f"waited {sum(clock.slept):g} s (simulated), fell back to the list saying why; each registry decided once",
        round=3,
    )


def test_a_management_group_sweep_fails_saying_the_quota_refills_past_the_budget(seeded):
    """A management group cannot be listed without Resource Graph: a quota that refills in two hours
    fails the sweep at once, naming the reset, with no wait."""
    seeded.resource_graph.add_management_group("mg-platform", [SUB_A])
    seeded.resource_graph.quota = 1
    seeded.resource_graph.window_s = quota_resets_after(CASES["quota"]["resets_after"])
    harness = make_harness(settle_s=0, retry_budget_s=BUDGET_S)
    clock = harness.engine.arm.clock = SimulatedClock()
    graph = ResourceGraph(harness.engine.arm, page_size=1)
    with pytest.raises(graph_sweep.GraphScopeError, match=CASES["quota"]["resets_after"]):
        graph_sweep.sweep(harness.engine, management_groups=["mg-platform"], graph=graph)
    assert sum(clock.slept) == 0
    assert len(seeded.requests_for(route="resourcegraph")) == 1
