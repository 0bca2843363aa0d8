"""Contract: ARM Subscriptions - List / Get, as ACR Guard calls it (the SDK's send_request)."""

from __future__ import annotations

import pytest
import requests
from azure.core.rest import HttpRequest

from emulator import Emulator, Principal

SUB_A = "00000000-0000-0000-0000-00000000aaaa"
SUB_B = "00000000-0000-0000-0000-00000000bbbb"
SUB_C = "00000000-0000-0000-0000-00000000cccc"
API = "api-version=2022-12-01"


def _list_all(client, endpoint: str) -> list[dict]:
    url: str | None = f"{endpoint}/subscriptions?{API}"
    found: list[dict] = []
    while url:
        response = client.send_request(HttpRequest("GET", url))
        response.raise_for_status()
        body = response.json()
        found += body["value"]
        url = body.get("nextLink")
    return found


def test_subscriptions_with_registries_and_explicit_ones_are_listed_and_paged(
    emu: Emulator, arm_client
) -> None:
    emu.seed("emulator/seeds/demo.yaml")
    emu.add_subscription(SUB_C, display_name="Sandbox", state="Disabled")
    emu.page_size = 2

    subscriptions = _list_all(arm_client(SUB_A), emu.arm_url)

    assert [(s["subscriptionId"], s["state"]) for s in subscriptions] == [
        (SUB_C, "Disabled"),
        (SUB_A, "Enabled"),
        (SUB_B, "Enabled"),
    ]
    assert subscriptions[0]["displayName"] == "Sandbox"
    assert subscriptions[1] | {"displayName": ""} == {
        "id": f"/subscriptions/{SUB_A}",
        "authorizationSource": "RoleBased",
        "managedByTenants": [],
        "subscriptionId": SUB_A,
        "tenantId": "33333333-3333-3333-3333-333333333333",
        "displayName": "",
        "state": "Enabled",
        "subscriptionPolicies": {
            "locationPlacementId": "Public_2014-09-01",
            "quotaId": "PayAsYouGo_2014-09-01",
            "spendingLimit": "Off",
        },
    }
    assert len(emu.requests_for(route="subscriptions")) == 2
    assert emu.counters.reads("/subscriptions") == 2


def test_get_one_subscription(emu: Emulator, arm_client) -> None:
    emu.add_registry(subscription=SUB_A, resource_group="rg", name="onereg")
    client = arm_client(SUB_A)
    found = client.send_request(HttpRequest("GET", f"{emu.arm_url}/subscriptions/{SUB_A.upper()}?{API}"))
    assert found.status_code == 200 and found.json()["subscriptionId"] == SUB_A
    missing = client.send_request(HttpRequest("GET", f"{emu.arm_url}/subscriptions/{SUB_C}?{API}"))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "SubscriptionNotFound"


def test_subscriptions_have_their_own_api_versions(emu: Emulator) -> None:
    def get(query: str) -> requests.Response:
        return requests.get(
            f"{emu.arm_url}/subscriptions{query}", headers=emu.auth_headers(), verify=emu.ca_path, timeout=10
        )

    assert get("").json()["error"]["code"] == "MissingApiVersionParameter"
    assert get("?api-version=2025-11-01").json()["error"]["code"] == "InvalidApiVersionParameter"
    assert get("?api-version=2020-01-01").status_code == 200


def test_listing_subscriptions_needs_the_read_action(emu: Emulator) -> None:
    acr_only = Principal.managed_identity(
        "acr-only", allowed_actions=frozenset({"Microsoft.ContainerRegistry/registries/*"})
    )
    response = emu.arm_request("GET", f"/subscriptions?{API}", principal=acr_only)
    assert response.status_code == 403
    assert "'Microsoft.Resources/subscriptions/read'" in response.json()["error"]["message"]


def test_subscriptions_route_is_scriptable_like_any_arm_route(emu: Emulator, arm_client) -> None:
    emu.add_registry(subscription=SUB_A, resource_group="rg", name="faulty")
    emu.inject(route="subscriptions", status=503, times=1)
    emu.inject(status=429, retry_after=0, path=r"^/subscriptions$", times=1)
    assert [
        s["subscriptionId"] for s in _list_all(arm_client(SUB_A, retry_backoff_factor=0.01), emu.arm_url)
    ] == [SUB_A]
    assert [r.status for r in emu.requests_for(route="subscriptions")] == [503, 429, 200]


def test_seed_subscriptions_key(emu: Emulator) -> None:
    emu.seed(
        {"subscriptions": [{"id": SUB_C, "display_name": "Sandbox", "state": "Disabled"}], "registries": []}
    )
    response = requests.get(
        f"{emu.arm_url}/subscriptions/{SUB_C}?{API}",
        headers=emu.auth_headers(),
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.json()["state"] == "Disabled"
    emu.reset()
    assert (
        requests.get(
            f"{emu.arm_url}/subscriptions?{API}", headers=emu.auth_headers(), verify=emu.ca_path, timeout=10
        ).json()["value"]
        == []
    )


@pytest.mark.parametrize(
    "entry", [{"display_name": "no id"}, {"id": SUB_C, "state": "Frozen"}, {"id": SUB_C, "owner": "x"}]
)
def test_invalid_seed_subscriptions(emu: Emulator, entry: dict) -> None:
    from emulator import SeedError

    with pytest.raises(SeedError, match=r"subscriptions\[0\]"):
        emu.seed({"subscriptions": [entry]})
