"""Per event: ARM calls and handler CPU for irrelevant, compliant and drifted events, then events/s.

CPU is ``time.thread_time()`` around ``Engine.handle`` on the calling thread. The SDK is
synchronous, so the thread sleeps while ARM answers: thread CPU is the handler's own work
(parsing, policy, TLS, JSON, SDK models, audit) with every ARM wait excluded, and the emulator's
threads (same process, for its counters) are not billed. Calls come from the emulator's log.

Events per second run in a child process (``bench.workload``) so the handler does not share a
GIL with the emulator: one event at a time (one worker thread) and on the Python worker's
default pool (``HOST_POOL`` threads), at 0 ms and 50 ms per ARM call.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import (
    HOST_POOL,
    LATENCY_S,
    PROJECT_PY,
    arm_calls,
    child_env,
    emulator,
    environment,
    log,
    median,
    p90,
    registry_ids,
    run_child,
    write_event,
)
from emulator.seeds import generate

WEBHOOK_WRITE = "Microsoft.ContainerRegistry/registries/webhooks/write"
#: (latency, threads) -> events per batch for (compliant, drifted); sized to ~1-2 s per batch here.
BATCHES: dict[tuple[float, int], tuple[int, int]] = {
    (0.0, 1): (100, 50),
    (0.0, HOST_POOL): (200, 100),
    (LATENCY_S, 1): (20, 10),
    (LATENCY_S, HOST_POOL): (60, 40),
}


def measure(samples: int = 20, batches: int = 5) -> dict[str, Any]:
    return {"handler": handler_costs(samples), "throughput": throughput(batches), "host_pool": HOST_POOL}


def handler_costs(samples: int) -> dict[str, Any]:
    """The warm Function's handler (credential and clients built), event by event, in process."""
    from acrguard import runtime

    seed = generate(subscriptions=1, per_subscription=4 * samples, drift_ratio=0.5, seed=7)
    ids = registry_ids(seed)
    out: dict[str, Any] = {}
    with emulator() as emu, environment(emu):
        emu.seed(seed)
        engine = runtime.build_engine()
        try:
            engine.handle(write_event(ids["compliant"][-1]))  # warm: token, connection, clients
            kinds = {
                "irrelevant": [write_event(rid, WEBHOOK_WRITE) for rid in ids["compliant"][:samples]],
                "compliant": [write_event(rid) for rid in ids["compliant"][:samples]],
                "drifted": [write_event(rid) for rid in ids["drifted"][:samples]],
            }
            for kind, events in kinds.items():
                cpu, wall, calls = [], [], []
                for event in events:
                    before = len(emu.requests)
                    c0, w0 = time.thread_time(), time.perf_counter()
                    engine.handle(event)
                    cpu.append(time.thread_time() - c0)
                    wall.append(time.perf_counter() - w0)
                    calls.append(arm_calls(emu.requests[before:]))
                out[kind] = {
                    "samples": len(events),
                    "cpu_ms": median(cpu) * 1000,
                    "cpu_p90_ms": p90(cpu) * 1000,
                    "wall_ms_at_0ms": median(wall) * 1000,
                    "calls": {k: median(c[k] for c in calls) for k in calls[0]},
                    "calls_constant": all(c == calls[0] for c in calls),
                }
        finally:
            engine.arm.close()
    return out


def throughput(batches: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with emulator() as emu:
        env = child_env(emu)
        for (latency, threads), (n_compliant, n_drifted) in BATCHES.items():
            for kind, size in (("compliant", n_compliant), ("drifted", n_drifted)):
                log(f"events/s: {kind}, {latency * 1000:.0f} ms, {threads} thread(s)")
                # Drifted events need a drifted registry each; compliant ones can repeat.
                per_sub = size * batches + 10 if kind == "drifted" else 120
                ratio = 1.0 if kind == "drifted" else 0.0
                seed = generate(
                    subscriptions=1, per_subscription=int(per_sub / 0.85), drift_ratio=ratio, seed=11
                )
                ids = registry_ids(seed)
                pool = ids[kind]
                emu.reset()
                emu.seed(seed)
                emu.set_latency(latency)
                events = [write_event(pool[i % len(pool)]) for i in range(size * batches)]
                spec = {
                    "mode": "events",
                    "concurrency": threads,
                    "warmup": [write_event(ids["basic"][0])],
                    "batches": [events[b * size : (b + 1) * size] for b in range(batches)],
                }
                run = run_child([str(PROJECT_PY), "-m", "bench.workload"], env=env, stdin=spec)
                if run.returncode != 0:
                    raise RuntimeError(f"workload failed: {run.stderr[-3000:]}")
                rates = [
                    n / w for n, w in zip(run.result["batch_sizes"], run.result["batch_wall_s"], strict=True)
                ]
                calls = arm_calls(emu.requests)
                results[f"{kind}|{latency * 1000:.0f}|{threads}"] = {
                    "kind": kind,
                    "latency_ms": latency * 1000,
                    "threads": threads,
                    "events_per_s": median(rates),
                    "batch_rates": [round(r, 1) for r in rates],
                    "events": size * batches,
                    "errors": run.result.get("errors", {}),
                    "writes": calls["writes"],
                }
    return results
