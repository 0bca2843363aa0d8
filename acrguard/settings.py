"""Every ACRGUARD_* setting in one place, read from the environment (Function app settings).

Each setting is parsed and range-checked here, once: a bad value stops the process with an error
that names the setting, its allowed values and what it got (every bad one in one pass), never a
bare ``could not convert string to float``. The README's settings table is checked against
:data:`SETTINGS` (tests/docs/test_settings.py), and a test checks that the Bicep sets or defaults each
name, so nothing may read an ACRGUARD_* variable elsewhere with os.environ.

Some bounds come from the platform, not from taste (acrguard.budget): where a host.json ships
beside function_app.py, ACRGUARD_RETRY_BUDGET_S may not exceed its ``functionTimeout`` less a
margin, and the settle wait must fit in one Event Grid delivery.
"""

from __future__ import annotations

import ipaddress
import math
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from acrguard.budget import EVENT_DEADLINE_S, MARGIN_S, HostTimeout, function_timeout

DEFAULT_ARM_ENDPOINT = "https://management.azure.com"
DEFAULT_SCHEDULE = "0 0 */6 * * *"  # NCRONTAB: every 6 hours
ROOT = Path(__file__).resolve().parent.parent
#: The Function App's policy when ACRGUARD_POLICY_FILE is empty: the policies.yaml packaged beside
#: function_app.py (azd packages acrguard/ beside it). The CLI never falls back to it: it reads
#: --policy, ACRGUARD_POLICY_FILE or ./policies.yaml (``from_env(default_policy=...)``).
APP_POLICY = ROOT / "policies.yaml"

Parse = Callable[[str], Any]


class SettingsError(ValueError):
    """One or more bad settings: ``problems`` is ``[(name, "must be ..., got ...")]``."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{name} {reason}" for name, reason in problems))
        self.problems = problems


def _number(
    kind: type[int] | type[float], low: float, high: float, unit: str = "", *, zero_ok: bool = False
) -> Parse:
    """Integers within [low, high]; seconds within (low, high], or [low, high] if ``zero_ok``."""
    closed = kind is int or zero_ok
    allowed = (
        f"a whole number from {low:g} to {high:g}"
        if kind is int
        else f"a number of {unit} from {low:g} to {high:g}"
        if zero_ok
        else f"a number of {unit} greater than {low:g} and at most {high:g}"
    )

    def parse(raw: str) -> Any:
        try:
            value = kind(raw.strip())
        except ValueError:
            value = None
        inside = value is not None and math.isfinite(value) and (low <= value if closed else low < value)
        if not inside or value > high:  # type: ignore[operator]
            raise ValueError(f"must be {allowed}, got {raw!r}")
        return value

    parse.allowed = allowed  # type: ignore[attr-defined]
    return parse


def _choice(*values: str) -> Parse:
    allowed = " or ".join(f"'{v}'" for v in values)

    def parse(raw: str) -> str:
        if raw not in values:
            raise ValueError(f"must be {allowed}, got {raw!r}")
        return raw

    parse.allowed = allowed  # type: ignore[attr-defined]
    return parse


def _flag(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise ValueError(f"must be true or false (also 1/0, yes/no), got {raw!r}")


_flag.allowed = "true or false"  # type: ignore[attr-defined]


def _url(*, http_loopback: bool = False) -> Parse:
    """An absolute https:// URL (http:// to this machine too, if ``http_loopback``). The error shows
    only scheme://host: a webhook's path and query are its secret."""
    allowed = "an https:// URL" + (" (http:// for localhost only)" if http_loopback else "")

    def parse(raw: str) -> str:
        parts = urlsplit(raw.strip())
        shown = f"{parts.scheme}://{parts.hostname}" if parts.scheme and parts.hostname else "not a URL"
        secure = parts.scheme == "https" or (
            parts.scheme == "http" and http_loopback and _is_loopback(parts.hostname or "")
        )
        if not secure or not parts.hostname or parts.username or parts.password:
            raise ValueError(f"must be {allowed}, got {shown}")
        return raw.strip().rstrip("/")

    parse.allowed = allowed  # type: ignore[attr-defined]
    return parse


def endpoint_problem(url: str, *, allow_http_loopback: bool) -> str | None:
    """Why ``url`` cannot be a notification endpoint, or None (the policy's sinks and the sinks
    themselves ask). Plain http only reaches this machine."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "must be an absolute https:// URL"
    if parts.scheme not in ("http", "https") or not host:
        return "must be an absolute https:// URL"
    if parts.scheme == "http" and not (allow_http_loopback and _is_loopback(host)):
        return "must use https:// (http:// is accepted for localhost only)"
    return None


def _is_loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _text(raw: str) -> str:
    return raw


def _guid() -> Parse:
    """A GUID, as Azure writes workspace and subscription IDs."""

    def parse(raw: str) -> str:
        try:
            return str(uuid.UUID(raw.strip()))
        except ValueError:
            raise ValueError(
                f"must be a GUID (00000000-0000-0000-0000-000000000000), got {raw.strip()[:40]!r}"
            ) from None

    parse.allowed = "a GUID"  # type: ignore[attr-defined]
    return parse


_text.allowed = "any text"  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Setting:
    field: str
    meaning: str
    parse: Parse = _text
    default: str | None = None  # the raw default, parsed like a given value
    shown: str | None = None  # the README's default column, when it is not ``default``

    @property
    def allowed(self) -> str:
        return str(getattr(self.parse, "allowed", ""))


#: name -> Setting. The README's table lists exactly these, with these defaults and allowed values.
SETTINGS: dict[str, Setting] = {
    "ACRGUARD_POLICY_FILE": Setting(
        "policy_file",
        "Path of the policy file (`acrguard init` writes a starter one).",
        shown="Function App: policies.yaml beside function_app.py; CLI: ./policies.yaml",
    ),
    "ACRGUARD_MODE": Setting(
        "mode",
        "`dry-run` forces dry-run everywhere; `enforce` lets rules write unless policies.yaml says dry-run.",
        _choice("dry-run", "enforce"),
        shown="(policy's `mode`)",
    ),
    "ACRGUARD_ARM_ENDPOINT": Setting(
        "arm_endpoint", "ARM endpoint (sovereign clouds, or the emulator).", _url(), DEFAULT_ARM_ENDPOINT
    ),
    "ACRGUARD_ARM_AUDIENCE": Setting(
        "arm_audience",
        "Token audience for ARM (scope = audience + `/.default`).",
        _url(),
        shown="the ARM endpoint",
    ),
    "ACRGUARD_RECONCILE_SCHEDULE": Setting(
        "reconcile_schedule", "NCRONTAB schedule of the timer-triggered reconcile.", default=DEFAULT_SCHEDULE
    ),
    "ACRGUARD_RECONCILE_SOURCE": Setting(
        "reconcile_source",
        "Where the timer's reconcile finds registries: `list` (each subscription's list pages) or `arg` "
        "(Azure Resource Graph with the policy pushed down: fix first, then report; falls back to `list`).",
        _choice("list", "arg"),
        "list",
    ),
    "ACRGUARD_RETRY_BUDGET_S": Setting(
        "retry_budget_s",
        "Total seconds one ARM operation may spend retrying. Where host.json ships (the Function App), "
        "at most its `functionTimeout` less 5 s; an event's operations also stop 25 s into the delivery "
        "(see Safety).",
        _number(float, 0, 3600, "seconds"),
        "60",
    ),
    "ACRGUARD_MAX_ATTEMPTS": Setting(
        "max_attempts", "Upper bound on attempts per ARM operation.", _number(int, 1, 20), "6"
    ),
    "ACRGUARD_HTTP_TIMEOUT_S": Setting(
        "http_timeout_s", "Read timeout of one ARM HTTP request.", _number(float, 0, 300, "seconds"), "20"
    ),
    "ACRGUARD_SWEEP_CONCURRENCY": Setting(
        "sweep_concurrency", "Concurrent writes during a reconcile or sweep.", _number(int, 1, 64), "8"
    ),
    "ACRGUARD_SETTLE_S": Setting(
        "settle_s",
        "Before a PATCH that replaces the IP rule list, wait until the list has been unchanged for "
        "this many seconds; other fixes do not wait (0 turns the wait off; see Safety). At most 20: "
        "the wait and the PATCH fit in one Event Grid delivery (30 s, less a 5 s margin).",
        _number(float, 0, EVENT_DEADLINE_S - MARGIN_S, "seconds", zero_ok=True),
        "5",
    ),
    "ACRGUARD_LEASE_CONTAINER_URL": Setting(
        "lease_container_url",
        "Blob container for the per-registry lease that lets one instance at a time replace a "
        "registry's IP rules (infra sets it; empty: no lease, for one process such as the CLI). "
        "The identity is used, or AZURE_STORAGE_CONNECTION_STRING when set (Azurite).",
        _url(http_loopback=True),
    ),
    "ACRGUARD_AUDIT_FILE": Setting(
        "audit_file",
        "Also append every decision, as one JSON line with its time, to this local file: what "
        "`acrguard history` and `acrguard undo` read without a workspace (the CLI, the demo).",
    ),
    "ACRGUARD_HISTORY_WORKSPACE": Setting(
        "history_workspace",
        "Log Analytics workspace ID (a GUID) that `acrguard history` and `acrguard undo` query for "
        "the decisions the Function App logged (infra's workspace; `--workspace` overrides it).",
        _guid(),
    ),
    "ACRGUARD_LOGS_ENDPOINT": Setting(
        "logs_endpoint",
        "Log Analytics query endpoint (sovereign clouds, or the emulator).",
        _url(),
        "https://api.loganalytics.io/v1",
    ),
    "ACRGUARD_NOTIFY_WEBHOOK_URL": Setting(
        "notify_webhook_url", "Webhook sink URL for planned/applied decisions.", _url(http_loopback=True)
    ),
    "ACRGUARD_NOTIFY_WEBHOOK_FORMAT": Setting(
        "notify_webhook_format", "Payload of the webhook sink.", _choice("json", "teams", "slack"), "json"
    ),
    "ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT": Setting(
        "notify_eventgrid_endpoint", "Event Grid custom topic endpoint for notifications.", _url()
    ),
    "ACRGUARD_NOTIFY_EVENTGRID_KEY": Setting(
        "notify_eventgrid_key", "Topic access key; without it the identity is used."
    ),
    "ACRGUARD_NOTIFY_ON_FAILED": Setting(
        "notify_on_failed", "Also notify `failed` decisions.", _flag, "false"
    ),
}


def parse_setting(name: str, raw: str) -> Any:
    """One setting's value, or ValueError("must be <allowed>, got <value>")."""
    return SETTINGS[name].parse(raw)


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
    reconcile_source: str = "list"
    notify_webhook_url: str | None = None
    notify_webhook_format: str = "json"
    notify_eventgrid_endpoint: str | None = None
    notify_eventgrid_key: str | None = field(default=None, repr=False)
    notify_on_failed: bool = False
    lease_container_url: str | None = None
    audit_file: str | None = None
    history_workspace: str | None = None
    logs_endpoint: str = "https://api.loganalytics.io/v1"
    policy_named: bool = True  # False when policy_file is the default (no ACRGUARD_POLICY_FILE)

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, str | None] | None = None, *, default_policy: Path = APP_POLICY
    ) -> Settings:
        """The environment, with ``overrides`` (the CLI's options, by setting name) taking precedence.

        ``default_policy`` is the policy when none is named: the Function App's (:data:`APP_POLICY`)
        unless the caller (the CLI: ./policies.yaml) says otherwise. Nothing else is looked for.

        Raises SettingsError naming every bad setting, its allowed values and what it got.
        """
        given = {name: _env(name) for name in SETTINGS}
        given.update({k: v for k, v in (overrides or {}).items() if v not in (None, "")})
        values: dict[str, Any] = {}
        problems: list[tuple[str, str]] = []
        for name, setting in SETTINGS.items():
            raw = given[name] if given[name] is not None else setting.default
            try:
                values[setting.field] = None if raw is None else setting.parse(raw)
            except ValueError as exc:
                problems.append((name, str(exc)))
        problems += _past_the_host(values, given.get("ACRGUARD_RETRY_BUDGET_S"))
        if problems:
            raise SettingsError(problems)
        values["policy_named"] = bool(values["policy_file"])
        values["policy_file"] = Path(values["policy_file"]) if values["policy_file"] else default_policy
        values["arm_audience"] = values["arm_audience"] or values["arm_endpoint"]
        return cls(**values)


def host_timeout() -> HostTimeout | None:
    """The Functions host's ``functionTimeout``, from the host.json beside function_app.py (the
    Function App's package, or a clone); None where there is none (a wheel's CLI: no host cuts it)."""
    if not (ROOT / "function_app.py").is_file():
        return None
    return function_timeout(ROOT / "host.json")


def _past_the_host(values: Mapping[str, Any], given: str | None) -> list[tuple[str, str]]:
    """ACRGUARD_RETRY_BUDGET_S past what the host lets one invocation run: the host would stop an
    invocation in the middle of a write, before its audit line."""
    try:
        host = host_timeout()
    except ValueError as exc:
        return [("host.json", str(exc))]
    if host is None or host.seconds is None or "retry_budget_s" not in values:
        return []
    bound = host.seconds - MARGIN_S
    if values["retry_budget_s"] <= bound:
        return []
    got = given if given is not None else SETTINGS["ACRGUARD_RETRY_BUDGET_S"].default
    return [
        (
            "ACRGUARD_RETRY_BUDGET_S",
            f"must be at most {bound:g} seconds here: host.json's functionTimeout is {host.raw} "
            f"({host.path}), less a {MARGIN_S:g} s margin, so the host never stops an invocation "
            f"in the middle of a write; got {got!r}",
        )
    ]


def reconcile_schedule() -> str:
    """The timer's NCRONTAB, read at import by function_app.py (the host indexes it then)."""
    return _env("ACRGUARD_RECONCILE_SCHEDULE", DEFAULT_SCHEDULE) or DEFAULT_SCHEDULE
