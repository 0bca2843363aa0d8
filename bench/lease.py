"""What the per-registry blob lease (acrguard/engine/lease.py) costs an IP-list write.

Measured in this process against the emulator (ARM at 50 ms per call) and Azurite (the blob
service on loopback, so the lease's own round trips are a lower bound of Azure Storage's):

- the lease alone: ``RegistryLeases.hold`` entered and left (Lease Blob acquire, then release);
- a firewall fix (Deny plus the allow-list) through ``Engine.process``, with and without the
  lease, alternating, and the ARM calls each one made. ``ACRGUARD_SETTLE_S`` is 0 here so that
  the settle wait (5 s by default, the same with or without the lease) does not hide the cost.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from bench.common import LATENCY_S, arm_calls, emulator, environment, log, median
from bench.timing import phase
from emulator.azurite import azurite

CONTAINER = "acrguard-leases"
SAMPLES = 40
POLICY = """
version: 1
mode: enforce
rules:
  anonymous_pull: {enabled: false}
  network_rules: {enabled: true, allowed_ips: ["52.160.10.0/24", "40.112.5.7"]}
  firewall_unavailable: {enabled: false}
"""


@contextmanager
def started_azurite(folder: Path) -> Iterator[dict[str, str]]:
    """Azurite, its start-up timed apart (bench.timing): a node process, seconds on a busy machine."""
    with ExitStack() as stack:
        with phase("start: Azurite"):
            storage = stack.enter_context(azurite(folder))
        yield storage


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(samples: int = SAMPLES) -> dict[str, Any]:
    import os

    from azure.storage.blob import BlobServiceClient

    from acrguard import runtime
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.engine.lease import RegistryLeases

    out: dict[str, Any] = {"samples": samples, "arm_latency_s": LATENCY_S}
    with tempfile.TemporaryDirectory() as folder, started_azurite(Path(folder)) as storage, emulator() as emu:
        policy = Path(folder) / "policies.yaml"
        policy.write_text(POLICY, encoding="utf-8")
        BlobServiceClient.from_connection_string(storage["connection_string"]).create_container(CONTAINER)
        with environment(emu, policy):
            os.environ["ACRGUARD_SETTLE_S"] = "0"
            engine = runtime.build_engine()
            leases = RegistryLeases(
                f"{storage['endpoint']}/{CONTAINER}", engine.arm, storage["connection_string"]
            )
            emu.set_latency(LATENCY_S)

            def open_firewall() -> str:
                return emu.add_registry(
                    subscription="20000000-0000-0000-0000-000000000001",
                    resource_group="rg-x",
                    name="leasebench",
                    sku="Premium",
                    properties={"networkRuleSet": {"defaultAction": "Allow", "ipRules": []}},
                )

            rid = open_firewall()
            ref = RegistryRef.parse(rid)
            log("lease: acquire + release alone")
            alone = []
            for _ in range(samples):
                started = time.perf_counter()
                with leases.hold(ref):
                    pass
                alone.append((time.perf_counter() - started) * 1000)
            log("lease: firewall fix with and without the lease, alternating")
            timed: dict[str, list[float]] = {"with lease": [], "without": []}
            calls: dict[str, dict[str, int]] = {}
            for i in range(2 * samples):
                label = "with lease" if i % 2 == 0 else "without"
                engine.leases = leases if label == "with lease" else None
                open_firewall()
                seq = len(emu.requests)
                started = time.perf_counter()
                result = engine.process(ref)
                timed[label].append((time.perf_counter() - started) * 1000)
                assert ("network_rules", "applied") in [(r.rule, r.outcome) for r in result.records]
                calls[label] = arm_calls(emu.requests[seq:])
            engine.arm.close()
    out["lease_ms"] = {"median": median(alone), "p95": p95(alone)}
    for label, values in timed.items():
        out[label] = {"median_ms": median(values), "p95_ms": p95(values), "arm_calls": calls[label]}
    return out
