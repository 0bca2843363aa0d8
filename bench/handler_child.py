"""Handler CPU per event, in a process of its own: ``python -m bench.handler_child`` (spec on stdin).

The process imports ``acrguard`` from its working directory, so the same measurement runs on
this tree and on an exported earlier tree (``PER_EVENT_BEFORE_REV``): alternating the two in one
``make bench`` run compares them under the same machine load, which figures from different days
on a shared machine cannot do. The emulator runs in this process as the in-process measurement
always did: ``time.thread_time()`` bills only the handler thread, never the emulator's threads.

Spec: ``{"samples": n}``. Prints one JSON line: per kind, the CPU and wall seconds of each event
and its ARM calls (from the emulator's log).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import arm_calls, emulator, environment, registry_ids, tree_policy, write_event
from emulator.seeds import generate

WEBHOOK_WRITE = "Microsoft.ContainerRegistry/registries/webhooks/write"


def measure(samples: int) -> dict[str, Any]:
    """The warm Function's handler (credential and clients built), event by event."""
    from acrguard import runtime

    seed = generate(subscriptions=1, per_subscription=4 * samples, drift_ratio=0.5, seed=7)
    ids = registry_ids(seed)
    out: dict[str, Any] = {}
    with emulator() as emu, environment(emu, tree_policy(Path.cwd())):
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
                out[kind] = {"cpu_s": cpu, "wall_s": wall, "calls": calls}
        finally:
            engine.arm.close()
    return out


if __name__ == "__main__":
    spec = json.loads(sys.stdin.read() or "{}")
    print(json.dumps(measure(int(spec.get("samples", 20)))))
