"""Contract: registries/tokens (list, get, PATCH) through the unmodified azure-mgmt-containerregistry.

The repository_tokens rule lists a registry's tokens and PATCHes each one's status.
"""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.mgmt.containerregistry.models import Token, TokenUpdateParameters

from emulator import RESOURCE_WRITE_SUCCESS, Emulator, Principal
from emulator.seeding import SeedError

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"
TOKEN_WRITE = "Microsoft.ContainerRegistry/registries/tokens/write"


def _registry(emu: Emulator, name: str = "tokreg", sku: str = "Premium", tokens: list | None = None) -> str:
    return emu.add_registry(
        subscription=SUB, resource_group=RG, name=name, sku=sku, children={"tokens": tokens or []}
    )


def _disable() -> TokenUpdateParameters:
    return TokenUpdateParameters(status="disabled")


def test_list_pages_with_next_links_and_items_are_typed_tokens(emu: Emulator, arm_client) -> None:
    rid = _registry(emu, tokens=[{"name": f"tok{index}"} for index in range(5)])
    emu.page_size = 2

    tokens = list(arm_client(SUB).tokens.list(RG, "tokreg"))

    assert [token.name for token in tokens] == [f"tok{index}" for index in range(5)]
    assert all(isinstance(token, Token) for token in tokens)
    first = tokens[0]
    assert first.id == f"{rid}/tokens/tok0"
    assert first.type == "Microsoft.ContainerRegistry/registries/tokens"
    assert first.status == "enabled" and first.provisioning_state == "Succeeded"
    assert first.scope_map_id == f"{rid}/scopeMaps/_repositories_pull"
    assert first.system_data.created_by == "dev@contoso.example"
    pages = emu.requests_for(route="tokens", method="GET")
    assert len(pages) == 3 and all("$skipToken" in page.query for page in pages[1:])
    assert emu.counters.reads(f"{rid}/tokens") == 3


def test_get_returns_the_seeded_token_and_404_names_a_missing_one(emu: Emulator, arm_client) -> None:
    _registry(emu, tokens=[{"name": "ci-push", "properties": {"status": "disabled"}}])
    client = arm_client(SUB)

    assert client.tokens.get(RG, "tokreg", "CI-PUSH").status == "disabled"  # names are case-insensitive
    with pytest.raises(ResourceNotFoundError) as missing:
        client.tokens.get(RG, "tokreg", "nope")
    assert missing.value.error.code == "ResourceNotFound"
    assert "tokreg/tokens/nope" in missing.value.error.message
    with pytest.raises(ResourceNotFoundError) as parent:
        client.tokens.get(RG, "noreg", "ci-push")
    assert parent.value.error.code == "ParentResourceNotFound"
    with pytest.raises(ResourceNotFoundError):
        list(client.tokens.list(RG, "noreg"))


def test_patch_disables_a_token_and_emits_its_write_event(emu: Emulator, arm_client) -> None:
    rid = _registry(emu, tokens=[{"name": "ci-push"}, {"name": "other"}])

    updated = arm_client(SUB).tokens.begin_update(RG, "tokreg", "ci-push", _disable()).result()

    assert updated.status == "disabled" and updated.provisioning_state == "Succeeded"
    assert updated.system_data.last_modified_by == emu.managed_identity.app_id
    assert emu.get_child(f"{rid}/tokens/other")["properties"]["status"] == "enabled"
    [event] = emu.wait_for_events(1)
    token_uri = rid.replace("/resourceGroups/", "/resourcegroups/") + "/tokens/ci-push"
    assert event["eventType"] == RESOURCE_WRITE_SUCCESS
    assert event["subject"] == event["data"]["resourceUri"] == token_uri
    assert event["data"]["operationName"] == TOKEN_WRITE
    assert event["data"]["authorization"]["action"] == TOKEN_WRITE
    assert event["data"]["httpRequest"]["method"] == "PATCH"
    assert emu.counters.writes(f"{rid}/tokens/ci-push") == 1


def test_patch_keeps_what_it_does_not_name_and_ignores_read_only_fields(emu: Emulator) -> None:
    rid = _registry(emu, tokens=[{"name": "ci-push"}])
    scope_map = f"{rid}/scopeMaps/pushers"
    response = emu.arm_request(
        "PATCH",
        f"{rid}/tokens/ci-push?api-version=2025-11-01",
        json={
            "properties": {
                "scopeMapId": scope_map,
                "provisioningState": "Failed",
                "creationDate": "2000-01-01T00:00:00Z",
                "credentials": {"passwords": [{"name": "password1", "value": "s3cret"}]},
            }
        },
    )
    assert response.status_code == 200, response.text
    props = emu.get_child(f"{rid}/tokens/ci-push")["properties"]
    assert props["scopeMapId"] == scope_map and props["status"] == "enabled"
    assert props["provisioningState"] == "Succeeded" and props["creationDate"] != "2000-01-01T00:00:00Z"
    assert props["credentials"] == {
        "passwords": [{"name": "password1"}]
    }  # a password's value is never stored


@pytest.mark.parametrize(
    ("body", "code", "named"),
    [
        ({"properties": {"status": "paused"}}, "InvalidRequestContent", "enabled, disabled"),
        ({"properties": {"scopeMapId": "/elsewhere/scopeMaps/x"}}, "InvalidScopeMapId", "/elsewhere"),
        ({"properties": {"status": True}}, "InvalidRequestContent", "properties.status"),
    ],
)
def test_patch_refuses_bad_values_naming_them(emu: Emulator, body: dict, code: str, named: str) -> None:
    rid = _registry(emu, tokens=[{"name": "ci-push"}])
    response = emu.arm_request("PATCH", f"{rid}/tokens/ci-push?api-version=2025-11-01", json=body)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == code and named in response.json()["error"]["message"]
    assert emu.get_child(f"{rid}/tokens/ci-push")["properties"]["status"] == "enabled"


def test_patch_of_a_missing_token_is_404_and_emits_nothing(emu: Emulator, arm_client) -> None:
    _registry(emu)
    with pytest.raises(ResourceNotFoundError):
        arm_client(SUB).tokens.begin_update(RG, "tokreg", "ghost", _disable()).result()
    emu.drain()
    assert emu.events == []


def test_async_patch_answers_201_polls_then_emits(emu: Emulator, arm_client) -> None:
    rid = _registry(emu, tokens=[{"name": "ci-push"}])
    emu.set_lro("async", polls=2, resource_id=rid)  # the registry's LRO mode applies to its tokens

    poller = arm_client(SUB).tokens.begin_update(RG, "tokreg", "ci-push", _disable(), polling_interval=0)
    assert emu.get_child(f"{rid}/tokens/ci-push")["properties"]["provisioningState"] == "Updating"
    assert poller.result().status == "disabled"

    [initial] = emu.requests_for(method="PATCH", route="tokens")
    assert initial.status == 201
    polls = emu.requests_for(route="operation")
    assert [p.operation_status for p in polls] == ["InProgress", "InProgress", "Succeeded"]
    assert emu.counters.polls(f"{rid}/tokens/ci-push") == 3
    [event] = emu.wait_for_events(1)
    assert event["data"]["operationName"] == TOKEN_WRITE


def test_failed_async_patch_leaves_the_token_unchanged_and_failed(emu: Emulator, arm_client) -> None:
    rid = _registry(emu, tokens=[{"name": "ci-push"}])
    emu.set_lro("async", polls=0, outcome="Failed", resource_id=rid)

    with pytest.raises(HttpResponseError):
        arm_client(SUB).tokens.begin_update(RG, "tokreg", "ci-push", _disable(), polling_interval=0).result()
    props = emu.get_child(f"{rid}/tokens/ci-push")["properties"]
    assert props["status"] == "enabled" and props["provisioningState"] == "Failed"
    emu.drain()
    assert emu.events == []


def test_wrong_api_version_missing_auth_and_rbac_are_refused(emu: Emulator) -> None:
    rid = _registry(emu, tokens=[{"name": "ci-push"}])
    wrong = emu.arm_request("GET", f"{rid}/tokens?api-version=2099-01-01")
    assert wrong.status_code == 400 and wrong.json()["error"]["code"] == "InvalidApiVersionParameter"
    missing = emu.arm_request("GET", f"{rid}/tokens")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "MissingApiVersionParameter"

    import requests

    anonymous = requests.get(f"{emu.arm_url}{rid}/tokens?api-version=2025-11-01", verify=str(emu.ca_path))
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"

    reader = Principal.user("reader@contoso.example", "Reader", allowed_actions=frozenset({"*/read"}))
    assert emu.arm_request("GET", f"{rid}/tokens?api-version=2025-11-01", principal=reader).status_code == 200
    denied = emu.arm_request(
        "PATCH", f"{rid}/tokens/ci-push?api-version=2025-11-01", principal=reader, json={}
    )
    assert denied.status_code == 403
    assert "Microsoft.ContainerRegistry/registries/tokens/write" in denied.json()["error"]["message"]


@pytest.mark.parametrize("sku", ["Basic", "Standard", "Premium"])
def test_tokens_exist_on_every_sku(emu: Emulator, arm_client, sku: str) -> None:
    """Learn, repository-scoped permissions: "available in all the service tiers" (no SKU error)."""
    _registry(emu, name=f"tok{sku.lower()}", sku=sku, tokens=[{"name": "ci"}])
    client = arm_client(SUB)
    assert [t.name for t in client.tokens.list(RG, f"tok{sku.lower()}")] == ["ci"]
    assert client.tokens.begin_update(RG, f"tok{sku.lower()}", "ci", _disable()).result().status == "disabled"


def test_seeded_tokens_obey_the_contract(emu: Emulator) -> None:
    with pytest.raises(SeedError, match=r'tokens\[0\].*"paused".*enabled, disabled'):
        _registry(emu, tokens=[{"name": "bad", "properties": {"status": "paused"}}])
    with pytest.raises(SeedError, match=r"tokens\[0\].*needs a 'name'"):
        _registry(emu, tokens=[{"properties": {}}])
    rid = _registry(emu)
    token_id = emu.add_child(rid, "tokens", {"name": "late", "properties": {"status": "disabled"}})
    assert token_id == f"{rid}/tokens/late"
    assert [t["name"] for t in emu.children(rid, "tokens")] == ["late"]


def test_put_creates_a_token_as_tokens_create_declares_and_emits_its_write_event(
    emu: Emulator, arm_client
) -> None:
    """Tokens_Create (PUT): 201 for a new token, 200 for a replaced one (azure-mgmt-containerregistry
    15.0.0 accepts exactly these as the first answer); the creator is in systemData, and the write
    raises tokens/write, as a person's ``az acr token create`` does."""
    rid = _registry(emu)
    path = f"{rid}/tokens/late-push?api-version=2025-11-01"
    created = emu.arm_request("PUT", path, json={"properties": {"status": "enabled"}})
    assert created.status_code == 201
    doc = created.json()
    assert (doc["name"], doc["properties"]["status"]) == ("late-push", "enabled")
    assert doc["properties"]["scopeMapId"] == f"{rid}/scopeMaps/_repositories_pull"
    assert doc["systemData"]["createdBy"] == "dev@contoso.example"
    [event] = emu.wait_for_events(1)
    assert (event["eventType"], event["data"]["operationName"]) == (RESOURCE_WRITE_SUCCESS, TOKEN_WRITE)
    assert event["subject"].endswith("/tokens/late-push")

    replaced = emu.arm_request("PUT", path, json={"properties": {"status": "disabled"}})
    assert replaced.status_code == 200
    assert replaced.json()["properties"]["creationDate"] == doc["properties"]["creationDate"]
    made = arm_client(SUB).tokens.begin_create(RG, "tokreg", "sdk-token", Token(status="enabled")).result()
    assert (made.name, made.status) == ("sdk-token", "enabled")
    assert [t["name"] for t in emu.children(rid, "tokens")] == ["late-push", "sdk-token"]
    bad = emu.arm_request("PUT", path, json={"properties": {"scopeMapId": "/subscriptions/x/other"}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "InvalidScopeMapId"
