"""Two Function instances race a person's burst of IP-rule additions: one writer per registry.

The scenario of tests/reliability/test_race.py (a person adds 3–6 rules with ``az acr network-rule add``, a GET
then a PATCH of the whole rule set, 0.2–3 s apart), now handled by two separate engine processes,
as Flex Consumption runs them: Event Grid hands each write's event to one instance or the other,
and often to both (it delivers at least once), 0.3–3 s later. A delivery that raises is
redelivered 10–60 s later to either. Every seed is one reproducible interleaving on simulated time
shared by the processes (tests/race_sim.py), over real HTTPS, real SDK clients and real blob
leases (Azurite).

What is checked, from the emulator's request log replayed in order:
- none of the person's rules is lost, and the registry ends compliant;
- **one writer**: every IP-list PATCH ACR Guard sends changes the list it lands on. A PATCH that
  re-sends a list another instance already wrote was computed from a read taken before that
  write, so anything added between the two would have been dropped. Without the lease (the
  control) that happens; with it, never.
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import subprocess
import sys
from dataclasses import dataclass
from multiprocessing.connection import Listener
from pathlib import Path
from typing import Any

import pytest
from azurite import azurite  # noqa: F401 - the fixture
from engine_helpers import rid
from race_sim import (
    CHUNKS,
    INTERLEAVINGS,
    POLICY,
    POLICY_IPS,
    Coordinator,
    Timeline,
    Worker,
    open_firewall_and_schedule_burst,
)
from reliability import record
from repo_paths import ROOT

REG = rid("contosorace")
INSTANCES = 2
CONTAINER = "acrguard-leases"
WORKER = ROOT / "tests" / "race_worker.py"


@dataclass
class Outcome:
    seed: int
    person_rules: list[str]
    lost: list[str]
    our_list_patches: int
    stale_list_patches: int  # re-sent a list already on the registry: computed from an old read
    deliveries: int
    redeliveries: int
    converged: bool


class Instances:
    """``INSTANCES`` engine processes connected to one coordinator listener."""

    def __init__(self, env: dict[str, str]) -> None:
        authkey = secrets.token_bytes(16)
        self.listener = Listener(("127.0.0.1", 0), authkey=authkey)
        host, port = self.listener.address
        self.processes = []
        self.workers = []
        for i in range(INSTANCES):
            process = subprocess.Popen(
                [sys.executable, str(WORKER), host, str(port), f"instance-{i}"],
                stdin=subprocess.PIPE,
                env=env,
            )
            assert process.stdin is not None
            process.stdin.write(authkey)
            process.stdin.close()
            self.processes.append(process)
            self.workers.append(Worker(f"instance-{i}", self.listener.accept()))
        self.sim = Coordinator(self.workers)

    def close(self) -> None:
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.send(("stop",))
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        self.listener.close()


def instances_env(emu: Any, tmp_path: Path, lease: dict[str, str] | None) -> dict[str, str]:
    policy = tmp_path / "race-policy.yaml"
    policy.write_text(POLICY, encoding="utf-8")
    env = emu.subprocess_env()
    env.update(
        ACRGUARD_POLICY_FILE=str(policy),
        ACRGUARD_SETTLE_S="5",
        ACRGUARD_RETRY_BUDGET_S="60",
        ACRGUARD_MAX_ATTEMPTS="6",
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]),
    )
    env.pop("ACRGUARD_LEASE_CONTAINER_URL", None)
    env.pop("AZURE_STORAGE_CONNECTION_STRING", None)
    if lease is not None:
        env["ACRGUARD_LEASE_CONTAINER_URL"] = f"{lease['endpoint']}/{CONTAINER}"
        env["AZURE_STORAGE_CONNECTION_STRING"] = lease["connection_string"]
    return env


def run_interleaving(emu: Any, instances: Instances, seed: int) -> Outcome:
    rng = random.Random(seed)
    emu.reset()
    timeline = Timeline()
    emu.set_clock(timeline.datetime)
    person_rules = open_firewall_and_schedule_burst(emu, timeline, rng, "contosorace")
    me = emu.managed_identity.object_id
    workers = instances.workers
    sim = instances.sim
    redeliveries = [0]

    def deliver_later(event: dict[str, Any], low: float, high: float) -> None:
        worker = rng.choice(workers)
        timeline.at(
            timeline.now + rng.uniform(low, high), lambda: sim.deliver(worker, event, rng.randrange(2**32))
        )

    def on_done(worker: Worker, outcome: str) -> None:
        if outcome == "transient":  # Event Grid redelivers, to either instance
            redeliveries[0] += 1
            assert worker.current is not None
            deliver_later(worker.current["event"], 10.0, 60.0)

    sim.begin(timeline, on_done)

    def our_request_costs_time(request: Any) -> None:
        if request.principal is not None and request.principal.object_id == me:
            sim.request_costs(rng.uniform(0.05, 0.4))  # the person's writes due meanwhile land first

    emu.on_arm_request(our_request_costs_time)

    delivered = [0, 0]  # events seen, deliveries made

    def new_events() -> None:
        events = emu.events
        for event in events[delivered[0] :]:
            deliver_later(event, 0.3, 3.0)
            delivered[1] += 1
            if rng.random() < 0.5:  # at least once: often a second instance gets it too
                deliver_later(event, 0.3, 3.0)
                delivered[1] += 1
        delivered[0] = len(events)

    sim.run(new_events)

    final = emu.get_registry(REG)["properties"]["networkRuleSet"]
    values = [r["value"] for r in final["ipRules"]]
    ours, stale = list_patches(emu, me)
    return Outcome(
        seed=seed,
        person_rules=person_rules,
        lost=[v for v in person_rules if v not in values],
        our_list_patches=ours,
        stale_list_patches=stale,
        deliveries=delivered[1],
        redeliveries=redeliveries[0],
        converged=final["defaultAction"] == "Deny" and set(POLICY_IPS) <= set(values),
    )


def list_patches(emu: Any, me: str) -> tuple[int, int]:
    """Our IP-list PATCHes, and those that re-sent the list already on the registry (replaying
    every accepted PATCH of the whole rule set in the order the emulator applied them)."""
    current: tuple[str, ...] = ()
    ours = stale = 0
    for request in emu.requests_for(method="PATCH", resource_id=REG):
        rule_set = ((request.body or {}).get("properties") or {}).get("networkRuleSet")
        if rule_set is None or request.status not in (200, 201, 202):
            continue
        sent = tuple(sorted(r["value"] for r in rule_set.get("ipRules") or []))
        if request.principal is not None and request.principal.object_id == me:
            ours += 1
            stale += sent == current
        current = sent
    return ours, stale


def run_chunk(emu: Any, tmp_path: Path, lease: dict[str, str] | None, seeds: range) -> list[Outcome]:
    if lease is not None:
        from azure.storage.blob import BlobServiceClient

        container = BlobServiceClient.from_connection_string(lease["connection_string"]).get_container_client(
            CONTAINER
        )
        if not container.exists():
            container.create_container()
    instances = Instances(instances_env(emu, tmp_path, lease))
    try:
        return [run_interleaving(emu, instances, seed) for seed in seeds]
    finally:
        instances.close()


def summary(defence: str, outcomes: list[Outcome]) -> None:
    record(
        "race",
        defence=defence,
        instances=INSTANCES,
        interleavings=len(outcomes),
        person_rules=sum(len(o.person_rules) for o in outcomes),
        lost=sum(len(o.lost) for o in outcomes),
        our_patches=sum(o.our_list_patches for o in outcomes),
        stale_patches=sum(o.stale_list_patches for o in outcomes),
        redeliveries=sum(o.redeliveries for o in outcomes),
    )


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_two_instances_write_a_registrys_ip_rules_one_at_a_time(emu, azurite, tmp_path, chunk):  # noqa: F811
    """Two engine processes handling the same registry's events at once (duplicate deliveries
    included) never both write its IP rule list from the same read: every IP-list PATCH changes
    the list it lands on, none of a person's rules is lost and every registry ends compliant."""
    outcomes = run_chunk(emu, tmp_path, azurite, range(chunk, INTERLEAVINGS, CHUNKS))
    summary("settle+lease", outcomes)
    assert [(o.seed, o.lost) for o in outcomes if o.lost] == []
    assert [o.seed for o in outcomes if o.stale_list_patches] == []
    assert all(o.converged for o in outcomes), [o.seed for o in outcomes if not o.converged]


def test_without_the_lease_two_instances_write_from_the_same_read(emu, tmp_path):
    """The control: the same interleavings with no lease (each instance only has its own
    per-process lock) re-send a list another instance already wrote, so the one-writer check
    above can see a violation and its 0 means something."""
    outcomes = run_chunk(emu, tmp_path, None, range(0, INTERLEAVINGS, 4))
    summary("settle only", outcomes)
    assert sum(o.stale_list_patches for o in outcomes) > 0
