"""The Azure contract shared with infra/: handled events and operations, and the RBAC actions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CONTRACT_FILE = Path(__file__).with_name("azure_contract.json")
CONTRACT: dict[str, Any] = json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))
