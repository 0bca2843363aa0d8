"""A registry ARM is creating, updating or deleting: never written while in that state, nothing lost.

The states are the REST spec's ProvisioningState (Creating, Updating, Deleting, Succeeded, Failed,
Canceled: Azure/azure-rest-api-specs, specification/containerregistry/resource-manager/
Microsoft.ContainerRegistry/Registry/stable/2025-11-01/containerregistry.json at
e10841fe5bd4efff452e04ca5f4a2685161b4a2d), an extensible enum (``modelAsString``), compared without
regard to case. The emulator presents them as ACR does: an asynchronous DELETE in flight keeps the
registry ``Deleting``; ``hold_updating`` pins it ``Creating``/``Updating`` for its next requests
(writes meanwhile answer 409). The engine runs on simulated time: its waits cost no wall-clock time.
"""

from __future__ import annotations

import pytest
from cli_helpers import invoke, json_out
from engine_helpers import SUB_A, SimulatedClock, as_person, drifting_registry, make_harness, write_event
from reliability import adversarial

from acrguard.azure.arm import TransientArmError
from acrguard.engine import graph_sweep


def _harness(**settings):
    h = make_harness(**settings)
    h.engine.arm.clock = clock = SimulatedClock()
    return h, clock


def _being_deleted(emu, rid: str) -> None:
    """A person's `az acr delete`: ACR answers 202 and the registry stays Deleting while it runs."""
    emu.set_lro("async", polls=1000, resource_id=rid)
    as_person(emu, "DELETE", rid)
    assert emu.get_registry(rid)["properties"]["provisioningState"] == "Deleting"


def test_a_registry_being_deleted_is_skipped_with_the_reason_not_patched(emu):
    """An event for a drifting registry ARM is deleting: one `skipped` record saying so, no PATCH.
    Before, ACR Guard planned the same PATCH as for any registry (ACR answered 409 until the
    budget ran out, and the delivery failed)."""
    rid = drifting_registry(emu, "busyregistry")
    _being_deleted(emu, rid)
    h, _ = _harness()
    h.engine.handle(write_event(rid))
    assert h.outcomes(rid) == [(None, "skipped")]
    assert "being deleted (provisioningState Deleting)" in h.records[0].reason
    assert emu.requests_for(method="PATCH", resource_id=rid) == []
    adversarial(
        6,
        "event for a drifting registry in provisioningState Deleting",
        "one `skipped` record naming the state; no PATCH (before: PATCH planned, 409s until the budget ran out)",
        round=4,
    )


@pytest.mark.parametrize("spelled", ["Deleting", "deleting", "DELETING"])
def test_sweeps_skip_a_listed_registry_being_deleted_without_reading_it_and_count_it(emu, spelled):
    """The list sweep and the Resource Graph sweep see the registry's row in Deleting (any casing):
    skipped with the reason, no GET, no PATCH, and the sweep's summary counts it by state."""
    rid = drifting_registry(emu, "busyregistry")
    emu.hold_updating(rid, requests=1000, state=spelled)
    other = drifting_registry(emu, "otherregistry")
    h, _ = _harness(settle_s=0)
    for summary in (
        h.engine.reconcile([SUB_A]),
        graph_sweep.sweep(h.engine, subscriptions=[SUB_A]),
    ):
        assert summary.in_transition == {"Deleting": 1}
        (deleting,) = [r for r in summary.results if r.registry.lower() == rid.lower()]
        assert deleting.outcome == "skipped" and deleting.provisioning_state == spelled
        assert f"provisioningState {spelled}" in deleting.records[0].reason
    # The CLI's sweep reports the count in its summary.
    swept = json_out(invoke("sweep", "--subscription", SUB_A, "-o", "json", ACRGUARD_SETTLE_S="0"))
    assert swept["summary"]["in_transition"] == {"Deleting": 1}
    assert emu.requests_for(method="GET", route="registry", resource_id=rid) == []
    assert emu.requests_for(method="PATCH", resource_id=rid) == []
    assert emu.get_registry(other)["properties"]["anonymousPullEnabled"] is False  # the sweep went on


@pytest.mark.parametrize("state", ["Creating", "Updating", "updating"])
def test_a_registry_in_flight_is_written_only_once_its_operation_ends(emu, state):
    """Someone's operation keeps the registry Creating/Updating for its next 3 requests: the read is
    retried (with backoff, on the engine's clock) until it ends, then one PATCH is sent. Before, ACR Guard
    PATCHed during the operation (ACR answered 409) and retried on top of it."""
    rid = drifting_registry(emu, "busyregistry")
    emu.hold_updating(rid, requests=3, state=state)
    h, clock = _harness(retry_budget_s=30)
    h.engine.handle(write_event(rid))
    assert h.outcomes(rid) == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    patches = emu.requests_for(method="PATCH", resource_id=rid)
    assert [p.status for p in patches] in ([200], [201]), [p.status for p in patches]
    gets = emu.requests_for(method="GET", route="registry", resource_id=rid)
    assert all(g.seq < patches[0].seq for g in gets[:3])  # the 3 reads in flight came before it
    assert clock.slept and all(s > 0 for s in clock.slept)


def test_a_registry_still_in_flight_when_the_budget_ends_is_raised_then_converges(emu):
    """Still Updating when the retries (4 attempts, 6 s) are spent: one `failed` record naming the
    state, raised for redelivery, no PATCH; the redelivery, once the operation ended, fixes it."""
    rid = drifting_registry(emu, "busyregistry")
    emu.hold_updating(rid, requests=5, state="Updating")  # the event's read, then 4 attempts
    h, clock = _harness()
    event = write_event(rid, id="delivery-1")
    with pytest.raises(TransientArmError):
        h.engine.handle(event)
    assert h.outcomes(rid) == [(None, "failed")]
    assert "provisioningState Updating" in h.records[0].reason and "redelivered" in h.records[0].reason
    assert emu.requests_for(method="PATCH", resource_id=rid) == []
    assert sum(clock.slept) <= 6

    h.engine.handle(event)  # Event Grid's redelivery
    assert h.outcomes(rid)[1:] == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    assert emu.get_registry(rid)["properties"]["anonymousPullEnabled"] is False
    adversarial(
        6,
        "event for a drifting registry whose update is still in flight (Updating) past the retry budget",
        "reads retried within the budget, then one `failed` record and a raise; no PATCH; "
        "the redelivery writes once the update ended",
        round=4,
    )
