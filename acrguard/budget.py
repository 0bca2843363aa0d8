"""How long one invocation may run: the platform cuts both entry points, so every wait is bounded
by what is left of the invocation's deadline, not only by the per-operation retry budget.

- **An Event Grid delivery.** Event Grid waits 30 s for a delivery's answer, then queues it for
  retry ("Event Grid waits 30 seconds for a response after delivering a message. After 30 seconds,
  if the endpoint hasn't responded, the message is queued for retry":
  https://learn.microsoft.com/azure/event-grid/delivery-and-retry). A handler still working then
  gets a duplicate delivery while it works. The event handler's deadline is therefore
  ``min(ACRGUARD_RETRY_BUDGET_S, 30 s - MARGIN_S)``: past it, the decision is audited ``failed``
  and raised, so the redelivery re-reads and converges.
- **The Functions host.** It kills an invocation at host.json's ``functionTimeout`` (mid-write,
  with no audit line). The timer's deadline is ``functionTimeout - MARGIN_S``, and
  ``ACRGUARD_RETRY_BUDGET_S`` may not exceed it (acrguard.settings refuses it) wherever a
  host.json ships beside function_app.py: the Function App's package and a clone. The CLI installed
  from a wheel has no host and no host.json; nothing cuts it, so only the settings' static ranges apply.

The deadline is a context variable (one per invocation, not per process: the timer and the
events share one engine). Times come from the ARM layer's :class:`Clock`, injectable so that race
scenarios run on simulated time: the engine compares ``systemData.lastModifiedAt`` with ``time()``
and waits with ``sleep()``; the ARM layer sleeps between retries and polls with the same clock,
and measures budgets and deadlines with ``monotonic()``. Production uses :data:`SYSTEM`; tests
pass a clock whose ``sleep`` advances simulated time instead.
"""

from __future__ import annotations

import contextvars
import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, TypeVar

#: Event Grid's wait for a delivery's answer (see the module docstring for the source).
DELIVERY_TIMEOUT_S = 30.0
#: Left unused before a platform cut: the audit line, the notification and the answer go out in it.
MARGIN_S = 5.0
#: The event handler's longest run: what a delivery allows, less the margin.
EVENT_DEADLINE_S = DELIVERY_TIMEOUT_S - MARGIN_S

T = TypeVar("T")


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


@dataclass(frozen=True)
class Deadline:
    at: float  # on the clock's monotonic scale
    why: str  # "the Event Grid delivery's 25 s", said when time runs out


_current: contextvars.ContextVar[Deadline | None] = contextvars.ContextVar("acrguard_deadline", default=None)


@contextmanager
def within(clock: Clock, seconds: float, why: str) -> Iterator[Deadline]:
    """Run the block under a deadline ``seconds`` from now (or the enclosing one, if sooner)."""
    mine = Deadline(clock.monotonic() + seconds, why)
    outer = _current.get()
    token = _current.set(outer if outer is not None and outer.at <= mine.at else mine)
    try:
        yield _current.get()  # type: ignore[misc]
    finally:
        _current.reset(token)


def current() -> Deadline | None:
    return _current.get()


def remaining(clock: Clock) -> float | None:
    """Seconds left before the current deadline (negative once past); None without one."""
    deadline = _current.get()
    return None if deadline is None else deadline.at - clock.monotonic()


def carried(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the caller's context: a worker thread then keeps the caller's deadline."""
    context = contextvars.copy_context()
    return lambda *args, **kwargs: context.copy().run(fn, *args, **kwargs)


# -- host.json ---------------------------------------------------------------------------------

_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


@dataclass(frozen=True)
class HostTimeout:
    seconds: float | None  # None: "-1", no limit
    raw: str
    path: Path


def function_timeout(host_json: Path) -> HostTimeout | None:
    """host.json's ``functionTimeout`` (a TimeSpan, ``[d.]hh:mm:ss``; ``-1`` for none); None when
    there is no host.json or it sets none (then the plan's default applies, which ACR Guard's
    host.json never leaves to chance). Raises ValueError on a value the host would refuse too."""
    if not host_json.is_file():
        return None
    doc: Any = json.loads(host_json.read_text(encoding="utf-8"))
    raw = doc.get("functionTimeout") if isinstance(doc, dict) else None
    if raw is None:
        return None
    text = str(raw).strip()
    if text == "-1":
        return HostTimeout(None, text, host_json)
    match = _TIMESPAN.match(text)
    if not match:
        raise ValueError(f"{host_json}: functionTimeout must be a TimeSpan like 00:10:00, got {text!r}")
    days, hours, minutes, seconds = match.groups()
    total = int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return HostTimeout(total, text, host_json)


# -- the two entry points' deadlines -------------------------------------------------------------


def for_event(clock: Clock) -> Any:
    """An Event Grid delivery's deadline (the per-operation retry budget may stop it sooner)."""
    return within(
        clock,
        EVENT_DEADLINE_S,
        f"the Event Grid delivery's {EVENT_DEADLINE_S:g} s ({DELIVERY_TIMEOUT_S:g} s less {MARGIN_S:g})",
    )


def for_timer(clock: Clock, host: HostTimeout | None) -> Any:
    """The timer's deadline: the host's ``functionTimeout`` less the margin (none without a limit)."""
    from contextlib import nullcontext

    if host is None or host.seconds is None:
        return nullcontext()
    return within(
        clock,
        host.seconds - MARGIN_S,
        f"the invocation's {host.seconds - MARGIN_S:g} s (host.json's functionTimeout {host.raw} less {MARGIN_S:g})",
    )
