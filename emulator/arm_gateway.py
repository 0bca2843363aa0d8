"""What ARM's front door does before a resource provider sees a request.

Authentication (401 with ARM's codes and a ``WWW-Authenticate: Bearer`` challenge), the required
``api-version`` (400 MissingApiVersionParameter / InvalidApiVersionParameter), RBAC (403
AuthorizationFailed naming the action and scope) and the headers ARM puts on every answer.
Messages follow what ARM returns, as quoted in public error reports.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from .http_types import ArmError, Request
from .identity import DEFAULT_TENANT_ID, Principal, TokenRecord, TokenStore, bearer_token, foreign_audience

# api-versions of Microsoft.ContainerRegistry/registries; 2025-11-01 is what
# azure-mgmt-containerregistry 15.0.0 sends. (The emulator answers the 2025-11-01 shape for all.)
SUPPORTED_API_VERSIONS = (
    "2025-11-01",
    "2025-04-01",
    "2024-11-01-preview",
    "2023-11-01-preview",
    "2023-07-01",
    "2023-01-01-preview",
    "2022-12-01",
    "2021-09-01",
    "2019-05-01",
)

# The audiences ARM accepts for public Azure (ARM's InvalidAuthenticationTokenAudience message
# lists exactly these); the emulator also accepts its own base URL, which is what the SDK asks for
# when credential_scopes=[ACRGUARD_ARM_ENDPOINT + "/.default"].
PUBLIC_ARM_AUDIENCES = (
    "https://management.core.windows.net/",
    "https://management.core.windows.net",
    "https://management.azure.com/",
    "https://management.azure.com",
)

READ, WRITE, DELETE = (
    "Microsoft.ContainerRegistry/registries/read",
    "Microsoft.ContainerRegistry/registries/write",
    "Microsoft.ContainerRegistry/registries/delete",
)


def _challenge(error_description: str, tenant_id: str = DEFAULT_TENANT_ID) -> dict[str, str]:
    return {
        "WWW-Authenticate": (
            f'Bearer authorization_uri="https://login.microsoftonline.com/{tenant_id}", '
            f'error="invalid_token", error_description="{error_description}"'
        )
    }


def _dotnet_time(epoch: float) -> str:
    moment = datetime.fromtimestamp(epoch, UTC)
    return f"{moment.month}/{moment.day}/{moment.year} {moment:%I:%M:%S %p}".replace(" 0", " ", 1)


def authenticate(request: Request, tokens: TokenStore, own_audiences: set[str]) -> TokenRecord:
    header = request.header("Authorization")
    if header is None:
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is missing.",
            _challenge("The authentication failed because of missing 'Authorization' header."),
        )
    token = bearer_token(request)
    if token is None:
        raise ArmError(
            401,
            "AuthenticationFailed",
            "Authentication failed. The 'Authorization' header is provided in an invalid format.",
            _challenge("The authentication failed because of invalid 'Authorization' header format."),
        )
    record = tokens.lookup(token)
    if record is None:
        raise ArmError(
            401,
            "InvalidAuthenticationToken",
            "The access token is invalid.",
            _challenge("The access token is invalid."),
        )
    if record.expired:
        raise ArmError(
            401,
            "ExpiredAuthenticationToken",
            f"The access token expiry UTC time '{_dotnet_time(record.expires_on)}' is earlier than current "
            f"UTC time '{_dotnet_time(datetime.now(UTC).timestamp())}'.",
            _challenge("The access token has expired."),
        )
    if (listed := foreign_audience(record.resource, PUBLIC_ARM_AUDIENCES, own_audiences)) is not None:
        raise ArmError(
            401,
            "InvalidAuthenticationTokenAudience",
            f"The access token has been obtained for wrong audience or resource '{record.resource}'. "
            f"It should exactly match with one of the allowed audiences {listed}.",
            _challenge("The access token has been obtained for wrong audience or resource."),
        )
    return record


def require_api_version(request: Request, supported: tuple[str, ...] = SUPPORTED_API_VERSIONS) -> str:
    version = request.param("api-version")
    if not version:
        raise ArmError(
            400,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        )
    if version not in supported:
        raise ArmError(
            400,
            "InvalidApiVersionParameter",
            f"The api-version '{version}' is invalid. The supported versions are '{','.join(supported)}'.",
        )
    return version


def action_for(method: str) -> str:
    return {"PUT": WRITE, "PATCH": WRITE, "DELETE": DELETE}.get(method.upper(), READ)


def authorize(principal: Principal, action: str, scope: str) -> None:
    if not principal.allows(action):
        raise ArmError(403, "AuthorizationFailed", authorization_failed_message(principal, action, scope))


def authorization_failed_message(principal: Principal | None, action: str, scope: str) -> str:
    who = principal.caller if principal else "unknown"
    oid = principal.object_id if principal else "00000000-0000-0000-0000-000000000000"
    return (
        f"The client '{who}' with object id '{oid}' does not have authorization to perform action "
        f"'{action}' over scope '{scope}' or the scope is invalid. If access was recently granted, "
        "please refresh your credentials."
    )


def standard_headers(correlation_id: str, method: str) -> dict[str, str]:
    """Headers ARM returns on every answer (ids for support, rate-limit budget, no caching)."""
    request_id = str(uuid.uuid4())
    budget = (
        {"x-ms-ratelimit-remaining-subscription-reads": "249"}
        if method in ("GET", "HEAD")
        else {"x-ms-ratelimit-remaining-subscription-writes": "199"}
    )
    return {
        "Cache-Control": "no-cache",
        "Pragma": "no-cache",
        "Expires": "-1",
        "x-ms-request-id": request_id,
        "x-ms-correlation-request-id": correlation_id,
        "x-ms-routing-request-id": f"WESTEUROPE:{datetime.now(UTC):%Y%m%dT%H%M%SZ}:{request_id}",
        **budget,
    }
