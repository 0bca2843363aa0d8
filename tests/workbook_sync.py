"""infra/workbook/acrguard.workbook.json's queries, filled in from infra/queries/workbook-*.kql.

The workbook's layout (titles, charts, the time range) lives in the JSON file, which Bicep loads as
the workbook's ``serializedData`` (infra/modules/workbook.bicep); each query lives once, in the
``.kql`` file named after the item (item ``drift`` runs ``workbook-drift.kql``), where the Kusto
parser check and the logic tests read it (tests/infra/test_alert_queries.py). ``python -m
tests.workbook_sync`` copies the queries into the JSON; tests/infra/test_alerts_infra.py fails when
the JSON is stale. ``__WORKSPACE_ID__`` is replaced by the Log Analytics workspace at deployment.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

try:
    from tests.deploy_params import rewrite  # python -m tests.workbook_sync
except ModuleNotFoundError:  # imported by a test, with tests/ on the path
    from deploy_params import rewrite

ROOT = Path(__file__).resolve().parents[1]
WORKBOOK = ROOT / "infra" / "workbook" / "acrguard.workbook.json"
QUERIES = ROOT / "infra" / "queries"
PREFIX = "workbook-"


def query_items(workbook: dict[str, Any]) -> list[dict[str, Any]]:
    """The workbook's query items (``type`` 3, ``KqlItem/1.0``)."""
    return [item for item in workbook["items"] if item.get("type") == 3]


def query_file(item: dict[str, Any]) -> Path:
    return QUERIES / f"{PREFIX}{item['name']}.kql"


def synced(workbook: dict[str, Any]) -> dict[str, Any]:
    """``workbook`` with each query item's query read from its ``.kql`` file."""
    for item in query_items(workbook):
        item["content"]["query"] = query_file(item).read_text(encoding="utf-8")
    return workbook


def render(text: str) -> str:
    """The workbook JSON ``text`` with its queries from the ``.kql`` files."""
    return json.dumps(synced(json.loads(text)), indent=2, ensure_ascii=False) + "\n"


def main() -> int:
    return rewrite(WORKBOOK, render, "the query text")


if __name__ == "__main__":
    sys.exit(main())
