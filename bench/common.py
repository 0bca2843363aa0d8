"""Shared plumbing: the emulator as ARM, child processes, request-log arithmetic, statistics.

Why child processes: on a 2-core machine the emulator and the code under test would share one
GIL, so every throughput figure runs the engine in its own process (as in Azure, where ARM is
elsewhere). The emulator stays in the bench process, where its request log is read directly.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.timing import phase
from emulator import DEV_USER, UNSET_ENV_VARS, Emulator, RequestRecord
from emulator.arm_paths import RegistryRef as EmuRef
from emulator.event_delivery import WriteContext, registry_event
from emulator.identity import TokenRecord

ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = ROOT / "bench" / "out"
PROJECT_PY = Path(sys.executable)
BENCH_VENV = ROOT / ".venv-bench"
BENCH_PY = BENCH_VENV / "bin" / "python"
POLICY_FILE = ROOT / "demo" / "policies.yaml"  # the shipped policy with the firewall on, as measured before
ARM_ROUTES = ("registry", "list", "operation")
LATENCY_S = 0.05  # the emulated ARM latency per call
#: The Python worker's default thread pool (PYTHON_THREADPOOL_THREAD_COUNT unset, Python 3.9+):
#: ThreadPoolExecutor's default, min(32, cores + 4).
HOST_POOL = min(32, (os.cpu_count() or 1) + 4)
#: The tree before this benchmark's engine changes; before/after figures run it from git.
BASELINE_REV = "6aefd3a802b95c4a8bd15605cfdd9908e86456d9"
#: What that tree validates policies.yaml with (today's uses msgspec); pydantic comes from the dev tools.
BASELINE_POLICY_LIBS = "pydantic.main,yaml"
#: The tree the trust round 3 / "agree with Azure" work started from (main at the start of that
#: session); the per-event section runs it beside this tree to show nothing regressed.
PER_EVENT_BEFORE_REV = "e563362c78214b20b245e5fe0d623d13002d7f57"
TREE_FILES = ("function_app.py", "host.json", "policies.yaml", "acrguard", "remediators")
PREPACKAGE_HOOK = ROOT / "infra" / "hooks" / "prepackage.sh"


def median(values: Iterable[float]) -> float:
    return float(statistics.median(list(values)))


def p90(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))])


def log(message: str) -> None:
    """Progress on stderr: ``make bench`` takes minutes and should say what it is doing."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


_SHARED: dict[int, Emulator] = {}


@contextmanager
def emulator(number: int = 0) -> Iterator[Emulator]:
    """This process's emulator ``number``, started once and reset for each section (and after it):
    a reset forgets every registry, fault, latency and log but keeps the server, its CA and its
    tokens, so the sections share one start-up. It pages by 100, as ARM does for ACR."""
    if number not in _SHARED:
        with phase("start: emulator"):
            _SHARED[number] = Emulator(page_size=100).start()
        atexit.register(_SHARED[number].stop)
    emu = _SHARED[number]
    emu.reset()
    _ESTATES.pop(id(emu), None)
    try:
        yield emu
    finally:
        emu.reset()
        _ESTATES.pop(id(emu), None)


def seed_index(registries: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Seed entries by lower-case registry ID."""
    return {EmuRef(r["subscription"], r["resource_group"], r["name"]).id.lower(): r for r in registries}


def restore_written(emu: Emulator, entries: Mapping[str, Mapping[str, Any]]) -> bool:
    """Put back, from ``entries`` (``seed_index``), every registry written since the request log
    was last emptied, then empty the log, faults and Resource Graph's state; False (and nothing
    done) when something else was written. A store keeps its order on replace, so list pages
    are the same as after a fresh seed."""
    reads = ("identity", "resourcegraph")  # a token, a query: POSTs that change no registry
    written = [r for r in emu.requests if r.method not in ("GET", "HEAD") and r.route not in reads]
    keys = {(r.resource_id or "").lower() for r in written}
    if any(r.route != "registry" for r in written) or not keys <= entries.keys():
        return False
    emu.clear_faults()
    emu.resource_graph.reset()
    emu.counters.clear()
    emu._log.clear()  # no public way to empty the log without forgetting the estate
    emu.seed([entries[key] for key in sorted(keys)])
    return True


@dataclass
class _Estate:
    seed: Mapping[str, Any]  # held, so the id() that names it is not reused
    entries: dict[str, Mapping[str, Any]]


_ESTATES: dict[int, _Estate] = {}


def load_estate(emu: Emulator, seed: Mapping[str, Any], latency: float | None = None) -> None:
    """Start a run from ``seed``'s estate, with an empty request log, no faults and ``latency``.

    Seeding 10,000 registries takes seconds, and a sweep writes only its drifted registries: when
    ``emu`` already holds ``seed``, only what was written is put back (``restore_written``);
    otherwise the emulator is reset and seeded.
    """
    with phase("estate: load"):
        held = _ESTATES.get(id(emu))
        if held is None or held.seed is not seed or not restore_written(emu, held.entries):
            emu.reset()
            emu.seed(seed)
            _ESTATES[id(emu)] = _Estate(seed, seed_index(seed["registries"]))
        emu.set_latency(latency)


def child_env(emu: Emulator, **extra: str) -> dict[str, str]:
    """The environment a Function App instance would have, pointed at the emulator."""
    env = emu.subprocess_env()
    env.update(
        {
            "ACRGUARD_POLICY_FILE": str(POLICY_FILE),
            "PYTHONPATH": str(ROOT),
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.update(extra)
    return env


@contextmanager
def environment(emu: Emulator, policy: Path = POLICY_FILE) -> Iterator[None]:
    """This process's environment pointed at the emulator (for in-process engines), then restored."""
    saved = dict(os.environ)
    try:
        for name in UNSET_ENV_VARS:
            os.environ.pop(name, None)
        os.environ.update(emu.env())
        os.environ["ACRGUARD_POLICY_FILE"] = str(policy)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def export_tree(rev: str, into: Path) -> Path | None:
    """``git archive`` of the app files at ``rev``; None when git or the revision is missing."""
    with phase(f"tree: git archive {rev[:7]}"):
        try:
            into.mkdir(parents=True, exist_ok=True)
            archive = subprocess.run(
                ["git", "archive", rev, *TREE_FILES], cwd=ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
        except (OSError, subprocess.CalledProcessError):
            return None
    return into


def package_tree(into: Path, bytecode: bool = True) -> Path:
    """The app as azd packages it from this working tree: ``TREE_FILES``, plus (``bytecode``) the
    prepackage hook's compiled modules. Without them a read-only package compiles on every start."""
    with phase("tree: copy this tree"):
        into.mkdir(parents=True, exist_ok=True)
        for name in TREE_FILES:
            source = ROOT / name
            if source.is_dir():
                shutil.copytree(source, into / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy2(source, into / name)
    if bytecode:
        compile_bytecode(into)
    return into


def compile_bytecode(tree: Path) -> None:
    """Run the deployment's own prepackage hook in ``tree``, with this Python (the Function's 3.11)."""
    with phase("tree: prepackage hook (bytecode)"):
        subprocess.run(
            ["sh", str(PREPACKAGE_HOOK)], cwd=tree, env={**os.environ, "PYTHON": str(PROJECT_PY)}, check=True
        )


def importable(modules: str) -> bool:
    """Whether the project's Python can import every one of ``modules`` (comma-separated)."""
    code = "import importlib, sys; [importlib.import_module(m) for m in sys.argv[1].split(',')]"
    with phase("child: import check"):
        return subprocess.run([str(PROJECT_PY), "-c", code, modules], capture_output=True).returncode == 0


def registry_ids(seed: Mapping[str, Any]) -> dict[str, list[str]]:
    """A generated seed's registry IDs by state: ``drifted``, ``compliant`` (fixable SKU), ``basic``."""
    drifted = set(seed["meta"]["drifted"])
    out: dict[str, list[str]] = {"drifted": [], "compliant": [], "basic": []}
    for r in seed["registries"]:
        rid = EmuRef(r["subscription"], r["resource_group"], r["name"]).id
        kind = "drifted" if rid in drifted else "basic" if r["sku"] == "Basic" else "compliant"
        out[kind].append(rid)
    return out


@dataclass(frozen=True)
class ChildRun:
    """One child process: what it printed (JSON) and what the kernel says it cost."""

    result: dict[str, Any]
    wall_s: float  # spawn -> exit
    ready_s: float | None  # spawn -> the child's "done" line (before interpreter teardown)
    cpu_s: float  # user + sys of the whole process (rusage from wait4)
    max_rss_mb: float
    returncode: int
    stderr: str


def run_child(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path = ROOT,
    stdin: dict[str, Any] | None = None,
    timeout: float = 600,
) -> ChildRun:
    """Run ``argv``; its last stdout line is JSON with an optional ``t_done`` (time.time()).

    Peak RSS and CPU come from ``os.wait4`` for this child alone (RUSAGE_CHILDREN would be the
    maximum over every child so far).
    """
    with phase(f"child: {child_name(argv)}"):
        return _run_child(argv, env=env, cwd=cwd, stdin=stdin, timeout=timeout)


def child_name(argv: Sequence[str]) -> str:
    """What a child runs, for the bench's own timing: ``bench.cold_child ours``, ``bench.workload``."""
    args = [a for a in argv[1:] if a != "-X" and a != "importtime"]
    if "-m" in args:
        rest = args[args.index("-m") + 1 :]
        name = " ".join(rest[:2]) if rest[0] in ("bench.cold_child", "bench.c7n_child") else rest[0]
        return name + (" -X importtime" if "importtime" in argv else "")
    return "python -c" if "-c" in args else " ".join(args[:1])


def _run_child(
    argv: Sequence[str], *, env: Mapping[str, str], cwd: Path, stdin: dict[str, Any] | None, timeout: float
) -> ChildRun:
    started = time.time()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    chunks: dict[str, bytes] = {}
    pumps = [
        threading.Thread(target=lambda n=name, s=stream: chunks.__setitem__(n, s.read()), daemon=True)
        for name, stream in (("out", proc.stdout), ("err", proc.stderr))
    ]
    for pump in pumps:
        pump.start()
    timed_out = threading.Event()
    killer = threading.Timer(timeout, lambda: (timed_out.set(), proc.kill()))
    killer.start()
    try:
        assert proc.stdin is not None
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.write(json.dumps(stdin or {}).encode())
            proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)  # reaped here, so Popen.wait() must not run
        ended = time.time()
    finally:
        killer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    for pump in pumps:
        pump.join()
    out, err = chunks.get("out", b""), chunks.get("err", b"")
    if timed_out.is_set():
        raise RuntimeError(f"{argv!r} timed out after {timeout}s: {err.decode()[-2000:]}")
    returncode = proc.returncode
    lines = [line for line in out.decode().splitlines() if line.strip()]
    try:
        result = json.loads(lines[-1]) if lines else {}
    except ValueError:
        result = {"raw": lines[-1]}
    t_done = result.get("t_done") if isinstance(result, dict) else None
    return ChildRun(
        result=result if isinstance(result, dict) else {"value": result},
        wall_s=ended - started,
        ready_s=(t_done - started) if isinstance(t_done, int | float) else None,
        cpu_s=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        returncode=returncode,
        stderr=err.decode(errors="replace"),
    )


#: Earlier trees' example allow-list (RFC 5737 ranges, refused since), and what replaced it in
#: demo/policies.yaml and the emulator's seeds: an earlier tree is measured with its own policy but
#: today's allow-list, so the same seeded registries are compliant or drifted under both trees.
_EARLIER_ALLOW_LIST = {"203.0.113.0/24": "20.1.2.0/24", "198.51.100.7": "20.9.8.7"}


def tree_policy(tree: Path) -> Path:
    """The policy a tree's engine is measured with: its demo policy (the shipped one with the
    firewall on) where it has one; else its own policies.yaml (earlier trees shipped the firewall on)
    with today's example allow-list, written beside it (an earlier tree's engine may not know
    today's rules, so today's file is not used)."""
    demo = tree / "demo" / "policies.yaml"
    if demo.is_file():
        return demo
    text = (tree / "policies.yaml").read_text(encoding="utf-8")
    for earlier, today in _EARLIER_ALLOW_LIST.items():
        text = text.replace(earlier, today)
    measured = tree / ".bench-policy.yaml"
    measured.write_text(text, encoding="utf-8")
    return measured


def workload(
    emu: Emulator, spec: dict[str, Any], tree: Path = ROOT, what: str = "workload", timeout: float = 600
) -> ChildRun:
    """Run ``bench.workload`` with ``spec`` on the engine in ``tree`` (its own policies.yaml: an
    earlier tree's engine does not know today's rules); a failed child raises with its stderr."""
    env = child_env(emu, ACRGUARD_POLICY_FILE=str(tree_policy(tree)))
    run = run_child([str(PROJECT_PY), "-m", "bench.workload"], env=env, cwd=tree, stdin=spec, timeout=timeout)
    if run.returncode != 0:
        raise RuntimeError(f"{what} failed: {run.stderr[-3000:]}")
    return run


def write_event(resource_id: str, operation: str = "Microsoft.ContainerRegistry/registries/write") -> dict:
    """An Event Grid ``ResourceWriteSuccess`` exactly as the emulator emits it for a portal user."""
    ref = EmuRef.parse(resource_id)
    now = time.time()
    token = TokenRecord("unused", DEV_USER, "https://management.azure.com", now, now + 3600)
    context = WriteContext(
        token=token,
        method="PATCH",
        url=f"https://management.azure.com{resource_id}?api-version=2025-11-01",
        client_ip="203.0.113.50",
        client_request_id=str(uuid.uuid4()),
        correlation_id=str(uuid.uuid4()),
    )
    event = registry_event(ref, context)
    if operation != event["data"]["operationName"]:
        event["data"]["operationName"] = operation
        event["data"]["authorization"]["action"] = operation
    return event


def arm_calls(records: Iterable[RequestRecord]) -> dict[str, int]:
    """ARM calls by kind, from the emulator's request log: what the run cost against ARM limits."""
    counts = {"lists": 0, "gets": 0, "writes": 0, "polls": 0, "tokens": 0, "other": 0}
    for r in records:
        if r.route == "list":
            counts["lists"] += 1
        elif r.route == "registry":
            counts["gets" if r.method in ("GET", "HEAD") else "writes"] += 1
        elif r.route == "operation":
            counts["polls"] += 1
        elif r.route == "identity":
            counts["tokens"] += 1
        else:
            counts["other"] += 1
    counts["arm_total"] = counts["lists"] + counts["gets"] + counts["writes"] + counts["polls"]
    return counts


def max_in_flight(records: Iterable[RequestRecord], routes: Sequence[str] = ARM_ROUTES) -> int:
    """Most ARM calls being served at once, from each record's end time and duration.

    The emulator logs ``at`` when a request finishes; its start is ``at - duration``. A sweep
    over the sorted start/end points gives the peak. Ends sort before starts at equal times, so
    back-to-back calls on one connection never count twice.
    """
    points: list[tuple[float, int]] = []
    for r in records:
        if r.route in routes:
            points.append((r.at - r.duration_ms / 1000, 1))
            points.append((r.at, -1))
    points.sort()
    peak = current = 0
    for _, delta in points:
        current += delta
        peak = max(peak, current)
    return peak


def mean_in_flight(records: Iterable[RequestRecord], routes: Sequence[str] = ARM_ROUTES) -> float:
    """Average ARM calls in flight over the span of the ARM calls (total call time / span)."""
    spans = [(r.at - r.duration_ms / 1000, r.at) for r in records if r.route in routes]
    if not spans:
        return 0.0
    span = max(end for _, end in spans) - min(start for start, _ in spans)
    return sum(end - start for start, end in spans) / span if span > 0 else 0.0


def writes_per_registry(records: Iterable[RequestRecord]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in records:
        if r.route == "registry" and r.method not in ("GET", "HEAD") and r.resource_id:
            key = r.resource_id.lower()
            counts[key] = counts.get(key, 0) + 1
    return counts
