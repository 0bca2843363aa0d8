"""Where notifications go: a webhook (JSON, Teams or Slack) and an Event Grid topic (CloudEvents)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from acrguard.audit import AuditRecord
from acrguard.notify.formats import RENDERERS
from acrguard.notify.notifier import SinkError
from acrguard.notify.redact import guard_loggers, register, safe_label, url_secrets
from acrguard.notify.transport import call, check
from acrguard.settings import endpoint_problem

EVENT_SOURCE = "/acrguard"
EVENT_TYPES = {
    "planned": "ACRGuard.RemediationPlanned",
    "applied": "ACRGuard.RemediationApplied",
    "flagged": "ACRGuard.RemediationFlagged",
    "failed": "ACRGuard.RemediationFailed",
}


class WebhookSink:
    """POST one JSON message per chunk. Chat formats summarise a chunk; ``json`` carries it whole.

    Sent through a bare azure-core pipeline: no retries (the Notifier's are the one retry layer),
    no redirects (a redirect could send the message elsewhere) and no HTTP logging (the URL is a
    credential).
    """

    max_bytes = 512 * 1024

    def __init__(
        self,
        url: str,
        format: str = "json",
        exempt_tags: Mapping[str, str] | None = None,
        *,
        timeout_s: float = 10.0,
    ) -> None:
        register(*url_secrets(url))
        self.url = url
        self.format = format
        self.exempt_tags = dict(exempt_tags or {})  # for the hint on how to exempt a registry
        self.timeout_s = timeout_s
        self.label = safe_label(f"webhook({format})", url)
        self.max_records = 200
        self.problem = endpoint_problem(url, allow_http_loopback=True)
        if format not in RENDERERS:
            self.problem = f"unknown webhook format {format!r} (json, teams or slack)"
        self._client: Any = None

    def send(self, records: Sequence[AuditRecord]) -> None:
        if self.problem:
            raise SinkError(f"misconfigured: {self.problem}", retryable=False)
        from azure.core import PipelineClient
        from azure.core.rest import HttpRequest

        guard_loggers()
        if self._client is None:
            self._client = PipelineClient(self.url, policies=[])
        body = json.dumps(RENDERERS[self.format](records, self.exempt_tags), default=str).encode()
        request = HttpRequest(
            "POST",
            self.url,
            content=body,
            headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "acrguard"},
        )
        response = call(
            lambda: self._client.send_request(
                request, connection_timeout=min(5.0, self.timeout_s), read_timeout=self.timeout_s
            )
        )
        check(response)


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
        register(*url_secrets(endpoint), key)
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
        if self.problem:
            raise SinkError(f"misconfigured: {self.problem}", retryable=False)
        from azure.core.messaging import CloudEvent

        guard_loggers()
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
        client = call(self.client)  # building it may fail too (a bad endpoint)
        call(
            lambda: client.send(
                events,
                retry_total=0,
                connection_timeout=min(5.0, self.timeout_s),
                read_timeout=self.timeout_s,
            )
        )
