"""Per event: ARM calls and handler CPU for irrelevant, compliant and drifted events, then events/s.

Handler CPU runs in ``bench.handler_child`` (this tree, then the tree at ``PER_EVENT_BEFORE_REV``,
in turn). CPU is ``time.thread_time()`` around ``Engine.handle`` on the calling thread. The SDK is
synchronous, so the thread sleeps while ARM answers: thread CPU is the handler's own work
(parsing, policy, TLS, JSON, SDK models, audit) with every ARM wait excluded, and the emulator's
threads (same process, for its counters) are not billed. Calls come from the emulator's log.

Events per second run in a child process (``bench.workload``) so the handler does not share a
GIL with the emulator: one event at a time (one worker thread) and on the Python worker's
default pool (``HOST_POOL`` threads), at 0 ms and 50 ms per ARM call.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from bench.common import (
    HOST_POOL,
    LATENCY_S,
    PER_EVENT_BEFORE_REV,
    PROJECT_PY,
    ROOT,
    arm_calls,
    emulator,
    export_tree,
    log,
    median,
    p90,
    registry_ids,
    run_child,
    workload,
    write_event,
)
from emulator.seeds import generate

#: (latency, threads) -> events per batch for (compliant, drifted); sized to ~1-2 s per batch here.
BATCHES: dict[tuple[float, int], tuple[int, int]] = {
    (0.0, 1): (100, 50),
    (0.0, HOST_POOL): (200, 100),
    (LATENCY_S, 1): (20, 10),
    (LATENCY_S, HOST_POOL): (60, 40),
}


def measure(samples: int = 20, batches: int = 5) -> dict[str, Any]:
    return {"handler": handler_costs(samples), "throughput": throughput(batches), "host_pool": HOST_POOL}


def handler_costs(samples: int, rounds: int = 5) -> dict[str, Any]:
    """Handler CPU per event for this tree and (when git can export it) the tree at
    ``PER_EVENT_BEFORE_REV``, each in its own child, the two alternating round by round. The
    comparison is the median of the per-round ratios: each round's two children run back to
    back, so a change of machine load between rounds cancels out."""
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        trees: dict[str, Path | None] = {
            "ours": ROOT,
            "before": export_tree(PER_EVENT_BEFORE_REV, Path(tmp) / "before"),
        }
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name, tree in trees.items() if tree}
        for _ in range(rounds):
            for name in runs:
                run = run_child(
                    [str(PROJECT_PY), "-m", "bench.handler_child"],
                    env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONWARNINGS": "ignore"},
                    cwd=trees[name] or ROOT,
                    stdin={"samples": samples},
                )
                if run.returncode != 0:
                    raise RuntimeError(f"handler child ({name}) failed: {run.stderr[-3000:]}")
                runs[name].append(run.result)
        for name, results in runs.items():
            out[name] = {kind: _summarise([r[kind] for r in results]) for kind in results[0]}
        if "before" in runs:
            out["ours"]["ratios"] = {
                kind: sorted(
                    median(o[kind]["cpu_s"]) / median(b[kind]["cpu_s"])
                    for o, b in zip(runs["ours"], runs["before"], strict=True)
                )
                for kind in ("compliant", "drifted")
            }
    return {**out["ours"], "before": out.get("before"), "before_rev": PER_EVENT_BEFORE_REV}


def _summarise(parts: list[dict[str, list[Any]]]) -> dict[str, Any]:
    cpu = [c for p in parts for c in p["cpu_s"]]
    wall = [w for p in parts for w in p["wall_s"]]
    calls = [c for p in parts for c in p["calls"]]
    return {
        "samples": len(cpu),
        "cpu_ms": median(cpu) * 1000,
        "cpu_p90_ms": p90(cpu) * 1000,
        "wall_ms_at_0ms": median(wall) * 1000,
        "calls": {k: median(c[k] for c in calls) for k in calls[0]},
        "calls_constant": all(c == calls[0] for c in calls),
    }


#: The configurations also run on the tree at ``PER_EVENT_BEFORE_REV``, batch by batch in turn.
BEFORE_CONFIGS = {(0.0, 1)}


def throughput(batches: int) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with emulator() as emu, tempfile.TemporaryDirectory(prefix="bench-before-") as tmp:
        before = export_tree(PER_EVENT_BEFORE_REV, Path(tmp) / "before")
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
                events = [write_event(pool[i % len(pool)]) for i in range(size * batches)]
                trees = {"ours": ROOT}
                if before is not None and (latency, threads) in BEFORE_CONFIGS:
                    trees["before"] = before
                runs: dict[str, list[tuple[int, float, dict[str, int]]]] = {name: [] for name in trees}
                writes = {name: 0 for name in trees}
                # Two trees alternate batch by batch (a child each); one tree runs its batches in one child.
                chunks = [[b] for b in range(batches)] if len(trees) > 1 else [list(range(batches))]
                for chunk in chunks:
                    for name, tree in trees.items():
                        emu.reset()  # each run starts from the same estate, drifted included
                        emu.seed(seed)
                        emu.set_latency(latency)
                        spec = {
                            "mode": "events",
                            "concurrency": threads,
                            "warmup": [write_event(ids["basic"][0])],
                            "batches": [events[b * size : (b + 1) * size] for b in chunk],
                        }
                        r = workload(emu, spec, tree, f"workload ({name})").result
                        errors = r.get("errors", {})
                        for n, wall in zip(r["batch_sizes"], r["batch_wall_s"], strict=True):
                            runs[name].append((n, wall, errors))
                            errors = {}  # a child's errors are counted once
                        writes[name] += arm_calls(emu.requests)["writes"]
                for name, batch_runs in runs.items():
                    rates = [n / w for n, w, _ in batch_runs]
                    errors: dict[str, int] = {}
                    for _, _, errs in batch_runs:
                        for error, count in errs.items():
                            errors[error] = errors.get(error, 0) + count
                    suffix = "" if name == "ours" else f"|{name}"
                    results[f"{kind}|{latency * 1000:.0f}|{threads}{suffix}"] = {
                        "kind": kind,
                        "tree": name,
                        "latency_ms": latency * 1000,
                        "threads": threads,
                        "events_per_s": median(rates),
                        "batch_rates": [round(r, 1) for r in rates],
                        "events": size * batches,
                        "errors": errors,
                        "writes": writes[name],
                    }
    return results
