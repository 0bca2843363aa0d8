"""Contract: the unmodified azure-eventgrid publisher against the emulator's custom topic."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.core.credentials import AzureKeyCredential, AzureSasCredential
from azure.core.exceptions import ClientAuthenticationError, HttpResponseError
from azure.core.messaging import CloudEvent
from azure.eventgrid import EventGridPublisherClient, generate_sas
from azure.identity import ManagedIdentityCredential

from emulator import DEV_USER, Emulator

BATCH = "application/cloudevents-batch+json; charset=utf-8"


def _event(**data: object) -> CloudEvent:
    return CloudEvent(
        source="/acrguard/engine", type="AcrGuard.Remediation.Applied", data=data or {"ok": True}
    )


def test_publisher_client_with_access_key_delivers_cloud_events(emu: Emulator) -> None:
    client = EventGridPublisherClient(emu.topic_endpoint, AzureKeyCredential(emu.topic_key))
    client.send([_event(registry="contosoprod"), _event(registry="contosostd")])

    received = emu.topic_events
    assert [event["data"]["registry"] for event in received] == ["contosoprod", "contosostd"]
    assert all(
        event["specversion"] == "1.0" and event["type"] == "AcrGuard.Remediation.Applied"
        for event in received
    )
    [publish] = emu.requests_for(route="topic")
    assert publish.status == 200 and publish.query == {"api-version": "2018-01-01"}


def test_publisher_client_with_managed_identity_token(emu: Emulator) -> None:
    client = EventGridPublisherClient(emu.topic_endpoint, ManagedIdentityCredential())
    client.send(_event(via="entra"))
    assert emu.topic_events[0]["data"] == {"via": "entra"}
    token_request = emu.requests_for(route="identity")[0]
    assert token_request.query["resource"] == "https://eventgrid.azure.net"


def test_publisher_client_with_sas_token(emu: Emulator) -> None:
    signature = generate_sas(emu.topic_endpoint, emu.topic_key, datetime.now(UTC) + timedelta(hours=1))
    EventGridPublisherClient(emu.topic_endpoint, AzureSasCredential(signature)).send(_event())
    assert len(emu.topic_events) == 1


def test_wrong_key_raises_client_authentication_error(emu: Emulator) -> None:
    client = EventGridPublisherClient(emu.topic_endpoint, AzureKeyCredential("d3JvbmcK" * 5 + "abcd"))
    with pytest.raises(ClientAuthenticationError):
        client.send(_event())
    assert emu.topic_events == []


def test_arm_token_is_not_accepted_by_the_topic(emu: Emulator) -> None:
    response = requests.post(
        emu.topic_endpoint + "?api-version=2018-01-01",
        data=json.dumps([{"id": "1", "source": "s", "type": "t", "specversion": "1.0"}]),
        headers={"Content-Type": BATCH, "Authorization": f"Bearer {emu.issue_token(DEV_USER)}"},
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "Unauthorized"


def _post(
    emu: Emulator, body: bytes | str, content_type: str = BATCH, key: str | None = None
) -> requests.Response:
    headers = {"Content-Type": content_type}
    if key is not False:
        headers["aeg-sas-key"] = key or emu.topic_key
    return requests.post(
        emu.topic_endpoint + "?api-version=2018-01-01",
        data=body,
        headers=headers,
        verify=emu.ca_path,
        timeout=10,
    )


def test_missing_credential_answers_401_with_event_grids_message(emu: Emulator) -> None:
    response = requests.post(
        emu.topic_endpoint + "?api-version=2018-01-01",
        data="[]",
        headers={"Content-Type": BATCH},
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 401
    assert response.json()["error"]["message"].startswith(
        "Request must contain one of the following authorization signature: aeg-sas-token, aeg-sas-key."
    )


def test_wrong_content_type_answers_400(emu: Emulator) -> None:
    response = _post(
        emu, json.dumps([{"id": "1", "source": "s", "type": "t", "specversion": "1.0"}]), "application/json"
    )
    assert response.status_code == 400
    assert response.json()["error"]["details"][0]["code"] == "InvalidContentType"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"id": "1"}), "JSON array"),
        (json.dumps([{"id": "1", "source": "s", "type": "t"}]), "specversion"),
        (
            json.dumps([{"id": "1", "source": "s", "type": "t", "specversion": "0.3"}]),
            "specversion must be '1.0'",
        ),
        (json.dumps([{"source": "s", "type": "t", "specversion": "1.0"}]), "id"),
    ],
)
def test_malformed_batches_answer_400_input_json_invalid(emu: Emulator, body: str, fragment: str) -> None:
    response = _post(emu, body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BadRequest"
    assert error["details"][0]["code"] == "InputJsonInvalid"
    assert fragment in error["message"]
    assert emu.topic_events == []


def test_oversized_event_answers_413(emu: Emulator) -> None:
    big = "x" * (1024 * 1024)
    response = _post(
        emu, json.dumps([{"id": "1", "source": "s", "type": "t", "specversion": "1.0", "data": big}])
    )
    assert response.status_code == 413


def test_oversized_batch_answers_413_through_the_sdk(emu: Emulator) -> None:
    client = EventGridPublisherClient(emu.topic_endpoint, AzureKeyCredential(emu.topic_key))
    with pytest.raises(HttpResponseError) as caught:
        client.send([_event(blob="y" * 600_000), _event(blob="z" * 600_000)])
    assert caught.value.status_code == 413


def test_missing_api_version_answers_400(emu: Emulator) -> None:
    response = requests.post(
        emu.topic_endpoint,
        data="[]",
        headers={"Content-Type": BATCH, "aeg-sas-key": emu.topic_key},
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 400


def test_topic_faults_are_scriptable(emu: Emulator) -> None:
    emu.inject(route="topic", status=503, times=1)
    client = EventGridPublisherClient(
        emu.topic_endpoint, AzureKeyCredential(emu.topic_key), retry_backoff_factor=0.01
    )
    client.send(_event())  # the SDK retries the 503
    assert [r.status for r in emu.requests_for(route="topic")] == [503, 200]
    assert len(emu.topic_events) == 1
