"""Growth: sweep wall time and ARM calls at 100, 1,000 and 10,000 registries (10 subscriptions,
1 % drifted, 50 ms per ARM call), with a least-squares line through each series.

"Linear" is judged on the fit, not by eye: wall = a + b * n with R² and the 1,000 -> 10,000
growth factor (10x registries; linear would be ~10x once the fixed cost is small).
The 10,000 point is the sweep section's 1 % run, not run twice.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from bench import c7n, sweep
from bench.common import emulator, log

SIZES = (100, 1000, 10_000)


def fit(xs: list[float], ys: list[float]) -> dict[str, float]:
    """Ordinary least squares y = a + b x, and R²."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True))
    b = sxy / sxx
    a = my - b * mx
    ss_res = sum((y - (a + b * x)) ** 2 for x, y in zip(xs, ys, strict=True))
    ss_tot = sum((y - my) ** 2 for y in ys)
    return {"intercept": a, "slope": b, "r2": 1 - ss_res / ss_tot if ss_tot else 1.0}


def measure(sweep_results: dict[str, Any] | None, repeats: int = 5) -> dict[str, Any]:
    """``sweep_results`` gives the 10,000 point; without it (``--only growth``) it is run here too."""
    points: dict[str, dict[int, dict[str, Any]]] = {"ours": {}, "c7n": {}}
    if sweep_results:
        points["ours"][SIZES[-1]] = sweep_results["ours_0.01"]
        if "c7n_0.01" in sweep_results:
            points["c7n"][SIZES[-1]] = sweep_results["c7n_0.01"]
    c7n_ok = c7n.unavailable_reason() is None
    with emulator() as emu, tempfile.TemporaryDirectory(prefix="bench-growth-") as tmp:
        for size in SIZES[:-1] if sweep_results else SIZES:
            seed = sweep.estate(size, 0.01)
            runs: dict[str, list[dict[str, Any]]] = {"ours": []}
            if c7n_ok:
                runs["c7n"] = []
                files = c7n.write_files(Path(tmp) / f"c7n{size}", seed["meta"]["subscriptions"][0])
            for i in range(repeats):
                for who in sorted(runs, reverse=bool(i % 2)):  # alternate who goes first
                    log(f"growth: {who} at {size} registries, run {i + 1}/{repeats}")
                    run = sweep.sweep_ours(emu, seed) if who == "ours" else sweep.sweep_c7n(emu, seed, files)
                    runs[who].append(run)
            for who, rs in runs.items():
                points[who][size] = sweep.summarise(rs)
    out: dict[str, Any] = {"sizes": list(SIZES), "points": {}, "fits": {}}
    for who, by_size in points.items():
        if len(by_size) < len(SIZES):
            continue
        xs = [float(s) for s in SIZES]
        walls = [by_size[s]["wall_s"] for s in SIZES]
        calls = [float(by_size[s]["calls"]["arm_total"]) for s in SIZES]
        out["points"][who] = {
            str(s): {"wall_s": by_size[s]["wall_s"], "arm_calls": by_size[s]["calls"]["arm_total"]}
            for s in SIZES
        }
        out["fits"][who] = {
            "wall": fit(xs, walls),
            "calls": fit(xs, calls),
            "wall_growth_1k_to_10k": walls[2] / walls[1],
            "calls_growth_1k_to_10k": calls[2] / calls[1],
        }
    return out
