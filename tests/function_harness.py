"""Drive the real Azure Functions entry points (``function_app.py``) as the Functions host does.

:func:`function_app_env` points the process-wide runtime (acrguard.runtime) at the emulator and a
policy file, returns the real user functions (``app.get_functions()`` -> ``get_user_function()``),
and collects the audit lines the way App Insights receives them: from the ``acrguard.audit``
logger. :func:`grid_event` builds the ``azure.functions.EventGridEvent`` the host hands the
trigger, from a plain Event Grid event dict.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from engine_helpers import function_object

from acrguard import runtime
from emulator.event_delivery import host_event


def grid_event(raw: dict[str, Any]) -> func.EventGridEvent:
    """The object the Functions host hands an Event Grid trigger for this event."""
    return host_event(raw)


class AuditLines(logging.Handler):
    """Every audit line (parsed) the engine logged while installed; thread-safe."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[dict[str, Any]] = []
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        line = json.loads(record.getMessage())
        with self._guard:
            self.records.append(line)

    def for_registry(self, resource_id: str) -> list[dict[str, Any]]:
        with self._guard:
            return [r for r in self.records if (r["registry"] or "").lower() == resource_id.lower()]


@dataclass
class FunctionApp:
    on_registry_write: Callable[[func.EventGridEvent], None]
    reconcile: Callable[[Any], None]
    audit: AuditLines = field(default_factory=AuditLines)


@contextmanager
def function_app_env(
    monkeypatch: pytest.MonkeyPatch, policy_file: Path, **settings: str
) -> Iterator[FunctionApp]:
    """The Function App's process, cold: settings from the environment, a fresh runtime engine."""
    monkeypatch.setenv("ACRGUARD_POLICY_FILE", str(policy_file))
    monkeypatch.delenv("ACRGUARD_MODE", raising=False)
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    runtime.reset()
    audit = AuditLines()
    logger = logging.getLogger("acrguard.audit")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(audit)
    try:
        yield FunctionApp(function_object("on_registry_write"), function_object("reconcile"), audit)
    finally:
        logger.removeHandler(audit)
        logger.setLevel(level)
        runtime.reset()
