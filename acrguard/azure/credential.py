"""The ARM credential: DefaultAzureCredential, telling "no credential at all" apart from a failure.

DefaultAzureCredential raises the same ClientAuthenticationError (no status) when nothing is
configured (no ``az login``, no identity, no variables) as when a configured identity endpoint is
down. The first is an operator's mistake: retrying it cost 17 s and printed every credential of
the chain. The second is transient and must be retried. Each credential of the chain is watched:
when none of them even tried, :class:`NoCredentialError` says how to get one.

"Tried" means a credential failed with anything but CredentialUnavailableError, or it is the
managed identity and the host configures one (``IDENTITY_ENDPOINT``: App Service and Functions;
``MSI_ENDPOINT``: older hosts): inside the chain, azure-identity reports even a 500 from that
endpoint as "unavailable". (IMDS, on VMs, cannot be told apart: its failed probe counts as absent.)

One failure of a configured identity endpoint is not transient either: a connection refused on
loopback (acrguard.azure.local.refused_locally: nothing listens there; typically the emulator's
stale exports). :class:`IdentityEndpointDown` names the endpoint and the fix at once, where retrying
cost 52 s and ended in "DefaultAzureCredential failed to retrieve a token". A 5xx or a timeout from
it stays transient (something is listening); in the Function App, whose endpoint is a local
agent's URL ("the local URL from which your app can request tokens", MSIAppServiceOptions,
learn.microsoft.com/javascript/api/@azure/ms-rest-nodeauth/msiappserviceoptions), a refused one is
still redelivered by Event Grid (acrguard.azure.arm.NoCredential), only not retried within the invocation.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from azure.core.exceptions import ClientAuthenticationError

NO_CREDENTIAL = (
    "no Azure credential found: run `az login` (against the emulator, paste the `export` lines "
    "that `python -m emulator` prints)"
)


class NoCredentialError(ClientAuthenticationError):
    """No credential in the chain was available, so none was tried: a retry cannot help."""


class IdentityEndpointDown(NoCredentialError):
    """The configured managed-identity endpoint refused the connection on loopback: nothing listens."""


def _endpoint_down_message(address: str) -> str:
    from acrguard.azure.local import START_EMULATOR

    name = next((n for n in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT") if os.environ.get(n)), "IDENTITY_ENDPOINT")
    return (
        f"nothing is listening at the managed-identity endpoint {os.environ.get(name, '')} ({name}): "
        f"connection refused by {address}; {START_EMULATOR}; or, to use your own account, "
        f"unset {name} and run `az login`"
    )


def default_credential(**kwargs: Any) -> Any:
    """``DefaultAzureCredential(**kwargs)`` that raises NoCredentialError when nothing is configured."""
    from azure.identity import DefaultAzureCredential

    chain = DefaultAzureCredential(**kwargs)
    tried = threading.local()  # the chain calls its credentials on the caller's thread
    chain.credentials = tuple(_Watched(c, tried) for c in chain.credentials)
    return _Chain(chain, tried)


class _Watched:
    """One credential of the chain; notes (per thread) when it tried and failed, not just declined."""

    def __init__(self, inner: Any, tried: threading.local) -> None:
        self._inner = inner
        self._tried = tried
        self._credential_name = getattr(inner, "_credential_name", type(inner).__name__)  # for its messages
        self._configured = type(inner).__name__ == "ManagedIdentityCredential" and any(
            os.environ.get(name) for name in ("IDENTITY_ENDPOINT", "MSI_ENDPOINT")
        )

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return self._watch(self._inner.get_token, scopes, kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        return self._watch(self._inner.get_token_info, scopes, kwargs)

    def _watch(self, method: Any, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> Any:
        from azure.identity import CredentialUnavailableError

        try:
            return method(*scopes, **kwargs)
        except CredentialUnavailableError as exc:
            if self._configured:
                self._tried.failed = True
                self._note_refused(exc)
            raise
        except BaseException as exc:
            self._tried.failed = True
            if self._configured:
                self._note_refused(exc)
            raise

    def _note_refused(self, exc: BaseException) -> None:
        from acrguard.azure.local import refused_locally

        self._tried.refused = refused_locally(exc)

    def __getattr__(self, name: str) -> Any:  # __enter__/__exit__/close: the inner credential's
        return getattr(self._inner, name)


class _Chain:
    def __init__(self, chain: Any, tried: threading.local) -> None:
        self._chain = chain
        self._tried = tried

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return self._call(self._chain.get_token, scopes, kwargs)

    def get_token_info(self, *scopes: str, **kwargs: Any) -> Any:
        return self._call(self._chain.get_token_info, scopes, kwargs)

    def close(self) -> None:
        self._chain.close()

    def _call(self, method: Any, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> Any:
        self._tried.failed = False
        self._tried.refused = None
        try:
            return method(*scopes, **kwargs)
        except ClientAuthenticationError as exc:
            if self._tried.refused:
                raise IdentityEndpointDown(message=_endpoint_down_message(self._tried.refused)) from exc
            if self._tried.failed:
                raise
            raise NoCredentialError(message=NO_CREDENTIAL) from exc


class SingleFlightCredential:
    """Concurrent identical token requests share one call to the wrapped credential.

    azure-identity caches tokens but does not coalesce misses: a cold worker hit by 16 invocations
    at once asked the identity endpoint 8 to 11 times (tests/reliability/test_concurrency.py). Here the first
    caller (the leader) asks; callers arriving meanwhile wait for the leader's outcome, token or
    exception, so a hung identity endpoint is also asked once per flight, not once per thread.
    Nobody waits longer than the leader's own request, which the credential's timeouts bound.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self._lock = threading.Lock()
        self._flights: dict[tuple[Any, ...], _Flight] = {}

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        return self._coalesce("get_token", scopes, kwargs)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        # azure-core prefers this when present (it carries refresh_on); kept so wrapping loses nothing.
        return self._coalesce("get_token_info", scopes, {"options": options} if options else {})

    def close(self) -> None:
        self._inner.close()

    def _coalesce(self, method: str, scopes: tuple[str, ...], kwargs: dict[str, Any]) -> Any:
        key = (method, scopes, repr(sorted(kwargs.items())))
        with self._lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight()
        if not leader:
            return flight.wait()
        try:
            flight.result = getattr(self._inner, method)(*scopes, **kwargs)
            return flight.result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            with self._lock:
                del self._flights[key]
            flight.done.set()


class _Flight:
    """One in-progress token request and, once done, its token or its exception."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def wait(self) -> Any:
        self.done.wait()
        if self.error is not None:
            raise self.error
        return self.result
