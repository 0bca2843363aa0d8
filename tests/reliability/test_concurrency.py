"""Concurrency: the Functions host runs invocations of one worker process in parallel threads.

- One worker process (one runtime engine, as acrguard.runtime builds it): 200 deliveries for 20
  drifted registries from a thread pool all converge with exactly one write per registry, because
  the engine serialises decisions per registry (striped locks) and each delivery re-reads.
- Two worker processes (two engines: their own credentials, clients and locks) racing on the same
  registries may both read the drift before either writes: at most two writes per registry, both
  identical, and the same final state as one engine reaches. This race is documented, not hidden.
- Invocations share nothing mutable but the reused clients: the same event against the same state
  gives the same decisions and the same ARM requests, and concurrent invocations never mix their
  events' context (event ID, caller) into each other's audit lines.
"""

from __future__ import annotations

import dataclasses
import json
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from engine_helpers import DEMO_POLICY, SUB_A, write_event
from function_harness import function_app_env, grid_event
from reliability import record

from acrguard import runtime
from acrguard.audit import Audit
from acrguard.azure.arm import Arm
from acrguard.engine import Engine
from acrguard.policy import parse_policy
from acrguard.settings import Settings

REGISTRIES = 20
DELIVERIES = 10  # per registry: 200 events
THREADS = 16
ALLOWED = [{"action": "Allow", "value": "20.1.2.0/24"}, {"action": "Allow", "value": "20.9.8.7"}]


def drifted_estate(emu: Any, count: int = REGISTRIES) -> list[str]:
    """Premium registries with anonymous pull on and an open firewall (one existing rule to keep)."""
    ids = []
    for i in range(count):
        ids.append(
            emu.add_registry(
                subscription=SUB_A,
                resource_group="rg-load",
                name=f"loadreg{i:03}",
                sku="Premium",
                properties={
                    "anonymousPullEnabled": True,
                    "networkRuleSet": {
                        "defaultAction": "Allow",
                        "ipRules": [{"action": "Allow", "value": f"192.0.2.{i}"}],
                    },
                },
            )
        )
    return ids


def accepted_patches(emu: Any, resource_id: str) -> list[Any]:
    return [r for r in emu.requests_for(method="PATCH", resource_id=resource_id) if r.status in (200, 201)]


def assert_compliant(emu: Any, resource_id: str, index: int) -> None:
    props = emu.get_registry(resource_id)["properties"]
    assert props["anonymousPullEnabled"] is False
    assert props["networkRuleSet"] == {
        "defaultAction": "Deny",
        "ipRules": [{"action": "Allow", "value": f"192.0.2.{index}"}, *ALLOWED],
    }


def test_200_concurrent_deliveries_through_one_worker_write_each_registry_once(
    emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = drifted_estate(emu)
    emu.set_latency(0.005)  # every ARM call takes a little while: reads and writes overlap
    deliveries = [rid_ for rid_ in ids for _ in range(DELIVERIES)]
    random.Random(6).shuffle(deliveries)
    events = [{**write_event(r), "id": f"evt-{n:04}"} for n, r in enumerate(deliveries)]
    errors: list[BaseException] = []
    with function_app_env(monkeypatch, DEMO_POLICY) as app:
        barrier = threading.Barrier(THREADS)

        def deliver(event: dict[str, Any]) -> None:
            try:
                if int(event["id"][4:]) < THREADS:
                    barrier.wait(timeout=10)  # the first wave starts together, cold
                app.on_registry_write(grid_event(event))
            except BaseException as exc:  # collected: the host would fail this invocation
                errors.append(exc)

        started = time.monotonic()
        with ThreadPoolExecutor(THREADS, thread_name_prefix="functions-host") as pool:
            list(pool.map(deliver, events))
        elapsed = time.monotonic() - started
        lines = app.audit.records
    connections = emu.tls_connections

    assert errors == []
    per_registry = {r: len(accepted_patches(emu, r)) for r in ids}
    assert set(per_registry.values()) == {1}, per_registry  # exactly one write each
    for index, resource_id in enumerate(ids):
        assert_compliant(emu, resource_id, index)
        assert (
            len(emu.requests_for(method="GET", resource_id=resource_id)) == DELIVERIES
        )  # every delivery re-reads
    applied = Counter(line["event_id"] for line in lines if line["outcome"] == "applied")
    assert len(applied) == REGISTRIES  # one delivery per registry applied the fix, the rest found it done
    outcomes = Counter(line["outcome"] for line in lines)
    assert set(outcomes) <= {"applied", "compliant"}, outcomes
    # One subscription, one client and its connection pool, reused by every thread: at most one
    # connection per thread (and the token's), never one per delivery (a client built per call).
    assert connections <= THREADS + 1, connections
    # A cold worker hit by 16 invocations at once asks for one token: the others wait for it
    # (azure-identity alone fetched 8-11 here, one per thread that missed its empty cache).
    assert emu.counters.identity_requests == 1
    record(
        "concurrency",
        scenario="one worker process, 200 concurrent deliveries",
        summary=f"{len(events)} Event Grid deliveries for {REGISTRIES} drifted Premium registries, "
        f"{THREADS} at a time, through the real on_registry_write and one runtime engine.",
        figures={
            "invocations failed": len(errors),
            "accepted writes per registry (min / max)": f"{min(per_registry.values())} / {max(per_registry.values())}",
            "reads per registry": DELIVERIES,
            "deliveries that applied the fix": len(applied),
            "audit outcomes": json.dumps(dict(sorted(outcomes.items()))),
            "token requests (identity endpoint)": emu.counters.identity_requests,
            "TLS connections opened": connections,
            "seconds": round(elapsed, 2),
        },
    )


def test_two_worker_processes_racing_write_at_most_twice_with_the_same_result(emu: Any) -> None:
    """Cross-process race: nothing serialises two Function instances. Both may read the drift
    before either writes; then both write the same minimal PATCH (same state in, same policy)."""
    ids = drifted_estate(emu)
    emu.set_latency(0.02)  # widen the window between each engine's read and its write
    policy = parse_policy(DEMO_POLICY.read_text(), "policies.yaml")
    settings = dataclasses.replace(Settings.from_env(), retry_budget_s=10.0, max_attempts=4)
    engines = [Engine(policy, Arm(settings), Audit()) for _ in range(2)]
    errors: list[BaseException] = []

    def both(resource_id: str) -> None:
        gate = threading.Barrier(2)

        def one(engine: Engine) -> None:
            try:
                gate.wait(timeout=10)
                engine.handle(write_event(resource_id))
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=one, args=(e,)) for e in engines]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(both, ids))
    for engine in engines:
        engine.arm.close()

    assert errors == []
    writes = {r: accepted_patches(emu, r) for r in ids}
    assert all(1 <= len(w) <= 2 for w in writes.values()), {r: len(w) for r, w in writes.items()}
    for index, resource_id in enumerate(ids):
        bodies = {json.dumps(p.body, sort_keys=True) for p in writes[resource_id]}
        assert len(bodies) == 1  # both engines sent the identical PATCH
        assert_compliant(emu, resource_id, index)  # the state one engine alone reaches
    doubled = sum(len(w) == 2 for w in writes.values())
    record(
        "concurrency",
        scenario="two worker processes racing",
        summary=f"Two engines (own credential, clients, locks) each handle one event for the same "
        f"{REGISTRIES} drifted registries at the same instant.",
        figures={
            "registries written once": REGISTRIES - doubled,
            "registries written twice (identical PATCH)": doubled,
            "registries written more than twice": 0,
            "registries not compliant afterwards": 0,
        },
    )


def test_invocations_share_no_state_but_the_clients(emu: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same event against the same state twice: same decisions, same ARM requests; the
    engine and its clients are reused, and nothing else grows between invocations."""
    [resource_id] = drifted_estate(emu, 1)
    original = emu.get_registry(resource_id)

    def run(app: Any) -> tuple[list[Any], list[Any]]:
        emu.seed([original])  # back to the same drifted state
        start = len(emu.requests)
        app.audit.records.clear()
        app.on_registry_write(grid_event(write_event(resource_id)))
        requests = [
            (r.method, r.path, json.dumps(r.body, sort_keys=True))
            for r in emu.requests[start:]
            if r.route != "identity"  # the first invocation also fetches the token
        ]
        decisions = [{k: v for k, v in line.items() if k != "duration_ms"} for line in app.audit.records]
        return decisions, requests

    with function_app_env(monkeypatch, DEMO_POLICY) as app:
        first = run(app)
        engine = runtime.engine()
        shape = {k: type(v).__name__ for k, v in vars(engine).items()}
        credential = engine.arm.credential
        second = run(app)
        connections = emu.tls_connections  # the token's and the ARM client's, both kept open
        for _ in range(20):
            run(app)
        assert run(app) == first == second
        assert runtime.engine() is engine and engine.arm.credential is credential
        assert emu.tls_connections == connections  # 21 more invocations, not one new connection
        assert {k: type(v).__name__ for k, v in vars(engine).items()} == shape
        assert len(engine._locks) == 0  # a lock per registry in flight: none kept once decided
    assert [method for method, _, _ in first[1]] == ["GET", "PATCH"]  # one read, one write
    assert emu.counters.identity_requests == 1  # one token for all 23 invocations


def test_concurrent_invocations_never_mix_their_events_context(
    emu: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = drifted_estate(emu)
    emu.set_latency(0.003)
    events = []
    for n, resource_id in enumerate(ids * 3):
        event = write_event(resource_id)
        event["id"] = f"ctx-{n:03}"
        event["data"]["correlationId"] = f"corr-{n:03}"
        event["data"]["claims"] = {"upn": f"user{n:03}@contoso.example", "name": f"User {n}"}
        events.append(event)
    by_id = {e["id"]: e for e in events}
    with function_app_env(monkeypatch, DEMO_POLICY) as app:
        with ThreadPoolExecutor(THREADS) as pool:
            list(pool.map(lambda e: app.on_registry_write(grid_event(e)), events))
        lines = list(app.audit.records)
    assert len({line["event_id"] for line in lines}) == len(events)
    for line in lines:
        event = by_id[line["event_id"]]
        assert line["registry"].lower() == event["subject"].lower()
        assert line["correlation_id"] == event["data"]["correlationId"]
        assert line["caller"]["upn"] == event["data"]["claims"]["upn"]


def test_a_failing_identity_endpoint_is_asked_once_per_flight_not_once_per_thread(emu: Any) -> None:
    """Sixteen cold invocations while the identity endpoint is slow and failing share the first
    one's token request and its failure: the endpoint sees one request's attempts, not sixteen."""
    emu.inject(route="identity", status=500, delay=0.3, times=None)
    settings = dataclasses.replace(Settings.from_env(), http_timeout_s=2.0)
    scope = settings.arm_audience + "/.default"

    def ask_concurrently(arm: Arm, threads: int) -> list[BaseException]:
        barrier = threading.Barrier(threads)
        errors: list[BaseException] = []

        def ask() -> None:
            barrier.wait(timeout=10)
            try:
                arm.credential.get_token(scope)
            except Exception as exc:  # collected: every caller must see the failure
                errors.append(exc)

        workers = [threading.Thread(target=ask) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=60)
        return errors

    assert len(ask_concurrently(Arm(settings), 1)) == 1
    one_flight = emu.counters.identity_requests  # the credential's own attempts for one request
    assert one_flight >= 1
    errors = ask_concurrently(Arm(settings), 16)
    assert len(errors) == 16  # nobody got a token, nobody hung
    assert emu.counters.identity_requests - one_flight == one_flight
