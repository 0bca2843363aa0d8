"""Contract: every successful ARM write emits exactly one Event Grid event shaped like Azure's."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.eventgrid import EventGridEvent, SystemEventNames

from emulator import DEV_USER, Emulator, to_cloudevent

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


def _shape(value: Any) -> Any:
    """The key structure of a JSON value (values dropped), to compare with the samples."""
    if isinstance(value, dict):
        return {key: _shape(item) for key, item in value.items()}
    return type(value).__name__


def test_sdk_write_emits_exactly_one_event_with_the_callers_claims(emu: Emulator, arm_client) -> None:
    rid = emu.add_registry(
        subscription=SUB, resource_group=RG, name="contosoprod", properties={"anonymousPullEnabled": True}
    )

    arm_client(SUB).registries.begin_update(
        RG, "contosoprod", {"properties": {"anonymousPullEnabled": False}}
    ).result()
    events = emu.wait_for_events(1)

    assert len(events) == 1
    event = events[0]
    expected_uri = f"/subscriptions/{SUB}/resourcegroups/{RG}/providers/Microsoft.ContainerRegistry/registries/contosoprod"
    assert event["eventType"] == SystemEventNames.ResourceWriteSuccessEventName
    assert event["subject"] == event["data"]["resourceUri"] == expected_uri
    assert event["data"]["operationName"] == "Microsoft.ContainerRegistry/registries/write"
    assert event["data"]["authorization"]["action"] == "Microsoft.ContainerRegistry/registries/write"
    assert event["data"]["httpRequest"]["method"] == "PATCH"
    assert event["data"]["httpRequest"]["clientIpAddress"] == "127.0.0.1"
    assert event["data"]["httpRequest"]["url"].startswith(emu.arm_url + rid)
    assert event["topic"] == f"/subscriptions/{SUB}"
    claims = event["data"]["claims"]
    identity = emu.managed_identity
    assert claims["appid"] == identity.app_id
    assert claims["http://schemas.microsoft.com/identity/claims/objectidentifier"] == identity.object_id
    assert claims["xms_mirid"] == identity.managed_identity_resource_id
    assert event["data"]["authorization"]["evidence"]["principalId"] == identity.object_id.replace("-", "")
    assert event["data"]["authorization"]["evidence"]["principalType"] == "ServicePrincipal"
    patch = emu.requests_for(method="PATCH")[0]
    assert event["data"]["correlationId"]  # matches the x-ms-correlation-request-id ARM answered
    assert patch.principal == identity


def test_a_human_write_matches_the_sample_event_field_for_field(emu: Emulator, load_sample) -> None:
    sample = load_sample("events/registry-write.eventgrid")
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="contosoprod")
    token = emu.issue_token(DEV_USER, resource="https://management.core.windows.net/")

    response = requests.patch(
        f"{emu.arm_url}{rid}?api-version=2025-11-01",
        json={"properties": {"anonymousPullEnabled": False}},
        headers={
            "Authorization": f"Bearer {token}",
            "x-ms-client-request-id": sample["data"]["httpRequest"]["clientRequestId"],
        },
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 200
    [event] = emu.wait_for_events(1)

    assert _shape(event) == _shape(sample)
    for key in ("subject", "eventType", "topic", "dataVersion", "metadataVersion"):
        assert event[key] == sample[key], key
    data, expected = event["data"], sample["data"]
    for key in ("resourceUri", "operationName", "resourceProvider", "status", "subscriptionId", "tenantId"):
        assert data[key] == expected[key], key
    assert data["authorization"]["scope"] == expected["authorization"]["scope"]
    assert (
        data["authorization"]["evidence"]["principalId"]
        == expected["authorization"]["evidence"]["principalId"]
    )
    assert data["authorization"]["evidence"]["principalType"] == "User"
    for claim in (
        "aud",
        "iss",
        "http://schemas.microsoft.com/identity/claims/objectidentifier",
        "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn",
        "name",
        "appid",
        "http://schemas.microsoft.com/identity/claims/tenantid",
    ):
        assert data["claims"][claim] == expected["claims"][claim], claim
    assert data["httpRequest"]["clientRequestId"] == expected["httpRequest"]["clientRequestId"]
    assert data["correlationId"] == response.headers["x-ms-correlation-request-id"]
    assert emu.get_registry(rid)["systemData"]["lastModifiedBy"] == "dev@contoso.example"


def test_events_parse_with_the_eventgrid_sdk_models(emu: Emulator, arm_client) -> None:
    emu.add_registry(subscription=SUB, resource_group=RG, name="parsed")
    arm_client(SUB).registries.begin_update(RG, "parsed", {"tags": {"k": "v"}}).result()
    [event] = emu.wait_for_events(1)
    parsed = EventGridEvent.from_dict(event)
    assert parsed.event_type == "Microsoft.Resources.ResourceWriteSuccess"
    assert parsed.subject.endswith("/registries/parsed")


def test_put_and_delete_emit_write_then_delete_events(emu: Emulator, arm_client) -> None:
    client = arm_client(SUB)
    client.registries.begin_create(
        RG, "lifecycle", {"location": "westeurope", "sku": {"name": "Basic"}}
    ).result()
    client.registries.begin_delete(RG, "lifecycle").result()

    events = emu.wait_for_events(2)
    assert [e["eventType"] for e in events] == [
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
    ]
    assert [e["data"]["httpRequest"]["method"] for e in events] == ["PUT", "DELETE"]


def test_failed_writes_emit_nothing(emu: Emulator, arm_client) -> None:
    emu.add_registry(subscription=SUB, resource_group=RG, name="basicone", sku="Basic")
    client = arm_client(SUB)
    for body in ({"properties": {"anonymousPullEnabled": True}}, {"sku": {"name": "Gold"}}):
        with pytest.raises(HttpResponseError):
            client.registries.begin_update(RG, "basicone", body)
    emu.drain()
    assert emu.events == []


def test_loop_closure_our_own_write_comes_back_and_settles(emu: Emulator, arm_client) -> None:
    """A sink that fixes drift on each event: its write emits an event that reaches it again;
    the second time the registry is compliant and it writes nothing. drain() waits for all that."""
    rid = emu.add_registry(
        subscription=SUB, resource_group=RG, name="loopreg", properties={"anonymousPullEnabled": True}
    )
    client = arm_client(SUB)
    seen: list[str] = []

    def remediate(event: dict[str, Any]) -> None:
        seen.append(event["data"]["claims"].get("appid", ""))
        name = event["subject"].rsplit("/", 1)[1]
        if client.registries.get(RG, name).anonymous_pull_enabled:
            client.registries.begin_update(RG, name, {"properties": {"anonymousPullEnabled": False}}).result()

    emu.add_sink(remediate)
    emu.arm_request(
        "PATCH", f"{rid}?api-version=2025-11-01", json={"tags": {"touched": "yes"}}
    ).raise_for_status()

    emu.drain()
    assert seen == [DEV_USER.app_id, emu.managed_identity.app_id]
    assert emu.counters.writes(rid) == 2
    assert len(emu.events) == 2
    assert emu.get_registry(rid)["properties"]["anonymousPullEnabled"] is False


def test_cloudevents_schema_sink_matches_the_cloudevent_sample(
    emu: Emulator, arm_client, load_sample
) -> None:
    sample = load_sample("events/registry-write.cloudevent")
    received: list[dict[str, Any]] = []
    emu.add_sink(received.append, schema="cloudevents")
    emu.add_registry(subscription=SUB, resource_group=RG, name="contosoprod")
    arm_client(SUB).registries.begin_update(
        RG, "contosoprod", {"properties": {"adminUserEnabled": False}}
    ).result()
    emu.drain()

    [event] = received
    assert set(event) == set(sample)
    assert event["source"] == sample["source"] and event["type"] == sample["type"]
    assert event == to_cloudevent(emu.events[0])


def test_concurrent_writes_each_emit_one_event(emu: Emulator, arm_client) -> None:
    names = [f"conc{i}" for i in range(8)]
    for name in names:
        emu.add_registry(subscription=SUB, resource_group=RG, name=name)
    client = arm_client(SUB)
    client.registries.get(RG, names[0])

    def write(name: str) -> None:
        client.registries.begin_update(RG, name, {"properties": {"adminUserEnabled": False}}).result()

    threads = [threading.Thread(target=write, args=(name,)) for name in names]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    events = emu.wait_for_events(len(names))
    assert sorted(e["subject"].rsplit("/", 1)[1] for e in events) == names
