"""Long-running writes in ARM's asynchronous-operation pattern.

ARM's async contract (ARM RPC "Asynchronous operations"): the write answers 201/202 with an
``Azure-AsyncOperation`` status URL (and/or ``Location``) plus ``Retry-After``; the status
resource reports ``InProgress`` until a terminal ``Succeeded``/``Failed``/``Canceled``; for a PUT
or PATCH the client then GETs the resource itself. ACR's PUT (Registries_Create) and PATCH
(Registries_Update) answer 200, or 201 with Azure-AsyncOperation ("Async PUT/PATCH follow
201+provisioningState model", Azure/azure-rest-api-specs#1228); its DELETE answers 200/204, or
202 with the registry (provisioningState Deleting) and a Location under
``/subscriptions/{s}/providers/Microsoft.ContainerRegistry/locations/{location}/operationResults/``,
polled 202 until a final 200 with no body (the SDK's recordings: tests/data/arm_recordings.json).

azure-mgmt-containerregistry 15.0.0 accepts only 200/201 from Registries_Update, so a 202 to
PATCH makes it raise; the emulator can still send one (``initial_status=202``) to prove that.
The SDK also deserialises the 201's Retry-After as an int: use whole seconds. Beware
``retry_after=0``: azure-core then falls back to the client's polling_interval (30 s by default).
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from .timefmt import arm_timestamp

LroKind = Literal["sync", "async"]


@dataclass(frozen=True)
class LroMode:
    """How PUT, PATCH and DELETE answer: ``sync`` (done at once) or ``async`` (status to poll)."""

    kind: LroKind = "sync"
    polls: int = 1
    """Status polls answered ``InProgress`` before the terminal status."""
    initial_status: Literal[201, 202] = 201
    """PUT's and PATCH's initial status in async mode (DELETE always answers 202 + Location)."""
    retry_after: int = 1
    """Seconds, sent in Retry-After on the initial answer and on every InProgress poll."""
    outcome: Literal["Succeeded", "Failed"] = "Succeeded"
    error_code: str = "InternalServerError"
    """``error.code`` of a ``Failed`` operation: e.g. ``Conflict`` or ``TooManyRequests`` (transient,
    a retry may succeed) or ``InvalidParameter`` (permanent), as ARM RPC error codes go."""

    def __post_init__(self) -> None:
        if self.kind not in ("sync", "async"):
            raise ValueError(f"LRO kind must be 'sync' or 'async', not {self.kind!r}")
        if self.initial_status not in (201, 202):
            raise ValueError("initial_status must be 201 or 202")
        if self.polls < 0 or self.retry_after < 0:
            raise ValueError("polls and retry_after must be >= 0")


@dataclass
class AsyncOperation:
    operation_id: str
    registry_key: str
    resource_id: str
    action: Literal["write", "delete"]
    mode: LroMode
    finish: Callable[[AsyncOperation], None] = field(repr=False)
    """Applies the terminal state (and emits the event); called once, under the emulator lock."""
    started_at: str = field(default_factory=arm_timestamp)
    polls_seen: int = 0
    status: str = "InProgress"
    ended_at: str | None = None
    error: dict[str, str] | None = None

    @property
    def done(self) -> bool:
        return self.status != "InProgress"

    def status_document(self) -> dict[str, object]:
        """ACR's status body is ``{"status": ...}`` and nothing else (azure-mgmt-containerregistry
        10.0.0's recording test_mgmt_containerregistry_2018_02_01_preview.test_replication.yaml);
        a failed operation adds the ``error`` the ARM RPC requires."""
        doc: dict[str, object] = {"status": self.status}
        if self.error:
            doc["error"] = self.error
        return doc


class OperationTracker:
    def __init__(self) -> None:
        self._operations: dict[str, AsyncOperation] = {}
        self._lock = threading.RLock()

    def start(
        self,
        *,
        registry_key: str,
        resource_id: str,
        action: Literal["write", "delete"],
        mode: LroMode,
        finish: Callable[[AsyncOperation], None],
        prefix: str = "",
    ) -> AsyncOperation:
        """``prefix``: ACR names an operation after its resource type (``registries-<uuid>``)."""
        operation = AsyncOperation(
            prefix + str(uuid.uuid4()), registry_key, resource_id, action, mode, finish
        )
        with self._lock:
            self._operations[operation.operation_id] = operation
        return operation

    def get(self, operation_id: str) -> AsyncOperation | None:
        with self._lock:
            return self._operations.get(operation_id.lower())

    def poll(self, operation: AsyncOperation) -> AsyncOperation:
        """Count one status poll; the poll after ``mode.polls`` InProgress answers finishes it."""
        with self._lock:
            if not operation.done:
                operation.polls_seen += 1
                if operation.polls_seen > operation.mode.polls:
                    self._finish(operation)
            return operation

    def pending_for(self, registry_key: str) -> AsyncOperation | None:
        with self._lock:
            for operation in self._operations.values():
                if operation.registry_key == registry_key and not operation.done:
                    return operation
        return None

    def complete_all(self) -> int:
        """Finish every pending operation now (for tests that abandon a poller)."""
        with self._lock:
            pending = [op for op in self._operations.values() if not op.done]
            for operation in pending:
                self._finish(operation)
        return len(pending)

    def clear(self) -> None:
        with self._lock:
            self._operations.clear()

    def _finish(self, operation: AsyncOperation) -> None:
        operation.status = operation.mode.outcome
        operation.ended_at = arm_timestamp()
        if operation.status == "Failed":
            operation.error = {
                "code": operation.mode.error_code,
                "message": "The operation failed (scripted by the emulator's LRO outcome).",
            }
        operation.finish(operation)
