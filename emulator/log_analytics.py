"""The Log Analytics query API: ``POST /v1/workspaces/{workspaceId}/query``, over miniature workspaces.

What ``azure-monitor-query`` 2.0's ``LogsQueryClient.query_workspace`` sends (its ``_patch.py`` and
``_operations/_operations.py``): ``POST {endpoint}/v1/workspaces/{id}/query`` with a bearer token for
``<endpoint or audience>/.default``, ``Prefer`` (``wait=N``, ``include-statistics=true``,
``include-render=true``; empty when none is asked for) and the body
``{"query": ..., "timespan": <ISO 8601 or null>, "workspaces": <list or null>}``.

What it answers, after Microsoft's "Azure Monitor Log Analytics API response format" and "errors"
pages (learn.microsoft.com/azure/azure-monitor/logs/api/response-format, .../api/errors):

- 200 ``{"tables": [{"name": "PrimaryResult", "columns": [{"name", "type"}], "rows": [[...]]}]}``;
  column types are Kusto's (``string``, ``int``, ``long``, ``real``, ``bool``, ``datetime``,
  ``dynamic``), a datetime is ISO 8601 UTC with Kusto's 100 ns ticks, a dynamic value its JSON text;
- a result over the workspace's ``row_limit`` (the service's is 500,000 records, "Azure Monitor
  service limits") is cut there and answered 200 with an ``error`` of code ``PartialError`` beside
  the tables (the SDK's ``LogsQueryPartialResult``);
- 400 ``BadArgumentError`` with an ``innererror`` ``SyntaxError`` (the query does not parse) or
  ``SemanticError`` (an unknown table or column), the engine's own words innermost;
- 401 ``AuthenticationFailed`` without an ``Authorization`` header; 403 ``InvalidAuthenticationToken``
  for a token it does not know (or an expired one), 403 ``InvalidAuthenticationTokenAudience`` for
  a token of another audience;
- 404 ``PathNotFoundError`` "The requested path does not exist" for a workspace it does not hold,
  as the service answers a nonexistent workspace ID or a workspace name
  (Azure/azure-sdk-for-python#32798, Azure/azure-cli-extensions#2479).

``timespan`` and ``workspaces`` other than null are refused (400) rather than ignored: the
emulator does not apply them.
"""

from __future__ import annotations

import json
import re
import threading
from datetime import datetime
from typing import Any

from .http_types import Request, Response
from .identity import TokenStore, bearer_token, foreign_audience

PATH = re.compile(r"^/v1/workspaces/(?P<workspace>[^/]+)/query/?$", re.IGNORECASE)
#: The audiences a Log Analytics token may carry (the SDK's default endpoint is its audience).
AUDIENCES = ("https://api.loganalytics.io", "https://api.loganalytics.azure.com")
SERVICE_ROW_LIMIT = 500_000
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)
_KUSTO_TYPES = {
    "VARCHAR": "string",
    "INTEGER": "int",
    "BIGINT": "long",
    "HUGEINT": "long",
    "DOUBLE": "real",
    "FLOAT": "real",
    "BOOLEAN": "bool",
    "TIMESTAMP": "datetime",
    "TIMESTAMP WITH TIME ZONE": "datetime",
    "JSON": "dynamic",
}


class LogsError(Exception):
    """An answer in the API's OneAPI error shape ``{"error": {"message", "code", "innererror"?}}``."""

    def __init__(self, status: int, code: str, message: str, inner: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status, self.code, self.message, self.inner = status, code, message, inner

    def response(self) -> Response:
        error: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.inner:
            error["innererror"] = self.inner
        return Response.json(self.status, {"error": error})


class LogAnalytics:
    """The workspaces the emulator holds, by workspace ID (a GUID, any casing)."""

    def __init__(self, tokens: TokenStore) -> None:
        self._tokens = tokens
        self._lock = threading.Lock()
        self._workspaces: dict[str, Any] = {}
        self.row_limits: dict[str, int] = {}

    def reset(self) -> None:
        with self._lock:
            self._workspaces.clear()
            self.row_limits.clear()

    def workspace(self, workspace_id: str, *, row_limit: int | None = None) -> Any:
        """The workspace with this ID, made (empty) on first use: an ``emulator.log_workspace.Workspace``
        to feed (``capture()`` the audit logger, ``trace()``, ``ingest_audit_file()``) and query."""
        if not _GUID.match(workspace_id):
            raise ValueError(f"a workspace ID is a GUID (the workspace's customerId), got {workspace_id!r}")
        from .log_workspace import Workspace  # duckdb-kql: imported only when a workspace is made

        key = workspace_id.lower()
        with self._lock:
            if key not in self._workspaces:
                self._workspaces[key] = Workspace()
            if row_limit is not None:  # else the limit set before, or the service's
                self.row_limits[key] = row_limit
            return self._workspaces[key]

    def handle(self, request: Request, own_audiences: set[str]) -> Response:
        try:
            return self._answer(request, own_audiences)
        except LogsError as error:
            request.notes["error_code"] = error.code
            return error.response()

    def _answer(self, request: Request, own_audiences: set[str]) -> Response:
        self._authenticate(request, own_audiences)
        match = PATH.match(request.path)
        key = match["workspace"].lower() if match else ""
        with self._lock:
            workspace = self._workspaces.get(key)
            limit = self.row_limits.get(key, SERVICE_ROW_LIMIT)
        if workspace is None or request.method != "POST":
            raise LogsError(404, "PathNotFoundError", "The requested path does not exist")
        query = _query_of(request)
        try:
            import duckdb
            import duckdb_kql

            described, rows = workspace.execute(query, limit + 1)
        except duckdb_kql.KqlError as exc:
            raise _bad_query("SyntaxError", "A recognition error occurred in the query.", exc) from None
        except duckdb.Error as exc:  # an unknown table or column: the binder's refusal
            raise _bad_query("SemanticError", "A semantic error occurred.", exc) from None
        table = {
            "name": "PrimaryResult",
            "columns": [
                {"name": name, "type": _KUSTO_TYPES.get(kind.upper(), "string")} for name, kind in described
            ],
            "rows": [[_wire(value) for value in row] for row in rows[:limit]],
        }
        payload: dict[str, Any] = {"tables": [table]}
        if len(rows) > limit:
            payload["error"] = {
                "code": "PartialError",
                "message": "There were some errors when processing your query.",
                "details": [
                    {
                        "code": "EngineError",
                        "message": f"Query result set has exceeded the internal record count limit {limit}.",
                    }
                ],
            }
        return Response.json(200, payload)

    def _authenticate(self, request: Request, own_audiences: set[str]) -> None:
        if request.header("Authorization") is None:
            raise LogsError(
                401, "AuthenticationFailed", "Authentication failed. The 'Authorization' header is missing."
            )
        token = bearer_token(request)
        record = self._tokens.lookup(token) if token else None
        if record is None or record.expired:
            raise LogsError(403, "InvalidAuthenticationToken", "The access token is invalid.")
        if (listed := foreign_audience(record.resource, AUDIENCES, own_audiences)) is not None:
            raise LogsError(
                403,
                "InvalidAuthenticationTokenAudience",
                f"The access token has been obtained from wrong audience or resource '{record.resource}'. "
                f"It should exactly match (including forward slash) with one of the allowed audiences {listed}.",
            )
        request.notes["principal"] = record.principal


def _query_of(request: Request) -> str:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        body = None
    if not isinstance(body, dict) or not isinstance(body.get("query"), str) or not body["query"].strip():
        raise LogsError(
            400,
            "BadArgumentError",
            "The request had some invalid properties",
            {
                "code": "QueryValidationError",
                "message": "The body must be a JSON object with a 'query' string.",
            },
        )
    for unserved in ("timespan", "workspaces"):
        if body.get(unserved) not in (None, "", []):
            raise LogsError(
                400,
                "BadArgumentError",
                "The request had some invalid properties",
                {
                    "code": "NotSupportedByEmulator",
                    "message": f"the emulator does not apply '{unserved}' (got {body[unserved]!r}); "
                    "filter on TimeGenerated in the query instead",
                },
            )
    return str(body["query"])


def _bad_query(code: str, message: str, exc: Exception) -> LogsError:
    detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return LogsError(
        400,
        "BadArgumentError",
        "The request had some invalid properties",
        {"code": code, "message": message, "innererror": {"code": type(exc).__name__, "message": detail}},
    )


def _wire(value: Any) -> Any:
    """A value as the API writes it: datetimes ISO 8601 UTC with 7 fractional digits (Kusto's ticks)."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value
