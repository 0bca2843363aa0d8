"""The per-registry blob lease (acrguard.engine.lease) on Azurite, with the real engine and SDK.

Each test is one promise of the lease: bounded waiting, then redelivery; a crashed holder does
not block for ever; the lease is released on every way out; a fix that replaces no list does not
pay for it; a deployment without its container fails loudly instead of writing unguarded.
"""

from __future__ import annotations

from typing import Any

import pytest
from azurite import azurite  # noqa: F401 - the fixture
from engine_helpers import SUB_A, SimulatedClock, make_harness, rid, write_event
from reliability import adversarial
from repo_paths import ROOT

from acrguard.azure.arm import TransientArmError
from acrguard.azure.resource_ids import RegistryRef
from acrguard.engine.lease import RegistryLeases, blob_name

POLICY = """
version: 1
mode: enforce
rules:
  anonymous_pull: {enabled: true}
  network_rules: {enabled: true, allowed_ips: ["52.160.10.0/24", "40.112.5.7"]}
  firewall_unavailable: {enabled: false}
"""
REG = rid("contosolease")


def _container(azurite: dict[str, str], name: str) -> Any:  # noqa: F811
    from azure.storage.blob import BlobServiceClient

    client = BlobServiceClient.from_connection_string(azurite["connection_string"]).get_container_client(name)
    if not client.exists():
        client.create_container()
    return client


def _harness(emu: Any, azurite: dict[str, str], container: str, *, clock: Any = None, **settings: Any):  # noqa: F811
    harness = make_harness(POLICY, settle_s=0.0, **settings)
    if clock is not None:
        harness.engine.arm.clock = clock
    harness.engine.leases = RegistryLeases(
        f"{azurite['endpoint']}/{container}", harness.engine.arm, azurite["connection_string"]
    )
    return harness


OPEN = {"networkRuleSet": {"defaultAction": "Allow", "ipRules": []}}


def _add_registry(emu: Any, properties: dict[str, Any] = OPEN) -> None:
    emu.add_registry(
        subscription=SUB_A,
        resource_group="rg-platform",
        name="contosolease",
        sku="Premium",
        properties=properties,
    )


def _our_patches(emu: Any) -> list[Any]:
    me = emu.managed_identity.object_id
    return [
        r
        for r in emu.requests_for(method="PATCH", resource_id=REG)
        if r.principal is not None and r.principal.object_id == me
    ]


def _lease_state(container: Any) -> str:
    return container.get_blob_client(blob_name(RegistryRef.parse(REG))).get_blob_properties().lease.state


def test_a_lease_held_by_another_instance_is_waited_for_then_the_event_is_redelivered(emu, azurite):  # noqa: F811
    """Another instance holds the registry's lease for longer than the retry budget: the IP-list
    fix waits (asking again each second of the budget, on simulated time), sends no PATCH, and
    raises so Event Grid redelivers; once the lease is free the redelivery writes."""
    container = _container(azurite, "leases-held")
    _add_registry(emu)
    clock = SimulatedClock()
    harness = _harness(emu, azurite, "leases-held", clock=clock, retry_budget_s=6.0)
    blob = container.get_blob_client(blob_name(RegistryRef.parse(REG)))
    blob.upload_blob(b"", overwrite=True)
    other = blob.acquire_lease(lease_duration=60)

    with pytest.raises(TransientArmError, match="another instance"):
        harness.engine.handle(write_event(REG))
    assert _our_patches(emu) == []
    assert len(clock.slept) > 1 and sum(clock.slept) <= 6.0
    failed = [(r.rule, r.outcome) for r in harness.records if "redelivered" in r.reason]
    assert failed == [("network_rules", "failed")]  # the record names the rule it could not fix

    other.release()
    seen = len(harness.records)
    harness.engine.handle(write_event(REG))
    assert [(r.rule, r.outcome) for r in harness.records[seen:] if r.rule == "network_rules"] == [
        ("network_rules", "applied")
    ]
    assert len(_our_patches(emu)) == 1
    assert _lease_state(container) == "available"
    adversarial(
        13,
        "another instance holds the registry's lease past the retry budget",
        f"waited {len(clock.slept)} times within 6 s, no PATCH, raised for redelivery; the redelivery applied",
        round=3,
    )


def test_a_crashed_holders_lease_ends_and_the_write_goes_through(emu, azurite):  # noqa: F811
    """An instance that took the lease and died (it never releases) blocks the registry only for
    the lease's duration: the next instance's fix waits for it, within its budget, and applies."""
    container = _container(azurite, "leases-crashed")
    _add_registry(emu)
    blob = container.get_blob_client(blob_name(RegistryRef.parse(REG)))
    blob.upload_blob(b"", overwrite=True)
    blob.acquire_lease(lease_duration=15)  # the crashed holder: Azure's shortest lease, never released
    harness = _harness(emu, azurite, "leases-crashed", retry_budget_s=40.0)  # the real clock

    harness.engine.handle(write_event(REG))

    assert ("network_rules", "applied") in harness.outcomes()
    assert len(_our_patches(emu)) == 1
    assert _lease_state(container) == "available"
    adversarial(
        13,
        "the instance holding a registry's lease crashed (never released it)",
        "the next instance waited for the lease to end (15 s lease), then applied; one PATCH",
        round=3,
    )


@pytest.mark.parametrize(
    "fault, raised",
    [
        ({"status": 400, "code": "BadRequest"}, None),
        ({"status": 503, "code": "ServiceUnavailable"}, TransientArmError),
    ],
    ids=["rejected", "transient"],
)
def test_the_lease_is_released_on_every_way_out(emu, azurite, fault, raised):  # noqa: F811
    """A PATCH that ARM rejects, or that keeps failing until the budget ends, still releases the
    registry's lease: the next delivery, on any instance, does not wait for it to expire."""
    container = _container(azurite, "leases-released")
    _add_registry(emu)
    harness = _harness(emu, azurite, "leases-released", clock=SimulatedClock())
    emu.inject(method="PATCH", resource_id=REG, times=None, **fault)
    if raised:
        with pytest.raises(raised):
            harness.engine.handle(write_event(REG))
    else:
        harness.engine.handle(write_event(REG))
    assert "failed" in [outcome for _, outcome in harness.outcomes()]
    assert _lease_state(container) == "available"


def test_a_fix_that_replaces_no_list_takes_no_lease(emu, azurite):  # noqa: F811
    """Turning anonymous pull off cannot drop anything: it costs one GET and one PATCH, and no
    request to storage (the lease is only for writes that replace the IP rule list)."""
    container = _container(azurite, "leases-unused")
    allowed = [{"action": "Allow", "value": "40.112.5.7"}, {"action": "Allow", "value": "52.160.10.0/24"}]
    _add_registry(
        emu, {"anonymousPullEnabled": True, "networkRuleSet": {"defaultAction": "Deny", "ipRules": allowed}}
    )
    harness = _harness(emu, azurite, "leases-unused")
    harness.engine.handle(write_event(REG))
    assert ("anonymous_pull", "applied") in harness.outcomes()
    assert list(container.list_blobs()) == []


def test_the_storage_sdk_is_not_loaded_for_a_fix_that_replaces_no_list(emu, azurite, tmp_path):  # noqa: F811
    """Cold start: with the lease configured, as deployed, fixing anonymous pull never imports
    azure-storage-blob (only a write that replaces the IP rule list needs it)."""
    import json
    import subprocess
    import sys

    _container(azurite, "leases-cold")
    _add_registry(emu, {"anonymousPullEnabled": True})
    policy = tmp_path / "policies.yaml"
    policy.write_text(
        "version: 1\nmode: enforce\nrules:\n  anonymous_pull: {enabled: true}\n", encoding="utf-8"
    )
    env = emu.subprocess_env()
    env.update(
        ACRGUARD_POLICY_FILE=str(policy),
        ACRGUARD_LEASE_CONTAINER_URL=f"{azurite['endpoint']}/leases-cold",
        AZURE_STORAGE_CONNECTION_STRING=azurite["connection_string"],
    )
    code = (
        "import sys, json\n"
        "sys.path.insert(0, 'tests')\n"
        "from engine_helpers import write_event\n"
        "from acrguard import runtime\n"
        f"results = runtime.engine().handle(write_event({REG!r}))\n"
        "print(json.dumps([[(r.rule, r.outcome) for r in results[0].records], 'azure.storage.blob' in sys.modules]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    outcomes, storage_loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert ["anonymous_pull", "applied"] in outcomes
    assert storage_loaded is False


def test_a_missing_lease_container_fails_the_list_write_instead_of_writing_unguarded(emu, azurite):  # noqa: F811
    """A deployment whose lease container is missing does not silently write without the lease:
    the IP-list fix fails with a reason naming the problem, and nothing is PATCHed."""
    _add_registry(emu)
    harness = _harness(emu, azurite, "no-such-container")
    harness.engine.handle(write_event(REG))
    failed = [r for r in harness.records if r.outcome == "failed"]
    assert failed and "lease container 'no-such-container' was not found" in failed[0].reason
    assert _our_patches(emu) == []


def test_no_list_patch_is_sent_after_the_registrys_lease_has_ended(emu, azurite):  # noqa: F811
    """The lease is not renewed, so it ends LEASE_S after it was taken, whatever the retry budget
    (the timer's is up to functionTimeout, not an event's 25 s): a PATCH that ARM keeps answering
    503 with Retry-After 25 is retried under the lease only while the lease still holds, then
    raised for redelivery, never sent when another instance could hold the lease and write."""
    from acrguard.engine.lease import LEASE_S

    container = _container(azurite, "leases-expiry")
    _add_registry(emu)
    clock = SimulatedClock()
    harness = _harness(emu, azurite, "leases-expiry", clock=clock, retry_budget_s=200.0, max_attempts=10)
    sent: list[tuple[str, float]] = []  # (method, simulated time) of each request for the registry

    def at(method: str) -> Any:
        return lambda: sent.append((method, clock.now)) or 0

    emu.inject(method="GET", resource_id=REG, delay=at("GET"), times=None)
    emu.inject(method="PATCH", resource_id=REG, status=503, retry_after=25, delay=at("PATCH"), times=None)

    with pytest.raises(TransientArmError):
        harness.engine.handle(write_event(REG))

    first_patch = next(i for i, (method, _) in enumerate(sent) if method == "PATCH")
    leased_at = sent[first_patch - 1][1]  # the read under the lease, just before the first PATCH
    patched = [t - leased_at for method, t in sent if method == "PATCH"]
    assert patched and max(patched) < LEASE_S, patched
    assert ("network_rules", "failed") in harness.outcomes()
    assert _lease_state(container) == "available"
    adversarial(
        13,
        "a list PATCH keeps failing (503, Retry-After 25) under a 200 s retry budget",
        f"PATCHes at {', '.join(f'{t:g}' for t in patched)} s after the lease was taken (it lasts "
        f"{LEASE_S} s), then raised for redelivery; the lease released",
        round=3,
    )
