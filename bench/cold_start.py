"""Cold start: a fresh process that imports the app, loads the policy and handles one event.

Compared, in the same run and interleaved round by round (so machine load hits all alike):

- ``floor``: a process that only imports the five packages such a Function needs, and PyYAML;
- ``ours``: ``function_app`` imported as the host indexes it, then one drifted-registry event
  (a GET and a PATCH against the emulator, a managed-identity token first), run from the package
  azd would deploy (the app files plus the prepackage hook's bytecode);
- ``ours_no_bytecode``: the same package without the hook's bytecode. Python writes no cache here
  (``PYTHONDONTWRITEBYTECODE``, as on Azure's read-only package mount), so every run compiles our
  modules: what a deployment without the hook pays on every cold start;
- ``ours_baseline``: the same, on the tree at ``BASELINE_REV`` (before the import work, bytecode
  compiled by the same hook), so the before/after is measured here rather than remembered;
- ``c7n_validate``: ``custodian validate`` of the equivalent policy;
- ``c7n_event``: c7n-azure's Function handler (``handler.run``) on the same event.

"Ready" is spawn to the child's done line; teardown (interpreter exit) is reported apart
because a Functions worker does not exit after its first event.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench import c7n
from bench.common import (
    BASELINE_POLICY_LIBS,
    BASELINE_REV,
    PROJECT_PY,
    ROOT,
    ChildRun,
    arm_calls,
    child_env,
    compile_bytecode,
    emulator,
    export_tree,
    importable,
    log,
    median,
    package_tree,
    run_child,
    write_event,
)
from emulator.event_delivery import host_event_kwargs
from emulator.seeds import DEMO_SEED

DRIFTED = (
    "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-platform"
    "/providers/Microsoft.ContainerRegistry/registries/contosoprod"
)
#: The libraries each tree validates policies.yaml with (timed as their own phase).
POLICY_LIBS = "msgspec,yaml"
#: Modules the Function path must never load (the CLI's, and notification sinks nobody configured).
FORBIDDEN = ("rich", "typer", "click", "azure.storage", "acrguard.cli", "acrguard.notify.sinks", "emulator")


def _ours(tree: Path, env: dict[str, str], *extra: str) -> ChildRun:
    # cwd first on sys.path (as the Functions host puts the app root), bench importable after it.
    return run_child([str(PROJECT_PY), *extra, "-m", "bench.cold_child", "ours"], env=env, cwd=tree)


def measure(rounds: int = 7) -> dict[str, Any]:
    runs: dict[str, list[ChildRun]] = defaultdict(list)
    calls: dict[str, dict[str, int]] = {}
    notes: list[str] = []
    c7n_reason = c7n.unavailable_reason()
    with emulator() as emu, tempfile.TemporaryDirectory(prefix="bench-cold-") as tmp:
        package = package_tree(Path(tmp) / "package")
        source_only = package_tree(Path(tmp) / "source_only", bytecode=False)
        baseline = export_tree(BASELINE_REV, Path(tmp) / "baseline")
        if baseline is None:
            notes.append(f"baseline {BASELINE_REV[:10]} could not be exported with git: no before/after")
        elif not importable(BASELINE_POLICY_LIBS):
            notes.append(
                f"baseline {BASELINE_REV[:10]} needs {BASELINE_POLICY_LIBS}, not installed: no before/after"
            )
            baseline = None
        else:
            compile_bytecode(baseline)
        event = write_event(DRIFTED)
        # No child writes bytecode: each variant runs exactly what its package ships (as Azure's
        # read-only mount does), whatever this machine's environment says.
        env = child_env(
            emu,
            BENCH_EVENT=json.dumps(host_event_kwargs(event)),
            PYTHONDONTWRITEBYTECODE="1",
            BENCH_POLICY_LIBS=POLICY_LIBS,
        )
        files = c7n.write_files(Path(tmp) / "c7n", DRIFTED.split("/")[2]) if c7n_reason is None else {}

        def floor() -> ChildRun:
            return run_child([str(PROJECT_PY), "-m", "bench.cold_child", "floor"], env=env)

        variants: dict[str, Any] = {
            "floor": floor,
            "ours": lambda: _ours(package, env),
            "ours_no_bytecode": lambda: _ours(source_only, env),
            "floor_then_ours": lambda: run_child(
                [str(PROJECT_PY), "-m", "bench.cold_child", "floor_then_ours"], env=env, cwd=package
            ),
        }
        if baseline is not None:
            base_env = {
                **env,
                "ACRGUARD_POLICY_FILE": str(baseline / "policies.yaml"),
                "BENCH_POLICY_LIBS": BASELINE_POLICY_LIBS,
            }
            variants["ours_baseline"] = lambda: _ours(baseline, {**base_env, "PYTHONPATH": str(ROOT)})
        if c7n_reason is None:
            variants["c7n_validate"] = lambda: c7n.run(
                "validate", {"policy_file": files["event_policy"]}, env
            )
            variants["c7n_event"] = lambda: c7n.run(
                "event",
                {
                    "arm_url": emu.arm_url,
                    "config_file": files["event_policy"],
                    "auth_file": files["auth_file"],
                    "events": [event],
                },
                env,
            )
        else:
            notes.append(f"c7n not measured: {c7n_reason}")
        names = list(variants)
        for name in names:  # untimed: files in the page cache, for every variant alike
            variants[name]()
        for round_no in range(rounds):
            log(f"cold start round {round_no + 1}/{rounds}")
            order = names[round_no % len(names) :] + names[: round_no % len(names)]  # rotate the order
            for name in order:
                emu.reset()
                emu.seed(DEMO_SEED)
                run = variants[name]()
                if run.returncode != 0:
                    raise RuntimeError(f"cold start {name} failed: {run.stderr[-3000:]}")
                runs[name].append(run)
                calls[name] = arm_calls(emu.requests)
                if name.startswith("c7n_event"):
                    calls[name]["providers_get_shimmed"] = int(run.result.get("providers_get", 0))
        imports = import_profile(package, env)
        base_imports = import_profile(baseline, base_env) if baseline is not None else None
    summary = {name: summarise(rs) for name, rs in runs.items()}
    ready = {name: [r.ready_s or r.wall_s for r in rs] for name, rs in runs.items()}
    per_round = {
        label: [x / y for x, y in zip(ready[a], ready[b], strict=True)]
        for label, (a, b) in PAIRS.items()
        if a in ready and b in ready
    }
    return {
        "rounds": rounds,
        "variants": summary,
        "calls": calls,
        "ratios": ratios(summary),
        "per_round_ratios": per_round,
        "imports": imports,
        "imports_baseline": base_imports,
        "baseline_rev": BASELINE_REV,
        "notes": notes,
        "c7n_unavailable": c7n_reason,
        "samples": {name: [round(r.ready_s or r.wall_s, 3) for r in rs] for name, rs in runs.items()},
    }


PHASES = ("start", "floor_imported", "app_imported", "policy_libs_imported", "engine_built", "done")


def phases(run: ChildRun) -> dict[str, float]:
    """Seconds per phase: interpreter start, then each mark the child set, in order."""
    marks = run.result.get("marks") or {}
    if not marks or run.ready_s is None:
        return {}
    spawned = marks["done"] - run.ready_s
    out, previous = {}, spawned
    for name in PHASES:
        if name in marks:
            out[name] = marks[name] - previous
            previous = marks[name]
    return out


def summarise(runs: list[ChildRun]) -> dict[str, Any]:
    ready = [r.ready_s if r.ready_s is not None else r.wall_s for r in runs]
    split = [phases(r) for r in runs]
    return {
        "phases_s": {k: median(p[k] for p in split) for k in split[0]} if split and split[0] else {},
        "ready_s": median(ready),
        "wall_s": median(r.wall_s for r in runs),
        "teardown_s": median(r.wall_s - (r.ready_s or r.wall_s) for r in runs),
        "cpu_s": median(r.cpu_s for r in runs),
        "rss_mb": median(r.max_rss_mb for r in runs),
        "modules": median(float(r.result.get("modules", 0)) for r in runs),
        "min_ready_s": min(ready),
        "max_ready_s": max(ready),
    }


PAIRS = {
    "floor_then_ours/floor": ("floor_then_ours", "floor"),
    "ours/floor": ("ours", "floor"),
    "ours_no_bytecode/floor": ("ours_no_bytecode", "floor"),
    "ours_baseline/floor": ("ours_baseline", "floor"),
    "c7n_event/ours": ("c7n_event", "ours"),
    "c7n_validate/ours": ("c7n_validate", "ours"),
}


def ratios(s: dict[str, dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for label, (a, b) in PAIRS.items():
        if a in s and b in s:
            out[label] = {k: s[a][k] / s[b][k] for k in ("ready_s", "wall_s", "cpu_s", "rss_mb")}
    return out


_LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def import_profile(tree: Path, env: dict[str, str]) -> dict[str, Any]:
    """``-X importtime`` of the ``ours`` and ``floor`` children (medians of 5), compared module by module.

    Every module a process imports appears in its importtime listing, so the two listings give
    both module sets and each module's own (self) time. Absolute times are inflated by
    -X importtime; the shares are not.
    """
    ours = _importtime(["-X", "importtime", "-m", "bench.cold_child", "ours"], tree, env)
    floor = _importtime(["-X", "importtime", "-m", "bench.cold_child", "floor"], tree, env)
    added = [m for m in ours if m not in floor]
    floor_only = [m for m in floor if m not in ours]
    own = {m: ours[m] for m in ours if m.split(".")[0] in ("acrguard", "remediators", "function_app")}
    return {
        "ours_total_ms": sum(ours.values()) / 1000,
        "floor_total_ms": sum(floor.values()) / 1000,
        "added_modules": len(added),
        "added_ms_by_package": _by_package(added, ours),
        "floor_only_modules": len(floor_only),
        "floor_only_ms_by_package": _by_package(floor_only, floor),
        "own_ms": {k: v / 1000 for k, v in sorted(own.items(), key=lambda kv: -kv[1])},
        "modules": sorted(ours),
        "forbidden_loaded": sorted(
            m for m in ours if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)
        ),
    }


def _importtime(args: list[str], tree: Path, env: dict[str, str], runs: int = 5) -> dict[str, int]:
    """Median self time per module over ``runs`` processes (one listing is too noisy on a shared box)."""
    samples: dict[str, list[int]] = {}
    for _ in range(runs):
        run = run_child([str(PROJECT_PY), *args], env=env, cwd=tree)
        if run.returncode != 0:
            raise RuntimeError(f"importtime run failed: {run.stderr[-2000:]}")
        seen: dict[str, int] = {}
        for match in _LINE.finditer(run.stderr):
            seen[match.group(4)] = seen.get(match.group(4), 0) + int(match.group(1))
        for name, us in seen.items():
            samples.setdefault(name, []).append(us)
    return {name: int(median(us)) for name, us in samples.items()}


def _group(name: str) -> str:
    parts = name.split(".")
    return ".".join(parts[:3]) if parts[0] == "azure" else parts[0]


def _by_package(names: list[str], self_us: dict[str, int]) -> dict[str, float]:
    out: dict[str, int] = {}
    for name in names:
        out[_group(name)] = out.get(_group(name), 0) + self_us.get(name, 0)
    return {k: v / 1000 for k, v in sorted(out.items(), key=lambda kv: -kv[1])}
