"""Microsoft's Kusto parser and binder (npm ``@kusto/language-service-next``), run by
tests/kusto_check.mjs in one Node process over a batch of queries: each query's diagnostics and
its tabular operators. The Resource Graph check (tests/test_kusto_parser.py) and the alert and
workbook check (tests/infra/test_alert_queries.py) both go through :func:`check`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "tests" / "kusto_check.mjs"
PARSER = ROOT / "node_modules" / "@kusto" / "language-service-next"


def check(payload: dict[str, Any]) -> list[dict[str, Any]]:
    """``payload``: ``{"table", "columns", "queries"}`` or ``{"tables", "queries"}`` (see the driver)."""
    if shutil.which("node") is None or not PARSER.exists():
        pytest.fail(f"Kusto.Language not installed at {PARSER}: run `make node_modules/.installed` (npm ci)")
    done = subprocess.run(
        ["node", str(DRIVER)],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(done.stdout)
    assert len(results) == len(payload["queries"])
    return results
