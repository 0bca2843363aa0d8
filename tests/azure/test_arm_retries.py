"""acrguard.azure.arm's retry layer (tenacity) against scripted throttling, 5xx and dropped connections.

This is the one retry layer the product runs: the SDK's own RetryPolicy is off (``retry_total=0``).
Replaces tests/emulator/test_contract_retries.py, which pinned azure-core's RetryPolicy. The clock
is simulated: what the layer would have waited is read from it, nothing sleeps.
"""

from __future__ import annotations

import dataclasses

import pytest
from azure.mgmt.containerregistry.models import RegistryUpdateParameters
from engine_helpers import SUB_A, SimulatedClock, rid

from acrguard.azure.arm import Arm, TransientArmError
from acrguard.azure.resource_ids import WRITE_ACTION, RegistryRef
from acrguard.settings import Settings

REG = rid("retryreg")
REF = RegistryRef.parse(REG)


@pytest.fixture
def arm(emu):
    """The product's ARM layer over the emulator: 4 attempts, a 30 s budget, simulated time."""
    emu.add_registry(subscription=SUB_A, resource_group="rg-platform", name="retryreg")
    settings = dataclasses.replace(Settings.from_env(), max_attempts=4, retry_budget_s=30.0)
    layer = Arm(settings, clock=SimulatedClock())
    yield layer
    layer.close()


def statuses(emu, method: str) -> list[int | None]:
    return [r.status for r in emu.requests_for(method=method, resource_id=REG)]


def test_retry_after_is_waited_for_then_the_call_succeeds(emu, arm):
    """A 429 with Retry-After: 7 is retried once, after waiting 7 s (not the backoff)."""
    emu.inject(method="GET", resource_id=REG, status=429, retry_after=7, times=1)
    assert arm.get(REF).name == "retryreg"
    assert statuses(emu, "GET") == [429, 200]
    assert arm.clock.slept == [7]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_a_write_is_retried_on_a_transient_status_without_retry_after(emu, arm, status):
    """A bare 429 to a PATCH is retried here (azure-core's policy would not)."""
    emu.inject(method="PATCH", resource_id=REG, status=status, times=1)
    since = arm.clock.monotonic()
    for attempt in arm.attempts(f"PATCH {REF}", WRITE_ACTION, REF):
        with attempt:
            arm.patch(REF, RegistryUpdateParameters(admin_user_enabled=False), since=since)
    assert statuses(emu, "PATCH") == [status, 200]
    assert emu.get_registry(REG)["properties"]["adminUserEnabled"] is False


@pytest.mark.parametrize("kind", ["rst", "close"])
def test_a_dropped_connection_is_retried(emu, arm, kind):
    """A reset or closed connection is transient: one more attempt, then success."""
    arm.get(REF)  # a pooled connection to drop
    emu.inject(method="GET", resource_id=REG, reset=kind, times=1)
    assert arm.get(REF).name == "retryreg"
    attempts = emu.requests_for(method="GET", resource_id=REG)[1:]
    assert [(a.status, a.fault is not None) for a in attempts] == [(None, True), (200, False)]


def test_a_persistent_503_stops_at_the_attempt_budget_and_raises(emu, arm):
    """Retried up to ACRGUARD_MAX_ATTEMPTS, then raised (never swallowed)."""
    fault = emu.inject(method="GET", resource_id=REG, status=503, times=None)
    with pytest.raises(TransientArmError, match="still failing after 4 attempts"):
        arm.get(REF)
    assert fault.hits == 4


def test_a_retry_after_beyond_the_budget_is_not_slept_through(emu, arm):
    """Retry-After: 120 with a 30 s budget: raised without waiting past the budget."""
    emu.inject(method="GET", resource_id=REG, status=429, retry_after=120, times=None)
    with pytest.raises(TransientArmError):
        arm.get(REF)
    assert sum(arm.clock.slept) <= 30.001
