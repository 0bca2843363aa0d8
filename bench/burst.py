"""Burst: 1,000 events for 100 registries at once, as Event Grid delivers a storm of writes.

Ten events per registry, shuffled, handed to one warm Function instance whose Python worker runs
them on a thread pool (the default pool, then 32 threads, PYTHON_THREADPOOL_THREAD_COUNT's
largest documented value), 50 ms per ARM call. What matters: each drifted registry is written
once (duplicates re-read and find it compliant), and how many ARM calls run at once. The peak
comes from the emulator's request log (start = end - duration), not from the client.
"""

from __future__ import annotations

import random
from typing import Any

from bench.common import (
    HOST_POOL,
    LATENCY_S,
    arm_calls,
    emulator,
    log,
    max_in_flight,
    registry_ids,
    workload,
    write_event,
    writes_per_registry,
)
from emulator.seeds import generate

REGISTRIES = 100
EVENTS = 1000
WARMUP_SUB = "20000000-0000-0000-0000-000000000000"


def measure(pools: tuple[int, ...] = (HOST_POOL, 32)) -> dict[str, Any]:
    seed = generate(subscriptions=1, per_subscription=REGISTRIES, drift_ratio=1.0, seed=3)
    ids = registry_ids(seed)
    every = ids["drifted"] + ids["compliant"] + ids["basic"]
    rng = random.Random(5)
    order = [every[i % len(every)] for i in range(EVENTS)]
    rng.shuffle(order)
    results: dict[str, Any] = {}
    with emulator() as emu:
        for threads in pools:
            log(f"burst: {EVENTS} events, {REGISTRIES} registries, {threads} threads")
            emu.reset()
            emu.seed(seed)
            warm = emu.add_registry(
                subscription=WARMUP_SUB, resource_group="rg-warm", name="warmup01", sku="Basic"
            )
            emu.set_latency(LATENCY_S)
            spec = {
                "mode": "events",
                "concurrency": threads,
                "warmup": [write_event(warm)],  # token and connection, outside the burst
                "batches": [[write_event(rid) for rid in order]],
            }
            run = workload(emu, spec, what="burst")
            every_record = emu.requests
            # The burst is what follows the warm-up event's GET (token and connection included there).
            warm_seq = max(r.seq for r in every_record if r.resource_id and WARMUP_SUB in r.resource_id)
            records = [r for r in every_record if r.seq > warm_seq]
            written = writes_per_registry(records)
            still = [rid for rid in ids["drifted"] if _drifts(emu.get_registry(rid) or {})]
            results[str(threads)] = {
                "threads": threads,
                "events": EVENTS,
                "registries": REGISTRIES,
                "drifted": len(ids["drifted"]),
                "wall_s": run.result["batch_wall_s"][0],
                "events_per_s": EVENTS / run.result["batch_wall_s"][0],
                "calls": arm_calls(records),
                "registries_written": len(written),
                "registries_written_twice": sum(1 for n in written.values() if n > 1),
                "still_drifted_after": len(still),
                "max_in_flight": max_in_flight(records),
                "errors": run.result.get("errors", {}),
            }
    return results


def _drifts(document: dict[str, Any]) -> bool:
    """The default policy's view: anonymous pull on, or a Premium firewall that allows by default."""
    props = document.get("properties", {})
    premium = document.get("sku", {}).get("name") == "Premium"
    return bool(props.get("anonymousPullEnabled")) or (
        premium and (props.get("networkRuleSet") or {}).get("defaultAction") != "Deny"
    )
