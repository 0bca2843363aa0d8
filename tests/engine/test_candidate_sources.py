"""Candidates come from interchangeable sources (events, list pages, Resource Graph rows, or any
iterable of them) and are decided by one ``Engine.run``. Real SDK, the emulator as ARM."""

from __future__ import annotations

from typing import Any

from azure.mgmt.containerregistry.models import Registry
from engine_helpers import SUB_A, make_harness, rid, write_event

from acrguard.azure.resource_ids import RegistryRef
from acrguard.engine import Summary
from acrguard.engine.sources import GRAPH, Candidate, Passed, events, graph_rows, list_pages
from acrguard.events import accepted_operations

PROD, LOCKED, STD = (rid(n) for n in ("contosoprod", "contosolocked", "contosostd"))


def _verdicts(records: list[Any], registry: str) -> list[tuple[str | None, str]]:
    return sorted((r.rule, r.outcome) for r in records if r.registry == registry)


def test_the_same_registries_get_the_same_verdicts_from_an_event_a_list_page_and_a_resource_graph_row(
    seeded,
):
    """Three sources, one decision: a drifted and a compliant registry decided from events (read
    by GET), from list pages and from Resource Graph rows (their state carried) get the same
    verdicts in dry-run; only where the state came from (``state_from``) and the reads differ:
    one GET each for events, none for the others."""
    by_source = {}
    for name in ("event", "list", "graph"):
        h = make_harness(mode="dry-run")
        before = {r: seeded.counters.reads(r) for r in (PROD, LOCKED)}
        if name == "event":
            source = events([write_event(PROD), write_event(LOCKED)], accepted_operations(h.engine.policy))
        elif name == "list":
            pages = list_pages(h.engine.arm, h.engine.policy, [SUB_A], 2)
            source = (c for c in pages if isinstance(c, Candidate) and c.ref.resource_id in (PROD, LOCKED))
        else:
            source = graph_rows(d for d in seeded.registries() if d["id"] in (PROD, LOCKED))
        h.engine.run(source, 2)
        reads = {r: seeded.counters.reads(r) - before[r] for r in (PROD, LOCKED)}
        by_source[name] = (
            {r: _verdicts(h.records, r) for r in (PROD, LOCKED)},
            {r.state_from for r in h.records},
            reads,
        )
    event, page, row = by_source["event"], by_source["list"], by_source["graph"]
    assert event[0] == page[0] == row[0]
    assert event[0][PROD] == [("anonymous_pull", "planned"), ("network_rules", "planned")]
    assert event[0][LOCKED] == [("anonymous_pull", "compliant"), ("network_rules", "compliant")]
    assert (event[1], page[1], row[1]) == ({"arm"}, {"arm"}, {"resource-graph"})
    assert (event[2], page[2], row[2]) == ({PROD: 1, LOCKED: 1}, {PROD: 0, LOCKED: 0}, {PROD: 0, LOCKED: 0})


def test_any_iterable_of_candidates_is_decided_in_its_order_with_what_it_passed_over_recorded(seeded):
    """``Engine.run`` takes any source: results come back in the source's order whatever the
    concurrency, a candidate's state is used as given (a compliant one costs no read; a drifted
    one is read again before its write), and what the source passed over gets one record with
    its reason."""
    h = make_harness()
    locked = Registry(seeded.get_registry(LOCKED))
    odd = f"/subscriptions/{SUB_A}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"
    source = [
        Candidate(RegistryRef.parse(PROD)),
        Passed(odd, "cannot handle this registry's ID: not a registry"),
        Candidate(RegistryRef.parse(LOCKED), locked, GRAPH),
        Candidate(RegistryRef.parse(STD), Registry(seeded.get_registry(STD)), GRAPH),
    ]
    summary = h.engine.run(source, 3, into=Summary())
    assert [r.registry for r in summary.results] == [PROD, odd, LOCKED, STD]
    assert [r.outcome for r in summary.results] == ["applied", "skipped", "compliant", "applied"]
    assert [(r.outcome, r.reason) for r in summary.results[1].records] == [
        ("skipped", "cannot handle this registry's ID: not a registry")
    ]
    assert seeded.counters.reads(LOCKED) == 0  # decided from the state it came with
    assert seeded.counters.reads(STD) == 1 and seeded.counters.writes(STD) == 1  # re-read, then written
    assert {r.state_from for r in summary.results[2].records} == {"resource-graph"}
    assert {r.state_from for r in summary.results[3].records} == {"arm"}  # what was written: read from ARM
