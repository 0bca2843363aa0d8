"""Draw the growth plot: ``.venv-bench/bin/python -m bench.plot RESULTS.json OUT.png``.

Runs in ``.venv-bench`` (matplotlib lives there, next to c7n) so the project's own dependencies
stay untouched. Reads the ``growth`` section of the results file written by ``python -m bench``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

LABELS = {"ours": "ACR Guard (reconcile, fixes drift)", "c7n": "c7n-azure pull mode (finds only)"}


def main(results_path: str, out_path: str) -> None:
    growth = json.loads(Path(results_path).read_text(encoding="utf-8"))["growth"]
    sizes = growth["sizes"]
    fig, (ax_wall, ax_calls) = plt.subplots(1, 2, figsize=(11, 4.2))
    for who, points in growth["points"].items():
        walls = [points[str(s)]["wall_s"] for s in sizes]
        calls = [points[str(s)]["arm_calls"] for s in sizes]
        f_wall = growth["fits"][who]["wall"]
        line = ax_wall.plot(sizes, walls, "o", label=f"{LABELS.get(who, who)}")[0]
        xs = [sizes[0] * (sizes[-1] / sizes[0]) ** (i / 60) for i in range(61)]  # dense, for a log axis
        ax_wall.plot(
            xs,
            [f_wall["intercept"] + f_wall["slope"] * x for x in xs],
            "-",
            color=line.get_color(),
            alpha=0.5,
            label=f"fit {f_wall['slope'] * 1000:.2f} s per 1k, R² {f_wall['r2']:.4f}",
        )
        ax_calls.plot(sizes, calls, "o-", color=line.get_color(), label=LABELS.get(who, who))
    for ax, title, unit in (
        (ax_wall, "Sweep wall time (50 ms per ARM call)", "seconds"),
        (ax_calls, "ARM calls per sweep (1 % drifted)", "calls"),
    ):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("registries (10 subscriptions)")
        ax.set_ylabel(unit)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out_path, dpi=110)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
