"""``acrguard``: the operator's entry point to the same engine the Function App runs.

Commands parse input and call the engine (``Engine.handle`` / ``process`` / ``reconcile``); the
decisions, audit lines and notifications are the engine's. Exit codes (docs/CLI.md):

    0  nothing to do, or everything fixed
    1  errors: failed decisions, transient ARM errors, invalid policy, unreadable input
    2  usage (bad options or arguments)
    3  drift found and left in place: planned (dry-run) or flagged (needs a person); for CI

stdout carries only the table or the JSON document; logs (audit lines with -v) go to stderr.
"""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard import cli_render as render
from acrguard.cli_render import Item

if TYPE_CHECKING:
    from acrguard.audit import AuditRecord
    from acrguard.engine import Engine
    from acrguard.settings import Settings


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    DRIFT = 3


class Output(enum.StrEnum):
    table = "table"
    json = "json"


class Mode(enum.StrEnum):
    dry_run = "dry-run"
    enforce = "enforce"


app = typer.Typer(
    name="acrguard",
    help="Check, sweep and fix Azure Container Registries against policies.yaml (same engine as the Function App).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# The global options, accepted before or after the command name (`acrguard -o json sweep` or
# `acrguard sweep -o json`). They are the ACRGUARD_* settings: given, they replace the variable.
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="Policy file.", envvar="ACRGUARD_POLICY_FILE", show_envvar=True),
]
ModeOpt = Annotated[
    Mode | None,
    typer.Option("--mode", help="Override the policy's mode.", envvar="ACRGUARD_MODE", show_envvar=True),
]
EndpointOpt = Annotated[
    str | None,
    typer.Option("--arm-endpoint", help="ARM endpoint.", envvar="ACRGUARD_ARM_ENDPOINT", show_envvar=True),
]
OutputOpt = Annotated[Output | None, typer.Option("--output", "-o", help="table (default) or json.")]
VerboseOpt = Annotated[int, typer.Option("--verbose", "-v", count=True, help="-v: audit lines; -vv: debug.")]
DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Decide and report, change nothing (exit 3 on drift).")
]


@dataclass
class Options:
    policy: Path | None = None
    mode: str | None = None
    arm_endpoint: str | None = None
    output: Output = Output.table
    verbose: int = 0

    def merged(
        self,
        policy: Path | None,
        mode: Mode | None,
        arm_endpoint: str | None,
        output: Output | None,
        verbose: int,
    ) -> Options:
        return Options(
            policy or self.policy,
            (mode.value if mode else None) or self.mode,
            arm_endpoint or self.arm_endpoint,
            output or self.output,
            max(verbose, self.verbose),
        )


_verbosity = 0  # for main(): print a traceback for unexpected errors only with -v


@app.callback()
def _globals(
    ctx: typer.Context,
    policy: PolicyOpt = None,
    mode: ModeOpt = None,
    arm_endpoint: EndpointOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    ctx.obj = Options().merged(policy, mode, arm_endpoint, output, verbose)


class CliError(Exception):
    """A user-facing error: one line on stderr (one per problem), exit 1, never a traceback."""

    def __init__(self, message: str, problems: list[tuple[str, str]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []  # (input, message) pairs, e.g. (policy file, "key.path: reason")


class Run:
    """One command's run: options applied to settings, the engine, and the rendering of results."""

    def __init__(self, ctx: typer.Context, command: str, opts: Options) -> None:
        global _verbosity
        self.command = command
        self.opts = opts
        self.json = opts.output is Output.json
        self.errors: list[dict[str, str]] = []
        self.mode: str | None = None  # the run's default mode, once the policy is loaded
        _verbosity = opts.verbose
        _configure_logging(opts.verbose)

    def settings(self) -> Settings:
        from acrguard.settings import Settings

        # The options mirror the settings: apply them to this process's environment so there is one
        # reading of every ACRGUARD_* value (Settings.from_env), e.g. the audience follows the endpoint.
        for name, value in (
            ("ACRGUARD_POLICY_FILE", self.opts.policy),
            ("ACRGUARD_MODE", self.opts.mode),
            ("ACRGUARD_ARM_ENDPOINT", self.opts.arm_endpoint),
        ):
            if value:
                os.environ[name] = str(value)
        try:
            return Settings.from_env()
        except ValueError as exc:
            raise CliError(str(exc)) from None

    def policy_settings(self) -> Settings:
        """The settings, once their policy file exists (else where it was looked for, and init)."""
        from acrguard.starter import missing_policy

        settings = self.settings()
        if problem := missing_policy(settings):
            raise CliError(problem, [(str(settings.policy_file), problem)])
        return settings

    def engine(self, dry_run: bool = False) -> Engine:
        from acrguard.policy import PolicyError
        from acrguard.runtime import build_engine

        settings = self.policy_settings()
        try:
            engine = build_engine(settings, "dry-run" if dry_run else None)
        except PolicyError as exc:
            problems = [(exc.file, f"{path or '<root>'}: {reason}") for path, reason in exc.problems]
            raise CliError("invalid policy", problems) from None
        self.mode = engine.policy.mode_override or engine.policy.doc.mode
        return engine

    def error(self, input: str | None, message: str) -> None:
        self.errors.append({"input": input or "", "message": message})
        # Plain write: an error line is never wrapped or styled (grep, CI logs).
        sys.stderr.write(f"acrguard: error: {input + ': ' if input else ''}{message}\n")

    def finish(self, code: ExitCode, summary: dict[str, Any], results: list[dict[str, Any]]) -> None:
        if self.json:
            render.print_json(
                render.document(
                    self.command,
                    mode=self.mode,
                    exit_code=int(code),
                    summary=summary,
                    results=results,
                    errors=self.errors,
                )
            )
        raise typer.Exit(int(code))


def exit_code_for(items: list[Item], errors: bool = False) -> ExitCode:
    """From every record, not only each registry's overall outcome: a registry whose outcome is
    ``applied`` may still hold a ``planned`` rule (a per-rule dry-run), which is drift left in place."""
    outcomes = {i.outcome for i in items} | {r.outcome for i in items for r in i.records}
    if errors or "failed" in outcomes:
        return ExitCode.ERROR
    if "planned" in outcomes or "flagged" in outcomes:
        return ExitCode.DRIFT
    return ExitCode.OK


def _command(ctx: typer.Context, name: str, *args: Any) -> Run:
    parent: Options = ctx.obj or Options()
    return Run(ctx, name, parent.merged(*args))


def _guard(run: Run, body: Any) -> None:
    """CliError -> one line + exit 1 (plus the JSON document, so scripts always get one)."""
    try:
        body()
    except CliError as exc:
        for input, message in exc.problems or [(None, str(exc))]:
            run.error(input, message)
        run.finish(ExitCode.ERROR, {}, [])


# --- replay -------------------------------------------------------------------------------------


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
    from acrguard.arm import TransientArmError
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
        raise CliError(f"{name}: empty input (no events)")
    try:
        payload = json.loads(content)
    except UnicodeDecodeError:
        raise CliError(f"{name}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CliError(f"{name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise CliError(f"{name}: JSON nested too deeply to be an Event Grid event") from None
    if isinstance(payload, dict):
        payload = [payload]
    if not isinstance(payload, list):
        raise CliError(
            f"{name}: expected an event object or an array of events, got {type(payload).__name__}"
        )
    if not payload:
        raise CliError(f"{name}: the array holds no event")
    for index, event in enumerate(payload):
        parsed = parse_event(event)
        # parse_event only leaves event_type unset when the event itself is malformed (a skip for
        # another reason, e.g. a storage account write, still names its type).
        if isinstance(parsed, Skip) and parsed.context.event_type is None:
            raise CliError(f"{name}: event #{index} is malformed: {parsed.reason}")
    return payload


@app.command()
def replay(
    ctx: typer.Context,
    files: Annotated[
        list[str] | None,
        typer.Argument(
            help="Event files (EventGridSchema, CloudEvents, arrays, dead-letter blobs); - for stdin.",
            show_default=False,
        ),
    ] = None,
    dead_letter: Annotated[
        str | None,
        typer.Option(
            "--dead-letter",
            help="Dead-letter container URL: https://<account>.blob.core.windows.net/<container>\\[/prefix].",
        ),
    ] = None,
    delete_replayed: Annotated[
        bool, typer.Option("--delete-replayed", help="Delete a blob once every event in it was handled.")
    ] = False,
    connection_string: Annotated[
        str | None,
        typer.Option(
            "--connection-string",
            help="Storage connection string (Azurite); default: the identity.",
            envvar="AZURE_STORAGE_CONNECTION_STRING",
            show_envvar=True,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    policy: PolicyOpt = None,
    mode: ModeOpt = None,
    arm_endpoint: EndpointOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Replay Event Grid events from files, stdin, or a dead-letter container."""
    run = _command(ctx, "replay", policy, mode, arm_endpoint, output, verbose)
    if dead_letter and files:
        raise typer.BadParameter("give event files or --dead-letter, not both", param_hint="FILES")
    if delete_replayed and not dead_letter:
        raise typer.BadParameter("--delete-replayed needs --dead-letter", param_hint="--delete-replayed")
    if not dead_letter and not files:
        if sys.stdin.isatty():
            raise typer.BadParameter("give event files, - for stdin, or --dead-letter", param_hint="FILES")
        files = ["-"]

    def body() -> None:
        if dead_letter:
            _replay_dead_letter(run, dead_letter, connection_string, delete_replayed, dry_run)
        else:
            _replay_files(run, files or [], dry_run)

    _guard(run, body)


def _replay_files(run: Run, files: list[str], dry_run: bool) -> None:
    inputs: list[tuple[str, list[Any]]] = []
    for name in files:
        label = "<stdin>" if name == "-" else name
        try:
            content = sys.stdin.buffer.read() if name == "-" else Path(name).read_bytes()
        except OSError as exc:
            raise CliError(f"cannot read {label}: {exc.strerror or exc}") from None
        inputs.append((label, read_events(label, content)))  # every input is checked before any ARM call
    engine = run.engine(dry_run)
    collector = _Collector()
    engine.audit.add_listener(collector)
    items: list[Item] = []
    with engine.audit.batch():
        for label, events in inputs:
            items += [_replay_event(engine, collector, event, label) for event in events]
    _finish_replay(run, items, {})


def _replay_dead_letter(
    run: Run, url: str, connection_string: str | None, delete: bool, dry_run: bool
) -> None:
    from azure.core.exceptions import AzureError

    from acrguard import deadletter

    try:
        location = deadletter.parse_container_url(url)
        client = deadletter.container_client(location, connection_string)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    engine = run.engine(dry_run)
    collector = _Collector()
    engine.audit.add_listener(collector)
    items: list[Item] = []
    stats = {"blobs": 0, "blobs_deleted": 0, "blobs_kept": 0}
    try:
        with engine.audit.batch():
            for blob in deadletter.iter_blobs(client, location.prefix):
                stats["blobs"] += 1
                try:
                    events = read_events(blob.name, blob.content)
                except CliError as exc:
                    run.error(blob.name, str(exc).removeprefix(f"{blob.name}: ") + "; blob kept")
                    stats["blobs_kept"] += 1
                    continue
                replayed = [_replay_event(engine, collector, event, blob.name) for event in events]
                items += replayed
                handled = all(i.outcome != "failed" for i in replayed)
                if delete and handled and not dry_run and deadletter.delete_if_unchanged(client, blob):
                    stats["blobs_deleted"] += 1
                else:
                    stats["blobs_kept"] += 1
    except AzureError as exc:
        raise CliError(f"{location.url}: {_first_line(exc)}") from None
    except ValueError as exc:
        raise CliError(str(exc)) from None
    if not run.json:
        kept = "" if not delete else f", {stats['blobs_deleted']} deleted, {stats['blobs_kept']} kept"
        note = " (dry-run: nothing deleted)" if delete and dry_run else ""
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


# --- check / explain ----------------------------------------------------------------------------


def _registry_ref(resource_id: str) -> Any:
    from acrguard.resource_ids import RegistryRef

    try:
        return RegistryRef.parse(resource_id)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="RESOURCE_ID") from None


@app.command()
def check(
    ctx: typer.Context,
    resource_id: Annotated[str, typer.Argument(help="Registry resource ID.", show_default=False)],
    dry_run: DryRunOpt = False,
    policy: PolicyOpt = None,
    mode: ModeOpt = None,
    arm_endpoint: EndpointOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Check one registry and fix it (or plan the fix with --dry-run); prints before/after."""
    run = _command(ctx, "check", policy, mode, arm_endpoint, output, verbose)
    ref = _registry_ref(resource_id)

    def body() -> None:
        from acrguard.arm import ArmError

        engine = run.engine(dry_run)
        listed = None
        if engine.policy.scope_reason(ref) is None:
            try:
                # Read first so that a mistyped ID is an error here, not a "skipped" decision.
                listed = engine.arm.get(ref)
            except ArmError as exc:
                raise CliError(str(exc)) from None
        result = engine.process(ref, listed=listed, source="cli")
        item = Item(result.registry, result.outcome, result.records)
        if not run.json:
            render.console().print(render.check_table(item))
        code = exit_code_for([item], result.error is not None)
        run.finish(code, render.counts([item.outcome]), [item.to_dict()])

    _guard(run, body)


@app.command()
def explain(
    ctx: typer.Context,
    resource_id: Annotated[str, typer.Argument(help="Registry resource ID.", show_default=False)],
    policy: PolicyOpt = None,
    mode: ModeOpt = None,
    arm_endpoint: EndpointOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Which rules apply to a registry, and why (scope, exemptions, the override that won). Never writes."""
    run = _command(ctx, "explain", policy, mode, arm_endpoint, output, verbose)
    ref = _registry_ref(resource_id)

    def body() -> None:
        from acrguard.arm import ArmError
        from acrguard.explain import explain as explain_registry

        engine = run.engine()
        registry = None
        if engine.policy.scope_reason(ref) is None:
            try:
                registry = engine.arm.get(ref)
            except ArmError as exc:
                raise CliError(str(exc)) from None
        explanation = explain_registry(engine.policy, ref, registry).to_dict()
        if not run.json:
            out = render.console()
            for part in render.explain_view(explanation):
                out.print(part)
        enabled = [r for r in explanation["rules"] if r["enabled"]]
        summary = {
            "rules": len(explanation["rules"]),
            "enabled": len(enabled),
            "drift": sum(r["verdict"] == "drift" for r in enabled),
        }
        run.finish(ExitCode.OK, summary, [explanation])

    _guard(run, body)


# --- sweep --------------------------------------------------------------------------------------


@app.command()
def sweep(
    ctx: typer.Context,
    subscription: Annotated[
        list[str] | None,
        typer.Option(
            "--subscription",
            "-s",
            help="Subscription ID (repeatable). Default: the policy's scope, else every visible one.",
            show_default=False,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="Concurrent registry decisions/writes (default ACRGUARD_SWEEP_CONCURRENCY).",
            show_default=False,
        ),
    ] = None,
    dry_run: DryRunOpt = False,
    policy: PolicyOpt = None,
    mode: ModeOpt = None,
    arm_endpoint: EndpointOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Every registry of the subscriptions, from list pages (no per-registry GET unless there is drift to fix)."""
    run = _command(ctx, "sweep", policy, mode, arm_endpoint, output, verbose)

    def body() -> None:
        from acrguard.arm import ArmError

        engine = run.engine(dry_run)
        with _progress() as advance:
            try:
                summary = engine.reconcile(
                    subscription or None, concurrency=concurrency, source="cli", on_result=advance
                )
            except ArmError as exc:  # listing the subscriptions themselves failed
                raise CliError(str(exc)) from None
        items = [Item(r.registry, r.outcome, r.records) for r in summary.results]
        counts = summary.counts
        stats = {**counts, "registries": len(items)}
        if not run.json:
            out = render.console()
            for table in render.sweep_tables(items, stats):
                out.print(table)
        code = exit_code_for(items, bool(summary.transient_errors))
        run.finish(code, stats, [i.to_dict() for i in items])

    _guard(run, body)


class _progress:
    """A progress bar on stderr, only when stdout is a terminal (never in pipes, CI logs or JSON)."""

    def __enter__(self) -> Any:
        self._bar = None
        if not sys.stdout.isatty():
            return lambda result: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

        self._bar = Progress(
            SpinnerColumn(),
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=render.err_console(),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task("sweeping registries", total=None)
        return lambda result: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


# --- validate -----------------------------------------------------------------------------------


@app.command()
def validate(
    ctx: typer.Context,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[POLICY]",
            help="Policy file (default: --policy / ACRGUARD_POLICY_FILE).",
            show_default=False,
        ),
    ] = None,
    policy: PolicyOpt = None,
    output: OutputOpt = None,
    verbose: VerboseOpt = 0,
) -> None:
    """Validate a policy file strictly: every problem with file, key path and reason. Exit 0 if valid."""
    run = _command(ctx, "validate", policy, None, None, output, verbose)

    def body() -> None:
        from acrguard.notify import config_problems
        from acrguard.policy import PolicyError, load_policy

        path = file or run.policy_settings().policy_file
        try:
            loaded = load_policy(path)
        except PolicyError as exc:
            source, problems = exc.file, list(exc.problems)
        else:
            source, problems = loaded.source, config_problems(loaded)
            run.mode = loaded.doc.mode
        items = [{"file": source, "path": p or "<root>", "reason": r} for p, r in problems]
        if not run.json:
            if problems:  # file: key.path: reason, one per line (what editors and CI logs parse)
                for path, reason in problems:
                    sys.stderr.write(f"{source}: {path or '<root>'}: {reason}\n")
            else:
                render.console().print(f"{source}: valid", markup=False)
        for item in items:
            run.errors.append({"input": source, "message": f"{item['path']}: {item['reason']}"})
        result = {"file": source, "valid": not problems, "problems": items}
        run.finish(ExitCode.ERROR if problems else ExitCode.OK, {"problems": len(problems)}, [result])

    _guard(run, body)


@app.command()
def init(ctx: typer.Context, output: OutputOpt = None, verbose: VerboseOpt = 0) -> None:
    """Write a commented starter policies.yaml into the current directory (never overwrites one)."""
    run = _command(ctx, "init", None, None, None, output, verbose)

    def body() -> None:
        from acrguard.starter import FILENAME, write_starter

        try:
            path = write_starter(Path.cwd())
        except FileExistsError:
            message = "exists already, left as it is; check it with `acrguard validate`"
            raise CliError(message, [(str(Path.cwd() / FILENAME), message)]) from None
        except OSError as exc:
            raise CliError(f"cannot write: {exc.strerror or exc}", [(str(Path.cwd()), str(exc))]) from None
        if not run.json:
            render.console().print(f"wrote {path}; next: acrguard validate", markup=False)
        run.finish(ExitCode.OK, {}, [{"file": str(path), "written": True}])

    _guard(run, body)


@app.command()
def schema() -> None:
    """Print the JSON Schema of policies.yaml (for editors: yaml-language-server, VS Code)."""
    from acrguard.schema import render as render_schema

    sys.stdout.write(render_schema())


# --- plumbing -----------------------------------------------------------------------------------


def _configure_logging(verbose: int) -> None:
    """stderr only. Quiet by default (warnings and failed decisions); -v adds the audit lines."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(plain)
    root.setLevel(level)
    audit = logging.getLogger("acrguard.audit")  # JSON lines, unprefixed, so they can be piped to jq
    audit.handlers = []
    raw = logging.StreamHandler(sys.stderr)
    raw.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(raw)
    audit.propagate = False
    audit.setLevel(level)
    logging.getLogger("azure").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)


def main() -> None:
    """Console script. Bugs print one line (the traceback with -v); user errors never print one."""
    try:
        app(prog_name="acrguard")
    except KeyboardInterrupt:
        sys.stderr.write("acrguard: interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if _verbosity:
            raise
        sys.stderr.write(
            f"acrguard: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)\n"
        )
        sys.exit(int(ExitCode.ERROR))


if __name__ == "__main__":
    main()
