"""`pip install <clone>` into a fresh venv gives a working `acrguard`.

One test, because it is slow (~60 s: a venv, a build, and the dependencies from the package
index). It runs in `make test`; `-m "not install"` leaves it out while iterating.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import ROOT

#: What a clone does not have (or what pip must not see: another venv, build leftovers).
NOT_IN_A_CLONE = shutil.ignore_patterns(
    ".git", ".venv*", "node_modules", "build", "dist", "*.egg-info", "__pycache__", ".*_cache",
    ".hypothesis", ".reliability", ".emulator", ".azurite", ".azure", "bench", "local.settings.json",
)  # fmt: skip


# Timeouts only catch a hang: generous, so that a loaded machine (pytest -n 8 on 2 cores) passes.
def _run(*args: str | Path, cwd: Path, env: dict[str, str], timeout: int = 300):
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.mark.install
def test_pip_install_of_a_clone_gives_a_working_cli(tmp_path: Path) -> None:
    """`pip install .` then `acrguard --help` was a traceback (typer was only in the
    [cli] extra), `acrguard validate` looked for site-packages/policies.yaml, the wheel put
    `emulator` into site-packages, and the build warned that project.license as a table is deprecated."""
    clone = tmp_path / "clone"
    shutil.copytree(ROOT, clone, ignore=NOT_IN_A_CLONE, symlinks=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACRGUARD_", "PYTHON", "VIRTUAL_ENV"))}
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=600)
    python, acrguard = venv / "bin" / "python", venv / "bin" / "acrguard"
    install = _run(
        python, "-m", "pip", "install", "-v", "--disable-pip-version-check", clone,
        cwd=tmp_path, env=env, timeout=1200,
    )  # fmt: skip
    assert install.returncode == 0, install.stdout[-3000:] + install.stderr[-3000:]
    assert "project.license` as a TOML table is deprecated" not in install.stdout + install.stderr

    (record,) = venv.glob("lib/python*/site-packages/acrguard-*.dist-info/RECORD")
    top_level = {line.split("/")[0] for line in record.read_text().splitlines() if not line.startswith("..")}
    assert {name for name in top_level if not name.endswith(".dist-info")} == {"acrguard", "remediators"}
    # Each rule is its remediators/<name>.json (the declarative ones are nothing else): all in the wheel.
    shipped = {line.split(",")[0] for line in record.read_text().splitlines()}
    rule_files = {f"remediators/{p.name}" for p in (ROOT / "remediators").glob("*.json")}
    assert len(rule_files) > 10 and rule_files <= shipped, sorted(rule_files - shipped)

    work = tmp_path / "work"  # a user's directory: no policy yet
    work.mkdir()
    helped = _run(acrguard, "--help", cwd=work, env=env)
    assert helped.returncode == 0 and "init" in helped.stdout and "schema" in helped.stdout, helped.stderr
    assert "--install-completion" in helped.stdout  # tab completion, installable from the wheel
    versioned = _run(acrguard, "--version", cwd=work, env=env)  # from the wheel's metadata
    assert versioned.returncode == 0 and versioned.stdout.startswith("acrguard "), versioned.stderr

    missing = _run(acrguard, "validate", cwd=work, env=env)
    assert missing.returncode == 1
    assert f"{work / 'policies.yaml'} does not exist" in missing.stderr and "acrguard init" in missing.stderr
    assert "site-packages" not in missing.stderr and "Traceback" not in missing.stderr

    for command in (["init"], ["validate"], ["schema"]):
        result = _run(acrguard, *command, cwd=work, env=env)
        assert result.returncode == 0, f"acrguard {command[0]}: {result.stdout}{result.stderr}"
    assert _run(acrguard, "validate", cwd=work, env=env).stdout.strip() == f"{work / 'policies.yaml'}: valid"
    schema = _run(acrguard, "schema", cwd=work, env=env).stdout
    assert json.loads(schema) == json.loads((ROOT / "policies.schema.json").read_text(encoding="utf-8"))
