"""Principals, opaque bearer tokens, and the App Service managed-identity endpoint.

Tokens are random strings bound server-side to a :class:`Principal`, so that ARM events for a
write carry the caller's claims (upn/appid/oid) exactly like Azure's, without forging JWTs.

The endpoint follows the App Service/Functions protocol that azure-identity's
ManagedIdentityCredential uses when IDENTITY_ENDPOINT + IDENTITY_HEADER are set
(https://learn.microsoft.com/azure/app-service/overview-managed-identity#rest-endpoint-reference):
``GET {IDENTITY_ENDPOINT}?resource=...&api-version=2019-08-01`` with header ``X-IDENTITY-HEADER``,
optional ``client_id`` / ``principal_id`` (msal sends ``object_id``) / ``mi_res_id`` for a
user-assigned identity, answering ``{access_token, expires_on (epoch seconds, string), resource,
token_type, client_id}``.
"""

from __future__ import annotations

import fnmatch
import secrets
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Literal

from .http_types import Request, Response

DEFAULT_TENANT_ID = (
    "33333333-3333-3333-3333-333333333333"  # the tenant of the sample events (examples/events)
)
CONTRIBUTOR_ROLE_DEFINITION_ID = "b24988ac-6180-42a0-ab88-20f7382dd24c"  # built-in Contributor
AZURE_CLI_APP_ID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"  # the app a human uses via `az`
IDENTITY_API_VERSION = "2019-08-01"
_NAMESPACE = uuid.UUID("6f1c4a52-31c6-4a43-9a3e-7d0b8a3c2e11")


def stable_uuid(*parts: str) -> str:
    """A deterministic GUID, so ids in events and logs are identical from run to run."""
    return str(uuid.uuid5(_NAMESPACE, "/".join(parts)))


@dataclass(frozen=True)
class Principal:
    """Who calls ARM: a user, a service principal or a managed identity.

    ``allowed_actions`` simulates RBAC: ``None`` allows everything (Contributor); otherwise a set of
    action patterns such as ``{"Microsoft.ContainerRegistry/registries/read"}`` ("*" wildcards
    allowed), and ARM answers 403 AuthorizationFailed for anything else.
    """

    object_id: str
    app_id: str
    display_name: str
    principal_type: Literal["User", "ServicePrincipal"] = "ServicePrincipal"
    upn: str | None = None
    tenant_id: str = DEFAULT_TENANT_ID
    managed_identity_resource_id: str | None = None
    role: str = "Contributor"
    role_definition_id: str = CONTRIBUTOR_ROLE_DEFINITION_ID
    allowed_actions: frozenset[str] | None = None

    @classmethod
    def user(cls, upn: str, display_name: str, *, object_id: str | None = None, **extra: Any) -> Principal:
        return cls(
            object_id=object_id or stable_uuid("user", upn),
            app_id=extra.pop("app_id", AZURE_CLI_APP_ID),
            display_name=display_name,
            principal_type="User",
            upn=upn,
            **extra,
        )

    @classmethod
    def managed_identity(
        cls,
        name: str,
        *,
        object_id: str | None = None,
        client_id: str | None = None,
        resource_id: str | None = None,
        **extra: Any,
    ) -> Principal:
        return cls(
            object_id=object_id or stable_uuid("mi-object", name),
            app_id=client_id or stable_uuid("mi-client", name),
            display_name=name,
            principal_type="ServicePrincipal",
            managed_identity_resource_id=resource_id,
            **extra,
        )

    @property
    def is_managed_identity(self) -> bool:
        return self.managed_identity_resource_id is not None

    @property
    def caller(self) -> str:
        """What a human reads in a log: the upn, else the display name."""
        return self.upn or self.display_name

    def allows(self, action: str) -> bool:
        if self.allowed_actions is None:
            return True
        return any(fnmatch.fnmatchcase(action.lower(), p.lower()) for p in self.allowed_actions)

    def system_data_actor(self) -> tuple[str, str]:
        """(createdBy/lastModifiedBy, ...ByType) as ARM's systemData reports this caller."""
        if self.principal_type == "User":
            return self.upn or self.object_id, "User"
        return self.app_id, "ManagedIdentity" if self.is_managed_identity else "Application"

    def claims(self, token: TokenRecord) -> dict[str, str]:
        """The ``data.claims`` object of an ARM event: the caller's token claims, as strings."""
        claims = {
            "aud": token.resource,
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": str(int(token.issued_at)),
            "nbf": str(int(token.issued_at)),
            "exp": str(int(token.expires_on)),
            "http://schemas.microsoft.com/identity/claims/objectidentifier": self.object_id,
        }
        if self.upn:
            claims["http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn"] = self.upn
            claims["name"] = self.display_name
        claims["appid"] = self.app_id
        if self.managed_identity_resource_id:
            claims["xms_mirid"] = self.managed_identity_resource_id
            claims["idtyp"] = "app"
        claims["http://schemas.microsoft.com/identity/claims/tenantid"] = self.tenant_id
        return claims


DEV_USER = Principal.user(
    "dev@contoso.example", "Dev Eloper", object_id="22222222-2222-2222-2222-222222222222"
)
"""The human of the sample events (examples/events): use it with ``emu.issue_token(DEV_USER)``."""

FUNCTION_APP_IDENTITY = Principal.managed_identity(
    "acrguard-func",
    resource_id=(
        "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourcegroups/rg-acrguard"
        "/providers/Microsoft.Web/sites/acrguard-func"
    ),
)
"""The Function App's system-assigned identity: what ManagedIdentityCredential() gets by default."""


@dataclass(frozen=True)
class TokenRecord:
    token: str = field(repr=False)
    principal: Principal
    resource: str
    issued_at: float
    expires_on: float

    @property
    def expired(self) -> bool:
        return time.time() >= self.expires_on


class TokenStore:
    """Opaque token -> principal. Survives ``Emulator.reset()`` so cached SDK credentials keep working."""

    def __init__(self) -> None:
        self._tokens: dict[str, TokenRecord] = {}
        self._lock = threading.Lock()

    def issue(self, principal: Principal, resource: str, lifetime: float) -> TokenRecord:
        now = time.time()
        record = TokenRecord(
            token="emu." + secrets.token_urlsafe(32),
            principal=principal,
            resource=resource,
            issued_at=now,
            expires_on=now + lifetime,
        )
        with self._lock:
            self._tokens[record.token] = record
        return record

    def lookup(self, token: str) -> TokenRecord | None:
        with self._lock:
            return self._tokens.get(token)

    def expire(self, token: str) -> None:
        with self._lock:
            record = self._tokens.get(token)
            if record:
                self._tokens[token] = TokenRecord(
                    record.token, record.principal, record.resource, record.issued_at, time.time() - 1
                )


def bearer_token(request: Request) -> str | None:
    header = request.header("Authorization") or ""
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return value.strip() or None


def same_audience(resource: str, allowed: set[str]) -> bool:
    return resource.rstrip("/").lower() in {a.rstrip("/").lower() for a in allowed}


def foreign_audience(resource: str, public: tuple[str, ...], own: set[str]) -> str | None:
    """``'a','b'``, the public audiences as a service's wrong-audience error lists them, when a token
    for ``resource`` is for none of them nor of ``own``; None when it is for this service."""
    if same_audience(resource, set(public) | own):
        return None
    return ",".join(f"'{a}'" for a in public)


class ManagedIdentityEndpoint:
    """Serves ``GET /msi/token`` like App Service's local identity endpoint."""

    def __init__(self, tokens: TokenStore, identity_header: str, system_identity: Principal) -> None:
        self.tokens = tokens
        self.identity_header = identity_header
        self.system_identity = system_identity
        self.token_lifetime = 24 * 3600.0  # App Service hands out ~24 h tokens
        self._user_assigned: list[Principal] = []
        self._lock = threading.Lock()

    def add_user_assigned(self, principal: Principal) -> None:
        with self._lock:
            self._user_assigned.append(principal)

    def handle(self, request: Request) -> Response:
        if request.method != "GET":
            return _identity_error(405, "Only GET is supported by the managed identity endpoint.")
        if not secrets.compare_digest(request.header("X-IDENTITY-HEADER") or "", self.identity_header):
            # App Service rejects a missing/wrong secret header before anything else.
            return _identity_error(401, "Unauthorized: the X-IDENTITY-HEADER header is missing or invalid.")
        if request.param("api-version") != IDENTITY_API_VERSION:
            return _identity_error(400, f"api-version must be {IDENTITY_API_VERSION} for this protocol.")
        resource = request.param("resource")
        if not resource:
            return _identity_error(400, "The 'resource' query parameter is required.")
        principal = self._select_identity(request)
        if principal is None:
            return _identity_error(
                400, "No Managed Identity found for specified ClientId/ResourceId/PrincipalId."
            )
        request.notes["principal"] = principal
        record = self.tokens.issue(principal, resource, self.token_lifetime)
        return Response.json(
            200,
            {
                "access_token": record.token,
                "expires_on": str(int(record.expires_on)),
                "resource": resource,
                "token_type": "Bearer",
                "client_id": principal.app_id,
            },
        )

    def _select_identity(self, request: Request) -> Principal | None:
        wanted = {
            "client_id": request.param("client_id"),
            "object_id": request.param("principal_id") or request.param("object_id"),
            "resource_id": request.param("mi_res_id"),
        }
        if not any(wanted.values()):
            return self.system_identity
        with self._lock:
            candidates = [self.system_identity, *self._user_assigned]
        for principal in candidates:
            if (
                (wanted["client_id"] and wanted["client_id"].lower() == principal.app_id.lower())
                or (wanted["object_id"] and wanted["object_id"].lower() == principal.object_id.lower())
                or (
                    wanted["resource_id"]
                    and principal.managed_identity_resource_id
                    and wanted["resource_id"].lower() == principal.managed_identity_resource_id.lower()
                )
            ):
                return principal
        return None


def _identity_error(status: int, message: str) -> Response:
    """App Service's identity endpoint error shape (not ARM's): statusCode, message, correlationId."""
    return Response.json(
        status, {"statusCode": status, "message": message, "correlationId": str(uuid.uuid4())}
    )
