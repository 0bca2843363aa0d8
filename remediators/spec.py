"""A rule's metadata as data: the ``<name>.json`` beside its module, validated when it is loaded.

Each rule is one JSON file in this package (title, severity, SKUs, fix kind, references, the Azure
Policy and PSRule controls, notes, the ``description`` that says why the rule exists, and what it
needs from Azure: its RBAC actions and the Event Grid operations it reacts to). A rule
that asks one property for one value is only that file: its ``property`` (or, report-only,
``report``) block declares the check, and discovery builds the class from
:class:`~remediators.base.PropertyRule`. A rule with logic keeps a ``<name>.py`` for the logic and
its ``Config``. A typo fails at import, naming the file and the key: the Structs forbid unknown
fields and the enumerations name the allowed values. The Function's cold start validates all of
them, so this module stays cheap (bench/cold_start.py): the enumerations are ``Literal`` types,
which msgspec checks as enums (an enum class takes ~150 us to create), and it does without ``from
__future__ import annotations`` (msgspec would evaluate the strings on the first decode).
"""

import os
from typing import Literal, get_args

import msgspec

HERE = os.path.dirname(__file__)
#: Modules that hold shared code, not rules: never a rule, and never given a JSON file.
HELPERS = frozenset({"base", "fields", "ipranges", "spec", "verdict"})


Severity = Literal["low", "medium", "high"]
Sku = Literal["Basic", "Standard", "Premium"]  # in ascending order: messages list them so
SKUS: tuple[str, ...] = get_args(Sku)


class Check(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """One property and the value it should have (see :class:`~remediators.base.PropertyRule`).

    ``compliant``/``violation`` may be left to a module that words its reasons in code; a rule
    without a module needs both.
    """

    path: str
    wanted: bool | str
    absent: bool | str | None = None
    compliant: str = ""
    violation: str = ""


class RuleSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    """What ``<name>.json`` holds. The name is the file's: it is not repeated inside."""

    title: str
    description: str  # why the rule exists and what it does (``acrguard rules``, docs/RULES.md)
    severity: Severity
    skus: frozenset[Sku]
    default_enabled: bool
    #: False for a report-only rule: no write of ours can fix what it finds (its verdicts are
    #: COMPLIANT, FLAGGED or UNSUPPORTED, never DRIFT), so it needs no write permission.
    fixes: bool
    references: tuple[str, ...] = ()
    #: The Azure Policy built-in definitions (GUIDs: audit/deny, then modify) and the PSRule for
    #: Azure rules this rule corresponds to; carried into every audit record and notification.
    azure_policy: tuple[str, ...] = ()
    psrule: tuple[str, ...] = ()
    notes: str = ""  # what a deployment should know before enabling the rule
    #: The RBAC actions the rule's reads and writes need: the custom role grants the union of the
    #: enabled rules' (acrguard/azure_contract.json, generated from these files, is what infra/ reads).
    role_actions: tuple[str, ...]
    #: Actions granted on a destination Log Analytics workspace only, never in the role.
    workspace_actions: tuple[str, ...] = ()
    #: Event Grid operations, besides every deployment's registry writes, after which the parent
    #: registry is re-evaluated for this rule (``registries/tokens/write``...).
    event_operations: tuple[str, ...] = ()
    property: Check | None = None
    report: Check | None = None

    def __post_init__(self) -> None:
        for key in ("title", "description"):
            if not getattr(self, key).strip():
                raise ValueError(f"{key} is empty: a rule says what it is and why it exists")
        if not self.skus:
            raise ValueError(f"skus is empty: list at least one of {', '.join(SKUS)}")
        if self.property is not None and self.report is not None:
            raise ValueError("has both a property and a report block; a rule declares one check")
        if not self.role_actions:
            raise ValueError("role_actions is empty: a rule needs at least the registry's read")
        for key in ("role_actions", "workspace_actions"):
            wildcard = next((action for action in getattr(self, key) if "*" in action), None)
            if wildcard:
                raise ValueError(f"{key}: {wildcard} is a wildcard; least privilege names each action")
        if self.report is not None and self.fixes:
            raise ValueError("a report block is report-only: set fixes to false, or use a property block")

    def declared(self) -> Check | None:
        """The ``property`` or ``report`` block, if the rule declares one."""
        return self.property or self.report


class RuleSpecError(ValueError):
    """A rule's JSON file is missing or invalid; the message names the file and the key."""


_ALLOWED = {"severity": Severity, "skus": Sku}


def load(name: str, directory: str | os.PathLike[str] = HERE) -> RuleSpec:
    """``<directory>/<name>.json``, validated. (os.path and an unbuffered read: a third of the cost
    of pathlib's ``read_bytes()``, on every cold start.)"""
    path = os.path.join(directory, f"{name}.json")
    where = f"{os.path.basename(directory)}/{name}.json"  # the messages' name for it
    try:
        with open(path, "rb", buffering=0) as file:
            data = file.readall()
    except FileNotFoundError:
        raise RuleSpecError(f"{where} is missing: every rule needs its metadata file") from None
    try:
        return msgspec.json.decode(data, type=RuleSpec)
    except msgspec.ValidationError as exc:
        message = str(exc)
        for key, kind in _ALLOWED.items():
            if message.startswith("Invalid enum value") and f"`$.{key}" in message:
                message += f" (allowed: {', '.join(get_args(kind))})"
        raise RuleSpecError(f"{where}: {message}") from None
    except msgspec.DecodeError as exc:
        raise RuleSpecError(f"{where} is not valid JSON: {exc}") from None
