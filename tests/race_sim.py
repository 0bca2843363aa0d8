"""Simulated time for race scenarios, in one process or across several.

:class:`Timeline` runs actions scheduled at instants, in order, as time passes them; the emulator
stamps ``systemData`` with it and the engine sleeps on it, so nothing waits in real time and each
seed is one reproducible interleaving.

:class:`Coordinator` extends that to engine *processes* (tests/race_worker.py): a discrete-event
simulation in which time advances only while no engine process is running. A process is running
from the moment the coordinator wakes it (a delivery, the end of a sleep, an ARM request served)
until it blocks again: it sleeps on its clock (a message), one of its ARM requests reaches the
emulator (the request costs simulated time, so the emulator's hook blocks it), or it finishes a
delivery. The coordinator wakes one thing at a time and waits until nothing runs before the next,
so what the processes do is a pure function of the seed, over real HTTPS and real blob leases.
"""

from __future__ import annotations

import heapq
import random
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

#: The scenario's policy: anonymous pull left alone, the firewall closed to this allow-list.
POLICY_IPS = ["52.160.10.0/24", "40.112.5.7"]
POLICY = f"""
version: 1
mode: enforce
rules:
  anonymous_pull: {{enabled: false}}
  network_rules: {{enabled: true, allowed_ips: {POLICY_IPS}}}
"""
INTERLEAVINGS = 200
CHUNKS = 8  # spread over the xdist workers


class Timeline:
    """Simulated time: actions scheduled at instants, run in order as time passes them."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self.now = start
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._queue, (when, self._seq, action))
        self._seq += 1

    def next_due(self) -> float | None:
        return self._queue[0][0] if self._queue else None

    def step(self) -> bool:
        """Run the one next action (time moves to it); False when none is left."""
        if not self._queue:
            return False
        due, _, action = heapq.heappop(self._queue)
        self.now = max(self.now, due)
        action()
        return True

    def advance_to(self, when: float) -> None:
        while self._queue and self._queue[0][0] <= when:
            self.step()
        self.now = max(self.now, when)

    # the acrguard.budget.Clock protocol
    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.advance_to(self.now + max(0.0, seconds))

    def datetime(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


def open_firewall_and_schedule_burst(
    emu: Any, timeline: Timeline, rng: random.Random, name: str
) -> list[str]:
    """A Premium registry whose firewall was left open, and a person's burst on ``timeline``: 3–6
    ``az acr network-rule add`` (a GET, then 0.1–0.8 s later a PATCH of the whole rule set plus
    one rule), 0.2–3 s apart. Returns the rules the person adds."""
    from engine_helpers import SUB_A, as_person, rid

    emu.add_registry(
        subscription=SUB_A,
        resource_group="rg-platform",
        name=name,
        sku="Premium",
        properties={"networkRuleSet": {"defaultAction": "Allow", "ipRules": []}},
    )
    resource_id = rid(name)
    person_rules = [f"192.0.2.{10 + i}" for i in range(rng.randint(3, 6))]
    seen: dict[str, Any] = {}
    when = timeline.now + rng.uniform(0.0, 2.0)
    for value in person_rules:

        def get(value: str = value) -> None:
            seen[value] = as_person(emu, "GET", resource_id)["properties"]["networkRuleSet"]

        def patch(value: str = value) -> None:
            rule_set = seen.pop(value)
            rule_set["ipRules"] = [*rule_set["ipRules"], {"action": "Allow", "value": value}]
            as_person(emu, "PATCH", resource_id, {"properties": {"networkRuleSet": rule_set}})

        timeline.at(when, get)
        when += rng.uniform(0.1, 0.8)
        timeline.at(when, patch)
        when += rng.uniform(0.2, 3.0)
    return person_rules


class Worker:
    """The coordinator's side of one engine process: its connection and its deliveries."""

    def __init__(self, name: str, conn: Connection) -> None:
        self.name = name
        self.conn = conn
        self.busy = False
        self.backlog: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None  # the delivery it handles (or last handled)
        self.outcomes: list[str] = []  # "ok" or "transient" (raised: Event Grid redelivers)
        self._send = threading.Lock()

    def send(self, message: tuple[Any, ...]) -> None:
        with self._send:
            self.conn.send(message)


class Coordinator:
    """Simulated time shared by the test process (the emulator, the person) and engine processes."""

    def __init__(self, workers: list[Worker]) -> None:
        self.timeline = Timeline()
        self.workers = workers
        self.on_done: Callable[[Worker, str], None] = lambda worker, outcome: None
        self._cond = threading.Condition()
        self._running = 0  # engine processes (or their requests) running in real time right now
        self._error: BaseException | None = None
        self._readers = [
            threading.Thread(target=self._read, args=(w,), daemon=True, name=f"race-{w.name}")
            for w in workers
        ]
        for reader in self._readers:
            reader.start()

    def begin(self, timeline: Timeline, on_done: Callable[[Worker, str], None]) -> None:
        """A new interleaving on the same processes: every process is idle between two."""
        self.timeline = timeline
        self.on_done = on_done
        for worker in self.workers:
            worker.busy, worker.backlog, worker.outcomes, worker.current = False, [], [], None

    # -- what an engine process does --------------------------------------------------------------

    def request_costs(self, seconds: float) -> None:
        """From the emulator's hook: the engine's request takes ``seconds`` of simulated time. Blocks
        the request (so its process) until the coordinator has advanced time to then."""
        woken = threading.Event()
        self._block(seconds, woken.set)
        woken.wait()

    def _read(self, worker: Worker) -> None:
        try:
            while True:
                message = worker.conn.recv()
                kind = message[0]
                if kind == "time":
                    worker.send(("now", self.timeline.now))
                elif kind == "sleep":
                    self._block(message[1], lambda: worker.send(("wake", self.timeline.now)))
                elif kind == "done":
                    with self._cond:
                        worker.busy = False
                        worker.outcomes.append(message[1])
                        self.on_done(worker, message[1])
                        self._running -= 1
                        self._cond.notify_all()
                elif kind == "error":
                    raise RuntimeError(f"{worker.name} failed:\n{message[1]}")
        except EOFError:
            return
        except BaseException as exc:
            with self._cond:
                self._error = exc
                self._running = 0
                self._cond.notify_all()

    def _block(self, seconds: float, wake: Callable[[], None]) -> None:
        with self._cond:
            self._running -= 1
            self.timeline.at(self.timeline.now + max(0.0, seconds), lambda: self._wake(wake))
            self._cond.notify_all()

    def _wake(self, wake: Callable[[], None]) -> None:
        with self._cond:
            self._running += 1
        wake()

    # -- what the coordinator does ----------------------------------------------------------------

    def deliver(self, worker: Worker, event: dict[str, Any], seed: int) -> None:
        """Event Grid hands ``event`` to ``worker`` now (after its current delivery, if busy)."""
        if worker.busy:
            worker.backlog.append({"event": event, "seed": seed})
            return
        with self._cond:
            worker.busy = True
            worker.current = {"event": event, "seed": seed}
            self._running += 1
        worker.send(("handle", event, seed))

    def run(self, between_steps: Callable[[], None], max_steps: int = 20_000) -> None:
        """Step the simulation until nothing is due and no process runs or has work queued."""
        for _ in range(max_steps):
            with self._cond:
                if not self._cond.wait_for(lambda: self._running == 0, timeout=120):
                    raise AssertionError("an engine process kept running for 120 s of real time")
                if self._error is not None:
                    raise self._error
            between_steps()
            for worker in self.workers:
                if not worker.busy and worker.backlog:
                    queued = worker.backlog.pop(0)
                    self.deliver(worker, queued["event"], queued["seed"])
                    break
            else:
                if not self.timeline.step():
                    return
        raise AssertionError(f"no quiescence after {max_steps} steps")
