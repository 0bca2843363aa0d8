"""ARM access: one client per subscription, reused across invocations, with one retry layer we own.

Retry design. The SDK's own RetryPolicy is switched off (``retry_total=0``) so that exactly one
layer retries and its attempts can be counted and bounded: tenacity retries 429 (honouring
``Retry-After``), 5xx, connection errors and timeouts, token failures and ARM 401s, and 409 (a
PATCH while the registry is ``Updating``), within ``ACRGUARD_MAX_ATTEMPTS`` attempts and
``ACRGUARD_RETRY_BUDGET_S`` seconds, and never past the invocation's deadline (acrguard.budget: an
Event Grid delivery's 30 s, the host's ``functionTimeout``), so that the platform never cuts a
decision short: each request's timeouts are capped at what is left, and budgets are measured on
the clock (simulated time applies). When the budget runs out the error is raised as
:class:`TransientArmError`, which the event handler lets escape so Event Grid redelivers. 404
becomes :class:`RegistryNotFound`, 403 :class:`PermissionDenied`, any other 4xx
:class:`PermanentArmError`: none of them is retried.

This module offers plain calls (each retried on its own) and :meth:`Arm.attempts`, the same retry
loop around a block of the caller's; it never decides what to write. The engine's PATCH runs as
such a block, every attempt computing its change from the read just before it (acrguard.engine),
so a retried write never repeats a PATCH. Long-running PATCHes are polled within the same budget; an
operation that ends ``Failed`` with a transient code is retried like any transient failure.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from tenacity import AttemptManager, RetryCallState, Retrying, retry_if_exception

from acrguard import budget
from acrguard.azure.credential import SingleFlightCredential
from acrguard.azure.errors import (
    BACKOFF,
    ArmError,
    NoCredential,
    NothingListening,
    PermanentArmError,
    PermissionDenied,
    PollingBudgetExceeded,
    RegistryNotFound,
    TransientArmError,
    describe,
    is_transient,
    not_found,
    operation_error_code,
    retry_after_seconds,
)
from acrguard.azure.local import START_EMULATOR, refused_locally
from acrguard.azure.resource_ids import READ_ACTION, RegistryRef
from acrguard.budget import SYSTEM, Clock
from acrguard.settings import Settings

__all__ = [  # the errors are part of this module's interface: callers catch them from here
    "Arm",
    "ArmError",
    "NoCredential",
    "NothingListening",
    "PermanentArmError",
    "PermissionDenied",
    "RegistryNotFound",
    "TransientArmError",
]

if TYPE_CHECKING:
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient
    from azure.mgmt.containerregistry.models import Registry, RegistryUpdateParameters

SUBSCRIPTIONS_API_VERSION = "2022-12-01"

log = logging.getLogger("acrguard.arm")


class Arm:
    """The only code that talks to ARM. Thread-safe; build once per process and reuse."""

    def __init__(self, settings: Settings, credential: Any | None = None, clock: Clock = SYSTEM) -> None:
        self.settings = settings
        self.clock = clock
        self._credential = credential
        self._clients: dict[str, Any] = {}  # registry clients by subscription, "monitor:<sub>" too
        self._transport: Any = None  # one connection pool for every client
        self._lock = threading.RLock()  # client() resolves the credential while holding it

    # -- clients --------------------------------------------------------------------------------

    @property
    def credential(self) -> Any:
        if self._credential is None:
            with self._lock:
                if self._credential is None:
                    from acrguard.azure.credential import default_credential

                    # In the Function App this resolves to the managed identity (IDENTITY_ENDPOINT);
                    # AZURE_CLIENT_ID selects the user-assigned one.
                    # Token requests get the ARM calls' timeouts: azure-core's default (300 s) would
                    # let a hanging identity endpoint hold an invocation far past the retry budget.
                    # Connection errors are retried by tenacity only (the one layer): azure-core's
                    # default 3 connect retries with backoff spent 6 s on an identity endpoint where
                    # nothing listens, which acrguard.azure.local.refused_locally gives up on at once.
                    # Its retries of 5xx answers stay, as the managed identity's guidance asks.
                    connect_s = min(10.0, self.settings.http_timeout_s)
                    self._credential = SingleFlightCredential(
                        default_credential(
                            exclude_interactive_browser_credential=True,
                            retry_connect=0,
                            connection_timeout=connect_s,
                            read_timeout=self.settings.http_timeout_s,
                        )
                    )
        return self._credential

    def client(self, subscription_id: str) -> ContainerRegistryManagementClient:
        def build(sub: str) -> Any:
            from azure.mgmt.containerregistry import ContainerRegistryManagementClient

            return ContainerRegistryManagementClient(self.credential, sub, **self._client_options())

        return self._cached("", subscription_id, build)

    def monitor_client(self, subscription_id: str) -> Any:
        """Azure Monitor's client (diagnostic settings), imported only when a rule needs it: the
        default policy never loads azure-mgmt-monitor, so cold start does not pay for it."""

        def build(sub: str) -> Any:
            from azure.mgmt.monitor import MonitorManagementClient

            return MonitorManagementClient(self.credential, sub, **self._client_options())

        return self._cached("monitor:", subscription_id, build)

    def _cached(self, kind: str, subscription_id: str, build: Callable[[str], Any]) -> Any:
        """One client per kind and subscription, built once (``build`` runs with ``_lock`` held)."""
        key = kind + subscription_id.lower()
        client = self._clients.get(key)
        if client is None:
            with self._lock:
                client = self._clients.get(key)
                if client is None:
                    client = self._clients[key] = build(subscription_id.lower())
        return client

    def _client_options(self) -> dict[str, Any]:
        """Called with ``_lock`` held."""
        return {
            "base_url": self.settings.arm_endpoint,
            "credential_scopes": [self.settings.arm_audience + "/.default"],
            "retry_total": 0,  # tenacity below is the one retry layer
            "transport": self._shared_transport(),
            "polling_interval": 2,
        }

    def _shared_transport(self) -> Any:
        """One HTTP transport (one keep-alive pool to ARM) for every client: each subscription's
        client with a pool of its own cost a TCP and TLS handshake per subscription, 1,000 of them
        in a sweep of 1,000 subscriptions. Called with ``_lock`` held."""
        if self._transport is None:
            self._transport = self.new_transport()
            self._transport.open()  # here, under the lock: two first requests would race to open it
        return self._transport

    def new_transport(self) -> Any:
        """An HTTP transport with this layer's timeouts, each request's capped at what is left of
        the invocation's deadline: ARM's shared one, and those of the clients that keep their own
        pool (Resource Graph, the lease's storage)."""
        return deadline_transport(
            self.clock,
            connection_timeout=min(10.0, self.settings.http_timeout_s),
            read_timeout=self.settings.http_timeout_s,
        )

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()
            if self._transport is not None:
                self._transport.close()
                self._transport = None

    # -- operations -----------------------------------------------------------------------------

    def get(self, ref: RegistryRef) -> Registry:
        """The registry (one GET, retried like every call)."""
        return self.call(f"GET {ref}", READ_ACTION, ref, lambda: self.read(ref))

    def read(self, ref: RegistryRef) -> Registry:
        """One GET of the registry, no retry of its own: for a block already under :meth:`attempts`."""
        return self.client(ref.subscription_id).registries.get(ref.resource_group, ref.name)

    def list_registries(self, subscription_id: str) -> Iterator[Registry]:
        """Every registry of a subscription, page by page (each with all properties).

        A failed page is retried from its continuation token, so a sweep never restarts.
        """
        token: str | None = None
        label = f"LIST /subscriptions/{subscription_id}"
        while True:

            def fetch(token: str | None = token) -> tuple[list[Registry], str | None]:
                pages = self.client(subscription_id).registries.list().by_page(continuation_token=token)
                page = list(next(pages))
                return page, pages.continuation_token

            try:
                page, token = self.call(label, READ_ACTION, None, fetch)
            except StopIteration:
                return
            yield from page
            if not token:
                return

    def patch(self, ref: RegistryRef, params: RegistryUpdateParameters, *, since: float) -> Registry:
        """One PATCH (long-running) and the registry as ARM answered it, no retry of its own: for a
        block under :meth:`attempts`, whose every attempt computes ``params`` from its own read.
        Polled within what is left of the retry budget counted from ``since`` (the first attempt)."""
        poller = self.client(ref.subscription_id).registries.begin_update(
            ref.resource_group, ref.name, params, polling=self.polling(f"PATCH {ref}", since)
        )
        return poller.result()

    def budget_s(self) -> float:
        """What one operation may spend from now: the retry budget, or less if the invocation's
        deadline comes sooner (<= 0 once it has passed)."""
        left = budget.remaining(self.clock)
        return self.settings.retry_budget_s if left is None else min(self.settings.retry_budget_s, left)

    def polling(self, what: str, started: float) -> Any:
        """ARM's polling for a long-running write, bounded by what is left of the retry budget and
        the deadline (ARM may say ``Retry-After: 45``). The SDK polls on a thread of its own: it
        gets the caller's deadline, so its requests are capped like the caller's."""
        from azure.mgmt.core.polling.arm_polling import ARMPolling

        clock = self.clock
        limit = min(started + self.settings.retry_budget_s, clock.monotonic() + self.budget_s())
        allowed = limit - started

        class Polling(ARMPolling):
            run = budget.carried(ARMPolling.run)

            def _sleep(self, delay: float) -> None:
                if clock.monotonic() + delay > limit:
                    raise PollingBudgetExceeded(
                        f"{what}: the operation was still running after {allowed:g}s "
                        f"(next poll in {delay:g}s); outcome unknown"
                    )
                clock.sleep(delay)

        return Polling(2, path_format_arguments={"endpoint": self.settings.arm_endpoint})

    def list_subscriptions(self) -> list[str]:
        """Subscription IDs the identity can see (used when the policy scopes none)."""
        from azure.core.rest import HttpRequest

        client = self.client("00000000-0000-0000-0000-000000000000")
        url: str | None = (
            f"{self.settings.arm_endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
        )
        found: list[str] = []
        while url:

            def fetch(url: str = url) -> dict[str, Any]:
                response = client.send_request(HttpRequest("GET", url))
                response.raise_for_status()
                return response.json()

            body = self.call("LIST /subscriptions", "Microsoft.Resources/subscriptions/read", None, fetch)
            found += [
                s["subscriptionId"] for s in body.get("value", []) if s.get("state", "Enabled") == "Enabled"
            ]
            url = body.get("nextLink")
        return found

    # -- retry layer ----------------------------------------------------------------------------

    def call(self, what: str, action: str, ref: RegistryRef | None, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` (one ARM request, or a list of pages) under the one retry layer: every read and
        write of this module, the child collections (acrguard.azure.children) and Resource Graph."""
        for attempt in self.attempts(what, action, ref):
            with attempt:
                return fn()
        raise AssertionError("unreachable")  # pragma: no cover

    def attempts(self, what: str, action: str, ref: RegistryRef | None) -> Iterator[AttemptManager]:
        """The one retry layer, for a block of the caller's own: ``for attempt in arm.attempts(...):
        with attempt: ...`` runs the block again after a transient failure (honouring
        ``Retry-After``), within ``ACRGUARD_MAX_ATTEMPTS``, the retry budget and the invocation's
        deadline; then the failure is raised as an :class:`ArmError` (errors the block raises that
        are already ArmErrors pass through unchanged). The block decides what each attempt sends."""
        from azure.core.exceptions import HttpResponseError

        from acrguard.azure.credential import NoCredentialError

        clock = self.clock
        started = clock.monotonic()
        allowed = self.budget_s()
        if allowed <= 0:
            deadline = budget.current()
            raise TransientArmError(
                f"{what}: not sent, {deadline.why if deadline else 'the budget'} is used up; "
                "raised so the event is redelivered"
            )

        def stop(state: RetryCallState) -> bool:
            out_of_time = clock.monotonic() - started + state.upcoming_sleep >= allowed
            return state.attempt_number >= self.settings.max_attempts or out_of_time

        retrying = Retrying(
            # A poll that outlives the budget leaves the outcome unknown: never PATCH again on top
            # of it; it is raised (TransientArmError) so the redelivered event re-reads.
            retry=retry_if_exception(lambda e: is_transient(e) and not isinstance(e, PollingBudgetExceeded)),
            stop=stop,
            wait=lambda state: self._wait(state, allowed - (clock.monotonic() - started)),
            sleep=self.clock.sleep,
            before_sleep=lambda state: log.warning(
                "%s: attempt %d failed (%s), retrying",
                what,
                state.attempt_number,
                describe(state.outcome.exception()),
            ),
            reraise=True,
        )
        try:
            yield from retrying
        except NoCredentialError as exc:
            raise NoCredential(str(exc)) from exc
        except HttpResponseError as exc:
            status = exc.status_code
            code = operation_error_code(exc) or getattr(getattr(exc, "error", None), "code", None)
            if is_transient(exc):
                raise TransientArmError(
                    f"{what}: still failing after {retrying.statistics.get('attempt_number', 1)} attempts "
                    f"in {clock.monotonic() - started:.1f}s: {describe(exc)}",
                    status,
                    code,
                ) from exc
            if status == 404:
                raise not_found(what, ref, exc, code) from exc
            if status == 403:
                raise PermissionDenied(
                    f"{what}: the identity lacks {action} on {ref or 'the scope'} ({describe(exc)})",
                    403,
                    code,
                ) from exc
            raise PermanentArmError(f"{what}: {describe(exc)}", status, code) from exc
        except Exception as exc:
            if address := refused_locally(exc):
                raise NothingListening(
                    f"nothing is listening at the ARM endpoint {self.settings.arm_endpoint} "
                    f"(ACRGUARD_ARM_ENDPOINT or --arm-endpoint): connection refused by {address}; "
                    f"{START_EMULATOR}, or unset ACRGUARD_ARM_ENDPOINT for Azure's"
                ) from exc
            if is_transient(exc):
                raise TransientArmError(
                    f"{what}: still failing after {retrying.statistics.get('attempt_number', 1)} attempts "
                    f"in {clock.monotonic() - started:.1f}s: {describe(exc)}"
                ) from exc
            raise

    def _wait(self, state: RetryCallState, remaining: float) -> float:
        exc = state.outcome.exception() if state.outcome else None
        hinted = retry_after_seconds(exc) if exc else None
        backoff = BACKOFF(state)
        delay = hinted if hinted is not None else backoff
        # Never sleep past the budget: ``stop`` then ends the loop with the error.
        return max(0.0, min(delay, remaining + 0.001)) if hinted is not None else max(0.0, delay)


def deadline_transport(clock: Clock, **kwargs: Any) -> Any:
    """The shared HTTP transport, with each request's timeouts capped at what is left of the
    invocation's deadline: a request hanging at the deadline cannot carry the invocation past it.
    (Built here, not at import: azure-core's transport loads only when a client is made.)"""
    from azure.core.pipeline.transport import RequestsTransport

    class DeadlineTransport(RequestsTransport):
        def send(self, request: Any, **options: Any) -> Any:
            left = budget.remaining(clock)
            if left is not None:
                floor = 0.5  # a request is sent at all only while time is left (Arm.call checks)
                read = options.get("read_timeout", self.connection_config.read_timeout)
                connect = options.get("connection_timeout", self.connection_config.timeout)
                options["read_timeout"] = max(floor, min(read, left))
                options["connection_timeout"] = max(floor, min(connect, left))
            return super().send(request, **options)

    return DeadlineTransport(**kwargs)
