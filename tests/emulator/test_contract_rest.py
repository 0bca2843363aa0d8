"""The emulator speaks ACR's REST contract (api-version 2025-11-01) exactly.

Requests go over HTTPS as plain JSON, so bodies the SDK would never build (wrong types, unknown
enum values, read-only fields) reach the emulator as a careless client would send them. The spec
shaped examples and the bad cases are data in tests/data/contract/, written by this project from
the documented shapes. Answers are checked against the contract the emulator derives from the
SDK's models, and read back through the SDK's own ``Registry`` model.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import repo_paths
import requests
from azure.mgmt.containerregistry.models import Registry, Sku

from emulator import Emulator, wire_schema

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-contract"
NAME = "contosocontract"
DATA = repo_paths.DATA / "contract"
CASES = json.loads((DATA / "invalid-requests.json").read_text())
KEY = "https://kv.vault.azure.net/keys/k"
SERVER_SET = {  # what ARM computed for the seeded registry: a PATCH must never replace or wipe it
    "encryption": {
        "status": "enabled",
        "keyVaultProperties": {
            "keyIdentifier": KEY,
            "versionedKeyIdentifier": KEY + "/0123456789abcdef",
            "identity": "11111111-1111-1111-1111-111111111111",
            "keyRotationEnabled": True,
            "lastKeyRotationTimestamp": "2026-01-11T08:00:00.0000000Z",
        },
    },
}
SERVER_IDENTITY = {
    "type": "SystemAssigned",
    "principalId": "44444444-4444-4444-4444-444444444444",
    "tenantId": "33333333-3333-3333-3333-333333333333",
}


def _data(name: str) -> Any:
    return json.loads((DATA / name).read_text())


def _url(emu: Emulator, name: str = NAME, api_version: str = "2025-11-01") -> str:
    path = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries/{name}"
    return f"{emu.arm_url}{path}?api-version={api_version}"


def _send(emu: Emulator, method: str, body: Any, name: str = NAME) -> requests.Response:
    return requests.request(
        method, _url(emu, name), json=body, headers=emu.auth_headers(), verify=str(emu.ca_path), timeout=10
    )


def _get(emu: Emulator, name: str = NAME) -> dict[str, Any]:
    response = requests.get(_url(emu, name), headers=emu.auth_headers(), verify=str(emu.ca_path), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def _at(document: Any, path: list[str]) -> Any:
    for key in path:
        document = document.get(key) if isinstance(document, dict) else None
    return document


def _seed_premium(emu: Emulator) -> str:
    """A Premium registry (GET-shaped document) holding values only ARM sets."""
    document = json.loads((DATA.parent / "registries" / "premium-open.json").read_text())
    document["id"] = document["id"].replace("/rg-platform/", f"/{RG}/").replace("/contosoprod", f"/{NAME}")
    document["name"] = NAME
    document["properties"].update(copy.deepcopy(SERVER_SET))
    document["identity"] = dict(SERVER_IDENTITY)
    [rid] = emu.seed([document])
    return rid


def _assert_conforms(answer: dict[str, Any]) -> None:
    """The answer holds only what 2025-11-01 declares, typed, enums spelled as the spec spells them."""
    assert wire_schema.normalise_document(answer) == answer
    assert Registry(answer).as_dict() is not None  # the SDK's own model reads it


# ---------------------------------------------------------------- spec-shaped examples
def test_spec_shaped_create_and_update_are_accepted_and_answers_conform(emu: Emulator) -> None:
    """RegistryCreate/RegistryUpdate-shaped requests; RegistryGet-shaped answers."""
    created = _send(emu, "PUT", _data("registry-create.request.json"))
    assert created.status_code == 200, created.text
    _assert_conforms(created.json())

    expected = _data("registry-get.standard.response.json")
    got = _get(emu)
    _assert_conforms(got)
    assert got.keys() == expected.keys()
    assert got["properties"].keys() == expected["properties"].keys()
    assert got["properties"]["policies"] == expected["properties"]["policies"] | {
        "retentionPolicy": got["properties"]["policies"]["retentionPolicy"]
    }
    assert got["properties"]["adminUserEnabled"] is True

    updated = _send(emu, "PATCH", _data("registry-update.request.json"))
    assert updated.status_code == 200, updated.text
    _assert_conforms(updated.json())
    assert updated.json()["properties"]["roleAssignmentMode"] == "AbacRepositoryPermissions"

    listed = requests.get(
        f"{emu.arm_url}/subscriptions/{SUB}/providers/Microsoft.ContainerRegistry/registries?api-version=2025-11-01",
        headers=emu.auth_headers(),
        verify=str(emu.ca_path),
        timeout=10,
    ).json()
    for item in listed["value"]:
        _assert_conforms(item)


def test_zone_redundant_create_keeps_its_zone_redundancy(emu: Emulator) -> None:
    """zoneRedundancy is set by PUT (RegistryCreateZoneRedundant)."""
    response = _send(emu, "PUT", _data("registry-create-zone-redundant.request.json"))
    assert response.status_code == 200, response.text
    assert _get(emu)["properties"]["zoneRedundancy"] == "Enabled"


# ---------------------------------------------------------------- JSON types
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
@pytest.mark.parametrize("case", CASES["wrong_type"], ids=[c["case"] for c in CASES["wrong_type"]])
def test_a_wrong_json_type_is_a_400_and_nothing_is_stored(emu: Emulator, case: dict, method: str) -> None:
    """A value of the wrong JSON type answers 400; it is never stored or echoed."""
    _seed_premium(emu)
    before = _get(emu)
    body = {key: value for key, value in case.items() if key in ("properties", "tags", "identity")}
    if method == "PUT":
        body |= {"location": "westeurope", "sku": {"name": "Premium"}}

    response = _send(emu, method, body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "InvalidRequestContent"
    assert f"Path '{case['path']}'" in error["message"]
    assert _get(emu) == before


# ---------------------------------------------------------------- enums
@pytest.mark.parametrize("case", CASES["wrong_enum"], ids=[c["case"] for c in CASES["wrong_enum"]])
def test_a_value_outside_the_enum_is_a_400_naming_the_allowed_values(emu: Emulator, case: dict) -> None:
    """Values outside the allowed list answer 400 and are not stored."""
    _seed_premium(emu)
    before = _get(emu)
    body = {key: value for key, value in case.items() if key in ("properties", "identity")}

    response = _send(emu, "PATCH", body)

    assert response.status_code == 400, response.text
    message = response.json()["error"]["message"]
    assert f"to type '{case['type']}'" in message and f"Path '{case['path']}'" in message
    assert "Allowed values: " in message
    assert _get(emu) == before


@pytest.mark.parametrize("case", CASES["enum_casing"], ids=[c["case"] for c in CASES["enum_casing"]])
def test_enum_casing_is_accepted_and_answered_canonically(emu: Emulator, case: dict) -> None:
    """ARM reads enums case-insensitively and answers the spec's spelling."""
    _seed_premium(emu)

    response = _send(emu, "PATCH", {"properties": case["properties"]})

    assert response.status_code == 200, response.text
    assert _at(response.json(), case["path"]) == case["stored"]
    assert _at(_get(emu), case["path"]) == case["stored"]


# ---------------------------------------------------------------- read-only fields
@pytest.mark.parametrize("case", CASES["read_only"], ids=[c["case"] for c in CASES["read_only"]])
def test_a_read_only_field_in_a_patch_is_ignored_and_the_server_value_kept(emu: Emulator, case: dict) -> None:
    """Read-only fields sent in a PATCH are silently ignored, never stored."""
    _seed_premium(emu)
    before = _at(_get(emu), case["path"])
    body = {key: value for key, value in case.items() if key in ("properties", "identity", "sku")}
    sent = _at(body, case["path"])

    response = _send(emu, "PATCH", body)

    assert response.status_code == 200, response.text
    after = _at(_get(emu), case["path"])
    assert after != sent
    assert after == before
    assert before is not None


def test_a_patch_of_retention_policy_never_wipes_its_last_updated_time(emu: Emulator) -> None:
    """retentionPolicy without lastUpdatedTime keeps the server's value, or the server
    sets a new one when the policy changes; it never disappears."""
    _seed_premium(emu)
    stamp = _get(emu)["properties"]["policies"]["retentionPolicy"]["lastUpdatedTime"]

    same = _send(
        emu, "PATCH", {"properties": {"policies": {"retentionPolicy": {"days": 7, "status": "disabled"}}}}
    )
    assert same.status_code == 200
    assert _get(emu)["properties"]["policies"]["retentionPolicy"]["lastUpdatedTime"] == stamp

    changed = _send(
        emu, "PATCH", {"properties": {"policies": {"retentionPolicy": {"days": 30, "status": "enabled"}}}}
    )
    assert changed.status_code == 200
    retention = _get(emu)["properties"]["policies"]["retentionPolicy"]
    assert retention["days"] == 30 and retention["lastUpdatedTime"] not in (None, stamp)


def test_replacing_encryption_keeps_the_key_vault_values_the_server_set(emu: Emulator) -> None:
    """A PATCH replaces encryption whole, but not its read-only key vault fields."""
    _seed_premium(emu)
    sent = {"keyIdentifier": KEY, "identity": SERVER_SET["encryption"]["keyVaultProperties"]["identity"]}
    body = {"properties": {"encryption": {"status": "enabled", "keyVaultProperties": sent}}}

    assert _send(emu, "PATCH", body).status_code == 200

    assert _get(emu)["properties"]["encryption"] == SERVER_SET["encryption"]


def test_identity_ids_are_the_servers(emu: Emulator) -> None:
    """A PATCH of identity keeps the principal ARM assigned; a new one gets IDs from ARM."""
    _seed_premium(emu)
    assert _send(emu, "PATCH", {"identity": {"type": "SystemAssigned"}}).status_code == 200
    assert _get(emu)["identity"] == SERVER_IDENTITY

    assert _send(emu, "PATCH", {"identity": {"type": "None"}}).status_code == 200
    assert _get(emu)["identity"] == {"type": "None"}
    assert _send(emu, "PATCH", {"identity": {"type": "systemassigned"}}).status_code == 200
    identity = _get(emu)["identity"]
    assert identity["type"] == "SystemAssigned"
    assert identity["principalId"] not in (None, SERVER_IDENTITY["principalId"])


# ---------------------------------------------------------------- create-only fields
@pytest.mark.parametrize(
    "body, path",
    [
        ({"properties": {"zoneRedundancy": "Enabled"}}, "properties.zoneRedundancy"),
        ({"properties": {"zoneRedundancy": "Disabled"}}, "properties.zoneRedundancy"),
        ({"location": "northeurope"}, "location"),
    ],
)
def test_a_create_only_field_in_a_patch_is_refused(emu: Emulator, body: dict, path: str) -> None:
    """zoneRedundancy (and location) are not in RegistryUpdateParameters: 400."""
    _seed_premium(emu)
    before = _get(emu)

    response = _send(emu, "PATCH", body)

    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "PropertyChangeNotAllowed"
    assert path in response.json()["error"]["message"]
    assert _get(emu) == before


def test_a_replacing_put_cannot_change_zone_redundancy_and_keeps_it_when_left_out(emu: Emulator) -> None:
    """zoneRedundancy is fixed at creation; a replacing PUT keeps it."""
    assert _send(emu, "PUT", _data("registry-create-zone-redundant.request.json")).status_code == 200
    replace = {
        "location": "westeurope",
        "sku": {"name": "Premium"},
        "properties": {"zoneRedundancy": "Disabled"},
    }

    refused = _send(emu, "PUT", replace)
    kept = _send(emu, "PUT", {"location": "westeurope", "sku": {"name": "Premium"}})

    assert refused.status_code == 400 and refused.json()["error"]["code"] == "PropertyChangeNotAllowed"
    assert kept.status_code == 200 and kept.json()["properties"]["zoneRedundancy"] == "Enabled"


def test_create_only_fields_derived_from_the_sdk_match_the_spec() -> None:
    """Registry minus RegistryUpdateParameters is what the spec makes
    create-only (read from stable/2025-11-01: zoneRedundancy in properties, location at the top)."""
    created, updated = wire_schema.registry_schema(), wire_schema.update_schema()
    top = {n for n, f in created.fields.items() if not f.read_only} - set(updated.fields)
    created_props, updated_props = created.fields["properties"].schema, updated.fields["properties"].schema
    assert created_props is not None and updated_props is not None
    props = {n for n, f in created_props.fields.items() if not f.read_only} - set(updated_props.fields)
    assert (top, props) == ({"location"}, {"zoneRedundancy"})
    assert wire_schema.read_only_properties() == {
        "loginServer", "creationDate", "provisioningState", "status", "dataEndpointHostNames",
        "privateEndpointConnections",
    }  # fmt: skip


# ---------------------------------------------------------------- preview-only properties
def test_preview_only_properties_are_neither_answered_nor_accepted(emu: Emulator, load_sample) -> None:
    """metadataSearch and policies.softDeletePolicy are not in 2025-11-01."""
    sample = load_sample("registries/premium-open")
    sample["id"] = sample["id"].replace("/rg-platform/", f"/{RG}/")
    sample["properties"]["metadataSearch"] = "Enabled"
    sample["properties"]["policies"]["softDeletePolicy"] = {"retentionDays": 7, "status": "enabled"}
    emu.seed([sample])
    body = {
        "properties": {"metadataSearch": "Enabled", "policies": {"softDeletePolicy": {"status": "enabled"}}}
    }

    seeded = _get(emu, sample["name"])
    patched = _send(emu, "PATCH", body, name=sample["name"])
    created = _send(emu, "PUT", {"location": "westeurope", "sku": {"name": "Premium"}, **body})

    assert patched.status_code == 200 and created.status_code == 200
    for answer in (seeded, patched.json(), created.json(), _get(emu)):
        assert "metadataSearch" not in answer["properties"]
        assert "softDeletePolicy" not in answer["properties"]["policies"]
        _assert_conforms(answer)


# ---------------------------------------------------------------- defaults
@pytest.mark.parametrize("sku", ["Basic", "Standard", "Premium"])
def test_defaults_follow_the_spec_examples(emu: Emulator, sku: str) -> None:
    """Every SKU reports the spec example's five policies (with
    azureADAuthenticationAsArmPolicy enabled); only Premium reports networkRuleSet {Allow, []}."""
    response = _send(emu, "PUT", {"location": "westeurope", "sku": {"name": sku}})

    assert response.status_code == 200, response.text
    properties = response.json()["properties"]
    expected = _data("registry-get.standard.response.json")["properties"]["policies"]
    assert properties["policies"].keys() == expected.keys()
    assert properties["policies"]["azureADAuthenticationAsArmPolicy"] == {"status": "enabled"}
    assert properties["policies"]["quarantinePolicy"] == {"status": "disabled"}
    if sku == "Premium":
        assert properties["networkRuleSet"] == {"defaultAction": "Allow", "ipRules": []}
    else:
        assert "networkRuleSet" not in properties


# ---------------------------------------------------------------- PUT long-running
def test_put_offers_the_asynchronous_form_like_patch(emu: Emulator, arm_client) -> None:
    """Registries_Create is long-running; async PUT answers 201 + Azure-AsyncOperation
    with provisioningState Creating, and the SDK's poller drives it to Succeeded."""
    emu.set_lro("async", polls=1, retry_after=1)
    client = arm_client(SUB)

    poller = client.registries.begin_create(
        RG, NAME, Registry(location="westeurope", sku=Sku(name="Standard"))
    )
    during = emu.get_registry(
        f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries/{NAME}"
    )
    result = poller.result(timeout=30)

    assert during is not None and during["properties"]["provisioningState"] == "Creating"
    assert result.provisioning_state == "Succeeded"
    [initial] = emu.requests_for(method="PUT")
    assert initial.status == 201
    assert emu.requests_for(route="operation")
    emu.wait_for_events(1)
    assert [e["data"]["operationName"] for e in emu.events] == [
        "Microsoft.ContainerRegistry/registries/write"
    ]


def test_a_failed_asynchronous_create_leaves_the_registry_failed_without_an_event(
    emu: Emulator, arm_client
) -> None:
    """A create whose operation fails is reported Failed, and no write event follows."""
    emu.set_lro("async", polls=0, retry_after=1, outcome="Failed")
    client = arm_client(SUB)

    poller = client.registries.begin_create(RG, NAME, Registry(location="westeurope", sku=Sku(name="Basic")))
    with pytest.raises(Exception, match="InternalServerError"):
        poller.result(timeout=30)

    assert _get(emu)["properties"]["provisioningState"] == "Failed"
    emu.drain()
    assert emu.events == []
