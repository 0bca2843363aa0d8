"""``acrguard replay``: events from files, stdin or a dead-letter container, through the engine.

Every input is read and checked before the first ARM call; an event that raised still shows its
audit lines. The command is at the end; the container walk in acrguard/deadletter.py.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard.cli import render
from acrguard.cli.app import command
from acrguard.cli.params import argument, option
from acrguard.cli.render import Item
from acrguard.cli.run import CliError, Run, exit_code_for

if TYPE_CHECKING:
    from acrguard.audit import AuditRecord
    from acrguard.engine import Engine


class _Collector:
    """Audit listener keeping this run's records, so an event that raised still shows its lines."""

    def __init__(self) -> None:
        self.records: list[AuditRecord] = []

    def __call__(self, record: AuditRecord) -> None:
        self.records.append(record)

    def take(self) -> list[AuditRecord]:
        records, self.records = self.records, []
        return records


def _replay_event(engine: Engine, collector: _Collector, event: Any, source: str) -> Item:
    from acrguard.azure.arm import TransientArmError
    from acrguard.engine import RegistryResult

    collector.take()
    raised = None
    try:
        engine.handle(event, source="cli")
    except TransientArmError as exc:
        raised = exc
    records = collector.take()
    registry = next((r.registry for r in records if r.registry), None)
    outcome = "failed" if raised else RegistryResult(registry, records).outcome
    event_id = next((r.event_id for r in records if r.event_id), None)
    if event_id is None and isinstance(event, dict) and isinstance(event.get("id"), str):
        event_id = event["id"]
    return Item(registry, outcome, records, event_id, source)


def read_events(name: str, content: bytes) -> list[Any]:
    """The events of one file or blob, or CliError naming the input and what is wrong with it."""
    from acrguard.events import Skip, parse_event

    if not content.strip():
        raise CliError("empty input (no events)", input=name)
    try:
        payload = json.loads(content)
    except UnicodeDecodeError:
        raise CliError("not UTF-8 text", input=name) from None
    except json.JSONDecodeError as exc:
        raise CliError(
            f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", input=name
        ) from None
    except RecursionError:
        raise CliError("JSON nested too deeply to be an Event Grid event", input=name) from None
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise CliError(
            f"expected an event object or an array of events, got {type(payload).__name__}", input=name
        )
    if not payload:
        raise CliError("the array holds no event", input=name)
    for index, event in enumerate(payload):
        parsed = parse_event(event)
        # parse_event only leaves event_type unset when the event itself is malformed (a skip for
        # another reason, e.g. a storage account write, still names its type).
        if isinstance(parsed, Skip) and parsed.context.event_type is None:
            raise CliError(f"event #{index} is malformed: {parsed.reason}", input=name)
    return payload


def replay_files(run: Run, files: list[str]) -> None:
    inputs: list[tuple[str, list[Any]]] = []
    for name in files:
        label = "<stdin>" if name == "-" else name
        try:
            content = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read: {exc.strerror or exc}", input=label) from None
        inputs.append((label, read_events(label, content)))  # every input is checked before any ARM call
    engine = run.engine()
    collector = _Collector()
    engine.audit.add_listener(collector)
    items: list[Item] = []
    with engine.audit.batch():
        for label, events in inputs:
            items += [_replay_event(engine, collector, event, label) for event in events]
    _finish_replay(run, items, {})


def replay_dead_letter(run: Run, url: str, connection_string: str | None, delete: bool) -> None:
    from azure.core.exceptions import AzureError

    from acrguard import deadletter

    try:
        location = deadletter.parse_container_url(url)
        client = deadletter.container_client(location, connection_string)
    except ValueError as exc:
        raise CliError(str(exc), input="--dead-letter") from None
    engine = run.engine()
    collector = _Collector()
    engine.audit.add_listener(collector)
    items: list[Item] = []

    def handle(blob: deadletter.DeadLetterBlob) -> list[str] | None:
        try:
            events = read_events(blob.name, blob.content)
        except CliError as exc:
            run.error(blob.name, f"{exc}; blob kept")
            return None
        replayed = [_replay_event(engine, collector, event, blob.name) for event in events]
        items.extend(replayed)
        return [i.outcome for i in replayed] + [r.outcome for i in replayed for r in i.records]

    # A forced dry run (--dry-run, --mode dry-run, ACRGUARD_MODE=dry-run) deletes nothing at all.
    deleting = delete and not run.forced_dry_run
    try:
        with engine.audit.batch():
            stats = deadletter.replay(client, location.prefix, handle, delete=deleting)
    except AzureError as exc:
        raise CliError(_first_line(exc), input=location.url) from None
    except ValueError as exc:
        raise CliError(str(exc), input=location.url) from None
    if not run.json:
        kept = "" if not delete else f", {stats['blobs_deleted']} deleted, {stats['blobs_kept']} kept"
        note = " (dry-run: nothing deleted)" if delete and not deleting else ""
        render.console().print(
            f"{stats['blobs']} dead-letter blob(s) in {location.url}{kept}{note}", markup=False
        )
    _finish_replay(run, items, stats)


def _finish_replay(run: Run, items: list[Item], extra: dict[str, int]) -> None:
    outcomes = [i.outcome for i in items]
    summary = {**render.counts(outcomes), "events": len(items), **extra}
    if not run.json and items:
        render.console().print(render.replay_table(items))
    run.finish(exit_code_for(items, bool(run.errors)), summary, [i.to_dict() for i in items])


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


# --- the command ---------------------------------------------------------------------------------


@command
def replay(
    run: Run,
    files: Annotated[
        list[str] | None,
        argument(help="Event files (EventGridSchema, CloudEvents, arrays, dead-letter blobs); - for stdin."),
    ] = None,
    dead_letter: Annotated[
        str | None,
        option(
            "--dead-letter",
            metavar="URL",
            help="Dead-letter container URL: https://<account>.blob.core.windows.net/<container>[/prefix].",
        ),
    ] = None,
    delete_replayed: Annotated[
        bool,
        option(
            "--delete-replayed",
            help="Delete a blob once every event in it ended applied, compliant or skipped.",
        ),
    ] = False,
    connection_string: Annotated[
        str | None,
        option(
            "--connection-string",
            metavar="STRING",
            help="Storage connection string (Azurite); default: the identity.",
            envvar="AZURE_STORAGE_CONNECTION_STRING",
            show_envvar=True,
        ),
    ] = None,
) -> None:
    """Replay Event Grid events from files, stdin, or a dead-letter container."""
    if dead_letter and files:
        raise typer.BadParameter("give event files or --dead-letter, not both", param_hint="FILES")
    if delete_replayed and not dead_letter:
        raise typer.BadParameter("--delete-replayed needs --dead-letter", param_hint="--delete-replayed")
    if not dead_letter and not files:
        if sys.stdin.isatty():
            raise typer.BadParameter("give event files, - for stdin, or --dead-letter", param_hint="FILES")
        files = ["-"]
    if dead_letter:
        replay_dead_letter(run, dead_letter, connection_string, delete_replayed)
    else:
        replay_files(run, files or [])
