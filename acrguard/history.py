"""A registry's decisions, newest first: what ``acrguard history`` shows and ``acrguard undo`` reads.

Two sources, one shape (the audit record with its ``time``):

- the **workspace** the Function App logs to: its audit lines land in Log Analytics' ``AppTraces``
  (docs/DEPLOY.md), queried with ``azure-monitor-query``'s ``LogsQueryClient``;
- a local **audit file** (``ACRGUARD_AUDIT_FILE``): the CLI and the demo append each decision to it
  as one JSON line (:class:`AuditFile`), so history works offline and in the tests.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from acrguard.audit import AuditRecord
from acrguard.policy.model import fold

log = logging.getLogger("acrguard.history")

_DURATION = re.compile(r"^\s*(\d{1,5})\s*([mhdw])\s*$", re.IGNORECASE)
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_SINCE = timedelta(days=730)  # Log Analytics keeps at most two years interactively


def parse_duration(text: str, *, what: str = "duration") -> timedelta:
    """``30m``, ``4h``, ``7d``, ``2w`` as a timedelta; ValueError naming the forms otherwise."""
    match = _DURATION.match(text or "")
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{what} must be a positive number and a unit (30m, 4h, 7d, 2w), got {text!r}")
    return timedelta(seconds=int(match.group(1)) * _UNIT_S[match.group(2).lower()])


class AuditFile:
    """An audit listener appending each record, with the time it was decided, as one JSON line.

    Appends are serialised in this process; each line is written by one ``write`` of a file
    opened for appending, so lines of two processes never interleave mid-line on a local disk.
    """

    def __init__(self, path: str | Path, clock: Any = None) -> None:
        self.path = Path(path)
        self._now = clock.time if clock is not None else None
        self._lock = threading.Lock()

    def __call__(self, record: AuditRecord) -> None:
        now = self._now() if self._now else datetime.now(UTC).timestamp()
        line = json.dumps({"time": _iso(now), **record.to_dict()}, sort_keys=True) + "\n"
        with self._lock, self.path.open("a", encoding="utf-8") as out:
            out.write(line)


@dataclass(frozen=True)
class Query:
    """Which decisions: one registry (its resource ID, or a bare name to match; None: every
    registry, as ``undo DECISION`` looks an ID up), since when, one rule."""

    registry: str | None
    since: datetime
    rule: str | None = None

    def matches(self, entry: dict[str, Any]) -> bool:
        if self.registry is None:
            return (self.rule is None or entry.get("rule") == self.rule) and _time(entry) >= self.since
        registry = str(entry.get("registry") or "")
        wanted = fold(self.registry)
        same = (
            fold(registry) == wanted if "/" in self.registry else fold(registry.rsplit("/", 1)[-1]) == wanted
        )
        return same and (self.rule is None or entry.get("rule") == self.rule) and _time(entry) >= self.since


def from_file(path: str | Path, query: Query) -> list[dict[str, Any]]:
    """The matching decisions in the audit file, newest first. A line that is not an audit record
    is skipped and counted in one warning (a file cut short by a crash keeps the rest readable)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"no audit file at {path} (ACRGUARD_AUDIT_FILE): nothing was recorded there yet"
        )
    found, bad = [], 0
    for entry in _lines(path):
        if entry is None:
            bad += 1
        elif query.matches(entry):
            found.append(entry)
    if bad:
        log.warning("%s: skipped %d line(s) that are not audit records", path, bad)
    return sorted(found, key=_time, reverse=True)


def kql(query: Query) -> str:
    """The workspace query for ``query``: the audit lines of AppTraces (infra/queries/ reads the
    same lines), parsed, for one registry. Values are KQL string literals, never spliced text."""
    registry = (
        "isnotempty(audit.outcome)"
        if query.registry is None
        else f"tolower(tostring(audit.registry)) == {_literal(query.registry.lower())}"
        if "/" in query.registry
        else f"tolower(tostring(audit.registry)) endswith {_literal('/' + query.registry.lower())}"
    )
    rule = f"\n| where tostring(audit.rule) == {_literal(query.rule)}" if query.rule else ""
    return (
        "AppTraces\n"
        f"| where TimeGenerated >= datetime({_iso(query.since.timestamp())})\n"
        '| where Message startswith "{" and Message has "outcome"\n'
        "| extend audit = parse_json(Message)\n"
        f"| where {registry}{rule}\n"
        "| project TimeGenerated, Message\n"
        "| order by TimeGenerated desc"
    )


class WorkspaceError(RuntimeError):
    """The workspace answered, but not with every matching decision."""


def from_workspace(
    workspace_id: str, credential: Any, query: Query, *, endpoint: str, transport: Any = None
) -> list[dict[str, Any]]:
    """The matching decisions in the Log Analytics workspace, newest first. A result the service cut
    short (a ``PartialError`` beside the rows, e.g. over its record limit) is refused: history that
    silently lacks decisions would mislead ``undo`` and the person reading it."""
    from azure.monitor.query import LogsQueryClient, LogsQueryStatus

    options = {"transport": transport} if transport is not None else {}
    client = LogsQueryClient(credential, endpoint=endpoint, **options)
    with client:
        answer = client.query_workspace(workspace_id, kql(query), timespan=None)
    if answer.status != LogsQueryStatus.SUCCESS:
        raise WorkspaceError(_partial(answer.partial_error))
    found = []
    for table in answer.tables:
        for row in table.rows:
            entry = _record(str(row["Message"]))
            if entry is not None:
                entry["time"] = _iso(row["TimeGenerated"].timestamp())
                found.append(entry)
    return sorted(found, key=_time, reverse=True)


def _partial(error: Any) -> str:
    """The service's partial error in words: its code, message and each detail's message."""
    details = [d.get("message") for d in (getattr(error, "details", None) or []) if isinstance(d, Mapping)]
    said = " ".join(str(part).strip() for part in (getattr(error, "message", ""), *details) if part)
    code = getattr(error, "code", None) or "PartialError"
    return (
        f"the workspace returned only part of the decisions ({code}: {said or 'no reason given'}); "
        "ask for fewer with a shorter --since or one --rule"
    )


def _lines(path: Path) -> Iterator[dict[str, Any] | None]:
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.strip():
                entry = _record(line)
                yield entry if entry is not None and _parsed_time(entry) is not None else None


def _record(text: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(text)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) and "outcome" in entry else None


def _time(entry: dict[str, Any]) -> datetime:
    return _parsed_time(entry) or datetime.min.replace(tzinfo=UTC)


def _parsed_time(entry: dict[str, Any]) -> datetime | None:
    try:
        parsed = datetime.fromisoformat(str(entry["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
