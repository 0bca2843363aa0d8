"""Waits that are counted, not waited, for code that builds its own ARM layer (the CLI, the runtime).

``Arm`` takes a :class:`acrguard.budget.Clock`; tests that build one pass
``engine_helpers.SimulatedClock``. The CLI and the Function App's runtime build theirs with the
default, :data:`acrguard.budget.SYSTEM`: :func:`skip_waits` points that object at a
:class:`SkippedWaits` for one test, so every retry backoff, Retry-After and poll interval is
recorded and added to the clock instead of slept. Time still runs at wall speed between waits (a
real socket timeout still takes its time), so the engine's ``time()`` stays comparable with the
emulator's ``lastModifiedAt`` stamps, exactly as if it had slept.
"""

from __future__ import annotations

import threading
import time

import pytest

from acrguard import budget as acrguard_clock


class SkippedWaits:
    """A Clock: wall time plus every wait asked for so far (thread-safe: sweeps sleep on a pool)."""

    def __init__(self) -> None:
        self.sleeps: list[float] = []
        self._skipped = 0.0
        self._lock = threading.Lock()

    @property
    def skipped(self) -> float:
        """Seconds asked for and not waited."""
        with self._lock:
            return self._skipped

    def time(self) -> float:
        return time.time() + self.skipped

    def monotonic(self) -> float:
        return time.monotonic() + self.skipped

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)  # zero too: a Retry-After of 0 is still a wait asked for
            self._skipped += max(0.0, seconds)


def skip_waits(monkeypatch: pytest.MonkeyPatch) -> SkippedWaits:
    """For the rest of the test, ``acrguard.budget.SYSTEM`` (the default of every ``Arm``) is a
    :class:`SkippedWaits`; returns it, to read the waits asked for."""
    clock = SkippedWaits()
    for name in ("time", "monotonic", "sleep"):
        monkeypatch.setattr(acrguard_clock.SYSTEM, name, getattr(clock, name))
    return clock
