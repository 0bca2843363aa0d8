"""Where the repository and the test data are, for a test in any tests/<area>/ folder.

One place computes them from this file's own location, so a test that moves to another folder
keeps finding policies.yaml, infra/ and tests/data/.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
