"""The :class:`Audit` listener that tells people about decisions, never blocking them.

Which decisions: ``planned`` (dry-run), ``applied`` and ``flagged`` (a person must decide), plus
``failed`` when ``notify.on_failed`` (or ``ACRGUARD_NOTIFY_ON_FAILED``) is set. Compliant and
skipped decisions are not news.

When: promptly on the event path (the record is sent from the thread that decided it), and in
batches inside :meth:`Notifier.batch` (a sweep or reconcile: ``Audit.batch`` opens one), where the
records are held and sent at the end in chunks, one request per chunk and sink, so a sweep of
10,000 registries makes tens of calls, not 10,000. A batch belongs to the call that opened it (a
context variable, carried to that call's workers by :class:`acrguard.engine.context_pool.ContextPool`),
not to the process: an event handled on another thread while the timer's sweep runs is sent at
once, not held until the sweep ends.

Failures: each request is retried (bounded attempts, short backoff, ``Retry-After`` honoured up to a
cap), then given up with one ``notify_failed`` JSON line on the ``acrguard.audit`` logger. A
notification never raises into the engine and never undoes a decision.
"""

from __future__ import annotations

import contextvars
import json
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Protocol

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from acrguard.audit import AuditRecord
from acrguard.budget import SYSTEM, Clock

audit_log = logging.getLogger("acrguard.audit")

NOTIFIED_OUTCOMES = frozenset({"planned", "applied", "flagged"})
MAX_RETRY_AFTER_S = 5.0


class _Held:
    """The records one batch holds; ``open`` turns False when the batch sends them."""

    __slots__ = ("open", "records")

    def __init__(self) -> None:
        self.open = True
        self.records: list[AuditRecord] = []


#: The batches open in this call, per notifier (a context variable: each call, and the workers it
#: hands work to, see their own; another thread's call sees none).
_BATCHES: contextvars.ContextVar[Mapping[Notifier, _Held] | None] = contextvars.ContextVar(
    "acrguard_notify_batches", default=None
)


class SinkError(RuntimeError):
    """A sink could not deliver; ``retryable`` says whether another attempt may succeed.

    The message is logged as is: sinks build it from statuses and error kinds, never from an
    exception's text (which quotes the URL).
    """

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


class Sink(Protocol):
    """Where notifications go. ``send`` makes one request for the whole chunk, or raises."""

    label: str  # safe to log: never a secret (webhook URLs embed tokens)
    max_records: int
    max_bytes: int

    def send(self, records: Sequence[AuditRecord]) -> None: ...


class Notifier:
    """The audit listener. Thread-safe: sweeps decide on worker threads."""

    def __init__(
        self,
        sinks: Sequence[Sink],
        *,
        on_failed: bool = False,
        attempts: int = 3,
        backoff_s: float = 0.25,
        clock: Clock = SYSTEM,  # waits between attempts (tests: a simulated clock)
    ) -> None:
        self.sinks = list(sinks)
        self.clock = clock
        self.outcomes = NOTIFIED_OUTCOMES | ({"failed"} if on_failed else set())
        self.attempts = max(1, attempts)
        self.backoff_s = backoff_s
        self._lock = threading.Lock()
        self.delivered = 0  # requests that succeeded (tests, bench)
        self.given_up = 0  # requests that ended in notify_failed

    def __call__(self, record: AuditRecord) -> None:
        if record.outcome not in self.outcomes or record.registry is None:
            return
        held = (_BATCHES.get() or {}).get(self)
        if held is not None:
            with self._lock:
                if held.open:
                    held.records.append(record)
                    return
        self.deliver([record])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Hold this call's records (its workers' too, through ContextPool) until its outermost
        batch ends, then send them in chunks. Other calls' records are not held."""
        batches = _BATCHES.get() or {}
        if self in batches:  # an enclosing batch of this call holds them already
            yield
            return
        held = _Held()
        token = _BATCHES.set({**batches, self: held})
        try:
            yield
        finally:
            _BATCHES.reset(token)
            with self._lock:
                held.open = False  # a late record from a worker is sent on its own
            if held.records:
                self.deliver(distinct(held.records))

    def deliver(self, records: Sequence[AuditRecord]) -> None:
        """Send to every sink in chunks; a sink's failure is logged, never raised."""
        for sink in self.sinks:
            for chunk in chunks(records, sink.max_records, sink.max_bytes):
                self._send(sink, chunk)

    def _send(self, sink: Sink, chunk: Sequence[AuditRecord]) -> None:
        retrying = Retrying(
            stop=stop_after_attempt(self.attempts),
            retry=retry_if_exception(lambda exc: not isinstance(exc, SinkError) or exc.retryable),
            wait=self._wait,
            sleep=self.clock.sleep,
            reraise=True,
        )
        attempts = 0
        try:
            for attempt in retrying:
                with attempt:
                    attempts += 1
                    sink.send(chunk)
        except Exception as exc:  # any sink failure ends here, by design
            with self._lock:
                self.given_up += 1
            _log_failure(sink, chunk, exc, attempts)
        else:
            with self._lock:
                self.delivered += 1

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = getattr(exc, "retry_after", None)
        if hinted is not None:
            return min(float(hinted), MAX_RETRY_AFTER_S)
        return self.backoff_s * 2 ** (state.attempt_number - 1)


def distinct(records: Sequence[AuditRecord]) -> list[AuditRecord]:
    """One record per registry and decision, in order. One event can reach a batch twice (the same
    event as an EventGrid and a CloudEvent in one replay, a redelivery): each delivery decides the
    same thing, and a person needs to hear it once."""
    seen: set[tuple[object, ...]] = set()
    kept: list[AuditRecord] = []
    for record in records:
        key = (
            record.registry,
            record.rule,
            record.outcome,
            record.mode,
            json.dumps(record.before, sort_keys=True, default=str),
            json.dumps(record.after, sort_keys=True, default=str),
        )
        if key not in seen:
            seen.add(key)
            kept.append(record)
    return kept


def chunks(records: Sequence[AuditRecord], max_records: int, max_bytes: int) -> Iterator[list[AuditRecord]]:
    """Consecutive chunks of at most ``max_records`` records and about ``max_bytes`` of JSON."""
    chunk: list[AuditRecord] = []
    size = 0
    for record in records:
        length = len(record.to_json()) + 512  # envelope overhead per record
        if chunk and (len(chunk) >= max_records or size + length > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append(record)
        size += length
    if chunk:
        yield chunk


def _log_failure(sink: Sink, chunk: Sequence[AuditRecord], exc: BaseException, attempts: int) -> None:
    from acrguard.notify.redact import scrub  # loaded with the sinks, off the cold-start path

    # Only a SinkError's message is shown: another exception's text may quote the URL or a key.
    reason = str(exc) if isinstance(exc, SinkError) else f"{type(exc).__name__} (details withheld)"
    registries = sorted({r.registry for r in chunk if r.registry})
    line = {
        "outcome": "notify_failed",
        "sink": sink.label,
        "reason": scrub(reason),
        "attempts": attempts,
        "records": len(chunk),
        "registry": registries[0] if len(registries) == 1 else None,
        "registries": registries[:20],
        "event_ids": sorted({r.event_id for r in chunk if r.event_id})[:20],
    }
    audit_log.error(json.dumps(line, separators=(",", ":"), sort_keys=True))
