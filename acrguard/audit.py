"""One JSON line per decision on the ``acrguard.audit`` logger (App Insights gets it as a trace).

Outcomes: ``applied`` (we changed it), ``planned`` (dry-run: we would have), ``compliant``,
``flagged`` (a problem a person must decide on), ``skipped`` (with the reason) and ``failed``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any, Literal

import msgspec

Outcome = Literal["applied", "planned", "compliant", "flagged", "skipped", "failed"]

logger = logging.getLogger("acrguard.audit")


class AuditRecord(msgspec.Struct, frozen=True):
    """One decision. Encoded with msgspec (sorted keys): no dict copies on the hot path."""

    outcome: Outcome
    registry: str | None
    rule: str | None
    reason: str
    mode: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    event_id: str | None = None
    #: When the event happened (its eventTime, ISO 8601 UTC): the exposure window is the time from
    #: here to the audit line of the fix (infra/queries/alert-exposure-p95.kql).
    event_time: str | None = None
    correlation_id: str | None = None
    caller: dict[str, str] = msgspec.field(default_factory=dict)
    duration_ms: float | None = None
    sku: str | None = None
    notes: list[str] = msgspec.field(default_factory=list)
    source: str = "event"  # event | reconcile | cli
    #: Where the state judged was read: "arm" (a GET or a list page), "resource-graph" (a Resource
    #: Graph row, which may lag ARM by seconds to minutes: only ever a report, never a write),
    #: "resource-graph+arm" (the row, with the child collections a child rule needs listed from
    #: ARM, which Resource Graph cannot see), None when no state was read (an event skipped).
    state_from: str | None = None
    # The rule's metadata, so a reader of one line knows how serious it is and what it maps to.
    severity: str | None = None
    controls: dict[str, list[str]] = msgspec.field(default_factory=dict)  # azure_policy, psrule
    references: list[str] = msgspec.field(default_factory=list)
    #: The exemption deciding the rule (acrguard.policy.exemption): "active" (report only), "flagged" (a
    #: tag exemption the policy does not accept: honoured, told) or "expired" (the rule applies
    #: again); with its end and the person's reason. None: no exemption.
    exemption: str | None = None
    exempt_until: str | None = None
    exempt_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return msgspec.to_builtins(self, enc_hook=str)

    def to_json(self) -> str:
        return _ENCODER.encode(self).decode()


_ENCODER = msgspec.json.Encoder(order="sorted", enc_hook=str)


Listener = Callable[[AuditRecord], None]


class Audit:
    """Writes audit lines and hands each record to listeners (notifications, CLI tables)."""

    def __init__(self, listeners: list[Listener] | None = None) -> None:
        self._listeners = list(listeners or [])
        self._lock = threading.Lock()

    def add_listener(self, listener: Listener) -> None:
        with self._lock:
            self._listeners.append(listener)

    def emit(self, record: AuditRecord) -> AuditRecord:
        level = logging.ERROR if record.outcome == "failed" else logging.INFO
        logger.log(level, record.to_json())
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(record)
            except Exception:  # a listener (e.g. a notifier) must never undo or fail a decision
                logging.getLogger("acrguard").exception("audit listener %r failed", listener)
        return record

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Listeners that can hold their output (notifiers) hold it until the block ends, so a
        sweep sends a few notification requests instead of one per decision. What is held is this
        call's output (and its workers', run in a :class:`acrguard.engine.context_pool.ContextPool`):
        an event decided on another thread meanwhile is not held."""
        with self._lock:
            listeners = list(self._listeners)
        with ExitStack() as stack:
            for listener in listeners:
                if callable(getattr(listener, "batch", None)):
                    stack.enter_context(listener.batch())  # type: ignore[attr-defined]
            yield
