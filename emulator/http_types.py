"""Transport-neutral request/response types, so the emulator's logic never touches sockets.

The HTTP server (httpd.py) turns bytes into a :class:`Request`; every route answers with a
:class:`Response`, an :class:`ArmError` (raised, rendered in ARM's error shape) or an
:class:`Abort` (drop the connection, for fault injection).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

JSON_CONTENT_TYPE = "application/json; charset=utf-8"


@dataclass
class Request:
    method: str
    target: str
    """The request-target exactly as received: path plus query string."""
    headers: Mapping[str, str]
    """Header names lower-cased (HTTP header names are case-insensitive)."""
    body: bytes
    client_ip: str
    origin: str
    """``https://host:port`` as the client addressed us (from the Host header)."""
    path: str = field(init=False)
    query: dict[str, str] = field(init=False)
    notes: dict[str, Any] = field(default_factory=dict)
    """Facts a route learns while answering (principal, operation status...) for the request log."""

    def __post_init__(self) -> None:
        parts = urlsplit(self.target)
        self.path = unquote(parts.path)
        self.query = dict(parse_qsl(parts.query, keep_blank_values=True))

    @property
    def url(self) -> str:
        return self.origin + self.target

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def param(self, name: str) -> str | None:
        """A query parameter, matched case-insensitively (ARM treats query names that way)."""
        wanted = name.lower()
        for key, value in self.query.items():
            if key.lower() == wanted:
                return value
        return None

    def json_body(self) -> Any:
        """The body parsed as JSON, or None when empty or not JSON (for logging only)."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return None


@dataclass
class Response:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(cls, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
        merged = {"Content-Type": JSON_CONTENT_TYPE, **(headers or {})}
        return cls(status, json.dumps(payload).encode(), merged)

    def payload(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(frozen=True)
class Abort:
    """Drop the connection without an HTTP response (injected connection failure).

    ``rst`` sends a TCP reset (SO_LINGER 0), ``close`` a plain close: clients see
    ``ConnectionResetError`` and ``RemoteDisconnected`` respectively.
    """

    kind: Literal["rst", "close"] = "rst"


class ArmError(Exception):
    """An error answered in ARM's documented shape ``{"error": {"code", "message"}}``.

    See the ARM RPC "Error response content" contract; SDKs read ``error.code`` from it. An error
    the container registry resource provider itself answers (``provider``) also carries a top-level
    ``"status": "Failed"``, as ACR's answers in azure-mgmt-containerregistry 10.0.0's recordings do
    (``ClassicSkuDeprecated``, test_mgmt_containerregistry.test_classic_registry.yaml); ARM's own
    (authentication, api-version, RBAC, ResourceNotFound) do not.
    """

    provider: bool = False

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: Mapping[str, str] | None = None,
        details: list[dict[str, Any]] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})
        self.details = details

    def response(self) -> Response:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            error["details"] = self.details
        body: dict[str, Any] = {"error": error}
        if self.provider:
            body["status"] = "Failed"
        return Response.json(self.status, body, self.headers)
