"""Contract: the SDK's own retry policy against scripted throttling, 5xx and dropped connections.

azure-core's RetryPolicy honours Retry-After (ARM's throttling contract) and retries 408/429/5xx
and connection errors; these tests pin down how many attempts reach ARM, which is what ACR
Guard's retry budget has to account for.
"""

from __future__ import annotations

import time

import pytest
import requests
from azure.core.exceptions import HttpResponseError, ServiceResponseError

from emulator import Emulator

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


@pytest.fixture
def rid(emu: Emulator) -> str:
    return emu.add_registry(subscription=SUB, resource_group=RG, name="retryreg")


def test_429_with_retry_after_then_success_takes_exactly_two_attempts(
    emu: Emulator, arm_client, rid: str
) -> None:
    client = arm_client(SUB)
    client.registries.get(RG, "retryreg")  # warm the token cache and the connection
    fault = emu.inject(method="GET", resource_id=rid, status=429, retry_after=1, times=1)

    started = time.monotonic()
    assert client.registries.get(RG, "retryreg").name == "retryreg"
    elapsed = time.monotonic() - started

    attempts = emu.requests_for(method="GET", resource_id=rid)[1:]
    assert [(a.status, a.error_code) for a in attempts] == [
        (429, "SubscriptionRequestsThrottled"),
        (200, None),
    ]
    assert fault.hits == 1 and fault.exhausted
    assert elapsed >= 0.9  # the SDK waited for Retry-After: 1


def test_429_without_retry_after_is_retried_for_get(emu: Emulator, arm_client, rid: str) -> None:
    emu.inject(method="GET", resource_id=rid, status=429, times=1)
    assert arm_client(SUB).registries.get(RG, "retryreg").name == "retryreg"
    assert [a.status for a in emu.requests_for(method="GET", resource_id=rid)] == [429, 200]


def test_patch_429_is_retried_only_when_retry_after_is_present(emu: Emulator, arm_client, rid: str) -> None:
    # azure-core retries PATCH/POST on 500/503/504, or on any retryable status that carries
    # Retry-After; a bare 429 to a PATCH surfaces at once. ACR Guard's own retry layer must cover it.
    client = arm_client(SUB)
    emu.inject(method="PATCH", resource_id=rid, status=429, times=1)
    with pytest.raises(HttpResponseError) as caught:
        client.registries.begin_update(RG, "retryreg", {"properties": {"adminUserEnabled": False}})
    assert caught.value.status_code == 429

    emu.inject(method="PATCH", resource_id=rid, status=429, retry_after=1, times=1)
    result = client.registries.begin_update(
        RG, "retryreg", {"properties": {"adminUserEnabled": False}}
    ).result()
    assert result.admin_user_enabled is False
    assert [a.status for a in emu.requests_for(method="PATCH", resource_id=rid)] == [429, 429, 200]
    assert len(emu.wait_for_events(1)) == 1  # only the successful attempt wrote


def test_429_response_carries_arms_throttling_body(emu: Emulator, rid: str) -> None:
    emu.inject(resource_id=rid, status=429, retry_after=7)
    response = requests.get(
        f"{emu.arm_url}{rid}?api-version=2025-11-01",
        headers=emu.auth_headers(),
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert SUB in response.json()["error"]["message"]


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_then_success_is_retried_by_the_sdk(emu: Emulator, arm_client, rid: str, status: int) -> None:
    emu.inject(method="GET", resource_id=rid, status=status, times=2)
    assert arm_client(SUB, retry_backoff_factor=0.01).registries.get(RG, "retryreg").name == "retryreg"
    assert [a.status for a in emu.requests_for(method="GET", resource_id=rid)] == [status, status, 200]


def test_persistent_503_exhausts_the_sdk_retries(emu: Emulator, arm_client, rid: str) -> None:
    fault = emu.inject(resource_id=rid, status=503, times=None)
    with pytest.raises(HttpResponseError) as caught:
        arm_client(SUB, retry_total=2, retry_backoff_factor=0.01).registries.get(RG, "retryreg")
    assert caught.value.status_code == 503
    assert caught.value.error.code == "ServiceUnavailable"
    assert fault.hits == 3  # 1 attempt + 2 retries


@pytest.mark.parametrize("kind", ["rst", "close"])
def test_dropped_connection_is_retried_by_the_sdk(emu: Emulator, arm_client, rid: str, kind: str) -> None:
    client = arm_client(SUB, retry_backoff_factor=0.01)
    client.registries.get(RG, "retryreg")
    emu.inject(method="GET", resource_id=rid, reset=kind, times=1)

    assert client.registries.get(RG, "retryreg").name == "retryreg"
    attempts = emu.requests_for(method="GET", resource_id=rid)[1:]
    assert [(a.status, a.fault is not None) for a in attempts] == [(None, True), (200, False)]


def test_delay_beyond_the_read_timeout_fails_then_retries(emu: Emulator, arm_client, rid: str) -> None:
    client = arm_client(SUB, read_timeout=0.3, retry_total=1, retry_backoff_factor=0.01)
    client.registries.get(RG, "retryreg")
    emu.inject(method="GET", resource_id=rid, delay=1.0, times=1)

    assert client.registries.get(RG, "retryreg").name == "retryreg"  # the retry is not delayed
    emu.inject(method="GET", resource_id=rid, delay=1.0, times=2)
    with pytest.raises(ServiceResponseError):
        client.registries.get(RG, "retryreg")
