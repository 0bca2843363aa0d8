"""Event Grid payload -> the registry to re-read, or a skip with its reason. Costs no ARM call.

The event is only a hint: it names a registry, it never decides anything. Accepted shapes: an
``azure.functions.EventGridEvent``, an EventGridSchema dict, a CloudEvents 1.0 dict, a JSON
string/bytes of any of these, a list of them, and Event Grid dead-letter blob content (the same
events carrying ``deadLetterReason``/``deliveryAttempts``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from acrguard.contract import CONTRACT
from acrguard.resource_ids import PROVIDER_PREFIX, RegistryRef, clip

ACCEPTED_EVENT_TYPES = frozenset(CONTRACT["eventTypes"])
#: Operations whose success re-evaluates the (parent) registry. The Event Grid subscription's
#: advanced filter uses the same list (infra/ reads acrguard/azure_contract.json).
ACCEPTED_OPERATIONS = frozenset(CONTRACT["operationNames"])
_REGISTRY_WRITE = "microsoft.containerregistry/registries/write"


@cache
def _accepted_lower() -> frozenset[str]:
    """The contract's operations and those the rules declare (``Remediator.event_operations``:
    a token's or a diagnostic setting's write re-evaluates its registry), in lower case."""
    from remediators import all_remediators

    declared = {op for rule in all_remediators() for op in rule.event_operations}
    return frozenset(op.lower() for op in ACCEPTED_OPERATIONS | declared)


_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_MAX_EVENT_BYTES = 1024 * 1024  # Event Grid's own limit on one event


@dataclass(frozen=True)
class EventContext:
    """What the audit line needs from the event: who, which delivery, which correlation."""

    event_id: str | None = None
    event_type: str | None = None
    operation_name: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    caller: dict[str, str] = field(default_factory=dict)
    dead_letter_reason: str | None = None


@dataclass(frozen=True)
class Target:
    ref: RegistryRef
    context: EventContext


@dataclass(frozen=True)
class Skip:
    reason: str
    context: EventContext = field(default_factory=EventContext)


def parse_events(payload: Any) -> list[Target | Skip]:
    """Every event in ``payload`` as a :class:`Target` or a :class:`Skip`; never raises."""
    if isinstance(payload, bytes | bytearray | str):
        if len(payload) > 64 * _MAX_EVENT_BYTES:
            return [Skip(f"payload of {len(payload):,} bytes is larger than any Event Grid delivery")]
        try:
            payload = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as exc:
            return [Skip(f"payload is not valid JSON: {exc}")]
        except RecursionError:
            return [Skip("payload is nested too deeply to be an Event Grid delivery")]
    if isinstance(payload, list):
        if not payload:
            return [Skip("empty event batch")]
        # A batch is one array of events; an array inside it is a malformed event, not a batch to
        # recurse into (deep nesting would otherwise raise RecursionError).
        return [parse_event(item) for item in payload]
    return [parse_event(payload)]


def parse_event(event: Any) -> Target | Skip:
    """One event (any accepted shape) -> Target or Skip."""
    try:
        envelope = _normalise(event)
    except _BadEvent as exc:
        return Skip(str(exc), EventContext(event_id=_safe_id(event)))
    data = envelope["data"]
    context = EventContext(
        event_id=envelope["id"],
        event_type=envelope["type"],
        operation_name=_str(data.get("operationName")),
        subject=envelope["subject"],
        correlation_id=_str(data.get("correlationId")),
        caller=caller_from(data),
        dead_letter_reason=envelope.get("deadLetterReason"),
    )
    if envelope["type"] not in ACCEPTED_EVENT_TYPES:
        return Skip(
            f"event type {envelope['type']!r} is not handled (only {sorted(ACCEPTED_EVENT_TYPES)})", context
        )
    resource_id = _str(data.get("resourceUri")) or envelope["subject"]
    if not resource_id:
        return Skip("event has neither data.resourceUri nor subject", context)
    if PROVIDER_PREFIX not in resource_id.lower():
        return Skip(f"not a container registry resource: {clip(resource_id)}", context)
    try:
        ref, child = RegistryRef.parse_with_child(resource_id)
    except ValueError as exc:
        return Skip(f"malformed resource ID: {exc}", context)
    operation = context.operation_name
    if operation is None:
        return Skip("event has no data.operationName", context)
    if operation.lower() not in _accepted_lower():
        return Skip(f"operation {operation} cannot change a guarded registry property", context)
    if child is None and operation.lower() != _REGISTRY_WRITE:
        return Skip(f"operation {operation} does not match resource {clip(resource_id)}", context)
    return Target(ref, context)


def caller_from(data: Mapping[str, Any]) -> dict[str, str]:
    """Who made the change, from the event's claims: names and IDs only, never a token."""
    claims = data.get("claims") if isinstance(data.get("claims"), Mapping) else {}
    evidence = {}
    authorization = data.get("authorization")
    if isinstance(authorization, Mapping) and isinstance(authorization.get("evidence"), Mapping):
        evidence = authorization["evidence"]
    caller = {
        "upn": claims.get(_UPN) or claims.get("upn"),
        "name": claims.get("name"),
        "appid": claims.get("appid"),
        "object_id": claims.get(_OID) or claims.get("oid"),
        "principal_type": evidence.get("principalType"),
        "ip": (data.get("httpRequest") or {}).get("clientIpAddress")
        if isinstance(data.get("httpRequest"), Mapping)
        else None,
    }
    return {k: clip(v, 256) for k, v in caller.items() if isinstance(v, str) and v}


class _BadEvent(ValueError):
    pass


def _normalise(event: Any) -> dict[str, Any]:
    """Both schemas -> {id, type, subject, data, deadLetterReason?}; _BadEvent if malformed."""
    if hasattr(event, "get_json") and hasattr(event, "event_type"):  # azure.functions.EventGridEvent
        try:
            data = event.get_json()
        except ValueError as exc:
            raise _BadEvent(f"event data is not valid JSON: {exc}") from None
        except RecursionError:
            raise _BadEvent("event data is nested too deeply") from None
        event = {"id": event.id, "eventType": event.event_type, "subject": event.subject, "data": data}
    if not isinstance(event, Mapping):
        raise _BadEvent(f"an event must be a JSON object, got {type(event).__name__}")
    if "specversion" in event:  # CloudEvents 1.0
        if event.get("specversion") != "1.0":
            raise _BadEvent(f"unsupported CloudEvents specversion {event.get('specversion')!r}")
        event_type, subject = event.get("type"), event.get("subject")
    else:
        event_type, subject = event.get("eventType"), event.get("subject")
    missing = [name for name, value in (("id", event.get("id")), ("type", event_type)) if not value]
    if missing:
        raise _BadEvent(f"event is missing required field(s): {', '.join(missing)}")
    for name, value in (("id", event.get("id")), ("type", event_type)):
        if not isinstance(value, str):
            raise _BadEvent(f"event field {name} must be a string, got {type(value).__name__}")
    data = event.get("data")
    if isinstance(data, str | bytes):
        try:
            data = json.loads(data)
        except ValueError:
            raise _BadEvent("event data is a string that is not JSON") from None
        except RecursionError:
            raise _BadEvent("event data is nested too deeply") from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise _BadEvent(f"event data must be a JSON object, got {type(data).__name__}")
    if subject is not None and not isinstance(subject, str):
        raise _BadEvent(f"event subject must be a string, got {type(subject).__name__}")
    reason = event.get("deadLetterReason")
    return {
        "id": event["id"],
        "type": event_type,
        "subject": subject or "",
        "data": data,
        "deadLetterReason": reason if isinstance(reason, str) else None,
    }


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _safe_id(event: Any) -> str | None:
    if isinstance(event, Mapping) and isinstance(event.get("id"), str):
        return clip(event["id"], 128)
    return clip(event.id, 128) if isinstance(getattr(event, "id", None), str) else None
