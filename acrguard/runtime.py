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
    from acrguard.run_mode import RunMode
    from acrguard.settings import Settings

_engine: Engine | None = None
_lock = threading.Lock()


def engine() -> Engine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = build_engine()
    return _engine


def build_engine(settings: Settings | None = None, run: RunMode | None = None) -> Engine:
    """Settings -> policy -> ARM client -> engine, with the configured notifier as an audit listener.

    The CLI passes its own ``settings`` (global options applied) and ``run`` (its --dry-run and
    --mode with ACRGUARD_MODE); the Function App's run mode is ACRGUARD_MODE alone.
    """
    from acrguard.audit import Audit
    from acrguard.azure.arm import Arm
    from acrguard.engine import Engine
    from acrguard.notify import notifier_for
    from acrguard.policy import load_policy
    from acrguard.run_mode import run_mode
    from acrguard.settings import Settings

    settings = settings or Settings.from_env()
    policy = load_policy(settings.policy_file)
    audit = Audit()
    if settings.audit_file:  # the local trail `acrguard history` and `undo` read (no workspace)
        from acrguard.history import AuditFile

        audit.add_listener(AuditFile(settings.audit_file))
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
    return Engine(policy, arm, audit, leases=leases, run_mode=run or run_mode(settings.mode))  # type: ignore[arg-type]


def reset() -> None:
    """Forget the engine (tests, or after changing settings in the same process)."""
    global _engine
    with _lock:
        if _engine is not None:
            _engine.arm.close()
        _engine = None
