"""Event Grid payload -> the registry to re-read, or a skip with its reason. Costs no ARM call.

The event is only a hint: it names a registry, it never decides anything. Accepted shapes: an
``azure.functions.EventGridEvent``, an EventGridSchema dict, a CloudEvents 1.0 dict, a JSON
string/bytes of any of these, a list of them, and Event Grid dead-letter blob content (the same
events carrying ``deadLetterReason``/``deliveryAttempts``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from acrguard.azure.resource_ids import PROVIDER_PREFIX, RegistryRef, clip
from acrguard.contract import CONTRACT, RULES, operation_names, rules_enabled

if TYPE_CHECKING:
    from acrguard.policy import Policy

ACCEPTED_EVENT_TYPES = frozenset(CONTRACT["eventTypes"])
#: A child's delete (a diagnostic setting, a replication) re-evaluates its registry like a write;
#: a registry's own delete leaves nothing to guard.
RESOURCE_DELETE_SUCCESS = "Microsoft.Resources.ResourceDeleteSuccess"
#: Operations whose success re-evaluates the (parent) registry, for any rule the contract knows.
#: The Event Grid filter of a deployment holds the subset its rules need (infra/ computes it from
#: acrguard/azure_contract.json); accepting the rest costs a re-read, skipping one loses a fix.
ACCEPTED_OPERATIONS = frozenset(operation_names(RULES))
#: Which rules react to an operation (lower case), for the reason of a skip.
_RULES_BY_OPERATION: dict[str, list[str]] = {}
for _rule, _entry in CONTRACT["rules"].items():
    for _op in _entry["operationNames"]:
        _RULES_BY_OPERATION.setdefault(_op.lower(), []).append(_rule)

REGISTRY_WRITE = "Microsoft.ContainerRegistry/registries/write"
_UPN = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"
_OID = "http://schemas.microsoft.com/identity/claims/objectidentifier"
_MAX_EVENT_BYTES = 1024 * 1024  # Event Grid's own limit on one event


@dataclass(frozen=True)
class EventContext:
    """What the audit line needs from the event: who, which delivery, which correlation."""

    event_id: str | None = None
    event_time: str | None = None  # ISO 8601 UTC; None when the event has none or an unreadable one
    event_type: str | None = None
    operation_name: str | None = None
    subject: str | None = None
    correlation_id: str | None = None
    caller: dict[str, str] = field(default_factory=dict)
    dead_letter_reason: str | None = None

    @property
    def registry_written(self) -> bool:
        """A write of the registry itself: the one write of ours to hear that can set its tags."""
        return (self.operation_name or "").lower() == REGISTRY_WRITE.lower()


@dataclass(frozen=True)
class Target:
    ref: RegistryRef
    context: EventContext


@dataclass(frozen=True)
class Skip:
    reason: str
    context: EventContext = field(default_factory=EventContext)


def accepted_operations(policy: Policy) -> frozenset[str]:
    """The operations a deployment of ``policy`` reacts to: its Event Grid filter's values."""
    return frozenset(operation_names(rules_enabled(policy)))


def parse_events(payload: Any, operations: Collection[str] = ACCEPTED_OPERATIONS) -> list[Target | Skip]:
    """Every event in ``payload`` as a :class:`Target` or a :class:`Skip`; never raises.

    ``operations``: those to act on (default: every rule's; :func:`accepted_operations` narrows it).
    """
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
        return [parse_event(item, operations) for item in payload]
    return [parse_event(payload, operations)]


def parse_event(event: Any, operations: Collection[str] = ACCEPTED_OPERATIONS) -> Target | Skip:
    """One event (any accepted shape) -> Target or Skip."""
    try:
        envelope = _normalise(event)
    except _BadEvent as exc:
        return Skip(str(exc), EventContext(event_id=_safe_id(event)))
    data = envelope["data"]
    context = EventContext(
        event_id=envelope["id"],
        event_time=_utc_iso(envelope.get("time")),
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
    deleted = envelope["type"] == RESOURCE_DELETE_SUCCESS
    if deleted and child is None:  # a GET could only answer 404
        return Skip(f"registry {clip(resource_id)} was deleted: nothing left to guard", context)
    operation = context.operation_name
    if operation is None:
        return Skip("event has no data.operationName", context)
    if operation.lower().endswith("/delete") != deleted:
        return Skip(f"operation {operation} does not match event type {envelope['type']}", context)
    if operation.lower() not in _lowered(frozenset(operations)):
        return Skip(_unhandled(operation), context)
    if child is None and operation.lower() != REGISTRY_WRITE.lower():
        return Skip(f"operation {operation} does not match resource {clip(resource_id)}", context)
    return Target(ref, context)


@cache
def _lowered(operations: frozenset[str]) -> frozenset[str]:
    """Once per set of operations (the engine passes the same one for every event), not per event."""
    return frozenset(op.lower() for op in operations)


def _unhandled(operation: str) -> str:
    """Why an operation is skipped: foreign to every rule, or only for rules this policy leaves off."""
    if rules := _RULES_BY_OPERATION.get(operation.lower()):
        return (
            f"operation {operation} is only for rule(s) {', '.join(rules)}, which the policy does not enable"
        )
    return f"operation {operation} cannot change a guarded registry property"


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
        event = {
            "id": event.id,
            "eventType": event.event_type,
            "subject": event.subject,
            "data": data,
            "eventTime": getattr(event, "event_time", None),
        }
    if not isinstance(event, Mapping):
        raise _BadEvent(f"an event must be a JSON object, got {type(event).__name__}")
    if "specversion" in event:  # CloudEvents 1.0
        if event.get("specversion") != "1.0":
            raise _BadEvent(f"unsupported CloudEvents specversion {event.get('specversion')!r}")
        event_type, subject, when = event.get("type"), event.get("subject"), event.get("time")
    else:
        event_type, subject, when = event.get("eventType"), event.get("subject"), event.get("eventTime")
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
        "time": when,
    }


def _utc_iso(value: Any) -> str | None:
    """An event's time as ISO 8601 in UTC; None when absent or unreadable (it only measures)."""
    if isinstance(value, str) and len(value) <= 64:
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _safe_id(event: Any) -> str | None:
    if isinstance(event, Mapping) and isinstance(event.get("id"), str):
        return clip(event["id"], 128)
    return clip(event.id, 128) if isinstance(getattr(event, "id", None), str) else None
