"""Microsoft.ContainerRegistry/registries: the resource provider behind the ARM routes.

GET, list (paged with an absolute ``nextLink`` carrying a ``$skipToken``, ARM RPC "Collection
GET"), PUT (200 for a create as for a replace, as ARM answered in azure-mgmt-containerregistry's
recordings), PATCH (RegistryUpdateParameters semantics, sync or async), DELETE (200, or 204 when
absent, as the ARM RPC requires; async: 202 + Location under the location's operationResults),
and the async-operation status endpoints. Every successful write emits its Event Grid event when it
completes. What the recordings show, and where the emulator still differs: docs/EMULATOR.md.
"""

from __future__ import annotations

import base64
import copy
import json
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from . import acr_rules, wire_schema
from .arm_paths import (
    REGISTRY_TYPE,
    ListScope,
    LocationOperationRef,
    OperationRef,
    RegistryRef,
    resource_key,
)
from .event_delivery import WriteContext, registry_event
from .http_types import ArmError, Request, Response
from .identity import DEFAULT_TENANT_ID
from .lro import AsyncOperation, LroMode, OperationTracker
from .registry_documents import (
    canonical_sku,
    default_network_rule_set,
    default_properties,
    merge_properties,
    stamp_modified,
)
from .timefmt import arm_timestamp


@dataclass
class ArmSettings:
    """The knobs tests turn; ``Emulator.reset()`` restores the constructor's values."""

    page_size: int = 100
    lro: LroMode = field(default_factory=LroMode)
    lro_overrides: dict[str, LroMode] = field(default_factory=dict)
    """Per-registry LRO behaviour, by case-insensitive resource ID (registries may not exist yet)."""
    clock: Callable[[], datetime] | None = None
    """What "now" is for systemData (None: the real clock); race scenarios run on simulated time."""

    def timestamp(self) -> str:
        return arm_timestamp(self.clock() if self.clock else None)

    def lro_for(self, key: str) -> LroMode:
        return self.lro_overrides.get(resource_key(key), self.lro)


@dataclass
class RegistryEntry:
    ref: RegistryRef
    doc: dict[str, Any]
    held_requests: int = 0
    """Requests left during which the registry is pinned in provisioningState Updating."""
    children: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    """Child resources by kind (resource_ids.CHILD_KINDS), then by lower-cased name (arm_children.py)."""


def not_found(ref: RegistryRef) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{REGISTRY_TYPE}/{ref.name}' under resource group '{ref.resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def conflict(ref: RegistryRef, state: str) -> ArmError:
    # ACR refuses a write while a previous one is still being applied.
    return ArmError(
        409,
        "Conflict",
        f"The registry '{ref.name}' is in {state} state. Another operation is in progress on this "
        "registry; retry the request after it completes.",
    )


def already_in_use(name: str) -> ArmError:
    """A registry name is its login server's DNS label, unique across Azure (code and message as
    ``az acr create`` reports them: Azure/azure-cli#13951, MicrosoftDocs/azure-dev-docs#1303)."""
    return ArmError(
        409,
        "AlreadyInUse",
        f"The registry DNS name {name.lower()}.azurecr.io is already in use. You can check if the name is "
        "already claimed using following API: "
        "https://docs.microsoft.com/en-us/rest/api/containerregistry/registries/checknameavailability",
    )


def parse_body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError as error:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: '{error}'.",
        ) from None
    if not isinstance(body, dict):
        raise ArmError(400, "InvalidRequestContent", "The request content must be a JSON object.")
    return body


def _sku_from(body: Mapping[str, Any]) -> str | None:
    """The SKU's name; ``Classic`` is in the enum but can no longer be created or moved to (ARM's
    answer to a Classic create, recorded: 400 ClassicSkuDeprecated)."""
    sku = body.get("sku")
    if sku is None:
        return None
    if str(sku["name"]).lower() == "classic":
        raise ArmError(
            400, "ClassicSkuDeprecated", "Classic SKU is now deprecated. Please select a managed SKU."
        )
    name = canonical_sku(sku["name"])
    if name is None:
        raise ArmError(
            400,
            "InvalidRequestContent",
            f"The request content was invalid and could not be deserialized: 'Error converting value "
            f"{json.dumps(sku['name'])} to type 'SkuName'.'.",
        )
    return name


def _keep_create_only(previous: Mapping[str, Any], requested: dict[str, Any]) -> None:
    """A replacing PUT cannot change a create-only property; left out, it keeps its value."""
    old = previous["properties"].get("zoneRedundancy")
    new = requested.setdefault("zoneRedundancy", old)
    if old is not None and new != old:
        raise ArmError(
            400,
            "PropertyChangeNotAllowed",
            f"Changing property 'properties.zoneRedundancy' from '{old}' to '{new}' is not allowed: "
            "it can only be set when the registry is created.",
        )


def _read_request(request: Request, mode: wire_schema.Mode) -> dict[str, Any]:
    """The body as ACR reads it: typed, enums canonical, read-only and undeclared keys dropped."""
    body = parse_body(request)
    if mode == "create" and not body.get("location"):
        raise ArmError(400, "LocationRequired", "The location property is required for this definition.")
    return wire_schema.clean_request(body, mode)


def _finalise(doc: dict[str, Any], requested: Mapping[str, Any]) -> dict[str, Any]:
    """The state to store: ACR's rules checked, then only what the api-version declares."""
    acr_rules.check_registry(doc, requested)
    props = doc["properties"]
    if props.get("networkRuleSet") is not None:
        props["networkRuleSet"] = acr_rules.normalise_network_rule_set(props["networkRuleSet"])
    return wire_schema.normalise_document(doc)


def _server_set(doc: dict[str, Any], previous: Mapping[str, Any] | None, now: str) -> None:
    """Fill the read-only values ARM computes when a write changes what they describe."""
    policies = doc["properties"].get("policies") or {}
    retention = policies.get("retentionPolicy")
    old_policies = ((previous or {}).get("properties") or {}).get("policies") or {}
    old_retention = old_policies.get("retentionPolicy") or {}
    if retention is not None:
        unchanged = bool(old_retention) and all(
            retention.get(k) == old_retention.get(k) for k in ("days", "status")
        )
        if unchanged and "lastUpdatedTime" in old_retention:
            retention["lastUpdatedTime"] = old_retention["lastUpdatedTime"]
        elif previous is not None or "lastUpdatedTime" not in retention:
            retention["lastUpdatedTime"] = now
    identity = doc.get("identity")
    if identity is not None:
        _identity_ids(identity)


def _identity_ids(identity: dict[str, Any]) -> None:
    """ARM assigns the system identity's principal and tenant, and each user identity's IDs."""
    kind = str(identity.get("type", "None"))
    if "SystemAssigned" in kind:
        identity.setdefault("principalId", str(uuid.uuid4()))
        identity.setdefault("tenantId", DEFAULT_TENANT_ID)
    else:
        identity.pop("principalId", None)
        identity.pop("tenantId", None)
    if "UserAssigned" in kind:
        for user in (identity.get("userAssignedIdentities") or {}).values():
            user.setdefault("principalId", str(uuid.uuid4()))
            user.setdefault("clientId", str(uuid.uuid4()))
    else:
        identity.pop("userAssignedIdentities", None)


class RegistryStore:
    """Registries by case-insensitive ID, in insertion order (which list pages follow)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self._entries: dict[str, RegistryEntry] = {}
        self._version = 0
        self._scope_cache: dict[str, tuple[int, list[str]]] = {}

    def get(self, key: str) -> RegistryEntry | None:
        with self.lock:
            return self._entries.get(resource_key(key))

    def put(self, entry: RegistryEntry) -> None:
        with self.lock:
            self._entries[entry.ref.key] = entry
            self._version += 1

    def delete(self, key: str) -> RegistryEntry | None:
        with self.lock:
            entry = self._entries.pop(resource_key(key), None)
            self._version += 1
            return entry

    def entries(self) -> list[RegistryEntry]:
        with self.lock:
            return list(self._entries.values())

    def in_scope(self, scope: ListScope) -> list[str]:
        """Keys in the scope; cached per store version, because benchmarks page 10k registries."""
        with self.lock:
            cached = self._scope_cache.get(scope.key)
            if cached and cached[0] == self._version:
                return cached[1]
            keys = [key for key, entry in self._entries.items() if scope.contains(entry.ref)]
            self._scope_cache[scope.key] = (self._version, keys)
            return keys

    def clear(self) -> None:
        with self.lock:
            self._entries.clear()
            self._scope_cache.clear()
            self._version += 1


@dataclass(frozen=True)
class Call:
    """One request on one registry: what every write handler needs to answer it as ARM does."""

    request: Request
    ref: RegistryRef
    context: WriteContext
    api_version: str


class RegistriesProvider:
    def __init__(
        self,
        store: RegistryStore,
        operations: OperationTracker,
        settings: ArmSettings,
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        self.store = store
        self.operations = operations
        self.settings = settings
        self.emit = emit

    # ------------------------------------------------------------------ one registry
    def handle(self, request: Request, ref: RegistryRef, context: WriteContext, api_version: str) -> Response:
        with self.store.lock:
            entry = self.store.get(ref.key)
            try:
                if request.method in ("GET", "HEAD"):
                    if entry is None:
                        raise not_found(ref)
                    return Response.json(200, copy.deepcopy(entry.doc))
                call = Call(request, ref, context, api_version)
                if request.method == "PUT":
                    return self._put(call, entry)
                if request.method == "PATCH":
                    return self._patch(call, entry)
                if request.method == "DELETE":
                    return self._delete(call, entry)
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'.",
                )
            except ArmError as error:
                error.provider = error.status in (400, 409)  # ACR's own refusals, not ARM's front door
                raise
            finally:
                if entry is not None:
                    self._count_down_hold(entry)

    def _updating_state(self, entry: RegistryEntry) -> str | None:
        if entry.held_requests > 0 or self.operations.pending_for(entry.ref.key):
            return str(entry.doc["properties"].get("provisioningState", "Updating"))
        return None

    def _count_down_hold(self, entry: RegistryEntry) -> None:
        if entry.held_requests > 0:
            entry.held_requests -= 1
            if entry.held_requests == 0 and not self.operations.pending_for(entry.ref.key):
                entry.doc["properties"]["provisioningState"] = "Succeeded"

    def hold_updating(self, entry: RegistryEntry, requests: int, state: str = "Updating") -> None:
        with self.store.lock:
            entry.held_requests = requests
            entry.doc["properties"]["provisioningState"] = state

    def _put(self, call: Call, entry: RegistryEntry | None) -> Response:
        request, ref, context = call.request, call.ref, call.context
        if entry is not None and (state := self._updating_state(entry)):
            raise conflict(entry.ref, state)
        if entry is None and any(e.ref.name.lower() == ref.name.lower() for e in self.store.entries()):
            raise already_in_use(ref.name)
        body = _read_request(request, "create")
        sku = _sku_from(body)
        assert sku is not None  # required by the contract
        requested = dict(body.get("properties") or {})
        previous = entry.doc if entry else None
        if previous is not None:
            _keep_create_only(previous, requested)
        target = entry.ref if entry else ref  # a replace keeps the casing the registry was created with
        now = self.settings.timestamp()
        created_at = previous["properties"].get("creationDate", now) if previous else now
        doc: dict[str, Any] = {
            "sku": {"name": sku, "tier": sku},
            "type": REGISTRY_TYPE,
            "id": target.id,
            "name": target.name,
            "location": body["location"],
            "tags": dict(body.get("tags") or {}),
            "systemData": copy.deepcopy(previous.get("systemData", {})) if previous else {},
            "properties": merge_properties(default_properties(target.name, sku, created_at), requested),
        }
        if body.get("identity") is not None:
            doc["identity"] = copy.deepcopy(body["identity"])
            if previous is not None:
                wire_schema.carry_read_only({"identity": previous.get("identity") or {}}, doc)
        _server_set(doc, previous, now)
        doc = _finalise(doc, requested)
        stamp_modified(doc, context.principal.system_data_actor(), created=entry is None, now=now)
        return self._commit(call, target, entry, doc)

    def _patch(self, call: Call, entry: RegistryEntry | None) -> Response:
        request, ref, context = call.request, call.ref, call.context
        if entry is None:
            raise not_found(ref)
        if state := self._updating_state(entry):
            raise conflict(entry.ref, state)
        body = _read_request(request, "update")
        requested = body.get("properties") or {}
        doc = copy.deepcopy(entry.doc)
        if body.get("tags") is not None:
            doc["tags"] = dict(body["tags"])  # ARM PATCH: tags given replace the whole tag set
        if body.get("identity") is not None:
            doc["identity"] = copy.deepcopy(body["identity"])
        sku = _sku_from(body)
        if sku and sku != doc["sku"]["name"]:
            self._change_sku(doc, sku, requested)
        doc["properties"] = merge_properties(doc["properties"], requested)
        wire_schema.carry_read_only(entry.doc, doc)
        now = self.settings.timestamp()
        _server_set(doc, entry.doc, now)
        doc = _finalise(doc, requested)
        stamp_modified(doc, context.principal.system_data_actor(), now=now)
        return self._commit(call, entry.ref, entry, doc)

    def _commit(
        self, call: Call, ref: RegistryRef, entry: RegistryEntry | None, doc: dict[str, Any]
    ) -> Response:
        """Store a PUT's or PATCH's result: at once (200, a create too, as every synchronous create in
        azure-mgmt-containerregistry 10.0.0's recordings answered), or as an async operation.

        Async: 201 with the body in provisioningState Creating/Updating and Azure-AsyncOperation,
        as both Registries_Create and Registries_Update declare; the event follows success. A failed
        operation leaves the previous state (or the new registry) in provisioningState Failed.
        """
        context = call.context
        mode = self.settings.lro_for(ref.key)
        if mode.kind == "sync":
            if entry is None:
                self.store.put(RegistryEntry(ref, doc))
            else:
                entry.doc = doc
            self.emit(registry_event(ref, context))
            return Response.json(200, copy.deepcopy(doc))

        previous = copy.deepcopy(entry.doc) if entry else doc
        doc["properties"]["provisioningState"] = "Updating" if entry else "Creating"
        if entry is None:
            self.store.put(RegistryEntry(ref, doc))
        else:
            entry.doc = doc

        def finish(operation: AsyncOperation) -> None:
            current = self.store.get(ref.key)
            if current is None:
                return
            if operation.status == "Succeeded":
                current.doc["properties"]["provisioningState"] = "Succeeded"
                self.emit(registry_event(current.ref, context))
            else:
                current.doc = copy.deepcopy(previous)
                current.doc["properties"]["provisioningState"] = "Failed"

        operation = self.operations.start(
            registry_key=ref.key, resource_id=ref.id, action="write", mode=mode, finish=finish
        )
        headers = self._lro_headers(call.request, ref, operation, call.api_version)
        if mode.initial_status == 201:
            return Response.json(201, copy.deepcopy(doc), headers)
        return Response(202, b"", headers)

    @staticmethod
    def _change_sku(doc: dict[str, Any], sku: str, requested: Mapping[str, Any]) -> None:
        """Moving between SKUs adds or drops the Premium-only network rule set, as ACR reports it."""
        props = doc["properties"]
        doc["sku"] = {"name": sku, "tier": sku}
        if sku == "Premium":
            props.setdefault("networkRuleSet", default_network_rule_set())
        elif "networkRuleSet" not in requested and props.get("networkRuleSet") == default_network_rule_set():
            del props["networkRuleSet"]  # an untouched default rule set goes; real rules make it a 400

    def _delete(self, call: Call, entry: RegistryEntry | None) -> Response:
        context = call.context
        if entry is None:
            return Response(204)  # ARM RPC: DELETE of an absent resource answers 204 No Content
        if state := self._updating_state(entry):
            raise conflict(entry.ref, state)
        mode = self.settings.lro_for(entry.ref.key)
        if mode.kind == "sync":
            self.store.delete(entry.ref.key)
            self.emit(registry_event(entry.ref, context, deleted=True))
            return Response(200)

        entry.doc["properties"]["provisioningState"] = "Deleting"

        def finish(operation: AsyncOperation) -> None:
            if operation.status == "Succeeded":
                if self.store.delete(entry.ref.key) is not None:
                    self.emit(registry_event(entry.ref, context, deleted=True))
            elif (current := self.store.get(entry.ref.key)) is not None:
                current.doc["properties"]["provisioningState"] = "Failed"

        operation = self.operations.start(
            registry_key=entry.ref.key,
            resource_id=entry.ref.id,
            action="delete",
            mode=mode,
            finish=finish,
            prefix="registries-",
        )
        # As recorded: 202 with the registry being deleted, Location under the registry's region,
        # no Azure-AsyncOperation and no Retry-After.
        target = LocationOperationRef(entry.ref.subscription, entry.doc["location"], operation.operation_id)
        location = f"{call.request.origin}{target.path}?api-version={call.api_version}"
        return Response.json(202, copy.deepcopy(entry.doc), {"Location": location})

    @staticmethod
    def _lro_headers(
        request: Request, ref: RegistryRef, operation: AsyncOperation, api_version: str
    ) -> dict[str, str]:
        base = f"{request.origin}{ref.id}"
        query = f"?api-version={api_version}"
        return {
            "Azure-AsyncOperation": f"{base}/operationStatuses/{operation.operation_id}{query}",
            "Location": f"{base}/operationResults/{operation.operation_id}{query}",
            "Retry-After": str(operation.mode.retry_after),
        }

    # ------------------------------------------------------------------ status polls
    def poll(self, request: Request, op_ref: OperationRef) -> Response:
        with self.store.lock:
            operation = self.operations.get(op_ref.operation_id)
            if operation is None or operation.registry_key != op_ref.registry.key:
                raise ArmError(
                    404, "OperationNotFound", f"The operation '{op_ref.operation_id}' could not be found."
                )
            self.operations.poll(operation)
            request.notes["operation_status"] = operation.status
            retry = {} if operation.done else {"Retry-After": str(operation.mode.retry_after)}
            if op_ref.kind.lower() == "operationstatuses":
                return Response.json(200, operation.status_document(), retry)
            # Location protocol: 202 while running; then the result (200 resource / 204 after delete).
            if not operation.done:
                return Response(202, b"", {"Location": request.url, **retry})
            if operation.status != "Succeeded":
                error = operation.error or {"code": "OperationFailed", "message": "The operation failed."}
                raise ArmError(500, error["code"], error["message"])
            entry = self.store.get(operation.registry_key)
            if operation.action == "delete" or entry is None:
                return Response(204)
            return Response.json(200, copy.deepcopy(entry.doc))

    def poll_location(self, request: Request, target: LocationOperationRef) -> Response:
        """A DELETE's Location: 202 (Location again) while it runs, then 200 with no body."""
        with self.store.lock:
            operation = self.operations.get(target.operation_id)
            if (
                operation is None
                or resource_key(operation.resource_id).split("/")[2] != target.subscription.lower()
            ):
                raise ArmError(
                    404, "OperationNotFound", f"The operation '{target.operation_id}' could not be found."
                )
            self.operations.poll(operation)
            request.notes["operation_status"] = operation.status
            request.notes["resource_id"] = operation.resource_id
            if not operation.done:
                return Response.json(202, None, {"Location": request.url})
            if operation.status != "Succeeded":
                error = operation.error or {"code": "OperationFailed", "message": "The operation failed."}
                raise ArmError(500, error["code"], error["message"])
            return Response(200)

    # ------------------------------------------------------------------ collections
    def list(self, request: Request, scope: ListScope, api_version: str) -> Response:
        with self.store.lock:
            keys = self.store.in_scope(scope)
            offset = decode_skip_token(request.param("$skipToken"))
            page_keys = keys[offset : offset + self.settings.page_size]
            value = []
            for key in page_keys:
                entry = self.store.get(key)
                if entry is not None:
                    value.append(copy.deepcopy(entry.doc))
            payload: dict[str, Any] = {"value": value}
            next_offset = offset + len(page_keys)
            if next_offset < len(keys):
                token = encode_skip_token(next_offset)
                payload["nextLink"] = (
                    f"{request.origin}{scope.path}?api-version={api_version}&%24skipToken={token}"
                )
            return Response.json(200, payload)


def encode_skip_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode().rstrip("=")


def decode_skip_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        padded = token + "=" * (-len(token) % 4)
        offset = int(json.loads(base64.urlsafe_b64decode(padded))["offset"])
    except (ValueError, KeyError, TypeError):
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is invalid.") from None
    if offset < 0:
        raise ArmError(400, "InvalidSkipToken", f"The skip token '{token}' is invalid.")
    return offset
