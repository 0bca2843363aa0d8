"""docs/BENCHMARKS.md's account of ``make bench``'s own duration (bench.timing), kept out of report.py.

The goal is under 10 minutes on this 2-core machine; whether it was met depends on the machine's
load as much as on the bench, so each section is shown with the load average around it and with
what its time went to.
"""

from __future__ import annotations

from typing import Any

#: Phase name prefixes (bench.timing) and the column each is summed into.
COLUMNS: tuple[tuple[str | tuple[str, ...], str], ...] = (
    ("child: ", "child processes"),
    ("estate: ", "seeding estates"),
    ("tree: ", "earlier trees built"),
    (("start: ", "emulator start"), "emulator/Azurite start"),
)


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _columns(phases: dict[str, dict[str, float]]) -> list[str]:
    cells = []
    for prefix, _ in COLUMNS:
        picked = {k: v for k, v in phases.items() if k.startswith(prefix)}
        seconds = sum(v["s"] for v in picked.values())
        count = sum(v["n"] for v in picked.values())
        cells.append(f"{seconds:.0f} ({count}×)" if count else "-")
    return cells


def _largest(phases: dict[str, dict[str, float]], n: int = 3) -> str:
    ranked = sorted(phases.items(), key=lambda kv: -kv[1]["s"])[:n]
    return "; ".join(
        f"{k.removeprefix('child: ')} {v['s']:.0f} s ({v['n']}×)" for k, v in ranked if v["s"] >= 1
    )


def section(r: dict[str, Any]) -> str:
    """Every section's wall, the 1-minute load average before and after it, and where it went."""
    t = r.get("timing") or {}
    if not t:
        return ""
    head = [
        "section",
        "wall s",
        "CPU s (cores)",
        "load before → after",
        *(label + " s" for _, label in COLUMNS),
    ]
    head += ["in the bench process s", "largest parts"]
    rows = [_row(head), _row(["---"] * len(head))]
    for name, e in t.items():
        if "wall_s" not in e:
            continue
        rows.append(
            _row(
                [
                    name,
                    f"{e['wall_s']:.0f}",
                    f"{e['cpu_s']:.0f} ({e['cpu_s'] / e['wall_s']:.2f})"
                    if "cpu_s" in e and e["wall_s"]
                    else "-",
                    f"{e['load_before']:.1f} → {e['load_after']:.1f}",
                    *_columns(e["phases"]),
                    f"{e['rest_s']:.0f}",
                    _largest(e["phases"]) or "-",
                ]
            )
        )
    timed = sum(e.get("wall_s", 0.0) for e in t.values())
    return "\n".join(
        [
            "## Where `make bench`'s time goes",
            "",
            f"{r['duration_s']:.0f} s from the interpreter's start to the report (to the second); the sections "
            f"below account for {timed:.0f} s of it, the rest is the interpreter's start, its imports and "
            "writing the report. `setup` reads the machine and package versions and checks c7n; `plot` draws the "
            "growth plot with `.venv-bench`'s matplotlib. Each section's wall is split into its child processes "
            "(engines, cold starts, c7n), seeding the emulator's estates, exporting and compiling the earlier "
            "trees it compares with, starting the emulator (once per bench, shared by the sections) or Azurite, and the rest, "
            "the measurement's own work in the bench process (the emulator serving the children, in-process "
            "engines, sleeps that are the figure). The load average is the machine's (1 min): it is shared, and a "
            "section run beside other work takes longer without its figure's meaning changing (ratios are "
            "measured within the same run).",
            "",
            *rows,
        ]
    )


def missed(r: dict[str, Any], total_s: float, install_s: float) -> str:
    """The reason the 10-minute goal was missed, from this run's own timing."""
    t = r.get("timing") or {}
    walls = sorted(((k, e["wall_s"]) for k, e in t.items() if "wall_s" in e), key=lambda kv: -kv[1])
    loads = [e["load_before"] for e in t.values() if "load_before" in e]
    busy = max(loads, default=0.0)
    cores = r["machine"].get("nproc") or 1
    text = (
        f"- **make bench took {total_s / 60:.1f} min** ({r['duration_s']:.0f} s"
        + (f" + {install_s:.0f} s one-time c7n install" if install_s else "")
        + "): "
        + ", ".join(f"{k} {w:.0f} s" for k, w in walls)
        + "."
    )
    cpu = sum(e.get("cpu_s", 0.0) for e in t.values())
    timed = sum(e.get("wall_s", 0.0) for e in t.values())
    if busy > cores:
        text += (
            f" The machine was shared: the 1-minute load average reached {busy:.1f} on {cores} cores during the "
            "run (see *Where `make bench`'s time goes*), so every section took longer than on an idle machine"
            + (
                f": the bench and its children used {cpu:.0f} CPU-seconds in {timed:.0f} s, "
                f"{cpu / timed:.2f} of the {cores} cores on average."
                if cpu and timed
                else "."
            )
        )
    return text
