"""A registry's child resources: tokens, cache rules, replications and diagnostic settings.

Routes (api-version: ACR's, see arm_gateway.SUPPORTED_API_VERSIONS; diagnostic settings only
``2021-05-01-preview``, what azure-mgmt-monitor 6.x's ``diagnostic_settings`` sends):

- ``GET {registry}/tokens`` (paged: ``value`` + absolute ``nextLink``), ``GET .../tokens/{t}``,
  ``PATCH .../tokens/{t}`` (TokenUpdateParameters: ``status``, ``scopeMapId``, ``credentials``;
  200, or 201 + Azure-AsyncOperation as Tokens_Update declares; status polls at
  ``.../tokens/{t}/operationStatuses/{id}``); the write emits ``registries/tokens/write``;
  ``PUT .../tokens/{t}`` (Tokens_Create: a person creating or replacing a token; answered at once,
  201 created or 200 replaced, both of which azure-mgmt-containerregistry 15.0.0 accepts as the
  final answer), which emits ``registries/tokens/write`` too;
- ``GET {registry}/cacheRules`` and ``GET {registry}/replications`` (paged), one by name too;
  replications of a non-Premium registry list empty (see child_documents.py);
- ``GET {registry}/providers/Microsoft.Insights/diagnosticSettings`` (one page: the 2021-05-01-preview
  collection has no nextLink), ``GET`` and ``PUT .../diagnosticSettings/{name}`` (200 for create and
  replace, as DiagnosticSettings_CreateOrUpdate declares); a PUT emits
  ``Microsoft.Insights/diagnosticSettings/write`` whose subject is the setting's ID;
  ``DELETE .../diagnosticSettings/{name}`` answers 200, or 204 when there was no such setting
  (DiagnosticSettings_Delete's responses; azure-mgmt-monitor 6.0.2 accepts exactly these), and a
  delete emits ``Microsoft.Resources.ResourceDeleteSuccess`` for
  ``Microsoft.Insights/diagnosticSettings/delete``.

ARM checks the token, the api-version and RBAC (``.../registries/tokens/read`` and ``/write``,
``.../cacheRules/read``, ``.../replications/read``, ``Microsoft.Insights/diagnosticSettings/read``,
``/write`` and ``/delete``) before the parent: a missing registry is 404 ``ParentResourceNotFound``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import arm_gateway, wire_schema
from .arm_paths import DIAGNOSTIC_SETTINGS, REGISTRY_TYPE, REPLICATIONS, TOKENS, ChildRef, resource_key
from .arm_registries import (
    ArmSettings,
    RegistryEntry,
    RegistryStore,
    decode_skip_token,
    encode_skip_token,
    parse_body,
)
from .child_documents import (
    MAX_SETTINGS,
    check_diagnostic_setting,
    check_sink_reuse,
    child_document,
    home_replication,
)
from .event_delivery import WriteContext, resource_event
from .http_types import ArmError, Request, Response
from .lro import AsyncOperation, OperationTracker
from .registry_documents import stamp_modified

DIAGNOSTIC_API_VERSIONS = ("2021-05-01-preview",)
INSIGHTS = "Microsoft.Insights"
TOKEN_WRITE = "Microsoft.ContainerRegistry/registries/tokens/write"
DIAGNOSTIC_WRITE = "Microsoft.Insights/diagnosticSettings/write"
DIAGNOSTIC_DELETE = "Microsoft.Insights/diagnosticSettings/delete"
_ALLOWED = {TOKENS: ("GET", "HEAD", "PATCH", "PUT"), DIAGNOSTIC_SETTINGS: ("GET", "HEAD", "PUT", "DELETE")}
_DIAGNOSTIC_KEYS = (
    "storageAccountId",
    "serviceBusRuleId",
    "eventHubAuthorizationRuleId",
    "eventHubName",
    "metrics",
    "logs",
    "workspaceId",
    "marketplacePartnerId",
    "logAnalyticsDestinationType",
)


def action_for(ref: ChildRef, method: str) -> str:
    """The RBAC action ARM checks for ``method`` on ``ref``."""
    verb = {"GET": "read", "HEAD": "read", "DELETE": "delete"}.get(method.upper(), "write")
    if ref.kind == DIAGNOSTIC_SETTINGS:
        return f"{INSIGHTS}/diagnosticSettings/{verb}"
    return f"Microsoft.ContainerRegistry/registries/{ref.kind}/{verb}"


def parent_not_found(ref: ChildRef) -> ArmError:
    registry = ref.registry
    return ArmError(
        404,
        "ParentResourceNotFound",
        f"Can not perform requested operation on nested resource. Parent resource '{registry.name}' not found.",
    )


def child_not_found(ref: ChildRef) -> ArmError:
    if ref.kind == DIAGNOSTIC_SETTINGS:
        return ArmError(404, "ResourceNotFound", f"The diagnostic setting '{ref.name}' doesn't exist.")
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{REGISTRY_TYPE}/{ref.registry.name}/{ref.kind}/{ref.name}' under resource group "
        f"'{ref.registry.resource_group}' was not found. For more details please go to "
        "https://aka.ms/ARMResourceNotFoundFix",
    )


def children_of(entry: RegistryEntry, kind: str) -> list[dict[str, Any]]:
    """The stored children of one kind, in insertion order. A Premium registry's home replica comes
    last, after those added, as ARM listed them (azure-mgmt-containerregistry 10.0.0's recording
    test_mgmt_containerregistry_2018_02_01_preview.test_replication.yaml): no order is promised."""
    stored = list(entry.children.get(kind, {}).values())
    if kind != REPLICATIONS:
        return stored
    if entry.doc["sku"]["name"] != "Premium":
        return []  # geo-replication is Premium only (see child_documents.py)
    home = _region(entry.doc["location"])
    if any(_region(doc.get("location", "")) == home for doc in stored):
        return stored
    return [*stored, home_replication(entry.doc)]


def _region(location: str) -> str:
    return location.replace(" ", "").lower()


def store_child(entry: RegistryEntry, kind: str, doc: dict[str, Any]) -> None:
    entry.children.setdefault(kind, {})[doc["name"].lower()] = doc


def check_scope_map(entry: RegistryEntry, scope_map: Any) -> None:
    """A token's ``scopeMapId``, if given, must name a scope map of its own registry."""
    prefix = resource_key(entry.ref.id) + "/scopemaps/"
    if scope_map is not None and not (
        resource_key(scope_map).startswith(prefix) and "/" not in resource_key(scope_map)[len(prefix) :]
    ):
        raise ArmError(
            400,
            "InvalidScopeMapId",  # emulator-chosen code: no public sample of ARM's
            f"properties.scopeMapId '{scope_map}' is not a scope map of registry '{entry.ref.name}' "
            f"(expected {entry.ref.id}/scopeMaps/{{name}}).",
        )


@dataclass
class ChildrenProvider:
    """Shares the registries' store (children live on their RegistryEntry), operations and settings."""

    store: RegistryStore
    operations: OperationTracker
    settings: ArmSettings
    emit: Callable[[dict[str, Any]], None]

    def handle(self, request: Request, ref: ChildRef, context: WriteContext) -> Response:
        diagnostic = ref.kind == DIAGNOSTIC_SETTINGS
        versions = DIAGNOSTIC_API_VERSIONS if diagnostic else arm_gateway.SUPPORTED_API_VERSIONS
        api_version = arm_gateway.require_api_version(request, versions)
        arm_gateway.authorize(context.principal, action_for(ref, request.method), ref.id)
        with self.store.lock:
            entry = self.store.get(ref.registry.key)
            if entry is None:
                raise parent_not_found(ref)
            if ref.operation_id:
                return self._poll(request, ref)
            allowed = _ALLOWED.get(ref.kind, ("GET", "HEAD")) if ref.name else ("GET", "HEAD")
            if request.method not in allowed:
                raise ArmError(
                    405,
                    "MethodNotAllowed",
                    f"The requested resource does not support http method '{request.method}'; "
                    f"the emulator serves {', '.join(allowed)} on {ref.type} here.",
                )
            if ref.name is None:
                return self._list(request, ref, entry, api_version, paged=not diagnostic)
            current = self._find(entry, ref)
            if request.method in ("GET", "HEAD"):
                if current is None:
                    raise child_not_found(ref)
                return Response.json(200, copy.deepcopy(current))
            if diagnostic and request.method == "DELETE":
                return self._delete_setting(ref, entry, current, context)
            if diagnostic:
                return self._put_setting(request, ref, entry, current, context)
            if request.method == "PUT":
                return self._put_token(request, ref, entry, context)
            if current is None:
                raise child_not_found(ref)
            return self._patch_token(request, ref, entry, current, context, api_version)

    def _find(self, entry: RegistryEntry, ref: ChildRef) -> dict[str, Any] | None:
        wanted = (ref.name or "").lower()
        return next((doc for doc in children_of(entry, ref.kind) if doc["name"].lower() == wanted), None)

    def _list(
        self, request: Request, ref: ChildRef, entry: RegistryEntry, api_version: str, *, paged: bool
    ) -> Response:
        items = children_of(entry, ref.kind)
        if not paged:
            return Response.json(200, {"value": copy.deepcopy(items)})
        offset = decode_skip_token(request.param("$skipToken"))
        page = items[offset : offset + self.settings.page_size]
        payload: dict[str, Any] = {"value": copy.deepcopy(page)}
        if offset + len(page) < len(items):
            token = encode_skip_token(offset + len(page))
            payload["nextLink"] = f"{request.origin}{ref.id}?api-version={api_version}&%24skipToken={token}"
        return Response.json(200, payload)

    # ------------------------------------------------------------------ tokens
    def _patch_token(
        self,
        request: Request,
        ref: ChildRef,
        entry: RegistryEntry,
        current: dict[str, Any],
        context: WriteContext,
        api_version: str,
    ) -> Response:
        child = ChildRef(ref.registry, TOKENS, current["name"])  # the casing it was created with
        if self.operations.pending_for(child.key):
            raise ArmError(
                409,
                "Conflict",
                f"The token '{child.name}' is in Updating state. Another operation is in progress on it; "
                "retry the request after it completes.",
            )
        requested = (
            wire_schema.clean_model(parse_body(request), "TokenUpdateParameters").get("properties") or {}
        )
        check_scope_map(entry, requested.get("scopeMapId"))
        doc = copy.deepcopy(current)
        doc["properties"].update(copy.deepcopy(requested))  # each property given replaces the old one
        stamp_modified(doc, context.principal.system_data_actor(), now=self.settings.timestamp())
        doc = wire_schema.clean_model(doc, "Token", document=True)
        event = resource_event(child.event_uri, child.registry.subscription, TOKEN_WRITE, context)
        mode = self.settings.lro_overrides.get(child.key) or self.settings.lro_for(entry.ref.key)
        if mode.kind == "sync":
            store_child(entry, TOKENS, doc)
            self.emit(event)
            return Response.json(200, copy.deepcopy(doc))

        previous = copy.deepcopy(current)
        doc["properties"]["provisioningState"] = "Updating"
        store_child(entry, TOKENS, doc)

        def finish(operation: AsyncOperation) -> None:
            holder = self.store.get(entry.ref.key)
            stored = holder.children.get(TOKENS, {}).get(child.name.lower()) if holder else None
            if holder is None or stored is None:
                return
            if operation.status == "Succeeded":
                stored["properties"]["provisioningState"] = "Succeeded"
                self.emit(event)
            else:
                failed = copy.deepcopy(previous)
                failed["properties"]["provisioningState"] = "Failed"
                store_child(holder, TOKENS, failed)

        operation = self.operations.start(
            registry_key=child.key, resource_id=child.id, action="write", mode=mode, finish=finish
        )
        status_url = (
            f"{request.origin}{child.id}/operationStatuses/{operation.operation_id}?api-version={api_version}"
        )
        headers = {"Azure-AsyncOperation": status_url, "Retry-After": str(mode.retry_after)}
        if mode.initial_status == 201:
            return Response.json(201, copy.deepcopy(doc), headers)
        return Response(202, b"", headers)

    def _put_token(
        self, request: Request, ref: ChildRef, entry: RegistryEntry, context: WriteContext
    ) -> Response:
        current = self._find(entry, ref)
        name = current["name"] if current else str(ref.name)
        child = ChildRef(ref.registry, TOKENS, name)
        if self.operations.pending_for(child.key):
            raise ArmError(
                409, "Conflict", f"The token '{name}' is in Updating state; retry after it completes."
            )
        requested = wire_schema.clean_model(parse_body(request), "Token").get("properties") or {}
        check_scope_map(entry, requested.get("scopeMapId"))
        created = {"systemData": copy.deepcopy(current["systemData"])} if current else {}
        try:
            entry_doc = {"name": name, "properties": requested, **created}
            since = current["properties"].get("creationDate") if current else self.settings.timestamp()
            doc = child_document(entry.doc, TOKENS, entry_doc, created_at=since)
        except ValueError as error:
            raise ArmError(400, "BadRequest", str(error)) from None
        stamp_modified(
            doc, context.principal.system_data_actor(), created=current is None, now=self.settings.timestamp()
        )
        store_child(entry, TOKENS, doc)
        self.emit(resource_event(child.event_uri, child.registry.subscription, TOKEN_WRITE, context))
        return Response.json(200 if current else 201, copy.deepcopy(doc))

    def _poll(self, request: Request, ref: ChildRef) -> Response:
        operation = self.operations.get(ref.operation_id or "")
        if operation is None or operation.registry_key != ChildRef(ref.registry, ref.kind, ref.name).key:
            raise ArmError(
                404, "OperationNotFound", f"The operation '{ref.operation_id}' could not be found."
            )
        self.operations.poll(operation)
        request.notes["operation_status"] = operation.status
        retry = {} if operation.done else {"Retry-After": str(operation.mode.retry_after)}
        return Response.json(200, operation.status_document(), retry)

    # ------------------------------------------------------------------ diagnostic settings
    def _put_setting(
        self,
        request: Request,
        ref: ChildRef,
        entry: RegistryEntry,
        current: dict[str, Any] | None,
        context: WriteContext,
    ) -> Response:
        body = parse_body(request)
        properties = body.get("properties")
        check_diagnostic_setting(properties)
        assert isinstance(properties, dict)
        if current is None and len(children_of(entry, DIAGNOSTIC_SETTINGS)) >= MAX_SETTINGS:
            raise ArmError(
                400,
                "BadRequest",
                f"The resource '{entry.ref.name}' already has {MAX_SETTINGS} diagnostic settings, the most "
                "Azure Monitor allows per resource.",
            )
        name = current["name"] if current else str(ref.name)
        check_sink_reuse(name, properties, children_of(entry, DIAGNOSTIC_SETTINGS))
        child = ChildRef(ref.registry, DIAGNOSTIC_SETTINGS, name)
        doc: dict[str, Any] = {
            "id": child.id,
            "type": child.type,
            "name": name,
            "systemData": copy.deepcopy(current.get("systemData", {})) if current else {},
            "properties": {
                key: copy.deepcopy(properties[key]) for key in _DIAGNOSTIC_KEYS if key in properties
            },
        }
        actor = context.principal.system_data_actor()
        stamp_modified(doc, actor, created=current is None, now=self.settings.timestamp())
        store_child(entry, DIAGNOSTIC_SETTINGS, doc)
        self.emit(
            resource_event(
                child.event_uri, child.registry.subscription, DIAGNOSTIC_WRITE, context, provider=INSIGHTS
            )
        )
        return Response.json(200, copy.deepcopy(doc))

    def _delete_setting(
        self, ref: ChildRef, entry: RegistryEntry, current: dict[str, Any] | None, context: WriteContext
    ) -> Response:
        if current is None:
            return Response(204)  # nothing to delete: no event either
        child = ChildRef(ref.registry, DIAGNOSTIC_SETTINGS, current["name"])
        del entry.children[DIAGNOSTIC_SETTINGS][child.name.lower()]
        self.emit(
            resource_event(
                child.event_uri,
                child.registry.subscription,
                DIAGNOSTIC_DELETE,
                context,
                provider=INSIGHTS,
                deleted=True,
            )
        )
        return Response(200)
