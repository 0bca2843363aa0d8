"""The soak's Function worker: a separate process that runs the real ``on_registry_write``.

``python tests/soak_worker.py PLAN.json`` with the emulator's environment. The plan lists the
events (kind and target); the worker builds each as the ``azure.functions.EventGridEvent`` the host
hands the trigger, invokes the function object from ``function_app.app.get_functions()`` with
``threads`` invocations at a time (as the Python worker's thread pool does), and measures itself
from /proc: RSS, threads and open sockets. It prints one JSON line with the figures.

The emulator runs in the test process, so its own growing request log is not in these figures.
"""

from __future__ import annotations

import copy
import json
import logging
import os
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "examples" / "events"  # = engine_helpers.EVENT_SAMPLES


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS in /proc/self/status")


def os_threads() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    raise RuntimeError("no Threads in /proc/self/status")


def open_fds() -> tuple[int, int]:
    """(open file descriptors, of which sockets)."""
    fds = sockets = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed while listing
        fds += 1
        sockets += target.startswith("socket:")
    return fds, sockets


def snapshot() -> dict[str, int]:
    fds, sockets = open_fds()
    return {"rss_kib": rss_kib(), "threads": os_threads(), "fds": fds, "sockets": sockets}


class AuditSink(logging.Handler):
    """Stands in for App Insights: counts the audit lines' outcomes, keeps nothing else."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.outcomes: Counter[str] = Counter()
        self.lock_ = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        outcome = json.loads(record.getMessage())["outcome"]
        with self.lock_:
            self.outcomes[outcome] += 1


def main(plan_path: str) -> int:
    plan = json.loads(Path(plan_path).read_text())
    sys.path.insert(0, str(ROOT))
    import function_app
    from acrguard import runtime
    from emulator.event_delivery import host_event

    # The Functions worker logs at INFO; the audit lines go to App Insights (here: a counter).
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    audit = AuditSink()
    audit_logger = logging.getLogger("acrguard.audit")
    audit_logger.setLevel(logging.INFO)
    audit_logger.addHandler(audit)
    audit_logger.propagate = False
    on_registry_write = {
        f.get_function_name(): f.get_user_function() for f in function_app.app.get_functions()
    }["on_registry_write"]

    write = json.loads((SAMPLES / "registry-write.eventgrid.json").read_text())
    templates = {
        "storage": json.loads((SAMPLES / "storage-write.eventgrid.json").read_text()),
        "validation": json.loads((SAMPLES / "subscription-validation.eventgrid.json").read_text()),
    }

    def build(n: int, kind: str, target: str) -> Any:
        if kind == "irrelevant" and target in templates:
            raw = copy.deepcopy(templates[target])
        else:
            raw = copy.deepcopy(write)
            raw["subject"] = raw["data"]["resourceUri"] = target
            if kind == "irrelevant":  # a registry child that cannot change a guarded property
                raw["data"]["operationName"] = "Microsoft.ContainerRegistry/registries/webhooks/write"
                raw["subject"] = raw["data"]["resourceUri"] = target + "/webhooks/hook1"
        raw["id"] = f"soak-{n:06}"
        return host_event(raw)

    raised: Counter[str] = Counter()
    messages: list[str] = []

    def invoke(item: tuple[int, list[str]]) -> None:
        n, (kind, target) = item
        try:
            on_registry_write(build(n, kind, target))
        except Exception as exc:  # the host would fail the invocation (and Event Grid redeliver)
            raised[type(exc).__name__] += 1
            if len(messages) < 3:  # what it was, for the assertion's message
                messages.append(f"{type(exc).__name__}: {str(exc)[:500]}")

    events = list(enumerate(plan["events"]))
    every, warmup = plan["sample_every"], plan["warmup"]
    cold = snapshot()
    started = time.monotonic()
    invoke(events[0])  # the host's first invocation builds the engine, the credential, a client
    samples: list[dict[str, Any]] = []
    start: dict[str, int] | None = None
    with ThreadPoolExecutor(plan["threads"], thread_name_prefix="functions-worker") as pool:
        done = 1
        while done < len(events):
            chunk = events[done : min(len(events), (done // every + 1) * every)]
            list(pool.map(invoke, chunk))
            done += len(chunk)
            figures = snapshot()
            samples.append({"events": done, **figures})
            if start is None and done >= warmup:
                start = {**figures, "events": done}
        end = snapshot()  # the pool's threads are still there: the worker's steady state
    engine = runtime.engine()
    result = {
        "events": len(events),
        "seconds": round(time.monotonic() - started, 2),
        "cold": cold,
        "start": start,
        "end": end,
        "samples": samples,
        "raised": dict(raised),
        "raised_messages": messages,
        "outcomes": dict(audit.outcomes),
        "clients": len(engine.arm._clients),
        "engine_reused": runtime.engine() is engine,
        "python_threads_end": threading.active_count(),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
