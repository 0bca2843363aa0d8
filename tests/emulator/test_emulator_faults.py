"""The fault-injection machinery itself: matching, ordering, consumption, delays, reset."""

from __future__ import annotations

import threading

import pytest
import requests
from azure.core.exceptions import ClientAuthenticationError
from azure.identity import ManagedIdentityCredential

from emulator import Emulator, Fault, exponential_latency

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


@pytest.fixture
def rid(emu: Emulator) -> str:
    return emu.add_registry(subscription=SUB, resource_group=RG, name="faultreg")


def _get(emu: Emulator, path: str, timeout: float = 10) -> requests.Response:
    return requests.get(
        f"{emu.arm_url}{path}?api-version=2025-11-01",
        headers=emu.auth_headers(),
        verify=emu.ca_path,
        timeout=timeout,
    )


def test_faults_are_consumed_in_order_and_counted(emu: Emulator, rid: str) -> None:
    first = emu.inject(resource_id=rid, status=503, times=2)
    second = emu.inject(resource_id=rid, status=500, code="InternalServerError", message="boom")

    statuses = [_get(emu, rid).status_code for _ in range(4)]

    assert statuses == [503, 503, 500, 200]
    assert (first.hits, second.hits) == (2, 1)
    assert emu.faults == []
    assert [r.fault is not None for r in emu.requests_for(resource_id=rid)] == [True, True, True, False]


def test_faults_match_method_resource_and_path(emu: Emulator, rid: str) -> None:
    other = emu.add_registry(subscription=SUB, resource_group=RG, name="otherreg")
    emu.inject(method="PATCH", resource_id=rid, status=409)
    emu.inject(path=r"/registries/other", status=404)

    assert _get(emu, rid).status_code == 200  # GET does not match the PATCH fault
    assert _get(emu, other).status_code == 404  # path regex
    response = requests.patch(
        f"{emu.arm_url}{rid.upper()}?api-version=2025-11-01",
        json={},
        headers=emu.auth_headers(),
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 409  # resource IDs match case-insensitively
    assert response.json()["error"]["code"] == "Conflict"


def test_unlimited_fault_until_reset(emu: Emulator, rid: str) -> None:
    emu.inject(resource_id=rid, status=403, times=None)
    responses = [_get(emu, rid) for _ in range(3)]
    assert {r.status_code for r in responses} == {403}
    error = responses[0].json()["error"]
    assert error["code"] == "AuthorizationFailed"
    assert "'Microsoft.ContainerRegistry/registries/read'" in error["message"]
    assert f"over scope '{rid}'" in error["message"]
    emu.clear_faults()
    assert _get(emu, rid).status_code == 200


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (400, "BadRequest"),
        (401, "InvalidAuthenticationToken"),
        (404, "ResourceNotFound"),
        (502, "BadGateway"),
    ],
)
def test_default_arm_error_codes(emu: Emulator, rid: str, status: int, code: str) -> None:
    emu.inject(resource_id=rid, status=status)
    response = _get(emu, rid)
    assert (response.status_code, response.json()["error"]["code"]) == (status, code)
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_fault_body_and_headers_override(emu: Emulator, rid: str) -> None:
    emu.inject(
        resource_id=rid,
        status=400,
        body={"error": {"code": "Custom", "message": "m"}},
        headers={"x-test": "1"},
    )
    response = _get(emu, rid)
    assert response.json() == {"error": {"code": "Custom", "message": "m"}}
    assert response.headers["x-test"] == "1"


def test_fractional_retry_after_is_sent_verbatim(emu: Emulator, rid: str) -> None:
    emu.inject(resource_id=rid, status=429, retry_after=0.25)
    assert _get(emu, rid).headers["Retry-After"] == "0.25"


def test_delay_only_fault_adds_latency_then_answers_normally(emu: Emulator, rid: str) -> None:
    emu.inject(resource_id=rid, delay=0.3)
    assert _get(emu, rid).status_code == 200
    [served] = emu.requests_for(route="registry")
    assert served.fault and served.status == 200 and served.duration_ms >= 300  # held, then answered


def test_delay_may_be_a_callable(emu: Emulator, rid: str) -> None:
    calls: list[int] = []
    emu.inject(resource_id=rid, delay=lambda: calls.append(1) or 0.05, status=500)
    assert _get(emu, rid).status_code == 500
    assert calls == [1]


def test_delay_beyond_the_client_timeout(emu: Emulator, rid: str) -> None:
    emu.inject(resource_id=rid, delay=1.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(emu, rid, timeout=0.2)
    assert _get(emu, rid).status_code == 200  # the server is fine afterwards


def test_global_latency_applies_to_arm_routes_only(emu: Emulator, rid: str) -> None:
    waits: list[str] = []
    emu.set_latency(lambda: waits.append("arm") or 0.2)  # counts the requests it delays
    _get(emu, rid)
    assert waits == ["arm"] and emu.requests_for(route="registry")[0].duration_ms >= 200
    requests.post(emu.topic_endpoint + "?api-version=2018-01-01", data="[]", verify=emu.ca_path, timeout=5)
    ManagedIdentityCredential().get_token("https://management.azure.com/.default")
    assert waits == ["arm"]  # neither the topic nor the identity endpoint was delayed
    emu.set_latency(exponential_latency(0.001, seed=1))
    assert _get(emu, rid).status_code == 200


def test_reset_clears_faults_latency_registries_logs_and_counters(emu: Emulator, rid: str) -> None:
    token = emu.issue_token()
    emu.inject(resource_id=rid, status=500, times=None)
    latency: list[float] = []
    emu.set_latency(lambda: latency.append(5.0) or 5.0)  # not consulted: the fault answers first
    emu.page_size = 1
    emu.set_lro("async")
    _get(emu, rid)

    emu.reset()

    assert emu.faults == [] and emu.requests == [] and emu.registries() == []
    assert emu.counters.snapshot() == {} and emu.page_size == 100
    assert emu.settings.lro.kind == "sync"
    rid2 = emu.add_registry(subscription=SUB, resource_group=RG, name="faultreg")
    response = requests.get(
        f"{emu.arm_url}{rid2}?api-version=2025-11-01",
        headers={"Authorization": f"Bearer {token}"},  # tokens survive reset()
        verify=emu.ca_path,
        timeout=10,
    )
    assert response.status_code == 200
    assert latency == []  # the latency is gone with the fault


def test_identity_endpoint_failures_are_scriptable(emu: Emulator) -> None:
    emu.inject(route="identity", status=500, times=None)
    with pytest.raises(ClientAuthenticationError):
        ManagedIdentityCredential(retry_total=1, retry_backoff_factor=0.01).get_token(
            "https://management.azure.com/.default"
        )
    assert all(r.status == 500 for r in emu.requests_for(route="identity"))

    emu.clear_faults()
    emu.inject(route="identity", status=503, times=1)
    token = ManagedIdentityCredential(retry_backoff_factor=0.01).get_token(
        "https://management.azure.com/.default"
    )
    assert token.token.startswith("emu.")
    assert [r.status for r in emu.requests_for(route="identity")][-2:] == [503, 200]


def test_identity_endpoint_delay(emu: Emulator) -> None:
    emu.inject(route="identity", delay=0.3)
    ManagedIdentityCredential().get_token("https://management.azure.com/.default")
    [served] = emu.requests_for(route="identity")
    assert served.fault and served.status == 200 and served.duration_ms >= 300


def test_unrouted_faults_never_hit_the_identity_endpoint(emu: Emulator) -> None:
    emu.inject(status=500, times=None)
    assert ManagedIdentityCredential().get_token("https://management.azure.com/.default").token


def test_fault_validation() -> None:
    with pytest.raises(ValueError, match="needs a status"):
        Fault(method="GET")
    with pytest.raises(ValueError, match="unknown route"):
        Fault(route="nope", status=500)
    with pytest.raises(ValueError, match="not both"):
        Fault(status=500, reset="rst")
    with pytest.raises(ValueError, match="times"):
        Fault(status=500, times=0)


def test_inject_accepts_a_fault_object(emu: Emulator, rid: str) -> None:
    fault = emu.inject(Fault(resource_id=rid, status=502))
    assert _get(emu, rid).status_code == 502 and fault.hits == 1
    with pytest.raises(TypeError):
        emu.inject(Fault(status=500), status=500)


def test_an_emulator_bug_answers_an_arm_shaped_500_not_a_dropped_connection(
    emu: Emulator, rid: str, capfd
) -> None:
    emu.inject(resource_id=rid, delay=lambda: 1 / 0)  # the delay callable itself fails
    response = _get(emu, rid)
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "InternalServerError"
    assert "ZeroDivisionError" in capfd.readouterr().err
    assert emu.requests_for(resource_id=rid)[0].error_code == "EmulatorInternalError"
    assert _get(emu, rid).status_code == 200


def test_request_log_sequence_numbers_are_unique(emu: Emulator, rid: str) -> None:
    import threading

    threads = [threading.Thread(target=_get, args=(emu, rid)) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.seq for r in emu.requests) == list(range(1, 11))


def test_a_request_still_in_flight_at_reset_does_not_leak_into_the_next_test(emu: Emulator, rid: str) -> None:
    """This slept as long as the injected delay, so it could pass before the
    request ended. Now the request is held until after the reset, and drain() waits for it to end."""
    arrived, release = threading.Event(), threading.Event()

    def hold() -> float:
        arrived.set()
        release.wait(10)
        return 0.0

    emu.inject(resource_id=rid, delay=hold)
    with pytest.raises(requests.exceptions.ReadTimeout):
        _get(emu, rid, timeout=0.2)
    assert arrived.is_set()
    emu.reset()  # what the next test's `emu` fixture does while the server still serves
    release.set()
    emu.drain(timeout=10)  # returns once no request is being served: the held one has ended
    assert emu.requests == []
    assert emu.counters.snapshot() == {}


def test_429_response_carries_arms_throttling_body(emu: Emulator, rid: str) -> None:
    """ARM's throttling contract: Retry-After, and the SubscriptionRequestsThrottled error body."""
    emu.inject(resource_id=rid, status=429, retry_after=7)
    response = _get(emu, rid)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "7"
    assert response.json()["error"]["code"] == "SubscriptionRequestsThrottled"
    assert SUB in response.json()["error"]["message"]
