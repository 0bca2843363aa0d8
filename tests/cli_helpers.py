"""Run the installed ``acrguard`` entry point as a user would, against the emulator."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ACRGUARD = Path(sys.executable).with_name("acrguard")


def run_cli(emu: Any, *args: str, policy: Path | None = None, stdin: str | None = None, **env: str):
    environment = emu.subprocess_env()
    environment["ACRGUARD_POLICY_FILE"] = str(policy or ROOT / "policies.yaml")
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


def json_out(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)
