"""Where notifications go: a webhook (JSON, Teams or Slack) and an Event Grid topic (CloudEvents)."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from acrguard.audit import AuditRecord
from acrguard.notify.formats import RENDERERS, _clip
from acrguard.notify.notifier import SinkError

EVENT_SOURCE = "/acrguard"
EVENT_TYPES = {
    "planned": "ACRGuard.RemediationPlanned",
    "applied": "ACRGuard.RemediationApplied",
    "flagged": "ACRGuard.RemediationFlagged",
    "failed": "ACRGuard.RemediationFailed",
}
_RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


# --- helpers shared by the sinks ----------------------------------------------------------------


def endpoint_problem(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why ``url`` cannot be a sink endpoint, or None. Plain http only reaches this machine."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not (allow_http_loopback and _is_loopback(parts.hostname)):
        return "must use https:// (http:// is accepted for localhost only)"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def safe_label(kind: str, url: str) -> str:
    """``kind scheme://host``: webhook URLs carry their token in the path, which never gets logged."""
    parts = urlsplit(url)
    return f"{kind} {parts.scheme}://{parts.netloc}" if parts.netloc else f"{kind} (invalid URL)"


# --- sinks --------------------------------------------------------------------------------------


class WebhookSink:
    """POST one JSON message per chunk. Chat formats summarise a chunk; ``json`` carries it whole."""

    max_bytes = 512 * 1024

    def __init__(self, url: str, format: str = "json", hint: str = "", *, timeout_s: float = 10.0) -> None:
        self.url = url
        self.format = format
        self.hint = hint
        self.timeout_s = timeout_s
        self.label = safe_label(f"webhook({format})", url)
        self.max_records = 200
        self.problem = endpoint_problem(url, allow_http_loopback=True)
        if format not in RENDERERS:
            self.problem = f"unknown webhook format {format!r} (json, teams or slack)"
        self._session: Any = None

    def send(self, records: Sequence[AuditRecord]) -> None:
        import requests

        if self.problem:
            raise SinkError(f"misconfigured: {self.problem}", retryable=False)
        if self._session is None:
            self._session = requests.Session()
        body = json.dumps(RENDERERS[self.format](records, self.hint), default=str).encode()
        try:
            response = self._session.post(
                self.url,
                data=body,
                headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "acrguard"},
                timeout=(min(5.0, self.timeout_s), self.timeout_s),
                allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}", retryable=True) from None
        except requests.RequestException as exc:
            raise SinkError(f"{type(exc).__name__}: {exc}", retryable=False) from None
        if 200 <= response.status_code < 300:
            return
        error = SinkError(
            f"HTTP {response.status_code} {response.reason}: {_clip(response.text.strip(), 200)}",
            retryable=response.status_code in _RETRY_STATUSES,
        )
        error.retry_after = _seconds(response.headers.get("Retry-After"))
        raise error


class EventGridSink:
    """Publish CloudEvents ``ACRGuard.Remediation*`` (data: the audit record) to a custom topic.

    Auth: the topic key when one is configured, else the identity (``DefaultAzureCredential``,
    which is the managed identity in the Function App). The SDK's own retries are turned off per
    call so that :class:`~acrguard.notify.Notifier` is the one bounded retry layer.
    """

    max_records = 500
    max_bytes = 900 * 1024  # Event Grid accepts 1 MB per publish

    def __init__(
        self,
        endpoint: str,
        key: str | None = None,
        *,
        missing_key_setting: str | None = None,
        credential: Any | None = None,
        timeout_s: float = 10.0,
    ) -> None:
        self.endpoint = endpoint
        self.label = safe_label("eventgrid", endpoint)
        self.problem = endpoint_problem(endpoint, allow_http_loopback=False)
        if missing_key_setting:
            self.problem = f"the app setting {missing_key_setting} (notify key_setting) is not set"
        self._key = key
        self._credential = credential
        self.timeout_s = timeout_s
        self._client: Any = None

    def client(self) -> Any:
        if self._client is None:
            from azure.core.credentials import AzureKeyCredential
            from azure.eventgrid import EventGridPublisherClient

            credential = AzureKeyCredential(self._key) if self._key else self._credential
            if credential is None:
                from azure.identity import DefaultAzureCredential

                credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
            self._client = EventGridPublisherClient(self.endpoint, credential)
        return self._client

    def send(self, records: Sequence[AuditRecord]) -> None:
        from azure.core.exceptions import (
            ClientAuthenticationError,
            HttpResponseError,
            ServiceRequestError,
            ServiceResponseError,
        )
        from azure.core.messaging import CloudEvent

        if self.problem:
            raise SinkError(f"misconfigured: {self.problem}", retryable=False)
        events = [
            CloudEvent(
                source=EVENT_SOURCE,
                type=EVENT_TYPES[r.outcome],
                subject=r.registry,
                data=r.to_dict(),
                datacontenttype="application/json",
            )
            for r in records
        ]
        try:
            self.client().send(
                events,
                retry_total=0,
                connection_timeout=min(5.0, self.timeout_s),
                read_timeout=self.timeout_s,
            )
        except (ServiceRequestError, ServiceResponseError) as exc:
            raise SinkError(f"{type(exc).__name__}: {_first_line(exc)}", retryable=True) from None
        except HttpResponseError as exc:
            status = exc.status_code
            retryable = status in _RETRY_STATUSES or (
                isinstance(exc, ClientAuthenticationError) and status is None
            )
            error = SinkError(f"HTTP {status}: {_first_line(exc)}", retryable=retryable)
            headers = getattr(exc.response, "headers", None) or {}
            error.retry_after = _seconds(headers.get("Retry-After"))
            raise error from None


def _first_line(exc: BaseException) -> str:
    return _clip(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 300)


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None
