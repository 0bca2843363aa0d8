"""The App Service managed-identity endpoint and token binding."""

from __future__ import annotations

import time

import requests
from azure.identity import ManagedIdentityCredential

from emulator import Emulator, Principal


def _token_request(emu: Emulator, header: str | None = None, **params: str) -> requests.Response:
    query = {"api-version": "2019-08-01", "resource": "https://management.azure.com/", **params}
    headers = {"X-IDENTITY-HEADER": header if header is not None else emu.identity_header}
    return requests.get(emu.identity_endpoint, params=query, headers=headers, verify=emu.ca_path, timeout=10)


def test_token_response_follows_the_app_service_protocol(emu: Emulator) -> None:
    response = _token_request(emu)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "expires_on", "resource", "token_type", "client_id"}
    assert body["token_type"] == "Bearer"
    assert body["resource"] == "https://management.azure.com/"
    assert body["expires_on"].isdigit() and int(body["expires_on"]) > time.time() + 3600
    assert body["client_id"] == emu.managed_identity.app_id


def test_wrong_or_missing_identity_header_is_refused(emu: Emulator) -> None:
    assert _token_request(emu, header="nope").status_code == 401
    assert _token_request(emu, header="").status_code == 401


def test_api_version_and_resource_are_required(emu: Emulator) -> None:
    assert _token_request(emu, **{"api-version": "2017-09-01"}).status_code == 400
    response = requests.get(
        emu.identity_endpoint,
        params={"api-version": "2019-08-01"},
        headers={"X-IDENTITY-HEADER": emu.identity_header},
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 400
    assert set(response.json()) == {"statusCode", "message", "correlationId"}


def test_user_assigned_identity_by_client_id_principal_id_or_resource_id(emu: Emulator) -> None:
    uami = emu.add_identity(
        Principal.managed_identity(
            "uami-acrguard",
            resource_id="/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/uami",
        )
    )
    for params in (
        {"client_id": uami.app_id},
        {"principal_id": uami.object_id},
        {"object_id": uami.object_id},
        {"mi_res_id": uami.managed_identity_resource_id},
    ):
        response = _token_request(emu, **params)
        assert response.json()["client_id"] == uami.app_id, params
    assert _token_request(emu, client_id="11111111-1111-1111-1111-111111111111").status_code == 400


def test_sdk_credential_with_client_id_gets_the_user_assigned_identity(emu: Emulator) -> None:
    uami = emu.add_identity(Principal.managed_identity("uami-sdk"))
    ManagedIdentityCredential(client_id=uami.app_id).get_token("https://management.azure.com/.default")
    assert emu.requests_for(route="identity")[-1].principal == uami


def test_issue_token_binds_a_human_principal(emu: Emulator) -> None:
    user = Principal.user("ops@contoso.example", "Ops Person")
    rid = emu.add_registry(subscription="s1", resource_group="rg", name="humanreg")
    response = emu.arm_request("GET", f"{rid}?api-version=2025-11-01", principal=user)
    assert response.status_code == 200
    record = emu.requests_for(route="registry")[0]
    assert record.principal == user and record.caller == "ops@contoso.example"


def test_request_log_never_contains_tokens_or_identity_secrets(emu: Emulator) -> None:
    rid = emu.add_registry(subscription="s1", resource_group="rg", name="secretreg")
    token = emu.issue_token()
    issued = _token_request(emu).json()["access_token"]
    emu.arm_request("PATCH", f"{rid}?api-version=2025-11-01", token=token, json={"tags": {"a": "b"}})
    dump = repr(emu.requests)
    assert token not in dump and issued not in dump and emu.identity_header not in dump
    assert "Bearer" not in dump
