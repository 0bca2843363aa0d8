"""The README's Layout table names every module of the product, so a newcomer can find each one.

A module added without a line in the table (or a line left for a module that is gone) fails here.
"""

from __future__ import annotations

import re

from repo_paths import ROOT


def _layout_rows() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    return [line.split("|")[1] for line in section.splitlines() if line.startswith("| `")]


def _named_in(cell: str) -> set[str]:
    """``acrguard/azure/arm.py``, ``arm_errors.py`` -> {"arm.py", "arm_errors.py"}; ``notify/`` -> {"notify"}."""
    names = set()
    for code in re.findall(r"`([^`]+)`", cell):
        names.add(code.rstrip("/").rsplit("/", 1)[-1])
    return names


def test_every_acrguard_module_is_in_the_layout_table() -> None:
    named = set().union(*(_named_in(cell) for cell in _layout_rows() if "acrguard/" in cell))
    modules = {
        p.name
        for p in (ROOT / "acrguard").iterdir()
        if (p.suffix in (".py", ".json") and p.name != "__init__.py")
        or (p.is_dir() and (p / "__init__.py").exists())
    }
    assert modules - named == set(), f"not in README's Layout table: {sorted(modules - named)}"
    assert named - modules == set(), f"in README's Layout table but gone: {sorted(named - modules)}"


def test_every_row_of_the_layout_table_starts_with_a_path_that_exists() -> None:
    for cell in _layout_rows():
        first = re.findall(r"`([^`]+)`", cell)[0]
        assert (ROOT / first).exists(), f"README Layout names {first}, which does not exist"
