"""Azure Resource Graph: ``POST /providers/Microsoft.ResourceGraph/resources`` over the registry store.

Request (api-version 2021-03-01, what azure-mgmt-resourcegraph 8 sends, or 2022-10-01)::

    {"query": "resources | where ...", "subscriptions": [...], "managementGroups": [...],
     "options": {"$top": 1000, "$skipToken": "...", "resultFormat": "objectArray"}}

Response: ``{"totalRecords", "count", "resultTruncated": "true"|"false", "$skipToken"?, "data": [...]}``.
Rows are registries in ARG's ``resources`` shape (``type`` lower-cased, ``subscriptionId``,
``resourceGroup``, ``properties`` as ARM's GET has them). Only registries the caller may read are
returned (ARG filters by RBAC, it does not refuse). Behaviour that matters at scale:

- **paging**: ``$top`` at most 1,000; ``$skipToken`` continues. A projection without ``id`` cannot
  be paged (as in ARG): more rows than ``$top`` then answer the first page with ``resultTruncated``.
- **quota**: ``quota`` queries per ``window_s`` per principal; every answer carries
  ``x-ms-user-quota-remaining`` and ``x-ms-user-quota-resets-after`` (``hh:mm:ss``), and a query over
  the quota is answered 429 ``RateLimiting``.
- **scope**: at most ``max_subscriptions`` subscriptions per request; management groups resolve
  through :meth:`add_management_group`, an unknown one is 403 (as ARM says for no access).
- **lag**: :meth:`freeze` serves a snapshot of the rows (ARG trails ARM) until :meth:`thaw`.
- **faults**: the route is ``resourcegraph`` in the emulator's fault plan; :meth:`break_paging`
  scripts paging that never ends (a continuation answered with the token it sent, or with a fresh
  token at the same offset, so pages run past ``totalRecords``).
"""

from __future__ import annotations

import base64
import collections
import copy
import hashlib
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Literal

from . import kql
from .arm_gateway import READ
from .arm_paths import REGISTRY_TYPE
from .http_types import ArmError, Request, Response
from .identity import Principal

PATH = "/providers/microsoft.resourcegraph/resources"
API_VERSIONS = ("2021-03-01", "2022-10-01", "2024-04-01")
MAX_TOP = 1000


class ResourceGraph:
    def __init__(self, rows: Callable[[], Iterable[dict[str, Any]]], subscriptions: Callable[[], list[str]]):
        self._documents = rows  # the live registry documents (ARM GET shape)
        self._subscriptions = subscriptions
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self.quota = 15
            self.window_s = 5.0
            self.max_subscriptions = 1000
            self.management_groups: dict[str, list[str]] = {}
            self._frozen: list[dict[str, Any]] | None = None
            self._calls: dict[str, collections.deque[float]] = {}
            self._results: collections.OrderedDict[str, list[dict[str, Any]]] = collections.OrderedDict()
            self.queries = 0
            self._paging_fault: tuple[str, int | None] | None = None
            self._nonce = 0

    def add_management_group(self, group_id: str, subscriptions: Iterable[str]) -> None:
        self.management_groups[group_id.lower()] = [s.lower() for s in subscriptions]

    def freeze(self) -> None:
        """Serve the rows as they are now until :meth:`thaw` (ARG's index trails ARM)."""
        self._frozen = [_row(copy.deepcopy(doc)) for doc in self._documents()]

    def thaw(self) -> None:
        self._frozen = None

    def break_paging(self, kind: Literal["repeat", "overrun"], times: int | None = None) -> None:
        """The next ``times`` continuations (None: all, until :meth:`reset`) page wrongly: ``repeat``
        answers the page asked for with the very ``$skipToken`` that asked for it (a token that never
        advances); ``overrun`` answers it with a fresh token for the same offset, so the pages repeat
        without end and their rows add up past ``totalRecords``."""
        if kind not in ("repeat", "overrun"):
            raise ValueError(f"unknown paging fault {kind!r}; expected 'repeat' or 'overrun'")
        self._paging_fault = (kind, times)

    # -- the endpoint ---------------------------------------------------------------------------
    def handle(self, request: Request, principal: Principal) -> Response:
        if request.method != "POST":
            raise ArmError(405, "MethodNotAllowed", f"The requested method {request.method} is not allowed.")
        version = request.param("api-version")
        if version not in API_VERSIONS:
            raise ArmError(
                400,
                "InvalidApiVersionParameter" if version else "MissingApiVersionParameter",
                f"The api-version '{version}' is invalid. The supported versions are '{','.join(API_VERSIONS)}'.",
            )
        quota = self._charge(principal.object_id)
        body = _body(request)
        query_text = body.get("query")
        if not isinstance(query_text, str) or not query_text.strip():
            raise _invalid("the request has no query")
        try:
            query = kql.parse(query_text)
        except kql.KqlError as exc:
            raise _invalid(str(exc), exc.position) from None
        options = body.get("options") or {}
        top = options.get("$top", 100 if "$skipToken" not in options else MAX_TOP)
        if not isinstance(top, int) or not 1 <= top <= MAX_TOP:
            raise _invalid(f"$top must be a whole number from 1 to {MAX_TOP}, got {top!r}")
        if options.get("resultFormat", "objectArray") != "objectArray":
            raise _invalid("only resultFormat objectArray is served")
        subscriptions = self._scope(body, principal)
        key = hashlib.sha256(json.dumps([query_text, sorted(subscriptions)]).encode()).hexdigest()[:16]
        offset = 0
        if token := options.get("$skipToken"):
            key, offset = _decode(token)
        rows = self._result(key, query, subscriptions, principal, fresh=not token)
        self.queries += 1
        page = [query.project(r) for r in rows[offset : offset + top]]
        payload: dict[str, Any] = {"totalRecords": len(rows), "count": len(page), "data": page}
        more = offset + top < len(rows)
        pageable = query.columns is None or "id" in query.columns
        payload["resultTruncated"] = "true" if more and not pageable else "false"
        if more and pageable:
            payload["$skipToken"] = _encode(key, offset + top)
        if token and (fault := self._take_paging_fault()):
            kind, nonce = fault
            payload["$skipToken"] = token if kind == "repeat" else _encode(key, offset, nonce)
        return Response.json(200, payload, quota)

    def _take_paging_fault(self) -> tuple[str, int] | None:
        """The paging fault this continuation gets (one use consumed), with a nonce for its token."""
        with self._lock:
            if self._paging_fault is None:
                return None
            kind, times = self._paging_fault
            if times is not None:
                self._paging_fault = (kind, times - 1) if times > 1 else None
            self._nonce += 1
            return kind, self._nonce

    def _charge(self, who: str) -> dict[str, str]:
        """Count the query against the principal's window, or answer 429 when it is spent."""
        now = time.monotonic()
        with self._lock:
            calls = self._calls.setdefault(who, collections.deque())
            while calls and now - calls[0] >= self.window_s:
                calls.popleft()
            resets = (calls[0] + self.window_s - now) if calls else self.window_s
            if len(calls) >= self.quota:
                headers = _quota_headers(0, resets)
                raise ArmError(
                    429,
                    "RateLimiting",
                    "Client application has been throttled and should not attempt to repeat the request "
                    "until an amount of time has elapsed. Please see https://aka.ms/resourcegraph-throttling "
                    "for help.",
                    headers,
                )
            calls.append(now)
            return _quota_headers(self.quota - len(calls), calls[0] + self.window_s - now)

    def _scope(self, body: dict[str, Any], principal: Principal) -> list[str]:
        subs = [s.lower() for s in body.get("subscriptions") or []]
        groups = [g.lower() for g in body.get("managementGroups") or []]
        if subs and groups:
            raise _invalid("give subscriptions or managementGroups, not both")
        for group in groups:
            if group not in self.management_groups:
                scope = f"/providers/Microsoft.Management/managementGroups/{group}"
                raise ArmError(
                    403,
                    "AuthorizationFailed",
                    f"The client '{principal.caller}' with object id '{principal.object_id}' does not have "
                    f"authorization to perform action 'Microsoft.ResourceGraph/resources/read' over scope "
                    f"'{scope}' or the scope is invalid.",
                )
            subs += self.management_groups[group]
        if len(subs) > self.max_subscriptions:
            raise _invalid(
                f"{len(subs)} subscriptions in one request; at most {self.max_subscriptions} are allowed"
            )
        return subs or self._subscriptions()

    def _result(
        self, key: str, query: kql.Query, subs: list[str], principal: Principal, *, fresh: bool
    ) -> list[dict[str, Any]]:
        """The whole answer, kept per skip-token key so later pages page the same result."""
        with self._lock:
            if not fresh and key in self._results:
                return self._results[key]
        if not principal.allows(READ):
            rows: list[dict[str, Any]] = []
        else:
            wanted = set(subs)
            source = self._frozen if self._frozen is not None else map(_row, self._documents())
            rows = query.run([r for r in source if r["subscriptionId"] in wanted])
        with self._lock:
            self._results[key] = rows
            while len(self._results) > 32:
                self._results.popitem(last=False)
        return rows


def _row(doc: dict[str, Any]) -> dict[str, Any]:
    """A registry document as ARG's resources table holds it (shares the nested values: read-only)."""
    parts = doc["id"].split("/")
    return {
        "id": doc["id"],
        "name": doc["name"],
        "type": REGISTRY_TYPE.lower(),
        "tenantId": "",
        "kind": "",
        "location": doc.get("location"),
        "resourceGroup": parts[4].lower(),
        "subscriptionId": parts[2].lower(),
        "managedBy": "",
        "sku": doc.get("sku"),
        "plan": None,
        "properties": doc.get("properties"),
        "tags": doc.get("tags") or {},
        "identity": doc.get("identity"),
        "zones": None,
        "extendedLocation": None,
    }


def _body(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        raise _invalid("the request body is not JSON") from None
    if not isinstance(body, dict):
        raise _invalid("the request body must be a JSON object")
    return body


def _invalid(message: str, position: int | None = None) -> ArmError:
    detail: dict[str, Any] = {"code": "ParserFailure" if position is not None else "InvalidQuery"}
    detail["message"] = message
    if position is not None:
        detail.update(line=1, characterPositionInLine=position)
    return ArmError(
        400,
        "BadRequest",
        f"Please provide below info when asking for support: correlationId = {uuid.uuid4()}.",
        details=[
            {
                "code": "InvalidQuery",
                "message": "Query is invalid. Please refer to the documentation for the Azure Resource "
                "Graph service and fix the error before retrying.",
            },
            detail,
        ],
    )


def _quota_headers(remaining: int, resets_s: float) -> dict[str, str]:
    whole = max(0, math.ceil(round(resets_s, 3)))  # round off float noise: now + 7200 - now > 7200
    return {
        "x-ms-user-quota-remaining": str(remaining),
        "x-ms-user-quota-resets-after": f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}",
    }


def _encode(key: str, offset: int, nonce: int | None = None) -> str:
    fields: dict[str, Any] = {"k": key, "o": offset} | ({"n": nonce} if nonce is not None else {})
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode()


def _decode(token: Any) -> tuple[str, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token)))
        return str(data["k"]), int(data["o"])
    except (ValueError, KeyError, TypeError):
        raise _invalid("the $skipToken is invalid") from None
