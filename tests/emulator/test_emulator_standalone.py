"""``python -m emulator --seed ...`` as a subprocess: starts fast, serves, stops on SIGTERM/SIGINT."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from repo_paths import ROOT

from emulator import UNSET_ENV_VARS

SUB = "00000000-0000-0000-0000-00000000aaaa"


def _start(*args: str) -> tuple[subprocess.Popen[str], dict, str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "emulator", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    deadline = time.monotonic() + 90  # a hang guard only: generous for a loaded machine
    lines: list[str] = []
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if line.startswith("# JSON: "):
            return process, json.loads(line.removeprefix("# JSON: ")), "".join(lines)
    process.kill()
    raise AssertionError(
        "emulator did not print its URLs:\n"
        + "".join(lines)
        + (process.stderr.read() if process.stderr else "")
    )


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_standalone_start_serves_the_seed_and_stops_cleanly(stop_signal: int) -> None:
    process, info, _ = _start("--seed", "emulator/seeds/demo.yaml")  # ready, or an error
    try:
        env = info["env"]
        assert env["ACRGUARD_ARM_ENDPOINT"] == info["base_url"].rstrip("/")
        assert info["base_url"].startswith("https://127.0.0.1:")
        ca = env["REQUESTS_CA_BUNDLE"]

        token = requests.get(
            env["IDENTITY_ENDPOINT"],
            params={"api-version": "2019-08-01", "resource": env["ACRGUARD_ARM_ENDPOINT"]},
            headers={"X-IDENTITY-HEADER": env["IDENTITY_HEADER"]},
            verify=ca,
            timeout=10,
        ).json()["access_token"]
        response = requests.get(
            f"{env['ACRGUARD_ARM_ENDPOINT']}/subscriptions/{SUB}/resourceGroups/rg-platform/providers/"
            "Microsoft.ContainerRegistry/registries/contosoprod?api-version=2025-11-01",
            headers={"Authorization": f"Bearer {token}"},
            verify=ca,
            timeout=10,
        )
        assert response.status_code == 200
        assert response.json()["properties"]["anonymousPullEnabled"] is True
    finally:
        process.send_signal(stop_signal)
        out, _ = process.communicate(timeout=10)
    assert process.returncode == 0
    assert "emulator stopped" in out
    assert not Path(ca).exists()  # its temporary state directory is removed


def test_standalone_prints_export_lines(tmp_path: Path) -> None:
    process, info, banner = _start("--state-dir", str(tmp_path), "--port", "0", "--lro", "async")
    process.terminate()
    process.communicate(timeout=10)
    ca = tmp_path / "emulator-ca.pem"
    assert ca.exists()  # a state dir given by the caller is kept
    assert info["env"]["REQUESTS_CA_BUNDLE"] == str(ca)
    for name in (
        "IDENTITY_ENDPOINT",
        "IDENTITY_HEADER",
        "REQUESTS_CA_BUNDLE",
        "SSL_CERT_FILE",
        "ACRGUARD_ARM_ENDPOINT",
    ):
        assert f"export {name}=" in banner
    assert "unset AZURE_CLIENT_ID" in banner
    assert "seeded registries: 0" in banner


def test_standalone_rejects_a_bad_seed(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("registries:\n  - {name: x}\n")
    result = subprocess.run(
        [sys.executable, "-m", "emulator", "--seed", str(bad)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == 2
    assert "'subscription' is required" in result.stderr


#: ``python -m emulator`` run where trustme cannot be imported (a pip venv without the dev extra):
#: a meta path finder refuses it, as if it were not installed.
_WITHOUT_TRUSTME = """
import runpy, sys
class NoTrustme:
    def find_spec(self, name, path=None, target=None):
        if name == "trustme" or name.startswith("trustme."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, NoTrustme())
sys.argv = ["python -m emulator", "--seed", "emulator/seeds/demo.yaml"]
runpy.run_module("emulator", run_name="__main__", alter_sys=True)
"""


def test_without_the_dev_extra_it_says_which_extra_to_install() -> None:
    """Without trustme (the dev extra is not installed) `python -m emulator` says how to install it
    and exits 1, instead of a ModuleNotFoundError traceback."""
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_TRUSTME], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        "error: the emulator needs trustme, from the dev extra: run `pip install -e '.[dev]'` "
        "(or `make`) in the clone"
    ]
    assert result.stdout == ""


def test_standalone_log_workspace_follows_an_audit_file_for_history(tmp_path: Path) -> None:
    """``--log-workspace ID=FILE``: decisions appended to the audit file after the start are what
    the real ``acrguard history --workspace ID`` reads back over HTTPS (the demo's path)."""
    workspace = "5b02755b-5bf4-430c-9487-45502a2a7e62"
    trail = tmp_path / "audit.jsonl"
    process, info, banner = _start("--state-dir", str(tmp_path), "--log-workspace", f"{workspace}={trail}")
    try:
        assert "Log Analytics:" in banner and "export ACRGUARD_LOGS_ENDPOINT=" in banner
        registry = f"/subscriptions/{SUB}/resourceGroups/rg-platform/providers/Microsoft.ContainerRegistry/registries/contosoprod"
        line = {"time": "2026-01-01T00:00:00.000Z", "outcome": "applied", "registry": registry}
        trail.write_text(json.dumps({**line, "rule": "anonymous_pull", "reason": "r"}) + "\n")
        env = {**os.environ, **info["env"], "ACRGUARD_POLICY_FILE": str(ROOT / "demo" / "policies.yaml")}
        for name in ("ACRGUARD_AUDIT_FILE", "ACRGUARD_HISTORY_WORKSPACE", *UNSET_ENV_VARS):
            env.pop(name, None)
        acrguard = Path(sys.executable).with_name("acrguard")
        shown = subprocess.run(
            [str(acrguard), "-o", "json", "history", registry, "--since", "730d", "--workspace", workspace],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert shown.returncode == 0, shown.stderr
        results = json.loads(shown.stdout)["results"]
        assert [(r["outcome"], r["rule"], r["time"]) for r in results] == [
            ("applied", "anonymous_pull", "2026-01-01T00:00:00.000Z")
        ]
    finally:
        process.terminate()
        process.communicate(timeout=10)
