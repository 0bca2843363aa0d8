"""The :class:`Emulator`: one HTTPS server on 127.0.0.1 serving ARM (registries), the
managed-identity endpoint and an Event Grid topic, plus the test-facing API to seed it, script
faults, observe calls and receive events.

Usage::

    with Emulator(seed="emulator/seeds/demo.yaml") as emu:
        os.environ.update(emu.env())          # IDENTITY_ENDPOINT, REQUESTS_CA_BUNDLE, ACRGUARD_ARM_ENDPOINT...
        client = ContainerRegistryManagementClient(
            ManagedIdentityCredential(), subscription_id, base_url=emu.arm_url,
            credential_scopes=[emu.arm_url + "/.default"])
"""

from __future__ import annotations

import contextlib
import copy
import os
import secrets
import shutil
import tempfile
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from . import arm_gateway
from .arm_children import ChildrenProvider, children_of, store_child
from .arm_paths import (
    LIST_BY_GROUP_PATH,
    LIST_BY_SUBSCRIPTION_PATH,
    LOCATION_OPERATION_PATH,
    OPERATION_PATH,
    REGISTRY_PATH,
    SUBSCRIPTION_PATH,
    SUBSCRIPTIONS_PATH,
    ChildRef,
    ListScope,
    LocationOperationRef,
    OperationRef,
    RegistryRef,
    SubscriptionsTarget,
    resource_key,
)
from .arm_registries import ArmSettings, RegistriesProvider, RegistryEntry, RegistryStore, conflict, not_found
from .arm_subscriptions import (
    SUBSCRIPTION_READ,
    SUBSCRIPTIONS_API_VERSIONS,
    Subscription,
    SubscriptionDirectory,
    SubscriptionState,
)
from .child_documents import child_document
from .event_delivery import EventDispatcher, EventSchema, Sink, SinkError, WriteContext
from .eventgrid_topic import EventGridTopic, new_topic_key
from .faults import ARM_ROUTES, DEFAULT_ARM_CODES, Delay, Fault, FaultPlan, resolve_delay
from .graph_api import PATH as RESOURCE_GRAPH_PATH
from .graph_api import ResourceGraph
from .http_types import Abort, ArmError, Request, Response
from .httpd import TlsThreadingServer
from .identity import (
    DEFAULT_TENANT_ID,
    DEV_USER,
    FUNCTION_APP_IDENTITY,
    ManagedIdentityEndpoint,
    Principal,
    TokenRecord,
    TokenStore,
    bearer_token,
)
from .log_analytics import PATH as LOGS_PATH
from .log_analytics import LogAnalytics
from .lro import LroMode, OperationTracker
from .observability import Counters, RequestLog, RequestRecord
from .seeding import SeedError, SeedSource, parse_seed
from .tls import create_tls

IDENTITY_PATH = "/msi/token"
TOPIC_PATH = "/api/events"
LOOPBACK = "127.0.0.1"

UNSET_ENV_VARS = (
    "AZURE_CLIENT_ID",
    "AZURE_TENANT_ID",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PATH",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_FEDERATED_TOKEN_FILE",
    "AZURE_USERNAME",
    "AZURE_PASSWORD",
    "AZURE_AUTHORITY_HOST",
    "AZURE_TOKEN_CREDENTIALS",
    "AZURE_POD_IDENTITY_AUTHORITY_HOST",
    "MSI_ENDPOINT",
    "MSI_SECRET",
    "IMDS_ENDPOINT",
    "IDENTITY_SERVER_THUMBPRINT",
)
"""Variables that would make azure-identity pick another credential than the emulator's endpoint."""

Target = RegistryRef | ListScope | OperationRef | LocationOperationRef | SubscriptionsTarget | ChildRef | None


@dataclass(frozen=True)
class ArmRequest:
    """What a request hook is told about an ARM request before it is served."""

    method: str
    route: str
    resource_key: str | None  # the case-insensitive key of the registry (or child, or collection) addressed
    principal: Principal | None  # who sent it (None: no or unknown token)


class Emulator:
    def __init__(
        self,
        *,
        port: int = 0,
        state_dir: str | Path | None = None,
        seed: SeedSource | None = None,
        page_size: int = 100,
        lro: LroMode | None = None,
        managed_identity: Principal = FUNCTION_APP_IDENTITY,
        topic_key: str | None = None,
        identity_header: str | None = None,
    ) -> None:
        self._requested_port = port
        self._own_state_dir = state_dir is None
        self._state_dir = Path(state_dir) if state_dir else None
        self._initial_seed = seed
        self._defaults = ArmSettings(page_size=page_size, lro=lro or LroMode())
        self.settings = ArmSettings(page_size=page_size, lro=lro or LroMode())

        self._tokens = TokenStore()
        self.identity_header = identity_header or secrets.token_urlsafe(24)
        self._identity = ManagedIdentityEndpoint(self._tokens, self.identity_header, managed_identity)
        self._topic = EventGridTopic(topic_key or new_topic_key(), self._tokens)
        self._store = RegistryStore()
        self._subscriptions = SubscriptionDirectory()
        self._operations = OperationTracker()
        self._faults = FaultPlan()
        self._latency: Delay = None
        self._request_hooks: list[Callable[[ArmRequest], None]] = []
        self._log = RequestLog()
        self.resource_graph = ResourceGraph(self._graph_documents, self._graph_subscriptions)
        self.log_analytics = LogAnalytics(self._tokens)
        self.counters = Counters()
        self._dispatcher: EventDispatcher | None = None
        self._registries = RegistriesProvider(self._store, self._operations, self.settings, self._emit)
        self._children = ChildrenProvider(self._store, self._operations, self.settings, self._emit)
        self._server: TlsThreadingServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._generation = 0
        self._handshakes_at_reset = 0
        """Bumped by reset(): a request begun earlier belongs to a previous test and is dropped."""
        self.ca_path: Path | None = None

    # ================================================================== lifecycle
    def start(self) -> Emulator:
        if self._server is not None:
            return self
        if self._state_dir is None:
            self._state_dir = Path(tempfile.mkdtemp(prefix="acrguard-emulator-"))
        self._state_dir.mkdir(parents=True, exist_ok=True)
        tls = create_tls(self._state_dir)
        self.ca_path = tls.ca_path
        self._dispatcher = EventDispatcher(ca_path=tls.ca_path)
        self._server = TlsThreadingServer((LOOPBACK, self._requested_port), self, tls.context)
        self._handshakes_at_reset = 0
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="emulator-https",
            daemon=True,
        )
        self._thread.start()
        if self._initial_seed is not None:
            self.seed(self._initial_seed)
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        self._server.close_all_connections()
        self._server.server_close()
        if self._thread:
            self._thread.join(timeout=5)
        if self._dispatcher:
            self._dispatcher.close()
        self._server = None
        if self._own_state_dir and self._state_dir is not None:
            shutil.rmtree(self._state_dir, ignore_errors=True)
            self._state_dir = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget registries, faults, latency, logs, counters, sinks, events and settings.

        Keeps the server, its port and CA, issued tokens and identities, so clients and cached
        credentials built in one test keep working in the next.
        """
        self._generation += 1
        self._handshakes_at_reset = self._server.handshakes if self._server else 0
        self._events().reset()
        with self._store.lock:
            self._store.clear()
            self._operations.clear()
            self._subscriptions.clear()
            self.settings.page_size = self._defaults.page_size
            self.settings.lro = self._defaults.lro
            self.settings.lro_overrides.clear()
            self.settings.clock = None
        self._request_hooks.clear()
        self._faults.clear()
        self._latency = None
        self._log.clear()
        self.counters.clear()
        self._topic.clear()
        self._topic.input_schema = "CloudEventSchemaV1_0"
        self.resource_graph.reset()
        self.log_analytics.reset()

    def _graph_documents(self) -> list[dict[str, Any]]:
        with self._store.lock:
            return [entry.doc for entry in self._store.entries()]

    def _graph_subscriptions(self) -> list[str]:
        with self._store.lock:
            implied = [entry.ref.subscription for entry in self._store.entries()]
        return [s.subscription_id.lower() for s in self._subscriptions.visible(implied)]

    # ================================================================== where it listens
    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the emulator is not started")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"https://{LOOPBACK}:{self.port}"

    @property
    def arm_url(self) -> str:
        """The ARM endpoint (no trailing slash): ACRGUARD_ARM_ENDPOINT and the SDK's base_url."""
        return self.base_url

    @property
    def logs_url(self) -> str:
        """The Log Analytics query endpoint: ACRGUARD_LOGS_ENDPOINT, LogsQueryClient's ``endpoint``."""
        return self.base_url + "/v1"

    def log_workspace(self, workspace_id: str, *, row_limit: int | None = None) -> Any:
        """The Log Analytics workspace with this ID (a GUID), made empty on first use and dropped by
        :meth:`reset`; an ``emulator.log_workspace.Workspace`` to feed and query (see log_analytics.py)."""
        return self.log_analytics.workspace(workspace_id, row_limit=row_limit)

    @property
    def identity_endpoint(self) -> str:
        return self.base_url + IDENTITY_PATH

    @property
    def topic_endpoint(self) -> str:
        return self.base_url + TOPIC_PATH

    @property
    def topic_key(self) -> str:
        return self._topic.key

    def env(self) -> dict[str, str]:
        """Environment that wires the real SDK to this emulator (values to set)."""
        assert self.ca_path is not None, "the emulator is not started"
        no_proxy = ",".join(filter(None, [f"{LOOPBACK},localhost", os.environ.get("NO_PROXY")]))
        return {
            "IDENTITY_ENDPOINT": self.identity_endpoint,
            "IDENTITY_HEADER": self.identity_header,
            "REQUESTS_CA_BUNDLE": str(self.ca_path),
            "SSL_CERT_FILE": str(self.ca_path),
            "ACRGUARD_ARM_ENDPOINT": self.arm_url,
            "ACRGUARD_LOGS_ENDPOINT": self.logs_url,
            "NO_PROXY": no_proxy,
            "no_proxy": no_proxy,
        }

    def subprocess_env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``base`` (default os.environ) plus :meth:`env`, minus :data:`UNSET_ENV_VARS`."""
        merged = {**(os.environ if base is None else base), **self.env()}
        for name in UNSET_ENV_VARS:
            merged.pop(name, None)
        return merged

    # ================================================================== identities and tokens
    @property
    def managed_identity(self) -> Principal:
        """The system-assigned identity ManagedIdentityCredential() receives."""
        return self._identity.system_identity

    def add_identity(self, principal: Principal) -> Principal:
        """Register a user-assigned identity (selected by client_id / principal_id / mi_res_id)."""
        self._identity.add_user_assigned(principal)
        return principal

    def issue_token(
        self, principal: Principal = DEV_USER, *, resource: str | None = None, lifetime: float = 3600.0
    ) -> str:
        """A bearer token for ``principal`` (default: the sample's human, dev@contoso.example).

        ``resource`` defaults to https://management.azure.com/; a negative ``lifetime`` gives an
        already expired token.
        """
        return self._tokens.issue(principal, resource or "https://management.azure.com/", lifetime).token

    def auth_headers(self, principal: Principal = DEV_USER) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issue_token(principal)}"}

    def arm_request(
        self,
        method: str,
        path: str,
        *,
        principal: Principal = DEV_USER,
        token: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """One ARM request as a person sends it (``az``): ``principal``'s token (or ``token``) over the
        emulator's TLS. ``path`` carries its query (``api-version``); ``kwargs`` go to requests."""
        import requests  # a client's library: the emulator itself serves without it

        bearer = token or self.issue_token(principal)
        headers = {"Authorization": f"Bearer {bearer}", **kwargs.pop("headers", {})}
        return requests.request(
            method, self.arm_url + path, headers=headers, verify=str(self.ca_path), timeout=10, **kwargs
        )

    def expire_token(self, token: str) -> None:
        self._tokens.expire(token)

    # ================================================================== registries
    def seed(self, source: SeedSource) -> list[str]:
        """Add registries from a seed file or dict (see seeding.py); returns their resource IDs.

        Direct state changes: no events, no counters, no request log.
        """
        documents, subscriptions, children = parse_seed(source)
        with self._store.lock:
            for document in documents:
                entry = RegistryEntry(RegistryRef.parse(document["id"]), document)
                for kind, docs in children.get(document["id"], {}).items():
                    for doc in docs:
                        store_child(entry, kind, doc)
                self._store.put(entry)
        self._subscriptions.remember([RegistryRef.parse(d["id"]).subscription for d in documents])
        for subscription in subscriptions:
            self.add_subscription(
                subscription["id"],
                display_name=subscription.get("display_name"),
                state=subscription.get("state", "Enabled"),  # type: ignore[arg-type]
            )
        return [document["id"] for document in documents]

    def add_registry(
        self,
        *,
        subscription: str,
        resource_group: str,
        name: str,
        sku: str = "Premium",
        tags: Mapping[str, str] | None = None,
        properties: Mapping[str, Any] | None = None,
        location: str = "westeurope",
        children: Mapping[str, list[Mapping[str, Any]]] | None = None,
    ) -> str:
        """One registry with realistic defaults for its SKU; returns its resource ID.

        ``children``: child resources by kind, as in a seed, e.g.
        ``{"tokens": [{"name": "ci", "properties": {"status": "disabled"}}]}``.
        """
        entry = {
            "subscription": subscription,
            "resource_group": resource_group,
            "name": name,
            "sku": sku,
            "tags": dict(tags or {}),
            "properties": dict(properties or {}),
            "location": location,
            **{kind: list(items) for kind, items in (children or {}).items()},
        }
        return self.seed([entry])[0]

    def add_child(self, registry_id: str, kind: str, child: Mapping[str, Any]) -> str:
        """Add (or replace) one child resource of a registry; returns its resource ID.

        ``kind`` is ``tokens``, ``cacheRules``, ``replications`` or ``diagnosticSettings``; ``child``
        is an entry as in a seed (emulator/child_documents.py). No event, as for seeds.
        """
        with self._store.lock:
            entry = self._store.get(registry_id)
            if entry is None:
                raise KeyError(registry_id)
            try:
                doc = child_document(entry.doc, kind, child)
            except ValueError as error:
                raise SeedError(f"{kind} of {registry_id}: {error}") from None
            store_child(entry, kind, doc)
            return str(doc["id"])

    def children(self, registry_id: str, kind: str) -> list[dict[str, Any]]:
        """The child resources of one kind as ARM lists them (copies); [] for an absent registry."""
        with self._store.lock:
            entry = self._store.get(registry_id)
            return copy.deepcopy(children_of(entry, kind)) if entry else []

    def get_child(self, resource_id: str) -> dict[str, Any] | None:
        """One child resource's GET document (a copy), by its resource ID, without counting a read."""
        ref = ChildRef.parse(resource_id)
        wanted = (ref.name or "").lower()
        found = [doc for doc in self.children(ref.registry.id, ref.kind) if doc["name"].lower() == wanted]
        return found[0] if found else None

    def get_registry(self, resource_id: str) -> dict[str, Any] | None:
        """The stored GET document (a copy), without counting a read."""
        entry = self._store.get(resource_id)
        return copy.deepcopy(entry.doc) if entry else None

    def registries(self) -> list[dict[str, Any]]:
        with self._store.lock:
            return [copy.deepcopy(entry.doc) for entry in self._store.entries()]

    def remove_registry(self, resource_id: str) -> bool:
        return self._store.delete(resource_id) is not None

    def add_subscription(
        self, subscription_id: str, *, display_name: str | None = None, state: SubscriptionState = "Enabled"
    ) -> Subscription:
        """Make a subscription visible to ``GET /subscriptions`` even without registries (or Disabled).

        Subscriptions holding a registry are visible (Enabled) without this.
        """
        return self._subscriptions.add(Subscription(subscription_id, display_name, state))

    @property
    def page_size(self) -> int:
        return self.settings.page_size

    @page_size.setter
    def page_size(self, value: int) -> None:
        if value < 1:
            raise ValueError("page_size must be >= 1")
        self.settings.page_size = value

    def set_lro(
        self,
        kind: Literal["sync", "async"] = "async",
        *,
        polls: int = 1,
        initial_status: Literal[201, 202] = 201,
        retry_after: int = 1,
        outcome: Literal["Succeeded", "Failed"] = "Succeeded",
        resource_id: str | None = None,
        error_code: str = "InternalServerError",
    ) -> LroMode:
        """How PUT/PATCH/DELETE answer, globally or for one registry (see lro.py for the contract)."""
        mode = LroMode(kind, polls, initial_status, retry_after, outcome, error_code)
        with self._store.lock:
            if resource_id is None:
                self.settings.lro = mode
            else:
                self.settings.lro_overrides[resource_key(resource_id)] = mode
        return mode

    def hold_updating(
        self,
        resource_id: str,
        requests: int = 1,
        state: Literal["Creating", "Updating", "Deleting"] = "Updating",
    ) -> None:
        """Pin a registry in provisioningState ``state`` for its next ``requests`` requests (GETs,
        list pages and Resource Graph rows show it), then Succeeded.

        Meanwhile PUT/PATCH/DELETE answer 409 Conflict, as ACR does while an operation is in flight.
        (A registry being deleted for real: an async DELETE, ``set_lro("async", polls=...)``.)
        """
        entry = self._store.get(resource_id)
        if entry is None:
            raise KeyError(resource_id)
        self._registries.hold_updating(entry, requests, state)

    def complete_operations(self) -> int:
        """Finish all pending async operations now (their events are emitted); returns how many."""
        with self._store.lock:
            return self._operations.complete_all()

    # ================================================================== other writers, simulated time
    def on_arm_request(self, hook: Callable[[ArmRequest], None]) -> None:
        """Call ``hook`` before each ARM request is served, before any fault applies.

        This is how a test plays a second writer racing the client under test: the hook can make
        its own requests (with another principal's token) so that they land between the client's
        read and its write, as a person's ``az acr network-rule add`` can. ``reset()`` removes it.
        """
        self._request_hooks.append(hook)

    def set_clock(self, clock: Callable[[], datetime] | None) -> None:
        """What "now" is for ``systemData.lastModifiedAt`` (None: the real clock)."""
        with self._store.lock:
            self.settings.clock = clock

    # ================================================================== faults and latency
    def inject(self, fault: Fault | None = None, /, **criteria_and_action: Any) -> Fault:
        """Script a fault, e.g. ``inject(method="PATCH", resource_id=rid, status=429, retry_after=1, times=2)``.

        Takes a :class:`Fault` or its fields as keywords; returns it (``.hits`` counts its uses).
        """
        if fault is None:
            fault = Fault(**criteria_and_action)
        elif criteria_and_action:
            raise TypeError("pass a Fault or keyword fields, not both")
        return self._faults.add(fault)

    def clear_faults(self) -> None:
        self._faults.clear()

    @property
    def faults(self) -> list[Fault]:
        """Faults not yet used up."""
        return self._faults.pending

    def set_latency(self, delay: Delay) -> None:
        """Latency added to every ARM call: seconds, a callable returning seconds, or None."""
        self._latency = delay

    # ================================================================== observability
    @property
    def requests(self) -> list[RequestRecord]:
        return self._log.all()

    @property
    def requests_for(self) -> Callable[..., list[RequestRecord]]:
        """The request log's filter: ``requests_for(method=, route=, resource_id=, status=)``."""
        return self._log.filter

    # ================================================================== events
    def _events(self) -> EventDispatcher:
        if self._dispatcher is None:
            raise RuntimeError("the emulator is not started")
        return self._dispatcher

    def _emit(self, event: dict[str, Any]) -> None:
        self._events().emit(event)

    @property
    def events(self) -> list[dict[str, Any]]:
        """Every event emitted since the last reset (EventGridSchema dicts, copies)."""
        return self._events().events

    def add_sink(
        self, target: Callable[[dict[str, Any]], Any] | str, *, schema: EventSchema = "eventgrid"
    ) -> Sink:
        """Deliver each future event to a callable (one event per call) or a webhook URL."""
        return self._events().add_sink(target, schema)

    def remove_sink(self, sink: Sink) -> None:
        self._events().remove_sink(sink)

    @property
    def sink_errors(self) -> list[SinkError]:
        return self._events().errors

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every event is delivered, sinks returned, and no request is being served."""
        self._events().drain(timeout, idle=self._idle)

    def wait_for_events(
        self,
        count: int = 1,
        *,
        timeout: float = 10.0,
        predicate: Callable[[dict[str, Any]], bool] | None = None,
    ) -> list[dict[str, Any]]:
        """Wait for at least ``count`` (matching) events, then :meth:`drain`; return the matching ones."""
        return self._events().wait_for(count, timeout, predicate, self._idle)

    # ================================================================== Event Grid topic
    @property
    def topic_events(self) -> list[dict[str, Any]]:
        """CloudEvents accepted by the topic endpoint since the last reset."""
        return self._topic.received

    @property
    def topic(self) -> EventGridTopic:
        return self._topic

    @property
    def tls_connections(self) -> int:
        """TLS connections accepted since the last reset (ARM, identity and topic alike): a client
        that is reused keeps its connections open; one built per call opens a new one each time."""
        return (self._server.handshakes if self._server else 0) - self._handshakes_at_reset

    # ================================================================== request handling
    def _idle(self) -> bool:
        with self._in_flight_lock:
            return self._in_flight == 0

    @contextlib.contextmanager
    def _serving(self) -> Iterator[None]:
        with self._in_flight_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._in_flight_lock:
                self._in_flight -= 1

    def _sleep(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def handle(self, request: Request) -> Response | Abort:
        started = time.monotonic()
        route, target = classify(request.path)
        target_key = _target_key(target)
        outcome: Response | Abort | None = None
        fault: Fault | None = None
        generation = self._generation
        with self._serving():
            try:
                if route in ARM_ROUTES and self._request_hooks:
                    seen = ArmRequest(request.method, route, target_key, self._peek_principal(request))
                    for hook in list(self._request_hooks):
                        hook(seen)
                fault = self._faults.take(request.method, route, target_key, request.path)
                if fault is not None:
                    self._sleep(fault.delay_seconds())
                    if fault.reset:
                        outcome = Abort(fault.reset)
                    elif fault.status:
                        outcome = self._fault_response(fault, request, route, target)
                if outcome is None:
                    if route in ARM_ROUTES:
                        self._sleep(resolve_delay(self._latency))
                    if generation != self._generation:
                        # Still sleeping when reset() ran (its client has usually given up): it must
                        # not act on, or show up in, the next test's state.
                        outcome = Abort("close")
                        return outcome
                    outcome = self._route(request, route, target)
                return outcome
            except Exception:
                # A bug in the emulator must not look like a network failure to the client under test.
                traceback.print_exc()
                request.notes["error_code"] = "EmulatorInternalError"
                outcome = ArmError(
                    500, "InternalServerError", "The ACR Guard emulator failed; see its stderr."
                ).response()
                return outcome
            finally:
                if generation == self._generation:
                    self._record(request, route, target, outcome, fault, started)

    def _route(self, request: Request, route: str, target: Target) -> Response:
        if route == "identity":
            return self._identity.handle(request)
        if route == "topic":
            return self._topic.handle(request)
        if route == "logs":
            own = {self.base_url, f"https://localhost:{self.port}", request.origin}
            return self.log_analytics.handle(request, own)
        correlation_id = request.header("x-ms-correlation-request-id") or str(uuid.uuid4())
        headers = arm_gateway.standard_headers(correlation_id, request.method)
        try:
            if route not in ARM_ROUTES:
                raise ArmError(
                    404,
                    "NotFound",
                    f"No route for {request.method} {request.path}: the emulator serves "
                    "Microsoft.ContainerRegistry/registries, /msi/token and /api/events.",
                )
            response = self._arm(request, route, target, correlation_id)
        except ArmError as error:
            request.notes["error_code"] = error.code
            response = error.response()
        response.headers = {**headers, **response.headers}
        return response

    def _arm(self, request: Request, route: str, target: Target, correlation_id: str) -> Response:
        own = {self.base_url, f"https://localhost:{self.port}", request.origin}
        token = arm_gateway.authenticate(request, self._tokens, own)
        request.notes["principal"] = token.principal
        if route == "resourcegraph":
            return self.resource_graph.handle(request, token.principal)
        if isinstance(target, SubscriptionsTarget):
            arm_gateway.require_api_version(request, SUBSCRIPTIONS_API_VERSIONS)
            arm_gateway.authorize(token.principal, SUBSCRIPTION_READ, target.path)
            with self._store.lock:
                implied = [entry.ref.subscription for entry in self._store.entries()]
            return self._subscriptions.handle(request, target.subscription, implied, self.settings.page_size)
        if isinstance(target, ChildRef):
            return self._children.handle(request, target, _write_context(request, token, correlation_id))
        api_version = arm_gateway.require_api_version(request)
        if isinstance(target, LocationOperationRef):  # readable by whoever may read the registry
            operation = self._operations.get(target.operation_id)
            arm_gateway.authorize(
                token.principal, arm_gateway.READ, operation.resource_id if operation else target.path
            )
            return self._registries.poll_location(request, target)
        action = arm_gateway.READ if route != "registry" else arm_gateway.action_for(request.method)
        arm_gateway.authorize(token.principal, action, _scope_of(target))
        if isinstance(target, RegistryRef):
            context = _write_context(request, token, correlation_id)
            return self._registries.handle(request, target, context, api_version)
        if isinstance(target, ListScope):
            with self._store.lock:
                implied = [entry.ref.subscription for entry in self._store.entries()]
            self._subscriptions.require(target.subscription, implied)
            return self._registries.list(request, target, api_version)
        assert isinstance(target, OperationRef)
        return self._registries.poll(request, target)

    def _fault_response(self, fault: Fault, request: Request, route: str, target: Target) -> Response:
        status = int(fault.status or 500)
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            seconds = fault.retry_after
            headers["Retry-After"] = str(int(seconds)) if float(seconds).is_integer() else str(seconds)
        if route == "identity":
            body = fault.body or {
                "statusCode": status,
                "message": fault.message or "An unexpected error occurred while fetching the AAD token.",
                "correlationId": str(uuid.uuid4()),
            }
            return Response.json(status, body, headers)
        if route == "logs":
            body = fault.body or {
                "error": {"message": fault.message or "", "code": fault.code or "ServiceUnavailableError"}
            }
            return Response.json(status, body, headers)
        if route == "topic":
            body = fault.body or {
                "error": {"code": fault.code or "ServiceUnavailable", "message": fault.message or ""}
            }
            return Response.json(status, body, headers)
        code = fault.code or DEFAULT_ARM_CODES.get(status, "Error")
        request.notes["error_code"] = code
        message = fault.message or self._default_fault_message(status, code, request, target)
        correlation_id = request.header("x-ms-correlation-request-id") or str(uuid.uuid4())
        base = arm_gateway.standard_headers(correlation_id, request.method)
        if status == 401:
            base["WWW-Authenticate"] = (
                'Bearer authorization_uri="https://login.microsoftonline.com/", error="invalid_token"'
            )
        body = fault.body if fault.body is not None else {"error": {"code": code, "message": message}}
        return Response.json(status, body, {**base, **headers})

    def _default_fault_message(self, status: int, code: str, request: Request, target: Target) -> str:
        principal = self._peek_principal(request)
        scope = _scope_of(target)
        action = arm_gateway.action_for(request.method)
        if status == 403:
            return arm_gateway.authorization_failed_message(principal, action, scope)
        if status == 404 and isinstance(target, RegistryRef):
            return not_found(target).message
        if status == 409 and isinstance(target, RegistryRef):
            return conflict(target, "Updating").message
        if status == 429:
            kind = "read" if request.method in ("GET", "HEAD") else "write"
            subscription = scope.split("/")[2] if scope.startswith("/subscriptions/") else "unknown"
            actor = principal.object_id if principal else "unknown"
            return (
                f"Number of '{kind}' requests for subscription '{subscription}' actor '{actor}' exceeded. "
                "Please try again after additional tokens are available. Refer to https://aka.ms/arm-throttling"
            )
        if status == 504:
            return "The gateway did not receive a response from 'Microsoft.ContainerRegistry' within the specified time period."
        if status >= 500:
            return f"The service encountered an error ({code}); the request may be retried."
        return f"The request failed with {code} (scripted by the emulator)."

    def _peek_principal(self, request: Request) -> Principal | None:
        token = bearer_token(request)
        record = self._tokens.lookup(token) if token else None
        return record.principal if record else None

    def _record(
        self,
        request: Request,
        route: str,
        target: Target,
        outcome: Response | Abort | None,
        fault: Fault | None,
        started: float,
    ) -> None:
        status = outcome.status if isinstance(outcome, Response) else None
        principal = request.notes.get("principal") or self._peek_principal(request)
        resource_id = request.notes.get("resource_id") or _target_id(target)
        self.counters.count(route, request.method, _target_key(target))
        self._log.append(
            RequestRecord(
                seq=0,
                at=time.time(),
                method=request.method,
                path=request.path,
                query=dict(request.query),
                body=None if route == "identity" else request.json_body(),
                status=status,
                route=route,
                resource_id=resource_id,
                principal=principal,
                fault=fault.describe() if fault else None,
                error_code=request.notes.get("error_code") or _error_code(outcome),
                operation_status=request.notes.get("operation_status"),
                duration_ms=(time.monotonic() - started) * 1000,
            )
        )


def classify(path: str) -> tuple[str, Target]:
    """Which route a path belongs to, and what it targets."""
    if path.rstrip("/").lower() == IDENTITY_PATH:
        return "identity", None
    if path.rstrip("/").lower() == TOPIC_PATH:
        return "topic", None
    if path.rstrip("/").lower() == RESOURCE_GRAPH_PATH:
        return "resourcegraph", None
    if LOGS_PATH.match(path):
        return "logs", None
    if SUBSCRIPTIONS_PATH.match(path):
        return "subscriptions", SubscriptionsTarget()
    if match := SUBSCRIPTION_PATH.match(path):
        return "subscriptions", SubscriptionsTarget(match["sub"])
    if child := ChildRef.match(path):
        return child.route, child
    if match := REGISTRY_PATH.match(path):
        return "registry", RegistryRef(match["sub"], match["rg"], match["name"])
    if match := LOCATION_OPERATION_PATH.match(path):
        return "operation", LocationOperationRef(match["sub"], match["location"], match["op"])
    if match := OPERATION_PATH.match(path):
        ref = RegistryRef(match["sub"], match["rg"], match["name"])
        return "operation", OperationRef(ref, match["kind"], match["op"])
    if match := LIST_BY_GROUP_PATH.match(path):
        return "list", ListScope(match["sub"], match["rg"])
    if match := LIST_BY_SUBSCRIPTION_PATH.match(path):
        return "list", ListScope(match["sub"])
    return "other", None


def _write_context(request: Request, token: TokenRecord, correlation_id: str) -> WriteContext:
    return WriteContext(
        token=token,
        method=request.method,
        url=request.url,
        client_ip=request.client_ip,
        client_request_id=request.header("x-ms-client-request-id") or str(uuid.uuid4()),
        correlation_id=correlation_id,
    )


def _target_key(target: Target) -> str | None:
    if isinstance(target, (RegistryRef, ListScope, SubscriptionsTarget, ChildRef, LocationOperationRef)):
        return target.key
    if isinstance(target, OperationRef):
        return target.registry.key
    return None


def _target_id(target: Target) -> str | None:
    if isinstance(target, (RegistryRef, ChildRef)):
        return target.id
    if isinstance(target, (ListScope, SubscriptionsTarget, LocationOperationRef)):
        return target.path
    if isinstance(target, OperationRef):
        return target.registry.id
    return None


def _scope_of(target: Target) -> str:
    return _target_id(target) or "/"


def _error_code(outcome: Response | Abort | None) -> str | None:
    if not isinstance(outcome, Response) or outcome.status < 400:
        return None
    with contextlib.suppress(ValueError, AttributeError, TypeError):
        payload = outcome.payload()
        return payload.get("error", {}).get("code") if isinstance(payload, dict) else None
    return None


__all__ = ["DEFAULT_TENANT_ID", "UNSET_ENV_VARS", "Emulator"]
