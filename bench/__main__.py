"""``python -m bench`` (``make bench``): run every benchmark, then write docs/BENCHMARKS.md and the plot.

Raw results go to ``bench/out/results.json`` (git-ignored); the report and the PNG are generated
from them, never edited by hand. ``--quick`` runs fewer repetitions (for trying changes; its
report says so). ``--only SECTION`` (repeatable) runs some sections alone, for timing them on a
shared machine: their results and timings go to ``bench/out/only-<sections>.json`` and the report
is not written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from bench import (
    burst,
    c7n,
    cold_start,
    exposure,
    growth,
    iac,
    lease,
    per_event,
    report,
    scale,
    sweep,
    timing,
)
from bench.common import BENCH_PY, BENCH_VENV, OUT_DIR, ROOT, log


def process_started() -> float:
    """When this interpreter started (wall clock), so the duration includes its start and imports."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        boot = next(
            float(x.split()[1]) for x in Path("/proc/stat").read_text().splitlines() if x.startswith("btime")
        )
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return time.time()


PACKAGES = (
    "azure-functions",
    "azure-eventgrid",
    "azure-mgmt-containerregistry",
    "azure-identity",
    "azure-core",
    "tenacity",
    "msgspec",
    "PyYAML",
)


def machine() -> dict[str, Any]:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if "model name" in line), "?"
    )
    meminfo = Path("/proc/meminfo").read_text() if Path("/proc/meminfo").exists() else ""
    kb = next((int(line.split()[1]) for line in meminfo.splitlines() if line.startswith("MemTotal")), 0)
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--", "acrguard", "remediators", "function_app.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return {
        "nproc": os.cpu_count(),
        "cpu_model": model,
        "ram_gb": round(kb / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": versions,
        "git_head": head.stdout.strip() or "?",
        "app_tree_dirty": bool(dirty.stdout.strip()),
    }


def c7n_install() -> dict[str, Any]:
    """What the Makefile recorded about installing c7n into .venv-bench (seconds, or the failure)."""
    stamp, failed = BENCH_VENV / ".installed", BENCH_VENV / ".install-failed"
    if stamp.exists():
        when = datetime.fromtimestamp(stamp.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M UTC")
        return {"seconds": stamp.read_text().strip() or "?", "when": when}
    if failed.exists():
        return {"failed": failed.read_text().strip()}
    return {"failed": "not installed (run `make bench`, which installs it once)"}


def sections(
    results: dict[str, Any], quick: bool, rounds: int, samples: int, batches: int, repeats: int
) -> dict[str, Callable[[], Any]]:
    """Every section, in the order ``make bench`` runs them. Growth reuses the sweep's 10,000 point
    and exposure the largest Resource Graph sweep's wall, when those sections ran first."""
    return {
        "cold_start": lambda: cold_start.measure(rounds),
        "per_event": lambda: per_event.measure(samples, batches),
        "sweep": lambda: sweep.measure(repeats),
        "burst": burst.measure,
        "growth": lambda: growth.measure(results.get("sweep"), repeats),
        "scale": lambda: scale.measure(scale.SIZES[:2] if quick else scale.SIZES),
        "lease": lambda: lease.measure(8 if quick else lease.SAMPLES),
        "iac": lambda: iac.measure(150 if quick else iac.COUNT),
        "exposure": lambda: exposure.measure(8 if quick else exposure.SAMPLES, scale.graph_wall(results)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions; for trying changes")
    parser.add_argument(
        "--only", action="append", metavar="SECTION", help="run only this section (repeatable)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "BENCHMARKS.md")
    parser.add_argument("--plot", type=Path, default=ROOT / "docs" / "bench-growth.png")
    args = parser.parse_args()
    started = process_started()
    rounds, samples, batches, repeats = (3, 8, 3, 1) if args.quick else (11, 20, 5, 5)

    results: dict[str, Any] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "quick": args.quick}
    every = sections(results, args.quick, rounds, samples, batches, repeats)
    chosen = args.only or list(every)
    unknown = [name for name in chosen if name not in every]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; expected some of {', '.join(every)}")
    with timing.section("setup"):
        results.update(
            machine=machine(),
            load_before=os.getloadavg(),
            c7n_install=c7n_install(),
            c7n_unavailable=c7n.unavailable_reason(),
            c7n_facts=c7n.facts() if c7n.unavailable_reason() is None else None,
            settings={"rounds": rounds, "samples": samples, "batches": batches, "repeats": repeats},
        )
    for name in chosen:
        log(f"== {name}")
        with timing.section(name):
            results[name] = every[name]()
    results["load_after"] = os.getloadavg()
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    if args.only:
        results.update(timing=timing.report(), duration_s=time.time() - started)
        raw = OUT_DIR / f"only-{'-'.join(chosen)}.json"
        raw.write_text(json.dumps(results, indent=1, default=str))
        for name, entry in results["timing"].items():
            log(
                f"{name}: {entry.get('wall_s', 0):.0f} s, load {entry.get('load_before', 0):.1f} → "
                f"{entry.get('load_after', 0):.1f}; "
                + ", ".join(f"{k} {v['s']:.0f} s ({v['n']}×)" for k, v in entry["phases"].items())
            )
        log(f"wrote {raw} in {results['duration_s']:.0f} s (no report: --only)")
        return
    raw = OUT_DIR / "results.json"
    raw.write_text(json.dumps(results, indent=1, default=str))
    with timing.section("plot"):
        results["plot"] = draw(raw, args.plot)
    results["timing"] = timing.report()
    results["section_s"] = {name: entry["wall_s"] for name, entry in results["timing"].items()}
    results["duration_s"] = time.time() - started
    raw.write_text(json.dumps(results, indent=1, default=str))
    args.out.write_text(report.render(results, plot=args.plot))
    log(f"wrote {args.out} and {raw} in {results['duration_s']:.0f} s")


def draw(raw: Path, png: Path) -> str | None:
    """Plot with .venv-bench's matplotlib; None when it worked, else why not (reported)."""
    if not BENCH_PY.exists():
        return "no .venv-bench, so no matplotlib: plot not drawn"
    done = subprocess.run(
        [str(BENCH_PY), "-m", "bench.plot", str(raw), str(png)], cwd=ROOT, capture_output=True, text=True
    )
    return None if done.returncode == 0 else f"plot failed: {done.stderr.strip()[-500:]}"


if __name__ == "__main__":
    main()
