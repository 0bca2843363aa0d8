"""What ARM's answers mean to ACR Guard: the errors it raises, and which failures are transient.

Kept apart from acrguard.azure.arm (the clients and the retry loop) so that the classification, the
part most worth reading against ARM's documentation, fits on one screen. A transient failure is
retried within the budget, then raised as :class:`TransientArmError` so that Event Grid redelivers;
everything else is permanent and ends the decision with its reason.
"""

from __future__ import annotations

import email.utils
import time
from typing import TYPE_CHECKING

from tenacity import wait_exponential_jitter

from acrguard.azure.local import refused_locally

if TYPE_CHECKING:
    from acrguard.azure.resource_ids import RegistryRef

# 401 too: ARM rejected the token (expired, clock skew, identity not yet replicated); the generated
# operations raise ClientAuthenticationError for it, send_request's raise_for_status a plain error.
_RETRY_STATUSES = frozenset({401, 408, 409, 429, 500, 502, 503, 504})
BACKOFF = wait_exponential_jitter(multiplier=0.5, max=8, jitter=0.5)  # used when ARM gives no Retry-After
#: Error codes of a long-running operation that ended ``Failed`` for a reason a retry can change
#: (ARM RPC common error codes; ACR reports these when its backend or a concurrent write failed it).
_TRANSIENT_OPERATION_CODES = frozenset(
    {
        "internalservererror",
        "serviceunavailable",
        "gatewaytimeout",
        "conflict",
        "anotheroperationinprogress",
        "operationnotallowed_concurrentupdate",
        "toomanyrequests",
        "subscriptionrequeststhrottled",
        "resourcerequeststhrottled",
        "retryableerror",
    }
)


class ArmError(RuntimeError):
    """Base of the errors this module raises; ``status`` and ``code`` as ARM gave them."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code


class TransientArmError(ArmError):
    """Still failing after the retry budget: raise so that Event Grid redelivers the event."""


class PermanentArmError(ArmError):
    """ARM refused the request for a reason a retry will not change (e.g. 400 SKU errors)."""


class PermissionDenied(PermanentArmError):
    """403: the identity lacks an action; the message names it."""


class RegistryNotFound(PermanentArmError):
    """404: the registry was deleted (or never existed) between the event and the read."""


class InFlight(Exception):
    """The registry was read while ARM was creating or updating it (acrguard.engine.provisioning): read
    again, with the usual backoff, within the attempts and the budget; then raised as transient."""

    def __init__(self, reason: str, state: str) -> None:
        super().__init__(reason)
        self.state = state


class PollingBudgetExceeded(Exception):
    """The PATCH was accepted but its operation was still running when the budget ran out: its
    outcome is unknown, so the caller must raise for redelivery (the next delivery re-reads)."""


def operation_error_code(exc: BaseException) -> str | None:
    """The ``error.code`` of a long-running operation that ended ``Failed`` (None otherwise)."""
    from azure.core.polling.base_polling import OperationFailed

    if not isinstance(exc.__cause__ or getattr(exc, "inner_exception", None), OperationFailed):
        return None
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except Exception:  # an unreadable status document: the code is unknown
        return "Unknown"
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code") or "Unknown") if isinstance(error, dict) else "Unknown"


class NoCredential(TransientArmError):
    """No credential is configured at all, or nothing listens at the identity endpoint (see
    :func:`refused_locally`). Not retried here (a retry would meet the same empty chain or closed
    port), but raised like a transient error, so an event is redelivered and dead-lettered, not
    lost, until one is."""


class NothingListening(TransientArmError):
    """A connection to the ARM endpoint was refused by this machine (:func:`refused_locally`): the
    same treatment as NoCredential, not retried in this call but redelivered, never lost."""


def is_transient(exc: BaseException) -> bool:
    if isinstance(exc, PollingBudgetExceeded | InFlight):
        return True
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    from acrguard.azure.credential import NoCredentialError

    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        # connection refused/reset, read timeout; but nothing listening on loopback is permanent
        return refused_locally(exc) is None
    if isinstance(exc, NoCredentialError):
        return False  # nothing is configured: a retry would ask the same empty chain again
    if isinstance(exc, ClientAuthenticationError):
        # No token (identity endpoint down: no status), or ARM rejected the token (401: expired,
        # clock skew, a new identity not yet replicated). A redelivery later gets a fresh token.
        status = exc.status_code
        return status is None or status in (401, 429) or status >= 500
    if isinstance(exc, HttpResponseError):
        if (code := operation_error_code(exc)) is not None:
            return code.lower() in _TRANSIENT_OPERATION_CODES
        return exc.status_code in _RETRY_STATUSES
    return False


def retry_after_seconds(exc: BaseException) -> float | None:
    """ARM's ``Retry-After`` (seconds or HTTP date) or ``x-ms-retry-after-ms``, if the error has one."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    if value := headers.get("x-ms-retry-after-ms"):
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("Retry-After")
    if not value and headers.get("x-ms-user-quota-remaining") == "0":
        # Resource Graph's per-user quota: spent until the window resets ("hh:mm:ss").
        return quota_resets_after(headers.get("x-ms-user-quota-resets-after"))
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:  # an HTTP date; anything else (a proxy's "soon") is no hint: the usual backoff applies
        return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
    except (ValueError, TypeError, OverflowError):
        return None


def quota_resets_after(value: str | None) -> float | None:
    """Resource Graph's ``x-ms-user-quota-resets-after`` (``hh:mm:ss[.fff]``) in seconds."""
    try:
        hours, minutes, seconds = (value or "").split(":")
        return max(0.0, int(hours) * 3600 + int(minutes) * 60 + float(seconds))
    except ValueError:
        return None


def not_found(what: str, ref: RegistryRef | None, exc: BaseException, code: str | None) -> ArmError:
    """404, said for what was asked: the registry by name, or the subscription (ARM's
    SubscriptionNotFound: a mistyped ID, or one the identity cannot see)."""
    if code == "SubscriptionNotFound":
        sub = ref.subscription_id if ref else what.split("/subscriptions/", 1)[-1].split("/")[0]
        return PermanentArmError(
            f"subscription {sub} was not found: check the ID, and that the identity has a role on it",
            404,
            code,
        )
    if ref is None:
        return PermanentArmError(f"{what}: {describe(exc)}", 404, code)
    return RegistryNotFound(
        f"registry {ref.name} was not found (resource group {ref.resource_group}, "
        f"subscription {ref.subscription_id})",
        404,
        code,
    )


def describe(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, PollingBudgetExceeded | InFlight):
        return str(exc)
    if (operation_code := operation_error_code(exc)) is not None:
        return f"the long-running operation ended Failed ({operation_code})"
    status = getattr(exc, "status_code", None)
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    message = getattr(error, "message", None) or str(exc).splitlines()[0]
    parts = [str(p) for p in (status, code) if p]
    return f"{' '.join(parts)}: {message}" if parts else f"{type(exc).__name__}: {message}"
