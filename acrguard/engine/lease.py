"""One writer of a registry's IP rule list across Function instances: a blob lease per registry.

Why. Flex Consumption scales out, and Event Grid may hand two writes of one registry to two
instances at once. The per-registry lock (acrguard.engine.core.RegistryLocks) holds only within a process. A PATCH
of ``networkRuleSet`` replaces the whole list (registries have no ETag), so two instances that
each read, wait for the registry to settle and write, each write from their own read: the later
one can undo what was added after its read. A blob lease is Azure Storage's own mutual exclusion
with an expiry (Lease Blob: at most one holder; a lease not renewed ends after its duration), on
the storage account the Function App already has, so it adds no service.

Only writes that replace a list take it (acrguard.plan.WHOLE_LIST_PROPERTIES): a PATCH of
anonymous pull or the admin user cannot drop anything, and stays one GET and one PATCH.

Bounded on every path:
- each Lease Blob request goes through the ARM layer's one retry loop (:meth:`acrguard.azure.arm.Arm.call`:
  a 5xx or a dropped connection is retried there); a lease held by another instance is a wait, not
  a failure: asked again every :data:`CONTENDED_WAIT_S` on the engine's clock, within
  ``ACRGUARD_RETRY_BUDGET_S``, then :class:`TransientArmError` is raised so Event Grid redelivers;
- the lease is released on every way out of :meth:`RegistryLeases.hold`;
- a holder that crashes loses it after :data:`LEASE_S` seconds (the longest finite lease);
- the lease is not renewed, so what runs under it (the read and the PATCH, with their retries and
  polling) runs under a deadline of :data:`LEASE_S` less ``acrguard.budget.MARGIN_S`` from when it
  was taken (acrguard.budget): no request is sent once another instance could hold the lease.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from acrguard import budget as deadlines
from acrguard.azure.errors import PermanentArmError, TransientArmError
from acrguard.azure.resource_ids import RegistryRef

if TYPE_CHECKING:
    from acrguard.azure.arm import Arm

log = logging.getLogger("acrguard.engine.lease")

#: Seconds a lease lasts unless released: Azure's longest finite lease (15 to 60 s, or infinite).
#: A crashed holder's lease ends by then; a live holder's write is bounded by the retry budget.
LEASE_S = 60
#: How long to wait before asking again while another instance holds the lease.
CONTENDED_WAIT_S = 1.0
#: The RBAC data action of Lease Blob and Put Blob (Storage Blob Data Contributor has it).
LEASE_ACTION = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write"


def blob_name(ref: RegistryRef) -> str:
    """The lease blob of a registry: its lower-cased ID, readable in the portal, one per registry."""
    return ref.key.lstrip("/")


class RegistryLeases:
    """Leases on blobs in one container (``ACRGUARD_LEASE_CONTAINER_URL``). Thread-safe."""

    def __init__(self, container_url: str, arm: Arm, connection_string: str | None = None) -> None:
        from acrguard.deadletter import parse_container_url

        self.location = parse_container_url(container_url)
        self._arm = arm
        self._connection_string = connection_string
        self._client: Any = None

    def _container(self) -> Any:
        """Built on the first list write: azure-storage-blob is not imported on the default path."""
        if self._client is None:
            from azure.storage.blob import BlobServiceClient, ContainerClient

            # Arm.call is the one retry layer; each request is capped at the invocation's deadline.
            options = {"retry_total": 0, "transport": self._arm.new_transport()}
            if self._connection_string:  # Azurite, or a key (local development only)
                service = BlobServiceClient.from_connection_string(self._connection_string, **options)
                self._client = service.get_container_client(self.location.container)
            else:  # the Function App: its identity, Storage Blob Data Contributor on this container
                self._client = ContainerClient(
                    self.location.account_url,
                    self.location.container,
                    credential=self._arm.credential,
                    **options,
                )
        return self._client

    @contextmanager
    def hold(self, ref: RegistryRef) -> Iterator[None]:
        """Hold ``ref``'s lease for the block: waits (bounded) while another instance holds it."""
        blob = self._container().get_blob_client(blob_name(ref))
        clock = self._arm.clock
        started, budget = clock.monotonic(), self._arm.budget_s()  # the invocation's deadline too
        while True:
            try:
                lease = self._arm.call(f"LEASE {ref}", LEASE_ACTION, None, lambda: _acquire(blob, ref))
                break
            except LeaseHeld:
                waited = clock.monotonic() - started
                if waited + CONTENDED_WAIT_S > budget:
                    raise TransientArmError(
                        f"LEASE {ref}: another instance has been writing its IP rules for {waited:.1f}s "
                        "(its lease is held); not writing them alongside"
                    ) from None
                clock.sleep(CONTENDED_WAIT_S)
        try:
            # Not renewed: past LEASE_S another instance may hold it, so nothing is sent after.
            with deadlines.within(clock, LEASE_S - deadlines.MARGIN_S, f"the registry's {LEASE_S} s lease"):
                yield
        finally:
            try:
                lease.release()
            except Exception as exc:  # the write is done either way; the lease then ends by itself
                log.warning("releasing the lease of %s failed (%s); it ends within %ds", ref, exc, LEASE_S)


class LeaseHeld(Exception):
    """Another instance holds the registry's lease: not an error, and not for Arm's retry loop
    (which would count it as a failed attempt); :meth:`RegistryLeases.hold` waits and asks again."""


def _acquire(blob: Any, ref: RegistryRef, *, made: bool = False) -> Any:
    """One Lease Blob request (and, the first time a registry's list is written anywhere, one Put
    Blob of its empty lease blob). A lease held elsewhere raises :class:`LeaseHeld`."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

    try:
        return blob.acquire_lease(lease_duration=LEASE_S)
    except ResourceNotFoundError as exc:
        if made or getattr(exc, "error_code", None) != "BlobNotFound":
            # ContainerNotFound: a deployment mistake. Never write the list without the lease.
            raise PermanentArmError(
                f"the lease container {blob.container_name!r} was not found at {blob.primary_hostname} "
                f"(ACRGUARD_LEASE_CONTAINER_URL): not replacing {ref.name}'s IP rules without its lease",
                404,
                getattr(exc, "error_code", None),
            ) from exc
    except HttpResponseError as exc:
        if exc.status_code == 409 and getattr(exc, "error_code", None) == "LeaseAlreadyPresent":
            raise LeaseHeld(str(ref)) from exc
        raise
    with suppress(ResourceExistsError):  # another instance made it first
        blob.upload_blob(b"", overwrite=False)
    return _acquire(blob, ref, made=True)
