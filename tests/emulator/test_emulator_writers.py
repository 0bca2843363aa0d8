"""The emulator's parts for race scenarios: a second writer's hook, simulated time, and
long-running operations that fail with a chosen ARM error code."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
import requests
from azure.core.exceptions import HttpResponseError
from azure.mgmt.containerregistry.models import RegistryUpdateParameters

from emulator import Emulator
from emulator.identity import DEV_USER

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


def _call(emu: Emulator, method: str, rid: str, body: Any = None, principal: Any = None) -> requests.Response:
    headers = emu.auth_headers(principal or emu.managed_identity)
    return requests.request(
        method,
        f"{emu.arm_url}{rid}?api-version=2025-11-01",
        json=body,
        headers=headers,
        verify=emu.ca_path,
        timeout=10,
    )


def test_a_hook_sees_each_arm_request_first_and_its_write_lands_before_the_request(emu: Emulator) -> None:
    """A write made from the hook (another principal's) is visible to the request that triggered
    it: the hook runs before faults and before the request is served."""
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="hookreg")
    seen = []

    def second_writer(request: Any) -> None:
        seen.append((request.method, request.route, request.principal.display_name))
        if request.method == "GET" and request.principal.object_id != DEV_USER.object_id:
            _call(emu, "PATCH", rid, {"tags": {"by": "person"}}, DEV_USER).raise_for_status()

    emu.on_arm_request(second_writer)
    emu.inject(method="GET", resource_id=rid, status=503, times=1)
    first = _call(emu, "GET", rid)  # the hook runs before the fault answers
    second = _call(emu, "GET", rid)
    assert first.status_code == 503 and second.status_code == 200
    assert second.json()["tags"] == {"by": "person"}
    assert second.json()["systemData"]["lastModifiedBy"] == DEV_USER.upn  # the person, not the caller
    assert [m for m, _, _ in seen] == ["GET", "PATCH", "GET", "PATCH"]
    emu.reset()
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="hookreg")
    _call(emu, "GET", rid)
    assert len(seen) == 4  # reset() removed the hook


def test_system_data_follows_the_simulated_clock_until_reset(emu: Emulator) -> None:
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="clockreg")
    moment = datetime(2031, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
    emu.set_clock(lambda: moment)
    _call(emu, "PATCH", rid, {"tags": {"a": "b"}}).raise_for_status()
    assert emu.get_registry(rid)["systemData"]["lastModifiedAt"] == "2031-05-06T07:08:09.1234560Z"
    emu.reset()
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="clockreg")
    _call(emu, "PATCH", rid, {"tags": {"a": "b"}}).raise_for_status()
    stamped = emu.get_registry(rid)["systemData"]["lastModifiedAt"]
    assert stamped.startswith(str(datetime.now(UTC).year))


@pytest.mark.parametrize("code", ["Conflict", "TooManyRequests", "InvalidParameter"])
def test_a_failed_operation_reports_the_scripted_error_code(emu: Emulator, arm_client, code: str) -> None:
    rid = emu.add_registry(
        subscription=SUB, resource_group=RG, name="failcode", properties={"anonymousPullEnabled": True}
    )
    emu.set_lro("async", polls=0, retry_after=0, outcome="Failed", error_code=code)
    poller = arm_client(SUB).registries.begin_update(
        RG, "failcode", RegistryUpdateParameters(anonymous_pull_enabled=False), polling_interval=0
    )
    with pytest.raises(HttpResponseError) as caught:
        poller.result()
    assert caught.value.response.json()["error"]["code"] == code
    assert caught.value.response.json()["status"] == "Failed"
    assert emu.get_registry(rid)["properties"]["anonymousPullEnabled"] is True
