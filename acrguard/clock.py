"""Wall-clock time and sleeping, injectable so that race scenarios can run on simulated time.

The engine compares ``systemData.lastModifiedAt`` with ``time()`` and waits with ``sleep()``;
the ARM layer sleeps between retries and polls with the same clock, and measures its budgets and
deadlines (acrguard.budget) with ``monotonic()``. Production uses
:data:`SYSTEM`; tests pass a clock whose ``sleep`` advances simulated time instead.
"""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch (comparable with ARM's UTC timestamps)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a scale that never goes back (budgets and deadlines are measured on it)."""
        ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


SYSTEM: Clock = SystemClock()
