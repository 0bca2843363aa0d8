"""Contract: ARM's front door (401 challenges, api-version) as plain HTTPS clients see it."""

from __future__ import annotations

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.mgmt.containerregistry import ContainerRegistryManagementClient

from emulator import DEV_USER, Emulator

SUB = "00000000-0000-0000-0000-00000000aaaa"
PATH = f"/subscriptions/{SUB}/resourceGroups/rg-platform/providers/Microsoft.ContainerRegistry/registries/authreg"


@pytest.fixture
def registry_url(emu: Emulator) -> str:
    emu.add_registry(subscription=SUB, resource_group="rg-platform", name="authreg")
    return f"{emu.arm_url}{PATH}"


def _get(emu: Emulator, url: str, **headers: str) -> requests.Response:
    return requests.get(url, headers=headers, verify=str(emu.ca_path), timeout=10)


def test_no_token_answers_401_authentication_failed_with_a_bearer_challenge(
    emu: Emulator, registry_url: str
) -> None:
    response = _get(emu, registry_url + "?api-version=2025-11-01")

    assert response.status_code == 401
    assert response.json() == {
        "error": {
            "code": "AuthenticationFailed",
            "message": "Authentication failed. The 'Authorization' header is missing.",
        }
    }
    assert response.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert response.headers["x-ms-correlation-request-id"]


def test_unknown_token_answers_401_invalid_authentication_token(emu: Emulator, registry_url: str) -> None:
    response = _get(emu, registry_url + "?api-version=2025-11-01", Authorization="Bearer not-a-token")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "WWW-Authenticate" in response.headers


def test_malformed_authorization_header_answers_401(emu: Emulator, registry_url: str) -> None:
    response = _get(emu, registry_url + "?api-version=2025-11-01", Authorization="Basic dXNlcjpwdw==")
    assert (response.status_code, response.json()["error"]["code"]) == (401, "AuthenticationFailed")


def test_expired_token_answers_401_expired_authentication_token(emu: Emulator, registry_url: str) -> None:
    token = emu.issue_token(DEV_USER, lifetime=-5)
    response = _get(emu, registry_url + "?api-version=2025-11-01", Authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert "is earlier than current UTC time" in response.json()["error"]["message"]

    fresh = emu.issue_token(DEV_USER)
    assert (
        _get(emu, registry_url + "?api-version=2025-11-01", Authorization=f"Bearer {fresh}").status_code
        == 200
    )
    emu.expire_token(fresh)
    assert (
        _get(emu, registry_url + "?api-version=2025-11-01", Authorization=f"Bearer {fresh}").status_code
        == 401
    )


def test_token_for_another_audience_answers_401(emu: Emulator, registry_url: str) -> None:
    token = emu.issue_token(DEV_USER, resource="https://vault.azure.net")
    response = _get(emu, registry_url + "?api-version=2025-11-01", Authorization=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "InvalidAuthenticationTokenAudience"


@pytest.mark.parametrize(
    "audience",
    ["https://management.azure.com/", "https://management.azure.com", "https://management.core.windows.net/"],
)
def test_public_arm_audiences_are_accepted(emu: Emulator, registry_url: str, audience: str) -> None:
    token = emu.issue_token(DEV_USER, resource=audience)
    response = _get(emu, registry_url + "?api-version=2025-11-01", Authorization=f"Bearer {token}")
    assert response.status_code == 200


def test_the_emulators_own_url_is_an_accepted_audience(emu: Emulator, registry_url: str) -> None:
    for audience in (emu.arm_url, emu.arm_url + "/"):
        token = emu.issue_token(DEV_USER, resource=audience)
        assert (
            _get(emu, registry_url + "?api-version=2025-11-01", Authorization=f"Bearer {token}").status_code
            == 200
        )


def test_missing_api_version_answers_400(emu: Emulator, registry_url: str) -> None:
    response = _get(emu, registry_url, **emu.auth_headers())
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "MissingApiVersionParameter",
            "message": "The api-version query parameter (?api-version=) is required for all requests.",
        }
    }


def test_unsupported_api_version_answers_400(emu: Emulator, registry_url: str) -> None:
    response = _get(emu, registry_url + "?api-version=2099-01-01", **emu.auth_headers())
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "InvalidApiVersionParameter"
    assert "2025-11-01" in response.json()["error"]["message"]


@pytest.mark.parametrize("version", ["2025-11-01", "2023-07-01", "2019-05-01"])
def test_supported_api_versions(emu: Emulator, registry_url: str, version: str) -> None:
    assert _get(emu, f"{registry_url}?api-version={version}", **emu.auth_headers()).status_code == 200


def test_api_version_name_is_case_insensitive(emu: Emulator, registry_url: str) -> None:
    assert _get(emu, registry_url + "?API-VERSION=2025-11-01", **emu.auth_headers()).status_code == 200


def test_sdk_without_credential_access_raises_client_authentication_error(emu: Emulator) -> None:
    class NoAccess:
        """A credential whose token the emulator never issued (not a mock of an SDK class)."""

        def get_token(self, *scopes: str, **kwargs: object):
            from azure.core.credentials import AccessToken

            return AccessToken("forged", 4_102_444_800)

    emu.add_registry(subscription=SUB, resource_group="rg-platform", name="authreg")
    client = ContainerRegistryManagementClient(
        NoAccess(), SUB, base_url=emu.arm_url, credential_scopes=[emu.arm_url + "/.default"]
    )
    with pytest.raises(ClientAuthenticationError) as caught:
        client.registries.get("rg-platform", "authreg")
    assert caught.value.error.code == "InvalidAuthenticationToken"


def test_unknown_routes_answer_404_in_arm_shape(emu: Emulator) -> None:
    response = _get(
        emu,
        f"{emu.arm_url}/subscriptions/{SUB}/providers/Microsoft.Storage/storageAccounts?api-version=2023-01-01",
        **emu.auth_headers(),
    )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NotFound"
