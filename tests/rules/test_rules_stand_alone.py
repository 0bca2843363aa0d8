"""The rules stand below the service: nothing in remediators/ imports acrguard.

A rule judges a registry document and states what it needs from Azure in its own JSON; the
service reads the rules, never the other way round (an arrow back up once closed a circle of
seven modules through the contract).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

RULES_DIR = Path(__file__).resolve().parents[2] / "remediators"


def imported_modules(directory: Path) -> dict[str, set[str]]:
    """Every module each ``.py`` in ``directory`` imports, at the top or inside a function."""
    found: dict[str, set[str]] = {}
    for path in sorted(directory.glob("*.py")):
        names = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module)
        found[path.name] = names
    return found


def test_no_rule_module_imports_acrguard() -> None:
    upward = {
        file: sorted(m for m in modules if m.split(".")[0] == "acrguard")
        for file, modules in imported_modules(RULES_DIR).items()
    }
    assert {file: mods for file, mods in upward.items() if mods} == {}


def test_loading_every_rule_and_its_azure_needs_loads_no_acrguard_module() -> None:
    """Also what the static scan cannot see (an import by name): discover every rule, ask each
    for its RBAC actions and operations, and no acrguard module is in sys.modules."""
    probe = (
        "import sys, remediators\n"
        "for rule in remediators.all_rules():\n"
        "    rule.rbac_actions(), rule.event_operations\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'acrguard'))\n"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
