"""ARM write events (Event Grid system topic Microsoft.Resources.Subscriptions) and their delivery.

Each successful write emits one ``Microsoft.Resources.ResourceWriteSuccess`` (or
``ResourceDeleteSuccess``) in the EventGridSchema, field for field like
examples/events/registry-write.eventgrid.json (Azure docs: "Azure Resource Manager as an
Event Grid source"). Delivery runs on one dispatcher thread, never inside the HTTP request that
caused the write: a sink may call back into the emulator (the product's own PATCH after an event)
without deadlocking, and ``drain()`` waits until that whole cascade has settled.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import json
import logging
import queue
import ssl
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .arm_paths import PROVIDER, RegistryRef
from .identity import Principal, TokenRecord, stable_uuid
from .timefmt import arm_timestamp

log = logging.getLogger(__name__)

RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
RESOURCE_DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
REGISTRY_WRITE = "Microsoft.ContainerRegistry/registries/write"
REGISTRY_DELETE = "Microsoft.ContainerRegistry/registries/delete"

EventSchema = Literal["eventgrid", "cloudevents"]


@dataclass(frozen=True)
class WriteContext:
    """Who wrote, and through which HTTP request: everything an event says about the caller."""

    token: TokenRecord
    method: str
    url: str
    client_ip: str
    client_request_id: str
    correlation_id: str

    @property
    def principal(self) -> Principal:
        return self.token.principal


def registry_event(ref: RegistryRef, context: WriteContext, *, deleted: bool = False) -> dict[str, Any]:
    operation = REGISTRY_DELETE if deleted else REGISTRY_WRITE
    return resource_event(ref.event_uri, ref.subscription, operation, context, deleted=deleted)


def resource_event(
    uri: str,
    subscription: str,
    operation: str,
    context: WriteContext,
    *,
    provider: str = PROVIDER,
    deleted: bool = False,
) -> dict[str, Any]:
    """The event of one successful write to the resource ``uri`` (as Event Grid spells it)."""
    principal = context.principal
    subscription_scope = f"/subscriptions/{subscription}"
    return {
        "subject": uri,
        "eventType": RESOURCE_DELETE_SUCCESS if deleted else RESOURCE_WRITE_SUCCESS,
        "id": str(uuid.uuid4()),
        "data": {
            "authorization": {
                "scope": uri,
                "action": operation,
                "evidence": {
                    "role": principal.role,
                    "roleAssignmentScope": subscription_scope,
                    "roleAssignmentId": stable_uuid("assignment", principal.object_id, subscription).replace(
                        "-", ""
                    ),
                    "roleDefinitionId": principal.role_definition_id.replace("-", ""),
                    "principalId": principal.object_id.replace("-", ""),
                    "principalType": principal.principal_type,
                },
            },
            "claims": principal.claims(context.token),
            "correlationId": context.correlation_id,
            "httpRequest": {
                "clientRequestId": context.client_request_id,
                "clientIpAddress": context.client_ip,
                "method": context.method,
                "url": context.url,
            },
            "resourceProvider": provider,
            "resourceUri": uri,
            "operationName": operation,
            "status": "Succeeded",
            "subscriptionId": subscription,
            "tenantId": principal.tenant_id,
        },
        "dataVersion": "2",
        "metadataVersion": "1",
        "eventTime": arm_timestamp(),
        "topic": subscription_scope,
    }


def host_event_kwargs(event: dict[str, Any]) -> dict[str, Any]:
    """``event`` (Event Grid schema) as the keyword arguments of ``azure.functions.EventGridEvent``,
    JSON-safe: the cold-start bench passes them to a process that must not import the emulator."""
    return {
        "id": event["id"],
        "data": event["data"],
        "topic": event.get("topic", ""),
        "subject": event["subject"],
        "event_type": event["eventType"],
        "event_time": None,
        "data_version": event.get("dataVersion", ""),
    }


def host_event(event: dict[str, Any]) -> Any:
    """``event`` (Event Grid schema) as the object the Functions host hands an Event Grid trigger."""
    import azure.functions as func  # the app's own dependency; the emulator needs it only here

    kwargs = host_event_kwargs(event)
    # The host parses eventTime into a datetime (azure-functions' EventGridEvent decoder).
    when = event.get("eventTime")
    with contextlib.suppress(TypeError, ValueError):
        kwargs["event_time"] = datetime.datetime.fromisoformat(when) if isinstance(when, str) else None
    return func.EventGridEvent(**kwargs)


def to_cloudevent(event: dict[str, Any]) -> dict[str, Any]:
    """The same event in the CloudEvents 1.0 schema, as Event Grid maps it (see the samples)."""
    return {
        "specversion": "1.0",
        "type": event["eventType"],
        "source": event["topic"],
        "subject": event["subject"],
        "id": event["id"],
        "time": event["eventTime"],
        "datacontenttype": "application/json",
        "data": copy.deepcopy(event["data"]),
    }


@dataclass
class Sink:
    """A delivery target: a Python callable (one event per call) or a webhook URL."""

    target: Callable[[dict[str, Any]], Any] | str
    schema: EventSchema = "eventgrid"
    ca_path: Path | None = field(default=None, repr=False)
    delivered: int = 0

    def deliver(self, event: dict[str, Any]) -> None:
        payload = to_cloudevent(event) if self.schema == "cloudevents" else copy.deepcopy(event)
        if callable(self.target):
            self.target(payload)
        else:
            self._post(payload)
        self.delivered += 1

    def _post(self, payload: dict[str, Any]) -> None:
        # Event Grid webhook delivery: the EventGridSchema arrives as a one-event JSON array; the
        # CloudEvents schema as one structured-mode event (application/cloudevents+json).
        if self.schema == "cloudevents":
            body, content_type = json.dumps(payload), "application/cloudevents+json; charset=utf-8"
        else:
            body, content_type = json.dumps([payload]), "application/json"
        request = urllib.request.Request(
            str(self.target),
            data=body.encode(),
            method="POST",
            headers={"Content-Type": content_type, "aeg-event-type": "Notification"},
        )
        context = ssl.create_default_context()
        if self.ca_path:
            context.load_verify_locations(cafile=str(self.ca_path))
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")


@dataclass(frozen=True)
class SinkError:
    sink: Sink
    event_id: str
    error: str


_STOP = object()


class EventDispatcher:
    def __init__(self, ca_path: Path | None = None) -> None:
        self._ca_path = ca_path
        self._queue: queue.Queue[Any] = queue.Queue()
        self._cond = threading.Condition()
        self._pending = 0  # queued + being delivered
        self._emitted = 0
        self._events: list[dict[str, Any]] = []
        self._sinks: list[Sink] = []
        self._errors: list[SinkError] = []
        self._thread = threading.Thread(target=self._run, name="emulator-event-dispatcher", daemon=True)
        self._thread.start()

    # -- producers
    def emit(self, event: dict[str, Any]) -> None:
        with self._cond:
            self._events.append(event)
            self._pending += 1
            self._emitted += 1
            self._queue.put(event)  # under the lock, so reset() never sees a half-emitted event
            self._cond.notify_all()

    # -- sinks
    def add_sink(
        self, target: Callable[[dict[str, Any]], Any] | str, schema: EventSchema = "eventgrid"
    ) -> Sink:
        if schema not in ("eventgrid", "cloudevents"):
            raise ValueError("schema must be 'eventgrid' or 'cloudevents'")
        sink = Sink(target, schema, self._ca_path)
        with self._cond:
            self._sinks.append(sink)
        return sink

    def remove_sink(self, sink: Sink) -> None:
        with self._cond:
            if sink in self._sinks:
                self._sinks.remove(sink)

    # -- views
    @property
    def events(self) -> list[dict[str, Any]]:
        with self._cond:
            return copy.deepcopy(self._events)

    @property
    def errors(self) -> list[SinkError]:
        with self._cond:
            return list(self._errors)

    # -- waiting
    def drain(
        self, timeout: float = 10.0, *, settle: float = 0.02, idle: Callable[[], bool] = lambda: True
    ) -> None:
        """Return once no event is queued or being delivered, ``idle()`` holds, and nothing new
        was emitted during ``settle`` seconds (a sink's write may emit a further event)."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("drain() called from a sink would wait for itself")
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                while self._pending:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(f"{self._pending} event(s) still undelivered after {timeout}s")
                    self._cond.wait(remaining)
                emitted = self._emitted
            if idle():
                time.sleep(settle)
                with self._cond:
                    if not self._pending and self._emitted == emitted and idle():
                        return
            elif time.monotonic() >= deadline:
                raise TimeoutError(f"emulator still busy after {timeout}s")
            else:
                time.sleep(0.005)

    def wait_for(
        self,
        count: int,
        timeout: float,
        predicate: Callable[[dict[str, Any]], bool] | None,
        idle: Callable[[], bool],
    ) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while len([e for e in self._events if predicate is None or predicate(e)]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"fewer than {count} matching event(s) after {timeout}s")
                self._cond.wait(min(remaining, 0.05))
        self.drain(max(0.1, deadline - time.monotonic()), idle=idle)
        return [e for e in self.events if predicate is None or predicate(e)]

    # -- lifecycle
    def reset(self, timeout: float = 5.0) -> None:
        """Forget sinks, queued events and history; wait for a delivery in progress to return."""
        if threading.current_thread() is self._thread:
            raise RuntimeError("reset() called from a sink")
        with self._cond:
            self._sinks.clear()
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is not _STOP:
                    self._pending -= 1
            deadline = time.monotonic() + timeout
            while self._pending and time.monotonic() < deadline:
                self._cond.wait(0.05)
            self._events.clear()
            self._errors.clear()
            self._emitted = 0

    def close(self) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            event = self._queue.get()
            if event is _STOP:
                return
            with self._cond:
                sinks = list(self._sinks)
            for sink in sinks:
                try:
                    sink.deliver(event)
                except Exception as error:  # a failing sink must never stop delivery to the others
                    log.warning("event sink %r failed for event %s: %s", sink.target, event.get("id"), error)
                    with self._cond:
                        self._errors.append(SinkError(sink, str(event.get("id")), repr(error)))
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
