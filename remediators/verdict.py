"""What a rule is given and what it answers: its policy config, and its verdict on one registry.

Plain data shared by the rules and the service that runs them; no rule logic here.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

Mode = Literal["dry-run", "enforce"]
FixType = Literal["fix", "opt-in fix", "report"]
#: A registry's child resources as ARM lists them (REST shapes: ``{"name", "properties": {...}}``),
#: by collection (``tokens``, ``cacheRules``, ``replications``, ``diagnosticSettings``).
Children = Mapping[str, Sequence[Mapping[str, Any]]]


class Status(enum.StrEnum):
    """The verdict of one rule on one registry."""

    COMPLIANT = "compliant"
    DRIFT = "drift"  # a fix exists: ``change`` holds it
    FLAGGED = "flagged"  # a problem we will not fix automatically (a person must decide)
    UNSUPPORTED = "unsupported"  # the registry's SKU cannot carry this rule
    BLOCKED = "blocked"  # a fix exists in principle but applying it would be unsafe or rejected


class FieldError(ValueError):
    """A config check that failed on one field, raised from ``__post_init__``.

    msgspec reports ``__post_init__`` errors at the struct's path; the policy loader appends
    ``field`` so the message points at the key the user has to fix.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.problems: tuple[tuple[str, str], ...] = ((field, message),)

    @classmethod
    def each(cls, problems: Sequence[tuple[str, str]]) -> FieldError:
        """Several problems, each ``(field path, reason)``, e.g. ``("allowed_ips[2]", ...)``: the
        policy report gives each its own line."""
        error = cls(problems[0][0], "; ".join(f"{field}: {reason}" for field, reason in problems))
        error.problems = tuple(problems)
        return error


class RuleConfig(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """Fields every rule accepts in policies.yaml. Unknown keys are errors (strict policy).

    A msgspec Struct rather than a pydantic model: the policy is validated on every cold start,
    before the first event, and msgspec costs a few milliseconds there where pydantic cost about
    60 (docs/BENCHMARKS.md). Subclasses inherit the strictness and add their own fields and checks.
    """

    enabled: bool = True
    mode: Mode | None = None  # per-rule override of the policy's mode


@dataclass(frozen=True)
class ChildWrite:
    """One write to a child resource that fixes a child-resource rule: ``PATCH`` of a token, ``PUT``
    of a diagnostic setting. ``body`` is the REST body, sent as it is."""

    collection: str
    name: str
    body: dict[str, Any]


@dataclass(frozen=True)
class Evaluation:
    """One rule's verdict. ``before``/``after`` use ARM's REST property names (audit-friendly)."""

    rule: str
    status: Status
    reason: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)  # the desired state, when status is DRIFT
    change: dict[str, Any] = field(default_factory=dict)  # RegistryUpdateParameters kwargs
    notes: tuple[str, ...] = ()  # extra findings that need a person (e.g. an over-broad IP rule)
    writes: tuple[ChildWrite, ...] = ()  # a child-resource rule's fix (``change`` stays empty)
