"""What tests assert on: a request log (never tokens) and ARM call counters per resource.

Counters count every call that reached an ARM route, including throttled and failed ones,
because that is what a call costs against ARM's limits. LRO status polls are counted apart from
reads so that "1 read + 1 write (+ polls)" stays checkable.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

from .arm_paths import CHILD_KINDS, resource_key
from .identity import Principal


@dataclass(frozen=True)
class RequestRecord:
    seq: int
    at: float
    method: str
    path: str
    query: dict[str, str]
    body: Any
    """The JSON request body (None if empty or not JSON). Headers are never logged: they carry tokens."""
    status: int | None
    """None when the connection was dropped by a fault."""
    route: str
    resource_id: str | None
    principal: Principal | None
    fault: str | None
    error_code: str | None
    operation_status: str | None
    """For LRO polls: the status answered (InProgress, Succeeded, ...)."""
    duration_ms: float

    @property
    def caller(self) -> str | None:
        return self.principal.caller if self.principal else None


class RequestLog:
    def __init__(self) -> None:
        self._records: list[RequestRecord] = []
        self._lock = threading.Lock()

    def append(self, record: RequestRecord) -> RequestRecord:
        """Store ``record`` with the next sequence number (assigned here, so it is unique)."""
        with self._lock:
            record = replace(record, seq=len(self._records) + 1)
            self._records.append(record)
            return record

    def all(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def filter(
        self,
        *,
        method: str | None = None,
        route: str | None = None,
        resource_id: str | None = None,
        status: int | None = None,
    ) -> list[RequestRecord]:
        key = resource_key(resource_id) if resource_id else None
        return [
            r
            for r in self.all()
            if (method is None or r.method == method.upper())
            and (route is None or r.route == route)
            and (key is None or (r.resource_id is not None and resource_key(r.resource_id) == key))
            and (status is None or r.status == status)
        ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()


_KINDS = ("reads", "writes", "polls")


class Counters:
    """Reads, writes and polls per resource ID (case-insensitive), plus totals."""

    def __init__(self) -> None:
        self._by_key: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_KINDS, 0))
        self.identity_requests = 0
        self.topic_requests = 0
        self._lock = threading.Lock()

    def count(self, route: str, method: str, target_key: str | None) -> None:
        with self._lock:
            if route == "identity":
                self.identity_requests += 1
                return
            if route == "topic":
                self.topic_requests += 1
                return
            if route == "operation":
                kind = "polls"
            elif route in ("registry", "list", "subscriptions", *CHILD_KINDS):
                kind = "reads" if method in ("GET", "HEAD") else "writes"
            else:
                return
            self._by_key[target_key or ""][kind] += 1

    def _get(self, kind: str, resource_id: str | None) -> int:
        with self._lock:
            if resource_id is None:
                return sum(counts[kind] for counts in self._by_key.values())
            counts = self._by_key.get(resource_key(resource_id))
            return counts[kind] if counts else 0

    def reads(self, resource_id: str | None = None) -> int:
        """GETs of one registry or child (or list pages of one collection path); all reads when None."""
        return self._get("reads", resource_id)

    def writes(self, resource_id: str | None = None) -> int:
        return self._get("writes", resource_id)

    def polls(self, resource_id: str | None = None) -> int:
        return self._get("polls", resource_id)

    @property
    def total_reads(self) -> int:
        return self.reads()

    @property
    def total_writes(self) -> int:
        return self.writes()

    @property
    def total_polls(self) -> int:
        return self.polls()

    def snapshot(self) -> dict[str, dict[str, int]]:
        """``{lower-cased resource id: {"reads", "writes", "polls"}}``."""
        with self._lock:
            return {key: dict(counts) for key, counts in self._by_key.items()}

    def clear(self) -> None:
        with self._lock:
            self._by_key.clear()
            self.identity_requests = 0
            self.topic_requests = 0
