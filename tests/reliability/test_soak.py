"""Soak: 10,000 events through the real Event Grid function; the worker must not grow.

The Function worker is a separate process (tests/soak_worker.py) running the real
``on_registry_write`` object with 4 invocations at a time; the emulator (ARM, identity) runs
here, so ARM calls are counted exactly and the worker's figures hold only ACR Guard's own memory,
threads and sockets. The mix: irrelevant events (other resource types, subscription validation,
registry children that cannot change a guarded property: no ARM call), events for compliant
registries (one read), and events for drifted registries (one read, one write; each registry
drifts once, so every write is accounted for) across 4 subscriptions.

Asserted: no invocation raised; exactly one write per drifted registry and one read per registry
event; every drifted registry compliant at the end; one token request (the credential caches it)
and one ARM client per subscription (reused, never rebuilt); from the end of the warm-up to the
end, RSS within a small tolerance, the same threads, sockets within the connection pools' bound
(one per concurrent invocation per client, plus the identity endpoint's), no other descriptor.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from reliability import record
from repo_paths import ROOT

SUBSCRIPTIONS = [f"00000000-0000-0000-0000-00000000c{n:03}" for n in range(1, 5)]
COMPLIANT_PER_SUB = 25
DRIFTED_PER_SUB = 500
MIX = {"irrelevant": 4_000, "compliant": 4_000, "drifted": 2_000}  # 10,000 events
THREADS = 4
WARMUP = 1_000
SAMPLE_EVERY = 1_000
RSS_TOLERANCE_MIB = 4.0
ALLOWED = [{"action": "Allow", "value": "20.1.2.0/24"}, {"action": "Allow", "value": "20.9.8.7"}]


def seed_estate(emu: Any) -> tuple[list[str], list[str]]:
    compliant, drifted, entries = [], [], []
    for s, sub in enumerate(SUBSCRIPTIONS):
        for i in range(COMPLIANT_PER_SUB):
            entries.append(
                {
                    "subscription": sub,
                    "resource_group": "rg-soak",
                    "name": f"soakok{s}{i:04}",
                    "sku": "Premium",
                    "properties": {"networkRuleSet": {"defaultAction": "Deny", "ipRules": ALLOWED}},
                }
            )
        for i in range(DRIFTED_PER_SUB):
            premium = i % 2 == 0
            entries.append(
                {
                    "subscription": sub,
                    "resource_group": "rg-soak",
                    "name": f"soakdrift{s}{i:04}",
                    "sku": "Premium" if premium else "Standard",
                    "properties": {"anonymousPullEnabled": True},
                }
            )
    for resource_id in emu.seed(entries):
        (drifted if "soakdrift" in resource_id else compliant).append(resource_id)
    return compliant, drifted


def event_plan(compliant: list[str], drifted: list[str]) -> list[list[str]]:
    rng = random.Random(10_000)
    irrelevant = ["storage", "validation", *compliant[:10]]
    events = [["irrelevant", irrelevant[i % len(irrelevant)]] for i in range(MIX["irrelevant"])]
    events += [["compliant", compliant[i % len(compliant)]] for i in range(MIX["compliant"])]
    events += [["drifted", resource_id] for resource_id in drifted]
    rng.shuffle(events)
    return events


@pytest.mark.slow
def test_soak_10000_events_through_the_function_without_growth(emu: Any, tmp_path: Path) -> None:
    compliant, drifted = seed_estate(emu)
    assert len(drifted) == MIX["drifted"]
    plan = event_plan(compliant, drifted)
    assert Counter(kind for kind, _ in plan) == MIX
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(
        json.dumps({"events": plan, "threads": THREADS, "warmup": WARMUP, "sample_every": SAMPLE_EVERY})
    )
    env = emu.subprocess_env()
    env.update(
        {
            "ACRGUARD_POLICY_FILE": str(ROOT / "demo" / "policies.yaml"),
            "ACRGUARD_MAX_ATTEMPTS": "4",
            "ACRGUARD_RETRY_BUDGET_S": "20",
        }
    )
    env.pop("ACRGUARD_MODE", None)
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "soak_worker.py"), str(plan_file)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    start, end = figures["start"], figures["end"]
    rss_growth_mib = (end["rss_kib"] - start["rss_kib"]) / 1024

    record(
        "soak",
        events=figures["events"],
        mix=MIX,
        threads=THREADS,
        seconds=figures["seconds"],
        rss_cold_mib=figures["cold"]["rss_kib"] / 1024,
        rss_start_mib=start["rss_kib"] / 1024,
        rss_end_mib=end["rss_kib"] / 1024,
        rss_tolerance=f"{RSS_TOLERANCE_MIB:.0f} MiB",
        rss_samples_mib=[s["rss_kib"] / 1024 for s in figures["samples"]],
        sample_every=SAMPLE_EVERY,
        threads_start=start["threads"],
        threads_end=end["threads"],
        sockets_start=start["sockets"],
        sockets_end=end["sockets"],
        sockets_bound=f"{figures['clients'] * THREADS + 1} (pool bound)",
        sockets_samples=[s["sockets"] for s in figures["samples"]],
        fds_start=start["fds"],
        fds_end=end["fds"],
        identity_requests=emu.counters.identity_requests,
        clients=figures["clients"],
        subscriptions=len(SUBSCRIPTIONS),
        reads=emu.counters.total_reads,
        writes=emu.counters.total_writes,
        outcomes=figures["outcomes"],
        raised=figures["raised"],
    )

    # Nothing raised, nothing lost, nothing written twice.
    assert figures["raised"] == {}, figures["raised_messages"]
    assert figures["engine_reused"]
    assert emu.counters.total_writes == MIX["drifted"]
    assert all(emu.counters.writes(r) == 1 for r in drifted)
    assert emu.counters.total_reads == MIX["compliant"] + MIX["drifted"]  # one read per registry event
    for resource_id in drifted:
        props = emu.get_registry(resource_id)["properties"]
        assert props["anonymousPullEnabled"] is False
        if "networkRuleSet" in props:
            assert props["networkRuleSet"] == {"defaultAction": "Deny", "ipRules": ALLOWED}
    assert figures["outcomes"].get("failed", 0) == 0
    # Clients and tokens reused: one token request, one client per subscription.
    assert emu.counters.identity_requests == 1
    assert figures["clients"] == len(SUBSCRIPTIONS)
    # No growth after the warm-up.
    assert rss_growth_mib <= RSS_TOLERANCE_MIB, figures["samples"]
    assert end["threads"] == start["threads"], (start, end)
    # Sockets: each client's connection pool fills up to one connection per concurrent invocation
    # (plus the identity endpoint's), then stays; a leak would pass that bound. Other descriptors
    # do not grow at all.
    pool_bound = figures["clients"] * THREADS + 1
    assert max(s["sockets"] for s in figures["samples"]) <= pool_bound, figures["samples"]
    assert end["fds"] - end["sockets"] == start["fds"] - start["sockets"], (start, end)
