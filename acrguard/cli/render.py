"""What the CLI prints: rich tables for people, one stable JSON document (``acrguard/v1``) for machines.

The JSON document is the same for every command::

    {"schema": "acrguard/v1", "command": ..., "mode": ..., "exit_code": ...,
     "summary": {...}, "results": [...], "errors": [{"input": ..., "message": ...}]}

``results`` for replay, check and sweep are registry results ``{registry, outcome, event_id, input,
records: [audit records]}``; explain and validate have their own item shapes (docs/CLI.md).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from acrguard.audit import AuditRecord

SCHEMA = "acrguard/v1"
OUTCOMES = ("compliant", "applied", "planned", "flagged", "skipped", "failed")
_STYLES = {
    "applied": "green",
    "compliant": "dim green",
    "planned": "yellow",
    "flagged": "magenta",
    "skipped": "dim",
    "failed": "bold red",
}
MAX_TABLE_ROWS = 200


@dataclass
class Item:
    """One row of replay/check/sweep: one event or one registry, with its audit records."""

    registry: str | None
    outcome: str
    records: list[AuditRecord] = field(default_factory=list)
    event_id: str | None = None
    input: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "outcome": self.outcome,
            "event_id": self.event_id,
            "input": self.input,
            "records": [r.to_dict() for r in self.records],
        }

    @property
    def detail(self) -> str:
        """The reason of the record that decided the outcome (the most serious one)."""
        for record in self.records:
            if record.outcome == self.outcome:
                return f"{record.rule}: {record.reason}" if record.rule else record.reason
        return ""


def counts(outcomes: Iterable[str]) -> dict[str, int]:
    found = list(outcomes)
    return {o: found.count(o) for o in OUTCOMES}


def console() -> Console:
    """stdout; 200 columns when not a terminal, so piped tables and CI logs do not wrap at 80."""
    return Console(width=None if sys.stdout.isatty() else 200, soft_wrap=False)


def err_console() -> Console:
    return Console(stderr=True)


def print_json(document: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(document, indent=2, default=str) + "\n")
    sys.stdout.flush()


def document(
    command: str,
    *,
    mode: str | None,
    exit_code: int,
    summary: dict[str, Any],
    results: Sequence[dict[str, Any]],
    errors: Sequence[dict[str, str]] = (),
) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "command": command,
        "mode": mode,
        "exit_code": exit_code,
        "summary": summary,
        "results": list(results),
        "errors": list(errors),
    }


def _add_row(table: Table, *cells: Any) -> None:
    """Cells are data, never markup: a reason such as ``ipRules[0]`` or ``[/prefix]`` prints as is."""
    table.add_row(*(Text(c) if isinstance(c, str) else c for c in cells))


def _outcome(outcome: str) -> Text:
    return Text(outcome, style=_STYLES.get(outcome, ""))


def _short_registry(registry: str | None) -> str:
    if not registry:
        return "-"
    parts = registry.split("/")
    if len(parts) >= 9 and parts[-2].lower() == "registries":
        return f"{parts[-1]} ({parts[4]})"
    return registry


def _props(values: dict[str, Any] | None) -> str:
    """``key=value`` lines. An object or list goes on its own line, spaced after ``,`` and ``:``, so
    a narrow cell wraps it between tokens (compact JSON was one long word, folded mid-word)."""
    if not values:
        return "-"
    lines = []
    for key, value in values.items():
        text = json.dumps(value, default=str)
        lines.append(f"{key}=\n{text}" if isinstance(value, (dict, list)) else f"{key}={text}")
    return "\n".join(lines)


def replay_table(items: Sequence[Item]) -> Table:
    table = Table(title="Replayed events", show_lines=False)
    inputs = len({i.input for i in items}) > 1
    if inputs:
        table.add_column("input", overflow="fold")
    for name in ("event id", "registry", "outcome", "detail"):
        table.add_column(name, overflow="fold")
    for item in items[:MAX_TABLE_ROWS]:
        row = [item.event_id or "-", _short_registry(item.registry), _outcome(item.outcome), item.detail]
        _add_row(table, *([item.input or "-"] if inputs else []), *row)
    if len(items) > MAX_TABLE_ROWS:
        table.caption = f"{len(items) - MAX_TABLE_ROWS} more rows: use --output json"
    return table


def check_table(item: Item) -> Table:
    table = Table(title=f"{item.registry}: {item.outcome}", show_lines=True)
    for name in ("rule", "outcome", "before", "after", "reason"):
        table.add_column(name, overflow="fold")
    for record in item.records:
        _add_row(
            table,
            record.rule or "-",
            _outcome(record.outcome),
            _props(record.before),
            _props(record.after),
            record.reason + ("".join(f"\nnote: {n}" for n in record.notes)),
        )
    return table


def history_table(registry: str, found: Sequence[dict[str, Any]], since: str) -> Table:
    """``acrguard history``: one row per decision, newest first, with who caused it."""
    table = Table(
        title=f"{registry}: {len(found)} decision(s) in the last {since}, newest first", show_lines=True
    )
    for name in ("time", "rule", "outcome", "caller", "before", "after", "reason"):
        table.add_column(name, overflow="fold")
    for d in found:
        caller = d.get("caller") or {}
        _add_row(
            table,
            str(d.get("time", "")),
            d.get("rule") or "-",
            _outcome(str(d.get("outcome"))),
            caller.get("upn") or caller.get("name") or caller.get("appid") or caller.get("object_id") or "-",
            _props(d.get("before")),
            _props(d.get("after")),
            str(d.get("reason") or ""),
        )
    return table


FINDINGS = ("applied", "planned", "flagged", "failed")  # what a sweep table lists, record by record


def is_scope(registry: str | None) -> bool:
    """A sweep row about a subscription that was not swept (``/subscriptions/<id>``), not a registry."""
    return bool(registry) and "/providers/" not in registry.lower()


def _findings(item: Item) -> list[tuple[str, str, str]]:
    """(rule, outcome, reason) of every record worth a person's eye; a failure with no rule is one row."""
    rows = [(r.rule or "-", r.outcome, r.reason) for r in item.records if r.outcome in FINDINGS]
    return rows or [("-", item.outcome, item.detail)]


def sweep_tables(items: Sequence[Item], summary: dict[str, Any]) -> list[Table]:
    """The findings, one row per rule (a registry with several findings has several rows, its name
    on the first), then the summary."""
    tables = []
    attention = [i for i in items if i.outcome in FINDINGS]
    if attention:
        table = Table(title="Registries with drift or errors")
        for name in ("registry", "rule", "outcome", "reason"):
            table.add_column(name, overflow="fold")
        for item in attention[:MAX_TABLE_ROWS]:
            name = f"subscription {item.registry.rsplit('/', 1)[-1]}" if is_scope(item.registry) else None
            for n, (rule, outcome, reason) in enumerate(_findings(item)):
                label = (name or _short_registry(item.registry)) if n == 0 else ""
                _add_row(table, label, rule, _outcome(outcome), reason)
        if len(attention) > MAX_TABLE_ROWS:
            table.caption = f"{len(attention) - MAX_TABLE_ROWS} more registries: use --output json"
        tables.append(table)
    tables.append(summary_table(summary))
    return tables


def summary_table(summary: dict[str, Any]) -> Table:
    """Registries by outcome, then (apart, never in the registries' total) the subscriptions that
    could not be swept or were out of scope."""
    table = Table(title="Summary")
    table.add_column("outcome")
    table.add_column("registries", justify="right")
    for outcome in OUTCOMES:
        label = "remediated (applied)" if outcome == "applied" else outcome
        _add_row(
            table, _outcome(label) if outcome != "applied" else Text(label, "green"), str(summary[outcome])
        )
    table.add_section()
    _add_row(table, "total", str(sum(summary[o] for o in OUTCOMES)))
    scopes = summary.get("subscriptions") or {}
    if scopes:
        table.add_section()
        for outcome, count in scopes.items():
            _add_row(table, Text.assemble("subscriptions ", _outcome(outcome)), str(count))
    return table


def explain_view(explanation: dict[str, Any]) -> list[Any]:
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column(overflow="fold")
    _add_row(head, "registry", explanation["registry"])
    _add_row(head, "sku", explanation["sku"] or "-")
    tags = explanation["tags"]
    _add_row(head, "tags", ", ".join(f"{k}={v}" for k, v in tags.items()) or "-")
    _add_row(head, "in scope", "yes" if explanation["in_scope"] else "no")
    _add_row(head, "exempt", explanation["exempt_reason"] or "no")
    override = explanation["override"]
    if override:
        label = f" ({override['description']})" if override["description"] else ""
        won = f"#{override['index']}{label}, match {json.dumps(override['match'])} (first match wins)"
    else:
        won = "none matched: base rules apply"
    _add_row(head, "override", won)
    if explanation["also_matched"]:
        shadowed = ", ".join(f"#{i}" for i in explanation["also_matched"])
        _add_row(head, "", f"also matched but shadowed: {shadowed}")
    _add_row(head, "mode", explanation["mode"] or "-")
    _add_row(head, "trace", "\n".join(explanation["trace"]))
    parts: list[Any] = [head]
    if explanation["rules"]:
        table = Table(title="Rules", show_lines=True)
        for name in ("rule", "enabled", "settings from", "mode", "mode from", "verdict now", "reason"):
            table.add_column(name, overflow="fold")
        for rule in explanation["rules"]:
            _add_row(
                table,
                rule["name"],
                "yes" if rule["enabled"] else "no",
                rule["config_from"],
                rule["mode"] or "-",
                rule["mode_from"] or "-",
                rule["verdict"],
                rule["reason"],
            )
        parts.append(table)
    return parts
