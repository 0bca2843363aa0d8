"""Run ``acrguard`` against the emulator: in process (Typer's CliRunner), or the installed entry point.

In-process runs are the default for tests (fast, same code); :func:`run_cli` starts the console
script in a subprocess, kept for one smoke test per command (the entry point as a user runs it).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ROOT = Path(__file__).resolve().parents[1]
ACRGUARD = Path(sys.executable).with_name("acrguard")
DEMO_POLICY = ROOT / "demo" / "policies.yaml"  # = engine_helpers.DEMO_POLICY: the policy that writes
#: Every ACRGUARD_* variable the CLI's global options mirror; unset unless a test sets it.
OPTION_VARS = ("ACRGUARD_POLICY_FILE", "ACRGUARD_MODE", "ACRGUARD_ARM_ENDPOINT")


def run_cli(emu: Any, *args: str, policy: Path | None = None, stdin: str | None = None, **env: str):
    environment = emu.subprocess_env()
    environment["ACRGUARD_POLICY_FILE"] = str(policy or DEMO_POLICY)
    environment.pop("ACRGUARD_MODE", None)
    environment.update(env)
    return subprocess.run(
        [str(ACRGUARD), *args],
        env=environment,
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def invoke(
    *args: str, policy: Path | None = None, stdin: str | None = None, **env: str | None
) -> subprocess.CompletedProcess[str]:
    """``acrguard *args`` in this process, with the environment the ``emu`` fixture set plus ``env``
    (None unsets a variable). Returns what :func:`run_cli` returns: returncode, stdout, stderr."""
    from acrguard.cli import app

    environment: dict[str, str | None] = {
        "ACRGUARD_POLICY_FILE": str(policy or DEMO_POLICY),
        "ACRGUARD_MODE": None,
        **env,
    }
    root = logging.getLogger()
    audit = logging.getLogger("acrguard.audit")
    saved = (root.handlers[:], root.level, audit.handlers[:], audit.level, audit.propagate)
    try:
        result = CliRunner().invoke(app, list(args), input=stdin, env=environment, prog_name="acrguard")
    finally:  # the CLI points logging at the runner's stderr, which is closed once it returns
        root.handlers[:], root.level = saved[0], saved[1]
        audit.handlers[:], audit.level, audit.propagate = saved[2], saved[3], saved[4]
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(list(args), result.exit_code, result.stdout, result.stderr)


def json_out(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)


def writes(emu: Any) -> list[Any]:
    """Every ARM write the emulator received (from its request log, not the client's word)."""
    return [r for r in emu.requests if r.method not in ("GET", "HEAD") and r.route in ("registry", "list")]


def flat(text: str) -> str:
    """Usage errors come in a rich panel that wraps lines: its words, single-spaced."""
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())
