"""Notification sinks (webhook, Event Grid topic). Filled in by the CLI/notifications work."""

from __future__ import annotations

from typing import Any


def notifier_for(policy: Any, settings: Any) -> Any | None:
    """No sink is configured yet: notifications arrive with the CLI issue."""
    return None
