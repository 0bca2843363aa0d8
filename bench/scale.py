"""Tenant scale: the per-subscription list sweep and the Resource Graph sweep, side by side.

100 registries per subscription (one list page each), 1 % drifted, 50 ms per ARM call (ARG
queries included), up to 100,000 registries across 1,000 subscriptions. Both sweeps run the
Function's own engine in a child process (``bench.workload``, modes ``reconcile`` and ``graph``);
ARM calls, ARG queries and the quota come from the emulator's request log and headers, peak RSS
from the child's rusage. The emulator's RSS for the estate is measured in this process.

Target (issue 16): the ARG sweep fixes every drifted registry in <= 30 s, with <= 5 ARG queries
plus 2 ARM calls per drifted registry, and >= 10x fewer calls than the list sweep. The sweep runs
in two phases (acrguard.engine.graph_sweep): the fix phase is what the target measures; the report phase
(report-only findings, from ARG's rows) is reported beside it and must make no ARM call. The
emulator's CPU time during each sweep is measured in this process, which is the emulator.
"""

from __future__ import annotations

import gc
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import scale_report
from bench.common import LATENCY_S, OUT_DIR, arm_calls, emulator, log, restore_written, seed_index, workload
from bench.timing import phase as timed
from emulator import Emulator
from emulator.seeds import generate

PER_SUBSCRIPTION = 100
SIZES = (1_000, 10_000, 100_000)
DRIFT = 0.01


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def phase_figures(details: dict[str, Any], records: list[Any]) -> dict[str, Any]:
    """Each Resource Graph phase's cost from the emulator's log (its ARM calls fall between the
    phase's start and end), beside what the sweep says it found."""
    out = {}
    for name, phase in (details.get("phases") or {}).items():
        during = [r for r in records if phase["started_at"] <= r.at <= phase["ended_at"]]
        out[name] = {
            "wall_s": phase["wall_s"],
            "arg_s": phase["arg_s"],
            "arg_queries": sum(r.route == "resourcegraph" for r in during),
            "arm_calls": arm_calls(during)["arm_total"],
            "registries": phase["registries"],
            "fixes": phase["fixes"],
            "findings": phase["findings"],
        }
    return out


def one(emu: Emulator, mode: str, seed: dict[str, Any]) -> dict[str, Any]:
    emu.resource_graph.reset()
    emu.clear_faults()
    emu._log.clear()  # the estate stays seeded: both sweeps see the same registries
    spec = {"mode": mode, "subscriptions": seed["meta"]["subscriptions"]}
    emulator_cpu = time.process_time()  # this process serves ARM and ARG: the emulator's cost
    run = workload(emu, spec, what=f"{mode} sweep", timeout=1800)
    emulator_cpu = time.process_time() - emulator_cpu
    records = emu.requests
    graph = [r for r in records if r.route == "resourcegraph"]
    drifted = len(seed["meta"]["drifted"])
    calls = arm_calls(records)
    details = run.result.get("details") or {}
    return {
        "phases": phase_figures(details, records),
        "emulator_cpu_s": round(emulator_cpu, 2),
        # ARG's service time beyond the emulated latency: evaluating KQL over the estate and
        # encoding pages, in the emulator (the real service does this on its own machines).
        "emulator_arg_s": round(sum(r.duration_ms / 1000 - LATENCY_S for r in graph), 2),
        "wall_s": run.result["wall_s"],
        "cpu_s": run.result["cpu_s"],
        "peak_rss_mb": run.result.get("vm_hwm_mb") or run.max_rss_mb,
        "arg_s": details.get("arg_s"),
        "arm_calls": calls["arm_total"],
        "calls": calls,
        "arg_queries": len(graph),
        "arg_quota_used": len(graph),
        "arg_quota_remaining_min": details.get("arg_quota_remaining"),
        "candidates": details.get("candidates"),
        "applied": run.result["counts"]["applied"],
        "all_drifted_fixed": run.result["counts"]["applied"] == drifted,
        "source": details.get("source", "list"),
    }


def measure(sizes: tuple[int, ...] = SIZES) -> dict[str, Any]:
    out: dict[str, Any] = {
        "per_subscription": PER_SUBSCRIPTION,
        "drift": DRIFT,
        "latency_ms": LATENCY_S * 1000,
    }
    rows = []
    with emulator() as emu:
        for total in sizes:
            subscriptions = total // PER_SUBSCRIPTION
            seed = generate(subscriptions=subscriptions, per_subscription=PER_SUBSCRIPTION, drift_ratio=DRIFT)
            emu.reset()
            gc.collect()
            before = rss_mb()
            with timed("estate: load"):
                emu.seed(seed)
            drifted = {key.lower() for key in seed["meta"]["drifted"]}
            restore = {k: v for k, v in seed_index(seed["registries"]).items() if k in drifted}
            del seed["registries"]
            gc.collect()
            estate_mb = rss_mb() - before
            emu.set_latency(LATENCY_S)
            row: dict[str, Any] = {
                "registries": total,
                "subscriptions": subscriptions,
                "drifted": len(seed["meta"]["drifted"]),
                "emulator_estate_mb": round(estate_mb, 1),
            }
            for mode in ("graph", "reconcile"):
                log(f"scale {total:,} registries: {mode} sweep")
                row[mode] = one(emu, mode, seed)
                if mode == "graph":  # the list sweep needs the drift back: only what was written
                    with timed("estate: load"):
                        if not restore_written(emu, restore):
                            emu.reset()
                            emu.seed(
                                generate(
                                    subscriptions=subscriptions,
                                    per_subscription=PER_SUBSCRIPTION,
                                    drift_ratio=DRIFT,
                                )
                            )
                    emu.set_latency(LATENCY_S)
            graph, listed = row["graph"], row["reconcile"]
            row["call_ratio"] = round(
                listed["arm_calls"] / max(1, graph["arm_calls"] + graph["arg_queries"]), 1
            )
            fix, report = graph["phases"]["fix"], graph["phases"].get("report")
            row["target"] = {  # the fix phase finds and fixes every drifted registry
                "within_30_s": fix["wall_s"] <= 30,
                "at_most_5_queries": fix["arg_queries"] <= 5,
                "two_calls_per_drifted": fix["arm_calls"] <= 2 * row["drifted"],
                "report_without_arm_calls": report is None or report["arm_calls"] == 0,
                "ten_times_fewer_calls": row["call_ratio"] >= 10,
                "all_fixed": graph["all_drifted_fixed"],
            }
            rows.append(row)
    out["sizes"] = rows
    return out


def main() -> None:
    """``python -m bench.scale [SIZE ...] [--section FILE]``: the scale figures as JSON; with
    ``--section``, also regenerate that file's tenant-scale section (and only it) from them."""
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=main.__doc__)
    parser.add_argument("sizes", nargs="*", type=int, help=f"registries (default {SIZES})")
    parser.add_argument(
        "--section", type=Path, help="a BENCHMARKS.md whose tenant-scale section is rewritten"
    )
    args = parser.parse_args()
    load_before = os.getloadavg()
    results = measure(tuple(args.sizes) or SIZES)
    results.update(
        date=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        load_before=load_before,
        load_after=os.getloadavg(),
    )
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "scale.json").write_text(json.dumps(results, indent=1))
    if args.section:
        args.section.write_text(scale_report.replace_section(args.section.read_text(), {"scale": results}))
        log(f"rewrote the tenant-scale section of {args.section}")
    print(json.dumps(results, indent=1))


def graph_wall(results: dict[str, Any]) -> float | None:
    """How long the largest Resource Graph sweep took to fix its drifted registries (its fix
    phase; the report phase runs after every write): the reconcile-only exposure adds it."""
    sizes = (results.get("scale") or {}).get("sizes") or []
    if not sizes:
        return None
    graph = sizes[-1]["graph"]
    return float((graph.get("phases", {}).get("fix") or graph)["wall_s"])


if __name__ == "__main__":
    main()
