"""The engine in a process of its own, driven as the Functions host drives it.

``python -m bench.workload`` reads a JSON spec on stdin and prints one JSON line. The engine is
the Function's own (``acrguard.runtime.engine()``: settings from the environment, the policy
file, DefaultAzureCredential), so the emulator in the parent is reached exactly as ARM would be.

- ``{"mode": "events", "batches": [[event, ...], ...], "concurrency": n, "warmup": [event, ...]}``:
  each batch is handled on ``n`` threads (1: one after another), like the Python worker's
  thread pool; returns each batch's wall time.
- ``{"mode": "reconcile", "subscriptions": [...]}``: the timer trigger's sweep.
- ``{"mode": "graph"}``: the Resource Graph sweep of the tenant (``sweep --tenant``).
"""

from __future__ import annotations

import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emulator.event_delivery import host_event


def handle_one(engine: Any, event: Any) -> str | None:
    """The Function body; an exception is what makes Event Grid redeliver, so count it by name."""
    try:
        engine.handle(event, source="event")
    except Exception as exc:
        return type(exc).__name__
    return None


def run_events(engine: Any, spec: dict[str, Any]) -> dict[str, Any]:
    for raw in spec.get("warmup", []):
        handle_one(engine, host_event(raw))
    concurrency = int(spec.get("concurrency", 1))
    walls: list[float] = []
    errors: dict[str, int] = {}
    with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="worker") as pool:
        for batch in spec["batches"]:
            events = [host_event(raw) for raw in batch]
            started = time.perf_counter()
            if concurrency == 1:
                outcomes = [handle_one(engine, e) for e in events]
            else:
                outcomes = list(pool.map(lambda e: handle_one(engine, e), events))
            walls.append(time.perf_counter() - started)
            for name in filter(None, outcomes):
                errors[name] = errors.get(name, 0) + 1
    return {"batch_wall_s": walls, "batch_sizes": [len(b) for b in spec["batches"]], "errors": errors}


def run_reconcile(engine: Any, spec: dict[str, Any]) -> dict[str, Any]:
    started = time.perf_counter()
    cpu = time.process_time()
    summary = engine.reconcile(subscriptions=spec["subscriptions"], source="reconcile")
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "counts": summary.counts,
        "registries": len(summary.results),
        "transient_errors": len(summary.transient_errors),
    }


def run_graph(engine: Any, spec: dict[str, Any]) -> dict[str, Any]:
    """The Resource Graph sweep of the tenant (bench.scale)."""
    from acrguard.engine import graph_sweep

    started = time.perf_counter()
    cpu = time.process_time()
    summary = graph_sweep.sweep(engine, source="reconcile")
    return {
        "wall_s": time.perf_counter() - started,
        "cpu_s": time.process_time() - cpu,
        "counts": summary.counts,
        "registries": len(summary.results),
        "details": summary.details,
    }


def vm_hwm_mb() -> float:
    """This process's own peak RSS (VmHWM is reset by exec; rusage's maxrss is not, so for a child of
    a big parent it reports the parent's pages shared between fork and exec)."""
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    from acrguard import runtime

    spec = json.loads(sys.stdin.read() or "{}")
    engine = runtime.engine()
    result = {"events": run_events, "reconcile": run_reconcile, "graph": run_graph}[spec["mode"]](
        engine, spec
    )
    result["t_done"] = time.time()
    result["vm_hwm_mb"] = vm_hwm_mb()
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
