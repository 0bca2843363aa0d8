"""The miniature Log Analytics workspace now lives in the emulator (emulator/log_workspace.py),
which serves it over the query API; the alert and workbook tests import it from here."""

from emulator.log_workspace import ROLE, TABLES, Workspace, utc

__all__ = ["ROLE", "TABLES", "Workspace", "utc"]
