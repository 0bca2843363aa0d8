"""The README's settings table is the settings.py table: names, defaults, allowed values, meaning.

The allowed values an error names are the documented ones, and no code reads an ACRGUARD_
setting outside settings.py.
"""

from __future__ import annotations

import re

from engine_helpers import ROOT

from acrguard.settings import SETTINGS


def _readme_rows() -> list[tuple[str, ...]]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `ACRGUARD_")]
    return [tuple(cell.strip() for cell in row.strip("|").split(" | ")) for row in rows]


def expected_rows() -> list[tuple[str, ...]]:
    return [
        (f"`{name}`", s.shown or s.default or "(unset)", s.allowed, s.meaning) for name, s in SETTINGS.items()
    ]


def test_the_readme_settings_table_matches_settings_py():
    """Every setting, its default and its allowed values, as the code checks them."""
    assert _readme_rows() == expected_rows(), "\n" + "\n".join(
        "| " + " | ".join(row) + " |" for row in expected_rows()
    )


def test_no_acrguard_setting_is_read_outside_settings_py():
    """The one reading of each ACRGUARD_* value is settings.py (so each is range-checked)."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in [*(ROOT / "acrguard").rglob("*.py"), ROOT / "function_app.py"]
        if path.name != "settings.py"
        and re.search(r"environ(?:\.get)?[\[(]\s*[\"']ACRGUARD_", path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
