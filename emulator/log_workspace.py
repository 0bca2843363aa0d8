"""A Log Analytics workspace in miniature: what the emulator's query API (emulator/log_analytics.py)
answers from, and what the alert and workbook tests run their queries over.

Holds the three tables the queries read (tests/data/log_analytics_tables.json, Azure Monitor's own
column list), filled the way Azure fills them from a deployment:

- ``AppTraces``: one row per line on the ``acrguard.audit`` logger while :meth:`Workspace.capture`
  is on (``TimeGenerated`` is the log record's time, ``Message`` the line as logged), which is what
  the Functions host forwards to Application Insights;
- ``AppRequests``: one row per function invocation made through :meth:`Workspace.invoke` (``Name``
  is the function's name, ``Success`` whether it returned), which is how the host records them;
- ``StorageBlobLogs``: rows given by the test (:meth:`Workspace.blob_log`), in the storage log shape.

The queries run in duckdb-kql (PyPI ``duckdb-kql``: KQL translated to DuckDB SQL), a maintained KQL
engine; Microsoft's parser checks the same text separately (tests/infra/test_alert_queries.py).
duckdb-kql comes with the dev extra: the emulator imports this module only when a workspace is made.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb_kql

ROOT = Path(__file__).resolve().parents[1]  # the emulator runs from a clone (see pyproject.toml)
TABLES: dict[str, dict[str, str]] = json.loads(
    (ROOT / "tests" / "data" / "log_analytics_tables.json").read_text(encoding="utf-8")
)["tables"]
_SQL_TYPES = {
    "string": "VARCHAR",
    "int": "INTEGER",
    "long": "BIGINT",
    "real": "DOUBLE",
    "bool": "BOOLEAN",
    "datetime": "TIMESTAMP",
    "dynamic": "JSON",
}
#: Application Insights' severity of a Python log level (Information 1, Warning 2, Error 3).
_SEVERITY = {logging.INFO: 1, logging.WARNING: 2, logging.ERROR: 3}
ROLE = "func-acrguard-test"


def utc(timestamp: float) -> datetime:
    """A TimeGenerated value: naive UTC, as the tables store it."""
    return datetime.fromtimestamp(timestamp, UTC).replace(tzinfo=None)


class Workspace(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.con = duckdb_kql.connect()
        self._guard = threading.Lock()
        self._followed: tuple[Path, int] | None = None  # an audit file, and the bytes read from it
        for table, columns in TABLES.items():
            body = ", ".join(f'"{name}" {_SQL_TYPES[kind]}' for name, kind in columns.items())
            self.con.execute(f'CREATE TABLE "{table}" ({body})')

    def insert(self, table: str, **row: Any) -> None:
        unknown = set(row) - set(TABLES[table])
        assert not unknown, f"{table} has no column(s) {unknown}"
        names = ", ".join(f'"{name}"' for name in row)
        with self._guard:
            self.con.execute(
                f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(row))})', list(row.values())
            )

    # -- AppTraces: the audit logger, as the host forwards it ------------------------------------

    def emit(self, record: logging.LogRecord) -> None:
        self.insert(
            "AppTraces",
            TimeGenerated=utc(record.created),
            Message=record.getMessage(),
            SeverityLevel=_SEVERITY.get(record.levelno, 1),
            AppRoleName=ROLE,
            Type="AppTraces",
        )

    @contextmanager
    def capture(self) -> Iterator[Workspace]:
        logger = logging.getLogger("acrguard.audit")
        level = logger.level
        logger.setLevel(logging.INFO)
        logger.addHandler(self)
        try:
            yield self
        finally:
            logger.removeHandler(self)
            logger.setLevel(level)

    def trace(self, line: dict[str, Any], at: float) -> None:
        """An audit line as logged at ``at``: for a field a newer writer adds (see its test)."""
        self.insert("AppTraces", TimeGenerated=utc(at), Message=json.dumps(line), AppRoleName=ROLE)

    def ingest_audit_file(self, path: str | Path) -> int:
        """The lines of a local audit file (``ACRGUARD_AUDIT_FILE``: each a record with its ``time``)
        as the traces the Function App would have logged; returns how many. A line that is not a
        timed record is refused, naming the file and line, rather than silently dropped."""
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        bad = self._ingest(lines)
        if bad:
            raise ValueError(f"{path}:{bad[0]}: not an audit record with its time")
        return sum(1 for line in lines if line.strip())

    def follow(self, path: str | Path) -> None:
        """Before each query, read the lines appended to this audit file since the last one (the
        standalone emulator's ``--log-workspace ID=FILE``: the demo's CLI appends, ``history
        --workspace`` reads). A line that is not a timed record is skipped with a warning."""
        self._followed = (Path(path), 0)

    def _catch_up(self) -> None:
        if self._followed is None or not self._followed[0].exists():
            return
        path, done = self._followed
        with path.open("rb") as trail:
            trail.seek(done)
            data = trail.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits for the next query
        self._followed = (path, done + len(complete))
        bad = self._ingest(complete.decode("utf-8", errors="replace").splitlines())
        if bad:
            logging.getLogger("emulator").warning(
                "%s: skipped %d line(s) that are not audit records", path, len(bad)
            )

    def _ingest(self, lines: list[str]) -> list[int]:
        """Each line as a trace at its ``time``; the numbers (from 1) of those that are not timed records."""
        bad = []
        for number, text in enumerate(lines, 1):
            if not text.strip():
                continue
            try:
                entry = json.loads(text)
                at = datetime.fromisoformat(str(entry.pop("time")).replace("Z", "+00:00"))
            except (ValueError, KeyError, AttributeError, TypeError):
                bad.append(number)
                continue
            self.trace(entry, at.timestamp())
        return bad

    # -- AppRequests: one per invocation -----------------------------------------------------------

    def invoke(self, name: str, function: Callable[..., Any], *args: Any) -> BaseException | None:
        """Run a function as the host does and record its request; the exception it raised, if any."""
        started = time.time()
        error: BaseException | None = None
        try:
            function(*args)
        except Exception as exc:  # the host records the failure; the test looks at it
            error = exc
        self.insert(
            "AppRequests",
            TimeGenerated=utc(started),
            Name=name,
            OperationName=name,
            Success=error is None,
            ResultCode="0" if error is None else "1",
            DurationMs=(time.time() - started) * 1000,
            AppRoleName=ROLE,
            Type="AppRequests",
        )
        return error

    # -- StorageBlobLogs ---------------------------------------------------------------------------

    def blob_log(self, at: float, operation: str, uri: str, status: str = "Success") -> None:
        category = "StorageDelete" if operation.startswith("Delete") else "StorageWrite"
        self.insert(
            "StorageBlobLogs",
            TimeGenerated=utc(at),
            OperationName=operation,
            Category=category,
            Uri=uri,
            StatusText=status,
            StatusCode="202" if operation.startswith("Delete") else "201",
            AccountName=uri.split("//")[1].split(".")[0],
            Type="StorageBlobLogs",
        )

    # -- queries -----------------------------------------------------------------------------------

    def execute(self, text: str, limit: int) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
        """Columns (name, DuckDB type) and at most ``limit`` rows: what the query API answers from."""
        self._catch_up()
        with self._guard:  # one connection: one query at a time
            result = duckdb_kql.query(self.con, text)
            return [(d[0], str(d[1])) for d in result.description], result.limit(limit).fetchall()

    def query(self, text: str) -> list[dict[str, Any]]:
        result = duckdb_kql.query(self.con, text)
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
