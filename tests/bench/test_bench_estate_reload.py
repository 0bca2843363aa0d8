"""The bench's estate reload: a run that follows another on the same estate starts from the seeded
estate, exactly as after a fresh seed, while only what was written is put back."""

from __future__ import annotations

from typing import Any

from bench.common import load_estate
from emulator import Emulator
from emulator.seeds import generate

API = "api-version=2025-11-01"


def _estate() -> dict[str, Any]:
    return generate(subscriptions=2, per_subscription=12, drift_ratio=0.5, seed=4)


def _patch(emu: Emulator, resource_id: str, properties: dict[str, Any]) -> None:
    response = emu.arm_request("PATCH", f"{resource_id}?{API}", json={"properties": properties})
    assert response.status_code in (200, 201), response.text


def test_written_registries_are_put_back_and_the_list_order_kept(emu: Emulator) -> None:
    """Registries PATCHed by a run are as seeded again for the next run; nothing else changes,
    the registries list in the same order, and the request log starts empty."""
    seed = _estate()
    load_estate(emu, seed)
    seeded = emu.registries()
    drifted = seed["meta"]["drifted"][:3]
    for rid in drifted:
        _patch(emu, rid, {"anonymousPullEnabled": False, "networkRuleSet": {"defaultAction": "Deny"}})
    assert [emu.get_registry(rid) for rid in drifted] != [d for d in seeded if d["id"] in drifted]

    load_estate(emu, seed, latency=0.0)

    assert emu.registries() == seeded
    assert emu.requests == []


def test_a_registry_created_since_is_gone_when_the_estate_is_loaded_again(emu: Emulator) -> None:
    """A write the seed cannot undo (here, a new registry) makes the reload a fresh seed."""
    seed = _estate()
    load_estate(emu, seed)
    seeded = emu.registries()
    extra = seeded[0]["id"].rsplit("/", 1)[0] + "/createdsince"
    body = {"location": "westeurope", "sku": {"name": "Basic"}, "properties": {}}
    response = emu.arm_request("PUT", f"{extra}?{API}", json=body)
    assert response.status_code in (200, 201), response.text
    assert emu.get_registry(extra) is not None

    load_estate(emu, seed)

    assert emu.get_registry(extra) is None
    assert emu.registries() == seeded


def test_another_estate_replaces_the_one_loaded(emu: Emulator) -> None:
    """Loading a different seed never keeps the previous estate's registries."""
    first, second = _estate(), generate(subscriptions=1, per_subscription=5, drift_ratio=0.0, seed=9)
    load_estate(emu, first)
    load_estate(emu, second)
    assert {d["id"] for d in emu.registries()} == set(_ids(second))


def _ids(seed: dict[str, Any]) -> list[str]:
    return [
        f"/subscriptions/{r['subscription']}/resourceGroups/{r['resource_group']}"
        f"/providers/Microsoft.ContainerRegistry/registries/{r['name']}"
        for r in seed["registries"]
    ]
