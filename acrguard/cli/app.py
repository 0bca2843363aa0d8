"""``acrguard``: the operator's entry point to the same engine the Function App runs.

Commands parse input and call the engine (``Engine.handle`` / ``process`` / ``reconcile``); the
decisions, audit lines and notifications are the engine's. Exit codes (docs/CLI.md):

    0  nothing to do, or everything fixed
    1  errors: failed decisions, transient ARM errors, invalid policy or settings, unreadable input
    2  usage (bad options or arguments)
    3  drift found and left in place: planned (dry-run) or flagged (needs a person); for CI

stdout carries only the table or the JSON document; logs (audit lines with -v) go to stderr.
This module holds the app, its global options and :func:`command`; each command lives with its
kind (``one_registry``, ``sweep``, ``policy_commands``, ``replay``, ``history``); the run's plumbing
lives in acrguard/cli/run.py.
"""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard.cli.help import Command
from acrguard.cli.run import GLOBAL_OPTIONS, CliError, Options, Run

if TYPE_CHECKING:
    pass
from acrguard.cli.target import _TARGET_PARAMS

app = typer.Typer(
    name="acrguard",
    help="Check, sweep and fix Azure Container Registries against policies.yaml (same engine as the Function App).",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion (bash, zsh, fish, PowerShell)
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # plain help and usage errors (acrguard/cli/help.py says why)
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
