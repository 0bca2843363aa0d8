"""local.settings.json.example, for `func start` against the emulator."""

from __future__ import annotations

import json
from typing import Any

import pytest
from engine_helpers import ROOT

from acrguard.settings import SETTINGS, Settings
from emulator import Emulator

EXAMPLE = ROOT / "local.settings.json.example"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    duplicated = sorted({key for key in keys if keys.count(key) > 1})
    assert not duplicated, f"{EXAMPLE.name}: duplicated keys {duplicated}"
    return dict(pairs)


def example_values() -> dict[str, str]:
    document = json.loads(EXAMPLE.read_text(encoding="utf-8"), object_pairs_hook=_no_duplicates)
    return document["Values"]


def test_the_example_lists_exactly_the_settings_of_settings_py() -> None:
    """Every ACRGUARD_* setting, in SETTINGS' order, and no other."""
    names = [name for name in example_values() if name.startswith("ACRGUARD_")]
    assert names == list(SETTINGS)


def test_the_example_carries_what_the_emulator_exports_and_what_the_host_needs(emulator: Emulator) -> None:
    values = example_values()
    assert set(emulator.env()) <= set(values)  # the emulator's `export` lines, as app settings
    assert values["FUNCTIONS_WORKER_RUNTIME"] == "python"
    assert "AzureWebJobsStorage" in values  # the timer trigger needs a storage account (Azurite)
    assert all(isinstance(value, str) for value in values.values())  # Core Tools reads strings only


def test_the_example_values_are_valid_settings_pointing_at_the_emulator(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in example_values().items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_env()  # raises on a bad mode or a number that is not one
    identity = example_values()["IDENTITY_ENDPOINT"]
    assert identity.startswith(settings.arm_endpoint + "/")  # one emulator serves ARM and identity
    assert settings.notify_eventgrid_endpoint.startswith(settings.arm_endpoint + "/")
    assert settings.policy_file == ROOT / "policies.yaml"  # empty = the default, beside function_app.py


def test_a_copied_local_settings_file_is_never_committed() -> None:
    ignored = {line.strip() for line in (ROOT / ".gitignore").read_text().splitlines()}
    assert {"local.settings.json", ".emulator/"} <= ignored
