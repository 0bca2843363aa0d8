"""``--help`` as click writes it: plain text, ``RESOURCE_ID`` in the usage line, no type labels.

typer 0.29 labels every parameter with its Python type (``-h <bool>``, ``RESOURCE_ID <str>``)
and writes a required argument as ``{RESOURCE_ID}`` in the usage line. The commands use
:class:`Command`, which gives their parameters click's conventions back; the app itself uses
typer's plain formatter (``rich_markup_mode=None``): text that pipes, greps and pastes cleanly.
"""

from __future__ import annotations

from typing import Any

from typer import Context
from typer.core import TyperArgument, TyperCommand, TyperOption


class _Argument(TyperArgument):
    def display_type_rich(self, ctx: Context) -> str | None:
        return None  # the metavar names the argument; "<str>" adds nothing

    def _rich_display_name(self) -> str:  # the argument's row in the help: FILES..., as in usage
        name = self.metavar or (self.name or "").upper()
        return name + ("..." if self.nargs != 1 else "")

    def get_usage_pieces(self, ctx: Context) -> list[str]:
        name = self.metavar or (self.name or "").upper()
        if not self.required and not name.startswith("["):
            name = f"[{name}]"
        return [name + ("..." if self.nargs != 1 else "")]


class _Option(TyperOption):
    def display_type_rich(self, ctx: Context) -> str | None:
        if self.metavar is not None:
            return self.metavar
        if self.is_flag or self.count:
            return None
        if self.type_descriptor.is_choice:
            return super().display_type_rich(ctx)  # <dry-run|enforce>: the choices are worth showing
        return (self.name or "").upper()  # --connection-string CONNECTION_STRING, as argparse writes it


_PLAIN = {TyperArgument: _Argument, TyperOption: _Option}


class Command(TyperCommand):
    """A command whose help shows ``RESOURCE_ID`` and ``--dry-run``, not ``{RESOURCE_ID}`` and ``<bool>``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for param in self.params:
            param.__class__ = _PLAIN.get(type(param), type(param))
