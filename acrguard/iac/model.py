"""What the readers find in a file: a registry as it would be deployed, with what cannot be known.

Each reader (ARM template, Bicep, Terraform plan) turns one input into :class:`Found` resources:
the registry document ARM's GET would return once the template is deployed, the child resources
the rules read (as ARM lists them), where it was found, and every value the input leaves open.
An open value is an :class:`Unknown` left in place in the document; :mod:`acrguard.iac.judge`
finds them and never lets a rule that depends on one pass.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

REGISTRY_TYPE = "microsoft.containerregistry/registries"
#: The child collections the rules read, by the ARM type of one child (lower case).
CHILD_TYPES = {
    "microsoft.containerregistry/registries/tokens": "tokens",
    "microsoft.containerregistry/registries/cacherules": "cacheRules",
    "microsoft.containerregistry/registries/replications": "replications",
    "microsoft.insights/diagnosticsettings": "diagnosticSettings",
}
COLLECTIONS = tuple(CHILD_TYPES.values())


class Unknown:
    """A value the input does not fix (a parameter without a value, ``reference()``, Terraform's
    ``after_unknown``...). ``why`` names it, for the finding's reason."""

    __slots__ = ("why",)

    def __init__(self, why: str) -> None:
        self.why = why

    def __repr__(self) -> str:
        return f"Unknown({self.why!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Unknown) and other.why == self.why

    def __hash__(self) -> int:
        return hash(self.why)


class Maybe(Unknown):
    """A child resource that belongs to this registry or to another one (its parent's name is
    open): judged both with it and without it."""

    __slots__ = ("value",)

    def __init__(self, why: str, value: Any) -> None:
        super().__init__(why)
        self.value = value


class IacError(ValueError):
    """Input that cannot be judged: the message names the file and what is wrong with it."""

    def __init__(self, file: str, message: str) -> None:
        super().__init__(f"{file}: {message}")
        self.file = file
        self.message = message


class NotInfrastructure(IacError):
    """A readable file that is neither a template nor a plan (``package.json``, a parameter file)."""


@dataclass
class Found:
    """One registry an input would deploy.

    ``ref`` holds the subscription, resource group and name the deployment would use (each a
    string or an :class:`Unknown`); ``document`` is the registry as ARM would return it;
    ``children`` the listed child collections (empty lists when the input declares none: it
    deploys none). ``notes`` say what was assumed (a condition that could not be evaluated...).
    """

    file: str
    line: int | None
    symbol: str  # the template's name for it: the resource's name expression, Bicep symbol, TF address
    ref: dict[str, Any]
    document: dict[str, Any]
    children: dict[str, list[dict[str, Any]]] = field(
        default_factory=lambda: {name: [] for name in COLLECTIONS}
    )
    notes: list[str] = field(default_factory=list)


def unknowns(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Unknown]]:
    """Every :class:`Unknown` inside ``value`` with its path (keys and list indexes)."""
    if isinstance(value, Unknown):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from unknowns(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from unknowns(item, (*path, index))


class ExpressionError(ValueError):
    """An expression that does not parse, or a call that ARM would reject (wrong arguments)."""
