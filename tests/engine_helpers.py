"""Shared helpers for tests that drive the real engine (real SDK) against the emulator."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import requests
import yaml

from acrguard.audit import Audit, AuditRecord
from acrguard.azure.arm import Arm
from acrguard.engine import Engine
from acrguard.policy import parse_policy
from acrguard.run_mode import run_mode
from acrguard.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
#: Example events: the ones the README and docs/CLI.md replay are the ones the tests read.
EVENT_SAMPLES = ROOT / "examples" / "events"
#: Registry GET documents (api-version 2025-11-01), one per SKU case: see tests/data/README.md.
REGISTRY_SAMPLES = ROOT / "tests" / "data" / "registries"
DEMO_SEED = ROOT / "emulator" / "seeds" / "demo.yaml"
#: The demo's policy: the shipped policies.yaml with the firewall on (a public example allow-list).
#: Tests that need a policy that writes use it; the shipped one keeps the firewall off.
DEMO_POLICY = ROOT / "demo" / "policies.yaml"
#: Bad input (policies, unknown keys, settings) and the error each must get.
BAD_INPUT: dict[str, list[dict[str, str]]] = yaml.safe_load(
    (ROOT / "tests" / "data" / "bad_input.yaml").read_text(encoding="utf-8")
)
SUB_A = "00000000-0000-0000-0000-00000000aaaa"
SUB_B = "00000000-0000-0000-0000-00000000bbbb"


def rid(name: str, sub: str = SUB_A, rg: str = "rg-platform") -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.ContainerRegistry/registries/{name}"


POLICY = """
version: 1
mode: enforce
exempt:
  tags: {acrguard: exempt}
rules:
  anonymous_pull: {enabled: true}
  network_rules:
    enabled: true
    allowed_ips: ["20.1.2.0/24", "20.9.8.7"]
  # On by default, but these tests count the write rules' records; tests/rules/test_rules_report.py
  # covers it, and tests that load policies.yaml see it.
  firewall_unavailable: {enabled: false}
"""


@dataclasses.dataclass
class Harness:
    engine: Engine
    records: list[AuditRecord]

    def outcomes(self, registry: str | None = None) -> list[tuple[str | None, str]]:
        return [(r.rule, r.outcome) for r in self.records if registry is None or r.registry == registry]


def make_harness(policy: str = POLICY, mode: str | None = None, **settings: Any) -> Harness:
    base = Settings.from_env()
    arm = Arm(dataclasses.replace(base, **{"retry_budget_s": 6.0, "max_attempts": 4, **settings}))
    records: list[AuditRecord] = []
    engine = Engine(
        parse_policy(policy, "test-policy.yaml"), arm, Audit([records.append]), run_mode=run_mode(mode)
    )  # type: ignore[arg-type]
    return Harness(engine, records)


def drifting_registry(emu: Any, name: str) -> str:
    """A Premium registry that drifts on both default rules (anonymous pull on, firewall open)."""
    return emu.add_registry(
        subscription=SUB_A,
        resource_group="rg-platform",
        name=name,
        sku="Premium",
        properties={"anonymousPullEnabled": True},
    )


def write_event(
    resource_id: str, operation: str = "Microsoft.ContainerRegistry/registries/write", **extra: Any
) -> dict:
    sample = json.loads((EVENT_SAMPLES / "registry-write.eventgrid.json").read_text())
    event = copy.deepcopy(sample)
    event["subject"] = event["data"]["resourceUri"] = event["data"]["authorization"]["scope"] = resource_id
    event["data"]["operationName"] = operation
    event.update(extra)
    return event


def patch_as_user(emu: Any, resource_id: str, properties: dict[str, Any]) -> requests.Response:
    """What a person does in the portal: a PATCH with their own token (the emulator emits the event)."""
    response = emu.arm_request(
        "PATCH", f"{resource_id}?api-version=2025-11-01", json={"properties": properties}
    )
    response.raise_for_status()
    return response


_FUNCTIONS: dict[int, dict[str, Any]] = {}


def function_builders() -> dict[str, Any]:
    """The app's functions by name. ``app.get_functions()`` may run once per app object (a second
    call re-registers the names and raises), so the result is kept per app."""
    import function_app

    app = function_app.app
    if id(app) not in _FUNCTIONS:
        _FUNCTIONS[id(app)] = {f.get_function_name(): f for f in app.get_functions()}
    return _FUNCTIONS[id(app)]


def function_object(name: str) -> Any:
    """The real user function behind a trigger (what the Functions host invokes)."""
    return function_builders()[name].get_user_function()


def as_person(emu: Any, method: str, resource_id: str, body: Any = None) -> dict[str, Any]:
    """One request of a person's (``az``'s), with the person's own token: a write the engine did not make."""
    response = emu.arm_request(method, f"{resource_id}?api-version=2025-11-01", json=body)
    response.raise_for_status()
    return response.json() if response.content else {}


def ours(emu: Any, request: Any) -> bool:
    """Whether an emulator request was made by ACR Guard (its managed identity), not by a person."""
    return request.principal is not None and request.principal.object_id == emu.managed_identity.object_id


class SimulatedClock:
    """Time that only moves when slept: what the ARM layer would have waited, without waiting."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0
        self.slept: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds
