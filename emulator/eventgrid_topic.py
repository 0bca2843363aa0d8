"""An Event Grid custom topic's publish endpoint: ``POST /api/events?api-version=2018-01-01``.

Stands in for ``https://<topic>.<region>-1.eventgrid.azure.net/api/events`` (input schema
CloudEvents 1.0 by default, as ACR Guard's notification topic is configured). It checks what the
service checks, in its order: the credential (``aeg-sas-key``, an ``aeg-sas-token``, or an
Entra bearer token for https://eventgrid.azure.net -> 401 "Unauthorized"), the size limits
(1 MB per event and per batch -> 413; Azure docs "Event Grid event schema": "If an event or the
array is greater than the size limits, you receive the response 413 Payload Too Large"), the
content type and the schema (-> 400 with error details such as ``InputJsonInvalid``). Accepted
events are kept in ``received``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qs, unquote

from .http_types import Request, Response
from .identity import TokenStore, bearer_token, same_audience

EVENTGRID_AUDIENCE = "https://eventgrid.azure.net"
API_VERSION = "2018-01-01"
MAX_EVENT_BYTES = 1024 * 1024
MAX_BATCH_BYTES = 1024 * 1024
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
InputSchema = Literal["CloudEventSchemaV1_0", "EventGridSchema"]


def new_topic_key() -> str:
    """Event Grid access keys are 32 random bytes, base64-encoded (44 characters)."""
    return base64.b64encode(secrets.token_bytes(32)).decode()


class EventGridTopic:
    def __init__(
        self, key: str, tokens: TokenStore, input_schema: InputSchema = "CloudEventSchemaV1_0"
    ) -> None:
        self.key = key
        self.tokens = tokens
        self.input_schema: InputSchema = input_schema
        self._received: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def received(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    def handle(self, request: Request) -> Response:
        if request.method != "POST":
            return _error(
                405,
                "MethodNotAllowed",
                f"The requested resource does not support http method '{request.method}'.",
            )
        if request.param("api-version") != API_VERSION:
            return _error(
                400,
                "BadRequest",
                f"The api-version query parameter must be '{API_VERSION}'.",
                "InvalidApiVersion",
            )
        denied = self._authenticate(request)
        if denied:
            return denied
        if len(request.body) > MAX_BATCH_BYTES:
            return _error(
                413,
                "PayloadTooLarge",
                f"The maximum size ({MAX_BATCH_BYTES}) has been exceeded.",
                "PayloadTooLarge",
            )
        content_type = (request.header("Content-Type") or "").split(";")[0].strip().lower()
        expected = CLOUDEVENTS_BATCH if self.input_schema == "CloudEventSchemaV1_0" else "application/json"
        if content_type != expected:
            return _error(
                400,
                "BadRequest",
                f"This topic expects '{expected}; charset=utf-8' (input schema {self.input_schema}); "
                f"got '{request.header('Content-Type') or ''}'.",
                "InvalidContentType",
            )
        try:
            events = json.loads(request.body)
        except ValueError as error:
            return _error(
                400, "BadRequest", f"The request body is not valid JSON: {error}.", "InputJsonInvalid"
            )
        if not isinstance(events, list):
            return _error(
                400, "BadRequest", "The request body must be a JSON array of events.", "InputJsonInvalid"
            )
        for index, event in enumerate(events):
            problem = self._schema_problem(event)
            if problem:
                return _error(
                    400,
                    "BadRequest",
                    f"This resource is configured to receive event in '{self.input_schema}' schema. "
                    f"Event {index}: {problem}",
                    "InputJsonInvalid",
                )
            if len(json.dumps(event).encode()) > MAX_EVENT_BYTES:
                return _error(
                    413,
                    "PayloadTooLarge",
                    f"Event {index} exceeds the maximum event size ({MAX_EVENT_BYTES}).",
                    "PayloadTooLarge",
                )
        with self._lock:
            self._received.extend(events)
        return Response(200)

    def _authenticate(self, request: Request) -> Response | None:
        key = request.header("aeg-sas-key")
        sas = request.header("aeg-sas-token")
        token = bearer_token(request)
        host = request.origin.removeprefix("https://").upper()
        if key is None and sas is None and token is None:
            return _error(
                401,
                "Unauthorized",
                "Request must contain one of the following authorization signature: aeg-sas-token, aeg-sas-key.",
                "Unauthorized",
            )
        if key is not None and secrets.compare_digest(key, self.key):
            return None
        if sas is not None and self._valid_sas(sas):
            return None
        if token is not None:
            record = self.tokens.lookup(token)
            if record and not record.expired and same_audience(record.resource, {EVENTGRID_AUDIENCE}):
                return None
        return _error(
            401,
            "Unauthorized",
            f"The request authorization key is not authorized for {host}.",
            "Unauthorized",
        )

    def _valid_sas(self, sas: str) -> bool:
        """``r=<url>&e=<expiry>&s=<HMAC-SHA256(key, "r=..&e=..")>``, as azure-eventgrid's generate_sas."""
        unsigned, _, signature = sas.rpartition("&s=")
        fields = {k: v[0] for k, v in parse_qs(unsigned).items()}
        try:
            expiry = _parse_expiry(fields["e"])
            expected = base64.b64encode(
                hmac.new(base64.b64decode(self.key), unsigned.encode("ascii"), hashlib.sha256).digest()
            ).decode()
        except (KeyError, ValueError):
            return False
        return hmac.compare_digest(unquote(signature), expected) and expiry.timestamp() > time.time()

    def _schema_problem(self, event: Any) -> str | None:
        if not isinstance(event, Mapping):
            return "an event must be a JSON object."
        if self.input_schema == "CloudEventSchemaV1_0":
            missing = [name for name in ("id", "source", "type", "specversion") if not event.get(name)]
            if missing:
                return f"required CloudEvents attribute(s) missing: {', '.join(missing)}."
            if event["specversion"] != "1.0":
                return f"specversion must be '1.0', got {event['specversion']!r}."
            return None
        missing = [n for n in ("id", "subject", "eventType", "eventTime", "dataVersion") if not event.get(n)]
        if missing or "data" not in event:
            return f"required EventGridEvent field(s) missing: {', '.join(missing or ['data'])}."
        return None


def _parse_expiry(text: str) -> datetime:
    """azure-eventgrid signs ``str(datetime)``; the portal's format is ``M/d/yyyy h:mm:ss tt``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = datetime.strptime(text, "%m/%d/%Y %I:%M:%S %p")
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _error(status: int, code: str, message: str, detail_code: str | None = None) -> Response:
    """Event Grid's data-plane error shape: error.code/message plus details[].code."""
    report = (
        f" Report '{uuid.uuid4()}:{datetime.now(UTC):%m/%d/%Y %I:%M:%S %p}' to our forums for assistance."
    )
    error: dict[str, Any] = {"code": code, "message": message + report}
    if detail_code:
        error["details"] = [{"code": detail_code, "message": message}]
    return Response.json(status, {"error": error})
