"""The notification sinks and their messages: a webhook (JSON, Teams or Slack) and an Event Grid topic.

A chat message is written for a person: what changed, on which registry, who caused it, and how
to exempt it. The JSON webhook and the Event Grid events carry the audit records themselves, so
a machine gets exactly what the ``acrguard.audit`` line says.
"""

from __future__ import annotations

import ipaddress
import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from acrguard.audit import AuditRecord
from acrguard.notify import SinkError
from acrguard.resource_ids import RegistryRef

if TYPE_CHECKING:
    from acrguard.policy import Policy

NOTIFICATION_SCHEMA = "acrguard/notification/v1"
EVENT_SOURCE = "/acrguard"
EVENT_TYPES = {
    "planned": "ACRGuard.RemediationPlanned",
    "applied": "ACRGuard.RemediationApplied",
    "flagged": "ACRGuard.RemediationFlagged",
    "failed": "ACRGuard.RemediationFailed",
}
_VERBS = {
    "applied": "Changed",
    "planned": "Would change (dry-run)",
    "flagged": "Needs a person",
    "failed": "Could not fix",
}
_CHAT_DETAILS = 10  # records spelled out in one chat message; the rest are counted
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


def exempt_hint(policy: Policy) -> str:
    """How to exempt a registry under this policy, in one sentence."""
    tags = policy.doc.exempt.tags
    ways = []
    if tags:
        shown = " or ".join(f"`{k}: {v}`" if v != "*" else f"`{k}` (any value)" for k, v in tags.items())
        ways.append(f"tag it {shown}")
    ways.append("add its resource ID to `exempt.registries` in the policy")
    return f"To exempt a registry: {' or '.join(ways)}."


def title(records: Sequence[AuditRecord]) -> str:
    counts = Counter(r.outcome for r in records)
    parts = [f"{counts[o]} {o}" for o in ("applied", "planned", "flagged", "failed") if counts[o]]
    registries = len({r.registry for r in records})
    noun = "registry" if registries == 1 else "registries"
    return f"ACR Guard: {', '.join(parts)} on {registries} {noun}"


def change_text(record: AuditRecord) -> str:
    """``property: before → after`` for each property the decision is about."""
    before, after = record.before or {}, record.after or {}
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if not keys:
        return "no property change" if record.outcome != "flagged" else "left as is"
    return "; ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in keys)


def caller_text(record: AuditRecord) -> str:
    caller = record.caller or {}
    who = caller.get("upn") or caller.get("name")
    app = caller.get("appid")
    if who and app:
        return f"{who} (app {app})"
    if who or app:
        return who or f"app {app}"
    if caller.get("object_id"):
        return f"object {caller['object_id']}"
    if record.source == "event":
        return "unknown (the event named no caller)"
    found_by = "the scheduled reconcile" if record.source == "reconcile" else "an operator's acrguard run"
    return f"unknown: found by {found_by}, not by an event (the change predates it or its event was lost)"


def registry_parts(record: AuditRecord) -> tuple[str, str, str]:
    """(name, resource group, subscription) for display; the raw ID if it does not parse."""
    try:
        ref = RegistryRef.parse(record.registry or "")
    except ValueError:
        return (record.registry or "?", "?", "?")
    return ref.name, ref.resource_group, ref.subscription_id


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str) if value is not None else "(unset)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --- message shapes -----------------------------------------------------------------------------


def json_message(records: Sequence[AuditRecord], hint: str) -> dict[str, Any]:
    return {
        "schema": NOTIFICATION_SCHEMA,
        "title": title(records),
        "summary": dict(Counter(r.outcome for r in records)),
        "exempt_hint": hint,
        "records": [r.to_dict() for r in records],
    }


def slack_message(records: Sequence[AuditRecord], hint: str) -> dict[str, Any]:
    """Slack incoming-webhook payload: ``text`` (notification fallback) plus Block Kit ``blocks``."""
    heading = title(records)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(heading, 150)}}
    ]
    for record in records[:_CHAT_DETAILS]:
        name, group, sub = registry_parts(record)
        lines = [
            f"*{_VERBS[record.outcome]}* `{record.rule or '-'}` on *{name}* "
            f"(resource group `{group}`, subscription `{sub}`)",
            f"*Change:* {change_text(record)}",
            f"*Caused by:* {caller_text(record)}",
            f"*Why:* {record.reason}",
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}})
    if len(records) > _CHAT_DETAILS:
        blocks.append(_slack_context(f"…and {len(records) - _CHAT_DETAILS} more (see the audit log)."))
    blocks.append(_slack_context(hint))
    return {"text": heading, "blocks": blocks}


def _slack_context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 3000)}]}


def teams_message(records: Sequence[AuditRecord], hint: str) -> dict[str, Any]:
    """A Teams message with an Adaptive Card (Workflows webhooks and incoming webhooks accept it)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True, "text": title(records)}
    ]
    for record in records[:_CHAT_DETAILS]:
        name, _, _ = registry_parts(record)
        facts = [
            ("Registry", record.registry or "?"),
            ("Change", change_text(record)),
            ("Caused by", caller_text(record)),
            ("Mode", record.mode or "-"),
            ("Why", record.reason),
        ]
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    {
                        "type": "TextBlock",
                        "weight": "Bolder",
                        "wrap": True,
                        "text": f"{_VERBS[record.outcome]}: {record.rule or '-'} on {name}",
                    },
                    {"type": "FactSet", "facts": [{"title": t, "value": _clip(v, 600)} for t, v in facts]},
                ],
            }
        )
    if len(records) > _CHAT_DETAILS:
        body.append(
            {
                "type": "TextBlock",
                "isSubtle": True,
                "wrap": True,
                "text": f"…and {len(records) - _CHAT_DETAILS} more (see the audit log).",
            }
        )
    body.append({"type": "TextBlock", "isSubtle": True, "wrap": True, "text": hint})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


_RENDERERS = {"json": json_message, "slack": slack_message, "teams": teams_message}


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
        if format not in _RENDERERS:
            self.problem = f"unknown webhook format {format!r} (json, teams or slack)"
        self._session: Any = None

    def send(self, records: Sequence[AuditRecord]) -> None:
        import requests

        if self.problem:
            raise SinkError(f"misconfigured: {self.problem}", retryable=False)
        if self._session is None:
            self._session = requests.Session()
        body = json.dumps(_RENDERERS[self.format](records, self.hint), default=str).encode()
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
