"""The one HTTP helper of the sinks: run a request through azure-core, turn every failure into a
:class:`SinkError` whose message is safe to log, and read ``Retry-After`` with azure-core's parser.

Both sinks send through azure-core (the webhook with a bare pipeline, Event Grid through its SDK
client), so a failure is always one of azure-core's exceptions. Their text quotes the URL (urllib3:
"Max retries exceeded with url: /services/T000/B000/<secret>"), so it is never shown: the reason
names the kind of failure, found by walking the exception's causes, and the status for a response.
"""

from __future__ import annotations

import functools
import socket
import ssl
from collections.abc import Callable
from typing import Any

from acrguard.notify.notifier import SinkError
from acrguard.notify.redact import scrub

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_BODY_EXCERPT = 200

# (exception class name, what it means), most specific first; matched anywhere in the cause chain
_KINDS: tuple[tuple[str, str], ...] = (
    ("NameResolutionError", "DNS lookup failed"),
    ("SSLCertVerificationError", "TLS certificate not trusted"),
    ("SSLError", "TLS handshake failed"),
    ("ConnectionRefusedError", "connection refused"),
    ("ConnectTimeoutError", "timed out connecting"),
    ("ConnectTimeout", "timed out connecting"),
    ("ReadTimeoutError", "timed out waiting for the response"),
    ("ReadTimeout", "timed out waiting for the response"),
    ("TimeoutError", "timed out"),
    ("RemoteDisconnected", "connection closed without an HTTP response"),
    ("BadStatusLine", "invalid HTTP response"),
    ("ProtocolError", "invalid HTTP response"),
    ("ConnectionResetError", "connection reset"),
)


def call(send: Callable[[], Any]) -> Any:
    """``send()``, with azure-core's exceptions turned into :class:`SinkError`."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ServiceRequestError,
        ServiceResponseError,
    )

    try:
        return send()
    except (ServiceRequestError, ServiceResponseError) as exc:  # no (valid) response: may recover
        raise SinkError(f"{type(exc).__name__}: {failure_kind(exc)}", retryable=True) from None
    except ClientAuthenticationError as exc:
        if exc.response is None:  # no token: the identity endpoint failed, which may recover
            raise SinkError(f"no token from the identity: {failure_kind(exc)}", retryable=True) from None
        raise status_error(exc.response) from None
    except HttpResponseError as exc:
        if exc.response is None:
            raise SinkError(f"{type(exc).__name__}: {failure_kind(exc)}", retryable=False) from None
        raise status_error(exc.response) from None


def check(response: Any) -> None:
    """Raise :func:`status_error` unless ``response`` (azure-core ``HttpResponse``) is a 2xx."""
    if not 200 <= response.status_code < 300:
        raise status_error(response)


def status_error(response: Any) -> SinkError:
    """``HTTP 503 Service Unavailable: <body excerpt>``, retryable or not, with its Retry-After."""
    try:
        body = " ".join(response.text().split())
    except Exception:  # an undecodable or unread body: the status says enough
        body = ""
    if len(body) > _BODY_EXCERPT:
        body = body[: _BODY_EXCERPT - 1] + "…"
    status = response.status_code
    return SinkError(
        scrub(f"HTTP {status} {response.reason or ''}".rstrip() + (f": {body}" if body else "")),
        retryable=status in RETRY_STATUSES,
        retry_after=retry_after(response.headers),
    )


def retry_after(headers: Any) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date) or ``retry-after-ms``, by azure-core's
    own parser (``RetryPolicy.parse_retry_after``); None when absent or unreadable."""
    for name, scale in (("Retry-After", 1.0), ("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0)):
        value = headers.get(name) if headers is not None else None
        if value:
            try:
                return _retry_policy().parse_retry_after(value) / scale
            except (ValueError, TypeError, OverflowError):
                return None
    return None


@functools.cache
def _retry_policy() -> Any:
    from azure.core.pipeline.policies import RetryPolicy

    return RetryPolicy()  # only for its parser: the sinks' retries are the Notifier's


def failure_kind(exc: BaseException) -> str:
    """What went wrong below HTTP, by the class names in the cause chain (never their text)."""
    seen: set[int] = set()
    chain: list[BaseException] = []
    todo: list[Any] = [exc]
    while todo:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or id(current) in seen:
            continue
        seen.add(id(current))
        chain.append(current)
        todo += [getattr(current, "inner_exception", None), getattr(current, "reason", None)]
        todo += [current.__cause__, current.__context__, *current.args]
    names = {type(e).__name__ for e in chain}
    if any(isinstance(e, socket.gaierror) for e in chain):
        return "DNS lookup failed"
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return "TLS certificate not trusted"
    for name, kind in _KINDS:
        if name in names:
            return kind
    return f"request failed ({type(chain[-1]).__name__})"
