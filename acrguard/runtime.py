"""The process-wide engine for the Function App: built on first use, then reused.

Building it reads the settings and the policy and creates the credential; clients are created per
subscription on first use and kept, so warm invocations pay for none of it. A bad policy raises
on every invocation (never a half-valid run), which makes Event Grid redeliver until it is fixed.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acrguard.engine import Engine
    from acrguard.settings import Settings
    from remediators.base import Mode

_engine: Engine | None = None
_lock = threading.Lock()


def engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = build_engine()
    return _engine


def build_engine(
    settings: Settings | None = None, mode: Mode | None = None, mode_source: str | None = None
) -> Engine:
    """Settings -> policy -> ARM client -> engine, with the configured notifier as an audit listener.

    The CLI passes its own ``settings`` (global options applied), ``mode`` (``--dry-run``) and
    where the operator's mode came from (``--dry-run``, ``--mode``), which ``explain`` reports.
    """
    from acrguard.arm import Arm
    from acrguard.audit import Audit
    from acrguard.engine import Engine
    from acrguard.notify import notifier_for
    from acrguard.policy import load_policy
    from acrguard.settings import Settings

    settings = settings or Settings.from_env()
    source = mode_source or ("--dry-run" if mode else "ACRGUARD_MODE")
    policy = load_policy(settings.policy_file).with_mode(mode or settings.mode, source)  # type: ignore[arg-type]
    audit = Audit()
    notifier = notifier_for(policy, settings)
    if notifier is not None:
        audit.add_listener(notifier)
    arm = Arm(settings)
    leases = None
    if settings.lease_container_url:
        import os

        from acrguard.engine.lease import RegistryLeases

        connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING") or None
        leases = RegistryLeases(settings.lease_container_url, arm, connection_string)
    return Engine(policy, arm, audit, leases=leases)


def reset() -> None:
    """Forget the engine (tests, or after changing settings in the same process)."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.arm.close()
        _engine = None
