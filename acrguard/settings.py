"""Every ACRGUARD_* setting in one place, read from the environment (Function app settings).

The README's settings table documents exactly these names; a test checks that the Bicep sets
or defaults each of them, so nothing here may be read elsewhere with os.environ.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_SCHEDULE = "0 0 */6 * * *"  # NCRONTAB: every 6 hours
ROOT = Path(__file__).resolve().parent.parent

#: name -> (default, description). The README table is generated from / checked against this.
SETTINGS: dict[str, tuple[str, str]] = {
    "ACRGUARD_POLICY_FILE": (
        "./policies.yaml, else policies.yaml beside function_app.py",
        "Path of the policy file (`acrguard init` writes a starter one).",
    ),
    "ACRGUARD_MODE": (
        "(policy's `mode`)",
        "`dry-run` forces dry-run everywhere; `enforce` lets rules write unless policies.yaml says dry-run.",
    ),
    "ACRGUARD_ARM_ENDPOINT": (DEFAULT_ARM_ENDPOINT, "ARM endpoint (sovereign clouds, or the emulator)."),
    "ACRGUARD_ARM_AUDIENCE": ("the ARM endpoint", "Token audience for ARM (scope = audience + `/.default`)."),
    "ACRGUARD_RECONCILE_SCHEDULE": (DEFAULT_SCHEDULE, "NCRONTAB schedule of the timer-triggered reconcile."),
    "ACRGUARD_RETRY_BUDGET_S": ("60", "Total seconds one ARM operation may spend retrying."),
    "ACRGUARD_MAX_ATTEMPTS": ("6", "Upper bound on tenacity attempts per ARM operation."),
    "ACRGUARD_HTTP_TIMEOUT_S": ("20", "Read timeout of one ARM HTTP request."),
    "ACRGUARD_SWEEP_CONCURRENCY": ("8", "Concurrent writes during a reconcile or sweep."),
    "ACRGUARD_SETTLE_S": (
        "5",
        "Before a PATCH that replaces the IP rule list, wait until the registry was last changed at "
        "least this many seconds ago (0 turns the wait off; see Safety).",
    ),
    "ACRGUARD_NOTIFY_WEBHOOK_URL": ("(unset)", "Webhook sink URL for planned/applied decisions."),
    "ACRGUARD_NOTIFY_WEBHOOK_FORMAT": ("json", "`json`, `teams` or `slack`."),
    "ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT": ("(unset)", "Event Grid custom topic endpoint for notifications."),
    "ACRGUARD_NOTIFY_EVENTGRID_KEY": ("(unset)", "Topic access key; without it the identity is used."),
    "ACRGUARD_NOTIFY_ON_FAILED": ("false", "Also notify `failed` decisions."),
}


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


@dataclass(frozen=True)
class Settings:
    """A snapshot of the ACRGUARD_* environment; build with :meth:`from_env`."""

    policy_file: Path
    mode: str | None
    arm_endpoint: str
    arm_audience: str
    reconcile_schedule: str
    retry_budget_s: float
    max_attempts: int
    http_timeout_s: float
    sweep_concurrency: int
    settle_s: float = 5.0
    notify_webhook_url: str | None = None
    notify_webhook_format: str = "json"
    notify_eventgrid_endpoint: str | None = None
    notify_eventgrid_key: str | None = field(default=None, repr=False)
    notify_on_failed: bool = False
    policy_looked: tuple[Path, ...] = ()  # where the default policy was searched; () when one was named

    @classmethod
    def from_env(cls) -> Settings:
        endpoint = (_env("ACRGUARD_ARM_ENDPOINT", DEFAULT_ARM_ENDPOINT) or "").rstrip("/")
        mode = _env("ACRGUARD_MODE")
        if mode is not None and mode not in ("dry-run", "enforce"):
            raise ValueError(f"ACRGUARD_MODE must be 'dry-run' or 'enforce', got {mode!r}")
        named = _env("ACRGUARD_POLICY_FILE")
        policy_file, looked = (Path(named), ()) if named else find_policy_file()
        return cls(
            policy_file=policy_file,
            policy_looked=looked,
            mode=mode,
            arm_endpoint=endpoint,
            arm_audience=(_env("ACRGUARD_ARM_AUDIENCE") or endpoint).rstrip("/"),
            reconcile_schedule=_env("ACRGUARD_RECONCILE_SCHEDULE", DEFAULT_SCHEDULE) or DEFAULT_SCHEDULE,
            retry_budget_s=float(_env("ACRGUARD_RETRY_BUDGET_S", "60") or 60),
            max_attempts=int(_env("ACRGUARD_MAX_ATTEMPTS", "6") or 6),
            http_timeout_s=float(_env("ACRGUARD_HTTP_TIMEOUT_S", "20") or 20),
            sweep_concurrency=int(_env("ACRGUARD_SWEEP_CONCURRENCY", "8") or 8),
            settle_s=float(_env("ACRGUARD_SETTLE_S", "5") or 5),
            notify_webhook_url=_env("ACRGUARD_NOTIFY_WEBHOOK_URL"),
            notify_webhook_format=_env("ACRGUARD_NOTIFY_WEBHOOK_FORMAT", "json") or "json",
            notify_eventgrid_endpoint=_env("ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT"),
            notify_eventgrid_key=_env("ACRGUARD_NOTIFY_EVENTGRID_KEY"),
            notify_on_failed=(_env("ACRGUARD_NOTIFY_ON_FAILED", "false") or "").lower()
            in ("1", "true", "yes"),
        )


def find_policy_file() -> tuple[Path, tuple[Path, ...]]:
    """The default policy, and where it was looked for: ./policies.yaml, else the one beside
    function_app.py (the Function App's package, or a clone). An installed wheel has no
    function_app.py, so the default never points into site-packages."""
    looked = [Path.cwd() / "policies.yaml"]
    if (ROOT / "function_app.py").is_file() and looked[0] != ROOT / "policies.yaml":
        looked.append(ROOT / "policies.yaml")
    found = next((path for path in looked if path.is_file()), looked[0])
    return found, tuple(looked)


def reconcile_schedule() -> str:
    """The timer's NCRONTAB, read at import by function_app.py (the host indexes it then)."""
    return _env("ACRGUARD_RECONCILE_SCHEDULE", DEFAULT_SCHEDULE) or DEFAULT_SCHEDULE
