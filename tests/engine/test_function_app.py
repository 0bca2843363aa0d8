"""The Functions app object: both functions, the right binding types, schedule from the setting."""

from __future__ import annotations

import importlib
import json
from pathlib import Path

from engine_helpers import function_builders

import function_app


def bindings():
    return {
        name: [(b.type, b.name, getattr(b, "schedule", None)) for b in f.get_bindings()]
        for name, f in function_builders().items()
    }


def test_both_functions_with_their_triggers():
    assert bindings() == {
        "on_registry_write": [("eventGridTrigger", "event", None)],
        "reconcile": [("timerTrigger", "timer", "0 0 */6 * * *")],
    }


def test_reconcile_schedule_comes_from_the_app_setting(monkeypatch):
    monkeypatch.setenv("ACRGUARD_RECONCILE_SCHEDULE", "0 */15 * * * *")
    try:
        importlib.reload(function_app)
        assert bindings()["reconcile"] == [("timerTrigger", "timer", "0 */15 * * * *")]
    finally:
        monkeypatch.delenv("ACRGUARD_RECONCILE_SCHEDULE")
        importlib.reload(function_app)


def test_host_json_keeps_audit_traces_out_of_sampling():
    host = json.loads((Path(function_app.__file__).parent / "host.json").read_text())
    assert host["version"] == "2.0"
    assert host["extensionBundle"]["version"] == "[4.*, 5.0.0)"
    assert "Trace" in host["logging"]["applicationInsights"]["samplingSettings"]["excludedTypes"]
