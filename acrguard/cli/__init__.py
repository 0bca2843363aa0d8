"""The `acrguard` command line. ``app`` holds the app, its global options and ``command``; each
command lives with its kind; ``run`` is one command's run (settings, engine, exit codes); ``render``
draws tables and JSON. Importing this package registers every command."""

from __future__ import annotations

import sys

import typer

from acrguard.cli import check_iac, exempt, one_registry, policy_commands, replay, run, sweep, undo  # noqa: F401  (each registers its commands)
from acrguard.cli.app import app
from acrguard.cli.run import ExitCode

__all__ = ["app", "main"]

#: The order of ``acrguard --help``: what an operator runs most, first; a command not named here last.
HELP_ORDER = (
    "replay",
    "check",
    "explain",
    "history",
    "sweep",
    "exempt",
    "undo",
    "check-iac",
    "validate",
    "init",
    "version",
    "schema",
    "rules",
)


def _help_rank(info: typer.models.CommandInfo) -> int:
    name = info.name or getattr(info.callback, "__name__", "")
    return HELP_ORDER.index(name) if name in HELP_ORDER else len(HELP_ORDER)


app.registered_commands.sort(key=_help_rank)


def main() -> None:
    """Console script. Bugs print one line (the traceback with -v); user errors never print one."""
    try:
        app(prog_name="acrguard")
    except KeyboardInterrupt:
        sys.stderr.write("acrguard: interrupted\n")
        sys.exit(130)
    except Exception as exc:
        if run.verbosity:
            raise
        sys.stderr.write(
            f"acrguard: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)\n"
        )
        sys.exit(int(ExitCode.ERROR))
