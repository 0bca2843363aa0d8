"""``acrguard``: the operator's entry point to the same engine the Function App runs.

Commands parse input and call the engine (``Engine.handle`` / ``process`` / ``reconcile``); the
decisions, audit lines and notifications are the engine's. Exit codes (docs/CLI.md):

    0  nothing to do, or everything fixed
    1  errors: failed decisions, transient ARM errors, invalid policy or settings, unreadable input
    2  usage (bad options or arguments)
    3  drift found and left in place: planned (dry-run) or flagged (needs a person); for CI

stdout carries only the table or the JSON document; logs (audit lines with -v) go to stderr.
The global options and the run's plumbing live in acrguard/cli_run.py.
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from acrguard import cli_render as render
from acrguard import cli_replay, cli_run
from acrguard.cli_help import Command
from acrguard.cli_render import Item
from acrguard.cli_run import GLOBAL_OPTIONS, CliError, ExitCode, Options, Run, exit_code_for
from acrguard.iac.command import check_iac

if TYPE_CHECKING:
    from acrguard.engine import Engine

app = typer.Typer(
    name="acrguard",
    help="Check, sweep and fix Azure Container Registries against policies.yaml (same engine as the Function App).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help and usage errors (acrguard/cli_help.py says why)
    context_settings={"help_option_names": ["-h", "--help"]},
)

_CTX = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
_GLOBAL_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
    for name, (annotation, default) in GLOBAL_OPTIONS.items()
]


def _take_globals(kwargs: dict[str, Any]) -> Options:
    return Options(**{name: kwargs.pop(name) for name in GLOBAL_OPTIONS})


def _version() -> str:
    """From the installed package's metadata (pyproject.toml's version), never a second copy."""
    from importlib.metadata import version

    return f"acrguard {version('acrguard')}"


def _print_version(value: bool) -> None:
    if value:
        sys.stdout.write(_version() + "\n")
        raise typer.Exit()


_VERSION = inspect.Parameter(
    "version",
    inspect.Parameter.KEYWORD_ONLY,
    default=False,
    annotation=Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit."),
    ],
)


def _globals(ctx: typer.Context, version: bool = False, **kwargs: Any) -> None:
    """The global options given before the command name."""
    ctx.obj = _take_globals(kwargs)


_globals.__signature__ = inspect.Signature([_CTX, *_GLOBAL_PARAMS, _VERSION])  # type: ignore[attr-defined]
app.callback()(_globals)


def command(fn: Callable[..., None]) -> Callable[..., None]:
    """Register ``fn(run, ...)`` as a command that also takes every global option (after its name).

    A :class:`CliError` from ``fn`` becomes one line per problem and exit 1.
    """
    own = [p for p in inspect.signature(fn, eval_str=True).parameters.values() if p.name != "run"]
    targeted = any(p.name == "target" for p in own)  # fn(run, target): RESOURCE_ID or -n/-g/-s
    if targeted:
        own = [q for p in own for q in (_TARGET_PARAMS if p.name == "target" else [p])]

    @functools.wraps(fn)
    def wrapper(ctx: typer.Context, **kwargs: Any) -> None:
        try:  # two different --mode values: a usage error before anything runs
            opts = (ctx.obj or Options()).then(_take_globals(kwargs))
        except ValueError as exc:
            raise typer.BadParameter(str(exc), ctx, param_hint="--mode") from None
        if targeted:
            kwargs["target"] = tuple(kwargs.pop(p.name) for p in _TARGET_PARAMS)
        run = Run(fn.__name__, opts)
        try:
            fn(run, **kwargs)
        except CliError as exc:
            run.fail(exc)

    wrapper.__signature__ = inspect.Signature([_CTX, *own, *_GLOBAL_PARAMS])  # type: ignore[attr-defined]
    app.command(fn.__name__, cls=Command)(wrapper)
    return fn


# --- replay (its loops: acrguard/cli_replay.py) -------------------------------------------------------------------------------------


@command
def replay(
    run: Run,
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
            metavar="URL",
            help="Dead-letter container URL: https://<account>.blob.core.windows.net/<container>[/prefix].",
        ),
    ] = None,
    delete_replayed: Annotated[
        bool,
        typer.Option(
            "--delete-replayed",
            help="Delete a blob once every event in it ended applied, compliant or skipped.",
        ),
    ] = False,
    connection_string: Annotated[
        str | None,
        typer.Option(
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
        cli_replay.replay_dead_letter(run, dead_letter, connection_string, delete_replayed)
    else:
        cli_replay.replay_files(run, files or [])


# --- check / explain ----------------------------------------------------------------------------

_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

ResourceIdArg = Annotated[
    str | None,
    typer.Argument(
        metavar="RESOURCE_ID",
        help="Registry resource ID (or --name, as az acr takes it).",
        show_default=False,
    ),
]
NameOpt = Annotated[
    str | None,
    typer.Option(
        "--name", "-n", metavar="NAME", help="Registry name, instead of RESOURCE_ID.", show_default=False
    ),
]
GroupOpt = Annotated[
    str | None,
    typer.Option(
        "--resource-group",
        "-g",
        metavar="GROUP",
        help="Its resource group (with --name).",
        show_default=False,
    ),
]


def _subscription_id(value: str | None) -> str | None:
    if value is not None and not _GUID.match(value):
        raise typer.BadParameter(
            f"{value!r} is not a subscription ID (a GUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )
    return value.lower() if value else None


SubscriptionOpt = Annotated[
    str | None,
    typer.Option(
        "--subscription",
        "-s",
        metavar="GUID",
        callback=_subscription_id,
        help="Its subscription (with --name). Default: the policy's scope, else every visible one.",
        show_default=False,
    ),
]
#: RESOURCE_ID, -n, -g, -s: the parameters a ``target`` stands for (``@command`` puts them in its place).
_TARGET_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation)
    for name, annotation in (
        ("resource_id", ResourceIdArg),
        ("name", NameOpt),
        ("resource_group", GroupOpt),
        ("subscription", SubscriptionOpt),
    )
]
Target = tuple[str | None, str | None, str | None, str | None]  # (resource ID, name, group, subscription)
_NAME_CHARS = re.compile(r"^[A-Za-z0-9]{1,50}$")  # alphanumerics: how ACR names are written


def _id_form(name: str, subscription: str = "<subscription>", group: str = "<group>") -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"


def _registry_ref(
    resource_id: str | None, name: str | None, group: str | None, subscription: str | None
) -> Any:
    """The registry when the command line names it fully (a resource ID, or -n with -g and
    --subscription), None when a name is to be looked up; a usage error, before any ARM call, else."""
    from acrguard.resource_ids import RegistryRef

    if resource_id and name:
        raise typer.BadParameter("give RESOURCE_ID or --name, not both", param_hint="RESOURCE_ID")
    if name and not (group and subscription):
        return None  # looked up by name once there is an engine
    if name:
        resource_id = _id_form(name, str(subscription), str(group))
    elif group or subscription:
        raise typer.BadParameter("-g and --subscription go with -n NAME", param_hint="--name")
    shown = (resource_id or "").strip()
    hint = shown if _NAME_CHARS.match(shown) else "NAME"
    form = f"write {_id_form(hint)}, or -n {hint} [-g GROUP] [--subscription GUID] as az acr takes it"
    if not shown:
        raise typer.BadParameter(f"which registry? {form}", param_hint="RESOURCE_ID")
    try:
        return RegistryRef.parse(shown)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; {form}", param_hint="--name" if name else "RESOURCE_ID") from None


def _target(
    run: Run, resource_id: str | None, name: str | None, group: str | None, subscription: str | None
) -> tuple[Engine, Any]:
    """The engine and the registry the command line names: usage errors first, then the lookup."""
    ref = _registry_ref(resource_id, name, group, subscription)
    engine = run.engine()
    return engine, ref or _by_name(engine, name or "", group, subscription)


def _by_name(engine: Engine, name: str, group: str | None, subscription: str | None) -> Any:
    """The one registry called ``name`` (in ``group``) in the scoped subscriptions' registry lists
    (the sweep's path). ACR names are unique across Azure, but two matches (emulated, or another
    cloud's data) are listed, never guessed between."""
    from acrguard.arm import ArmError
    from acrguard.resource_ids import RegistryRef

    try:
        subs = (
            [subscription]
            if subscription
            else list(engine.policy.subscriptions or engine.arm.list_subscriptions())
        )
        scoped = [
            s
            for s in subs
            if engine.policy.scope_reason(RegistryRef(s.lower(), "scope-check", "scopecheck")) is None
        ]
        found = []
        for sub in scoped:
            for registry in engine.arm.list_registries(sub):
                try:
                    ref = RegistryRef.parse(registry.id)
                except ValueError:
                    continue
                if ref.name.lower() == name.lower() and (
                    not group or ref.resource_group.lower() == group.lower()
                ):
                    found.append(ref)
    except ArmError as exc:
        raise CliError(str(exc), input=name) from None
    if len(found) == 1:
        return found[0]
    where = (f" in resource group {group}" if group else "") + (
        f" in subscription {', '.join(scoped)}" if len(scoped) == 1 else f" in {len(scoped)} subscriptions"
    )
    if not found:
        outside = (
            f" ({len(subs) - len(scoped)} out of the policy's scope not searched)"
            if len(scoped) < len(subs)
            else ""
        )
        raise CliError(
            f"no registry named {name}{where}{outside}; give its resource ID: {_id_form(name)}", input=name
        )
    listed = ", ".join(ref.resource_id for ref in found)
    raise CliError(
        f"{len(found)} registries named {name}{where}: {listed}; pick one with -g GROUP and --subscription GUID",
        input=name,
    )


def _read(engine: Engine, ref: Any, children: bool = False) -> Any:
    """The registry (with ``children``: and the child collections its enabled rules need, none for
    the default policy), read first so that a mistyped ID is an error here, not a "skipped" decision."""
    from acrguard.arm import ArmError

    if engine.policy.scope_reason(ref) is not None:
        return (None, None) if children else None  # out of scope: never read
    try:
        registry = engine.arm.get(ref)
        return (registry, engine.children(ref, registry)) if children else registry
    except ArmError as exc:
        raise CliError(str(exc), input=ref.resource_id) from None


@command
def check(run: Run, target: Target) -> None:
    """Check one registry and fix it (or plan the fix with --dry-run); prints before/after."""
    engine, ref = _target(run, *target)
    result = engine.process(ref, listed=_read(engine, ref), source="cli")
    item = Item(result.registry, result.outcome, result.records)
    if not run.json:
        render.console().print(render.check_table(item))
    code = exit_code_for([item], result.error is not None)
    run.finish(code, render.counts([item.outcome]), [item.to_dict()])


@command
def explain(run: Run, target: Target) -> None:
    """Which rules apply to a registry, and why (scope, exemptions, the override that won). Never writes."""
    from acrguard.explain import explain as explain_registry

    engine, ref = _target(run, *target)
    explanation = explain_registry(engine.policy, ref, *_read(engine, ref, children=True)).to_dict()
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


# --- sweep --------------------------------------------------------------------------------------


def _subscriptions(values: list[str] | None) -> list[str] | None:
    return [_subscription_id(v) for v in values] if values else None  # type: ignore[misc]


@command
def sweep(
    run: Run,
    subscription: Annotated[
        list[str] | None,
        typer.Option(
            "--subscription",
            "-s",
            metavar="GUID",
            callback=_subscriptions,
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
    tenant: Annotated[
        bool,
        typer.Option(
            "--tenant",
            help="Every subscription the identity can read, through Azure Resource Graph (policy pushed down).",
        ),
    ] = False,
    management_group: Annotated[
        list[str] | None,
        typer.Option(
            "--management-group",
            "-m",
            metavar="ID",
            help="Management group (repeatable), through Azure Resource Graph.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Every registry of the subscriptions, from list pages (no per-registry GET unless there is drift to fix).

    With --tenant or --management-group, one Resource Graph query finds the registries that may
    violate the policy; if Resource Graph is unavailable, --tenant falls back to the list and says so.
    """
    from acrguard import graph_sweep
    from acrguard.arm import ArmError

    if sum(map(bool, (subscription, tenant, management_group))) > 1:
        raise typer.BadParameter("give one of --subscription, --tenant or --management-group")
    engine = run.engine()
    with _progress() as advance:
        try:
            if tenant or management_group:
                summary = graph_sweep.sweep(
                    engine,
                    management_groups=management_group,
                    concurrency=concurrency,
                    source="cli",
                    on_result=advance,
                )
            else:
                summary = engine.reconcile(
                    subscription, concurrency=concurrency, source="cli", on_result=advance
                )
        except ArmError as exc:  # listing the subscriptions themselves failed
            endpoint = urlsplit(run.settings().arm_endpoint)  # scheme and host only: never a path
            raise CliError(str(exc), input=f"{endpoint.scheme}://{endpoint.hostname}/subscriptions") from None
    items = [Item(r.registry, r.outcome, r.records) for r in summary.results]
    registries = [i for i in items if not render.is_scope(i.registry)]  # apart: subscriptions not swept
    scopes = render.counts(i.outcome for i in items if render.is_scope(i.registry))
    stats = {
        **render.counts(i.outcome for i in registries),
        "registries": len(registries),
        "subscriptions": {outcome: n for outcome, n in scopes.items() if n},
        **summary.details,
    }
    if summary.in_transition:  # left unwritten while ARM created, updated or deleted them
        stats["in_transition"] = summary.in_transition
    if fallback := summary.details.get("fallback"):
        render.err_console().print(f"note: {fallback}")
    elif summary.details.get("source") == "resource-graph" and not run.json:
        render.err_console().print(graph_sweep.describe(summary.details))
    if not run.json:
        out = render.console()
        for table in render.sweep_tables(items, stats):
            out.print(table)
    code = exit_code_for(items, bool(summary.transient_errors))
    run.finish(code, stats, [i.to_dict() for i in items])


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


@command
def validate(
    run: Run,
    file: Annotated[
        Path | None,
        typer.Argument(
            metavar="[POLICY]",
            help="Policy file (default: --policy / ACRGUARD_POLICY_FILE).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Validate a policy file strictly: every problem with file, key path and reason. Exit 0 if valid."""
    from acrguard.notify import config_problems
    from acrguard.policy import PolicyError, load_policy

    if file is not None:
        run.name_policy(file, "the command line")
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
        # The problems are this command's output (`validate bad.yaml > out.txt`): stdout, one per
        # line as file: key.path: reason (what editors and CI logs parse).
        for path, reason in problems:
            sys.stdout.write(f"{source}: {path or '<root>'}: {reason}\n")
        if not problems:
            render.console().print(f"{source}: valid", markup=False)
    for item in items:
        run.errors.append({"input": source, "message": f"{item['path']}: {item['reason']}"})
    result = {"file": source, "valid": not problems, "problems": items}
    run.finish(ExitCode.ERROR if problems else ExitCode.OK, {"problems": len(problems)}, [result])


# --- init / schema -------------------------------------------------------------------------------


@command
def init(run: Run) -> None:
    """Write a commented starter policy where the next command will read it: --policy, else
    ACRGUARD_POLICY_FILE, else ./policies.yaml (never overwrites a file)."""
    from acrguard.starter import write_starter

    target = run.settings().policy_file.absolute()
    try:
        path = write_starter(target)
    except FileExistsError:
        message = "exists already, left as it is; check it with `acrguard validate`"
        raise CliError(message, [(str(target), message)]) from None
    except OSError as exc:
        raise CliError(str(exc), [(str(target), f"cannot write: {exc.strerror or exc}")]) from None
    if not run.json:
        render.console().print(f"wrote {path}; next: acrguard validate", markup=False)
    run.finish(ExitCode.OK, {}, [{"file": str(path), "written": True}])


@app.command(cls=Command)
def version() -> None:
    """Print the version (the installed package's), as --version does."""
    sys.stdout.write(_version() + "\n")


@app.command(cls=Command)
def schema() -> None:
    """Print the JSON Schema of policies.yaml (for editors: yaml-language-server, VS Code)."""
    from acrguard.schema import render as render_schema

    sys.stdout.write(render_schema())


# --- rules: the catalogue (acrguard/catalogue.py) ------------------------------------------------


@command
def rules(run: Run) -> None:
    """List every rule: fix type, default, severity, SKUs, Azure Policy and PSRule IDs, RBAC actions."""
    from acrguard import catalogue

    listed = catalogue.rules()
    if not run.json:
        render.console().print(catalogue.table())
    run.finish(ExitCode.OK, {"rules": len(listed)}, listed)


command(check_iac)  # acrguard/iac/command.py: templates and plans, before deployment

# --- plumbing -----------------------------------------------------------------------------------


def main() -> None:
    """Console script. Bugs print one line (the traceback with -v); user errors never print one."""
    try:
        app(prog_name="acrguard")
    except KeyboardInterrupt:
        sys.stderr.write("acrguard: interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if cli_run.verbosity:
            raise
        sys.stderr.write(
            f"acrguard: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)\n"
        )
        sys.exit(int(ExitCode.ERROR))


if __name__ == "__main__":
    main()
