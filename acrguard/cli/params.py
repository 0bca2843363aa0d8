"""One-line declarations of the commands' options and arguments.

The commands' help shows a default only where it says something (``--since 30d``), so
``show_default`` is off unless a declaration turns it on; everything else goes to typer as given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import typer


def option(*names: str, help: str, metavar: str | None = None, **extra: Any) -> Any:
    """``typer.Option(*names, ...)`` without a shown default (pass ``show_default=True`` for one)."""
    extra.setdefault("show_default", False)
    return typer.Option(*names, metavar=metavar, help=help, **extra)


def argument(*, help: str, metavar: str | None = None, **extra: Any) -> Any:
    """``typer.Argument(...)`` without a shown default, as :func:`option`."""
    extra.setdefault("show_default", False)
    return typer.Argument(metavar=metavar, help=help, **extra)


def subscription_option(*, help: str, callback: Callable[..., Any]) -> Any:
    """``--subscription/-s GUID``, spelled as ``az`` spells it in every command that takes one."""
    return option("--subscription", "-s", metavar="GUID", callback=callback, help=help)
