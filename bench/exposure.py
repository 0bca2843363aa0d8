"""Exposure window: from a person's write that opens a registry to the registry being compliant again.

Measured end to end against the emulator with the Function's engine (in this process, warm):
the person's PATCH (anonymous pull on, with their own token), the event the emulator emits for it,
``Engine.handle`` re-reading and writing, the registry read back compliant. What cannot run here is
modelled from Microsoft's documentation and added per sample, and said so:

- Event Grid delivery: "near-real-time"; no figure is published, so each delivery waits a
  log-normal delay (median 0.3 s, sigma 0.6). A failed delivery (our function raised) is retried on
  Event Grid's documented schedule (10 s, 30 s, 1 min, 5 min, ...).
- a cold instance: the measured import of function_app in a fresh interpreter, plus the documented
  Consumption-plan host start is not measurable here (stated, not added).
- reconcile-only (no event arrives): the next 6-hourly timer tick, uniform over the interval, plus
  the measured time for that sweep to reach the registry (the Resource Graph sweep of bench.scale).

Anonymous pull replaces no list, so it never waits. Opening the firewall (``defaultAction: Allow``)
does: its fix replaces the IP rule list, written only once the list has been quiet for
``ACRGUARD_SETTLE_S`` (5 s). Those rows run in real time (the wait is the point), so the event's
delivery delay is slept rather than added, and samples run side by side, each on its own registry.
With rule additions, the person runs ``az acr network-rule add`` (a GET, then a PATCH of the whole
set) 0.5–2 s before opening and again 0.5–2 s after: each addition restarts the quiet period. Their
events queue behind the opening's handler (one lock per registry) and find the registry fixed, so
only the opening's event is delivered here.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.common import LATENCY_S, PROJECT_PY, ROOT, emulator, environment, log, write_event
from emulator.seeds import COMPLIANT_IP_RULES

EVENT_GRID_RETRIES_S = (10, 30, 60, 300, 600, 1800, 3600)
TIMER_S = 6 * 3600
SAMPLES = 40
ALTERNATIVES = [
    (
        "Azure Policy Modify",
        "acts only on create/update requests that carry the property; existing resources need a remediation task",
        "https://learn.microsoft.com/azure/governance/policy/concepts/effect-modify",
    ),
    (
        "Azure Policy compliance scan",
        "about 15 min after a write (standard evaluation cycle: full scan every 24 h)",
        "https://learn.microsoft.com/azure/governance/policy/how-to/get-compliance-data#evaluation-triggers",
    ),
    (
        "Azure Policy DeployIfNotExists",
        "about 15 min after the write that triggers it",
        "https://learn.microsoft.com/azure/governance/policy/concepts/effect-deploy-if-not-exists",
    ),
    (
        "Existing resources under Policy",
        "only when someone runs a remediation task (manual)",
        "https://learn.microsoft.com/azure/governance/policy/how-to/remediate-resources",
    ),
    (
        "Cloud Custodian (c7n) event mode",
        "Event Grid to a storage queue, polled by the function (up to 1 min) before it acts",
        "https://cloudcustodian.io/docs/azure/advanced/azurefunctions.html",
    ),
]


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "n": len(ordered)}


def cold_import_s(rounds: int = 3) -> float:
    code = "import time; t = time.perf_counter(); import function_app; print(time.perf_counter() - t)"
    runs = [
        float(subprocess.run([str(PROJECT_PY), "-c", code], cwd=ROOT, capture_output=True, text=True).stdout)
        for _ in range(rounds)
    ]
    return sorted(runs)[len(runs) // 2]


def _delivery(rng: random.Random) -> float:
    return rng.lognormvariate(-1.204, 0.6)  # median e^-1.204 = 0.3 s


def scenario(emu: Any, engine: Any, rng: random.Random, *, storm: bool, extra_s: float) -> float:
    """One exposure: open a registry as a person, deliver the event (with retries), until compliant."""
    name = f"exposed{rng.randrange(10**9):09d}"
    compliant = {"networkRuleSet": {"defaultAction": "Deny", "ipRules": COMPLIANT_IP_RULES}}
    rid = emu.add_registry(
        subscription="20000000-0000-0000-0000-000000000001",
        resource_group="rg-x",
        name=name,
        properties=compliant,
    )
    opened = time.perf_counter()
    _open_as_person(emu, rid)
    if storm:  # ARM answers 429 to our next 8 calls on this registry (Retry-After 1 s)
        emu.inject(resource_id=rid, status=429, retry_after=1, times=8)
    modelled = extra_s + _deliver(engine, rid, lambda: _delivery(rng))
    measured = time.perf_counter() - opened
    assert emu.get_registry(rid)["properties"]["anonymousPullEnabled"] is False, "not fixed"
    return measured + modelled


def _deliver(engine: Any, rid: str, delay: Callable[[], float]) -> float:
    """Hand the registry's write event to the engine until it is not raised for redelivery; returns
    the modelled seconds: ``delay()`` per delivery, plus Event Grid's retry schedule per failure."""
    modelled = 0.0
    for attempt in range(len(EVENT_GRID_RETRIES_S) + 1):
        modelled += delay()
        try:
            engine.handle(write_event(rid), source="event")
            break
        except Exception:
            modelled += EVENT_GRID_RETRIES_S[attempt]
    return modelled


def _open_as_person(emu: Any, rid: str) -> None:
    """What a person does in the portal: a PATCH with their own token."""
    _as_person(emu, "PATCH", rid, {"properties": {"anonymousPullEnabled": True}})


def _as_person(emu: Any, method: str, rid: str, body: Any = None) -> dict[str, Any]:
    import requests

    from emulator.identity import DEV_USER

    response = requests.request(
        method,
        f"{emu.arm_url}{rid}?api-version=2025-11-01",
        json=body,
        headers=emu.auth_headers(DEV_USER),
        verify=str(emu.ca_path),
        timeout=10,
    )
    response.raise_for_status()
    return response.json()


def _set_rules_as_person(emu: Any, rid: str, change: Any) -> None:
    """``az acr network-rule add`` (or ``az acr update --default-action``): a GET, then a PATCH of the
    whole rule set as read with ``change`` applied."""
    rule_set = _as_person(emu, "GET", rid)["properties"]["networkRuleSet"]
    change(rule_set)
    _as_person(emu, "PATCH", rid, {"properties": {"networkRuleSet": rule_set}})


def firewall_scenario(emu: Any, engine: Any, rng: random.Random, *, additions: bool) -> float:
    """One exposure that waits: a person opens a compliant registry's firewall (with ``additions``,
    adding a rule of their own before and after), until our PATCH has closed it again."""
    rid = emu.add_registry(
        subscription="20000000-0000-0000-0000-000000000001",
        resource_group="rg-x",
        name=f"opened{rng.randrange(10**9):09d}",
        properties={"networkRuleSet": {"defaultAction": "Deny", "ipRules": COMPLIANT_IP_RULES}},
    )
    before, after, delivery = rng.uniform(0.5, 2.0), rng.uniform(0.5, 2.0), _delivery(rng)

    def add(value: str) -> None:
        _set_rules_as_person(emu, rid, lambda s: s["ipRules"].append({"action": "Allow", "value": value}))

    if additions:
        add("192.0.2.10")
        time.sleep(before)
    opened = time.perf_counter()
    _set_rules_as_person(emu, rid, lambda s: s.update(defaultAction="Allow"))
    later = threading.Timer(after, add, ("192.0.2.11",)) if additions else None
    if later:
        later.start()
    time.sleep(delivery)  # the delivery is slept, not added: the settle wait counts from the write
    modelled = _deliver(engine, rid, lambda: 0.0)
    measured = time.perf_counter() - opened
    if later:
        later.join()
    rules = emu.get_registry(rid)["properties"]["networkRuleSet"]
    assert rules["defaultAction"] == "Deny", "not fixed"
    assert not additions or {"192.0.2.10", "192.0.2.11"} <= {r["value"] for r in rules["ipRules"]}, "lost"
    return measured + modelled


def firewall_rows(emu: Any, engine: Any, rng: random.Random, samples: int) -> dict[str, Any]:
    """The rows that wait for the IP rule list to settle, samples side by side (the waits overlap)."""
    out: dict[str, Any] = {}
    emu.set_latency(LATENCY_S)
    for label, additions in (
        ("firewall opened (waits for the list to settle), warm, ARM 50 ms", False),
        ("firewall opened, a rule added 0.5-2 s before and after, warm, ARM 50 ms", True),
    ):
        log(f"exposure: {label}")
        out[label] = percentiles(
            side_by_side(
                lambda r, a=additions: firewall_scenario(emu, engine, r, additions=a),
                rng,
                samples,
                SIDE_BY_SIDE,
            )
        )
    return out


#: Samples that mostly wait (the settle period, Retry-After) run this many at a time, each on its own
#: registry and with its own random stream: the engine holds one lock per registry, so they do not
#: queue behind each other, and the waits overlap instead of adding up.
SIDE_BY_SIDE = 20


def side_by_side(
    sample: Callable[[random.Random], float], rng: random.Random, n: int, workers: int
) -> list[float]:
    """``n`` samples of ``sample``, ``workers`` at a time, each given a Random seeded from ``rng``."""
    seeds = [rng.randrange(2**32) for _ in range(n)]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="exposure") as pool:
        return list(pool.map(lambda seed: sample(random.Random(seed)), seeds))


def measure(samples: int = SAMPLES, graph_sweep_s: float | None = None) -> dict[str, Any]:
    from acrguard import runtime

    rng = random.Random(16)
    out: dict[str, Any] = {"samples": samples, "model": "log-normal delivery, median 0.3 s, sigma 0.6"}
    cold = cold_import_s()
    out["cold_import_s"] = cold
    with emulator() as emu, environment(emu):
        engine = runtime.engine()
        rows = {
            "warm, emulator latency": dict(latency=0.0, storm=False, extra=0.0, n=samples),
            "warm, ARM 50 ms": dict(latency=LATENCY_S, storm=False, extra=0.0, n=samples),
            # The same scenario as the row above plus the import: its samples, shifted (not run twice).
            "cold, ARM 50 ms": dict(
                latency=LATENCY_S, storm=False, extra=cold, n=samples, of="warm, ARM 50 ms"
            ),
            "429 storm (8 x 429, Retry-After 1 s), ARM 50 ms": dict(
                latency=LATENCY_S, storm=True, extra=0.0, n=max(5, samples // 4)
            ),
        }
        measured: dict[str, list[float]] = {}
        for label, spec in rows.items():
            log(f"exposure: {label}")
            emu.set_latency(spec["latency"])
            if "of" in spec:
                values = [v + spec["extra"] for v in measured[spec["of"]]]
            elif spec["storm"]:  # each sample sleeps ~8 s of Retry-After: side by side
                values = side_by_side(
                    lambda r, x=spec["extra"]: scenario(emu, engine, r, storm=True, extra_s=x),
                    rng,
                    spec["n"],
                    spec["n"],
                )
            else:  # the latency is the figure: one at a time
                values = [
                    scenario(emu, engine, rng, storm=False, extra_s=spec["extra"]) for _ in range(spec["n"])
                ]
            emu.clear_faults()
            measured[label] = values
            out[label] = percentiles(values)
        out.update(firewall_rows(emu, engine, rng, samples))
        out["settle_s"] = engine.arm.settings.settle_s
        out["side_by_side"] = SIDE_BY_SIDE
    sweep_s = graph_sweep_s or 0.0
    ticks = [rng.uniform(0, TIMER_S) + sweep_s for _ in range(10_000)]
    out["reconcile only (6 h timer, Resource Graph sweep)"] = percentiles(ticks)
    out["alternatives"] = ALTERNATIVES
    return out
