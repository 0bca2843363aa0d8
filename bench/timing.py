"""Where ``make bench``'s own time goes: each section's wall and load, and the work inside it.

A 10-minute budget is only kept if every second is accounted for, so the bench times itself:
each section (``section``) records its wall and the 1-minute load average before and after it
(the machine is shared: a slow section on a busy machine says so), and the plumbing that is not
a measurement in itself records a ``phase`` inside the current section: emulator start and stop,
seeding an estate, exporting and compiling an earlier tree, and every child process by what it
runs. Phases are recorded from the bench's main thread only, one after another, so within a
section they never overlap; what they leave of the wall is the section's own in-process work.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

#: section -> phase -> [count, seconds]; "setup" until the first section starts.
_PHASES: dict[str, dict[str, list[float]]] = {}
_SECTIONS: dict[str, dict[str, Any]] = {}
_current = "setup"


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Time ``name`` inside the current section (only on the main thread: see the module doc)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    started = time.perf_counter()
    try:
        yield
    finally:
        slot = _PHASES.setdefault(_current, {}).setdefault(name, [0, 0.0])
        slot[0] += 1
        slot[1] += time.perf_counter() - started


@contextmanager
def section(name: str) -> Iterator[None]:
    """Run one section: its wall, the load average before and after, and its phases."""
    global _current
    previous, _current = _current, name
    load_before, started, cpu = os.getloadavg()[0], time.perf_counter(), cpu_s()
    try:
        yield
    finally:
        _SECTIONS[name] = {
            "wall_s": time.perf_counter() - started,
            "cpu_s": cpu_s() - cpu,
            "load_before": load_before,
            "load_after": os.getloadavg()[0],
        }
        _current = previous


def cpu_s() -> float:
    """CPU seconds of this process and of every child it has reaped (each child process the bench
    runs is waited for inside its section): divided by a section's wall, the cores it got."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def report() -> dict[str, Any]:
    """Every section's wall and load, and each one's phases (count and seconds), as recorded."""
    out: dict[str, Any] = {}
    for name in [*_SECTIONS, *(n for n in _PHASES if n not in _SECTIONS)]:
        entry = dict(_SECTIONS.get(name, {}))
        phases = _PHASES.get(name, {})
        entry["phases"] = {k: {"n": int(n), "s": round(s, 2)} for k, (n, s) in phases.items()}
        if "wall_s" in entry:
            entry["rest_s"] = round(entry["wall_s"] - sum(s for _, s in phases.values()), 2)
        out[name] = entry
    return out
