"""The files generated from the rules follow them: adding a rule is its files plus `make generate`.

acrguard/azure_contract.json (read by the code and by infra/), the ``@allowed`` rule names of the
two Bicep entry templates, policies.schema.json and docs/RULES.md are written by ``python -m
acrguard.generate``; ``--check`` names the stale ones. A rule's RBAC actions and Event Grid
operations live in its own JSON, so the contract is never edited by hand.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bicep_eval import parse

from acrguard import generate

ROOT = Path(__file__).resolve().parents[2]
ENTRY_TEMPLATES = ("infra/main.bicep", "infra/management-group.bicep")

#: A report-only rule that needs no module: one property, one wanted value, the registry's read.
THROWAWAY = {
    "title": "Throwaway",
    "description": "A rule that exists only in a temporary copy of the repository.",
    "severity": "low",
    "skus": ["Premium"],
    "default_enabled": False,
    "fixes": False,
    "role_actions": ["Microsoft.ContainerRegistry/registries/read"],
    "event_operations": ["Microsoft.ContainerRegistry/registries/throwaways/write"],
    "report": {
        "path": "properties.zoneRedundancy",
        "wanted": "Enabled",
        "compliant": "yes",
        "violation": "no",
    },
}


def _copy_of_the_repository(into: Path) -> Path:
    """The files git knows (committed or not, not ignored), copied: the .venv and caches stay out."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)
    return into


def _generate(copy: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m acrguard.generate`` run in ``copy``, importing the copy's packages, not ours."""
    env = {**os.environ, "PYTHONPATH": str(copy)}
    return subprocess.run(
        [sys.executable, "-m", "acrguard.generate", *args],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _allowed_rules(template: Path) -> list[str]:
    (allowed,) = [
        d["argument"]
        for d in parse(template)["parameters"]["enabledRules"]["decorators"]
        if d["type"] == "allowed"
    ]
    return allowed


def test_every_generated_file_is_current() -> None:
    """What the repository holds is what `make generate` writes from the rules and the code."""
    assert generate.stale() == [], "run: make generate"


def test_a_new_rule_makes_the_generated_files_stale_until_regenerated(tmp_path: Path) -> None:
    """A rule added as its JSON file alone: the check fails naming every file it changes, one
    regenerate brings its RBAC actions and operations into the contract and its name into the
    Bicep parameter, and then the check passes."""
    copy = _copy_of_the_repository(tmp_path / "repo")
    (copy / "remediators" / "throwaway.json").write_text(
        json.dumps(THROWAWAY, indent=2) + "\n", encoding="utf-8"
    )

    check = _generate(copy, "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    stale = {line.strip() for line in check.stderr.splitlines() if line.startswith("  ")}
    assert stale == {
        "acrguard/azure_contract.json",
        *ENTRY_TEMPLATES,
        "policies.schema.json",
        "docs/RULES.md",
    }, check.stderr
    assert "make generate" in check.stderr

    written = _generate(copy)
    assert written.returncode == 0, written.stderr
    assert _generate(copy, "--check").returncode == 0

    contract = json.loads((copy / "acrguard" / "azure_contract.json").read_text(encoding="utf-8"))
    assert contract["rules"]["throwaway"] == {
        "roleActions": THROWAWAY["role_actions"],
        "operationNames": THROWAWAY["event_operations"],
    }
    ours = json.loads((ROOT / "acrguard" / "azure_contract.json").read_text(encoding="utf-8"))
    assert {**contract, "rules": {}} == {**ours, "rules": {}}  # the rest is not the rules'
    assert {k: v for k, v in contract["rules"].items() if k != "throwaway"} == ours["rules"]
    for template in ENTRY_TEMPLATES:
        assert _allowed_rules(copy / template) == sorted([*_allowed_rules(ROOT / template), "throwaway"])
    assert '"throwaway"' in (copy / "policies.schema.json").read_text(encoding="utf-8")
    assert "`throwaway`" in (copy / "docs" / "RULES.md").read_text(encoding="utf-8")
