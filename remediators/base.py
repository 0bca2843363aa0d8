"""What every rule is: metadata (its ``<name>.json``), a policy config model, and one pure check.

A rule answers two questions about a typed SDK ``Registry`` and nothing else: does it
violate my rule under this config, and which properties (``RegistryUpdateParameters`` keyword
arguments, so only what changes) fix it. No SDK client, no I/O, no knowledge of the engine:
that keeps every rule testable as a pure function (and with hypothesis).
"""

from __future__ import annotations

import enum
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from remediators.fields import DEFAULTS, Condition, Field, kusto_text, raw
from remediators.spec import HELPERS, SKUS, RuleSpec, RuleSpecError
from remediators.spec import load as load_spec
from remediators.verdict import Children, Evaluation, FixType, RuleConfig, Status


class Rule:
    """Base class of every rule. Its metadata comes from ``<name>.json`` (see remediators.spec):
    a class in ``remediators/<name>.py`` gets it when the class is created, so importing the module
    gives the complete rule; discovery builds a JSON-only rule's class with ``spec=``."""

    name: ClassVar[str]  # the key under ``rules:`` in policies.yaml: the file's name
    title: ClassVar[str]
    description: ClassVar[str]
    severity: ClassVar[str]
    skus: ClassVar[frozenset[str]]
    default_enabled: ClassVar[bool]
    references: ClassVar[tuple[str, ...]]
    azure_policy: ClassVar[tuple[str, ...]]
    psrule: ClassVar[tuple[str, ...]]
    fixes: ClassVar[bool]
    notes: ClassVar[str]
    role_actions: ClassVar[tuple[str, ...]]
    workspace_actions: ClassVar[tuple[str, ...]]
    event_operations: ClassVar[tuple[str, ...]]
    Config: ClassVar[type[RuleConfig]] = RuleConfig
    #: The child collections the rule reads (see :class:`ChildRule`); the engine lists one only
    #: when a rule enabled for the registry needs it, so the default policy costs one GET.
    children: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, spec: RuleSpec | None = None, rule: str = "", **kwargs: Any) -> None:
        """Give a rule class its metadata: ``spec`` when discovery passes it, else the JSON beside
        the module that defines the class (none for the helper modules' abstract classes)."""
        super().__init_subclass__(**kwargs)
        where = f"{cls.__module__}/{rule}"
        if spec is None:
            file = getattr(sys.modules.get(cls.__module__), "__file__", None) or ""
            directory, rule = os.path.split(file.removesuffix(".py"))
            if not file.endswith(".py") or rule in HELPERS:
                return
            spec, where = load_spec(rule, directory), f"{os.path.basename(directory)}/{rule}"
        _describe(cls, rule, spec, where)

    @classmethod
    def controls(cls) -> dict[str, list[str]]:
        return {"azure_policy": list(cls.azure_policy), "psrule": list(cls.psrule)}

    @classmethod
    def fix_type(cls) -> FixType:
        """ "fix" runs by default, "opt-in fix" only when a policy enables it, "report" never writes."""
        if not cls.fixes:
            return "report"
        return "fix" if cls.default_enabled else "opt-in fix"

    @classmethod
    def rbac_actions(cls) -> tuple[str, ...]:
        """Every RBAC action this rule's reads and writes need: its role actions (the custom role
        grants their union), then its workspace actions (granted on the destination only)."""
        return (*cls.role_actions, *cls.workspace_actions)

    def evaluate(self, registry: Any, config: RuleConfig, children: Children | None = None) -> Evaluation:
        """Return this rule's verdict for ``registry`` (an SDK ``Registry``) and, for a
        :class:`ChildRule`, the child collections it declares (listed by the caller)."""
        sku = sku_name(registry)
        if sku not in self.skus:
            return self.unsupported(registry, sku)
        return self.check(registry, config)

    def settled(self, config: RuleConfig) -> Condition | None:
        """The condition under which this rule finds nothing under ``config`` (compliant: no write,
        no flag), stated once for both sides: ``check`` answers quietly when it holds, and the
        Resource Graph predicate is its negation (remediators.fields). None: the rule cannot say."""
        return None

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        """A KQL predicate over ARG's ``resources`` row that is true for every registry this rule
        could find non-compliant (drift, flagged or blocked) under ``config``: a conservative
        superset, used to let Resource Graph skip compliant registries (acrguard.engine.pushdown).

        Derived from :meth:`settled`, so it reads every field the check compares and selects what
        the check does not recognise. None (no condition) means "cannot say": every registry is
        then swept, so a rule without one is always safe.
        """
        settled = self.settled(config)
        return None if settled is None else f"{self.kql_skus()}not({settled.kql()})"

    def kql_skus(self) -> str:
        """The SKU guard for a predicate ("" when the rule applies to every SKU)."""
        if self.skus == frozenset(SKUS):
            return ""
        names = ", ".join(f"'{s}'" for s in SKUS if s in self.skus)
        return f"tostring(sku.name) in~ ({names}) and "

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:  # pragma: no cover - abstract
        raise NotImplementedError

    def unsupported(self, registry: Any, sku: str) -> Evaluation:
        needed = " or ".join(s for s in SKUS if s in self.skus)
        return Evaluation(
            self.name,
            Status.UNSUPPORTED,
            f"{self.title}: not available on the {sku} SKU (needs {needed}); nothing to change",
        )

    def result(self, status: Status, reason: str, **kwargs: Any) -> Evaluation:
        return Evaluation(self.name, status, reason, **kwargs)


class ChildRule(Rule):
    """A rule about a registry's child resources (tokens, cache rules, replicas, diagnostic settings).

    ARM's registry GET does not carry them, so the rule declares its ``children`` and gets them
    listed: the decision stays pure (the engine lists, the rule judges). Resource
    Graph cannot see children either, so the pushdown keeps every registry of a supported SKU.
    """

    def evaluate(self, registry: Any, config: RuleConfig, children: Children | None = None) -> Evaluation:
        sku = sku_name(registry)
        if sku not in self.skus:
            return self.unsupported(registry, sku)
        missing = [c for c in self.children if children is None or c not in children]
        if missing:  # a caller bug, never a verdict: judging without the list would be a guess
            raise ValueError(f"{self.name} needs the registry's {', '.join(missing)} listed")
        assert children is not None
        return self.check_children(registry, config, children)

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        names = ", ".join(f"'{s}'" for s in SKUS if s in self.skus)
        return f"tostring(sku.name) in~ ({names})"

    def check_children(
        self, registry: Any, config: RuleConfig, children: Children
    ) -> Evaluation:  # pragma: no cover - abstract
        raise NotImplementedError


class PropertyRule(Rule):
    """A rule that asks one property for one value: declared, not coded.

    ``path`` is the property's ARM path (``properties.policies.exportPolicy.status``); the SDK
    attribute path follows from it (camelCase to snake_case). ``absent`` is what ARM's silence
    means. Strings compare case-insensitively; a lower-case ``wanted`` marks one of ARM's
    lower-case enums, reported in lower case. A fixing rule answers DRIFT with the change
    ``RegistryUpdateParameters(**{attribute: wanted})`` (a nested property is sent as its
    top-level model, as ARM's REST names); a report-only rule (``fixes: false``) answers FLAGGED.
    The five come from the rule's JSON (its ``property`` or ``report`` block).
    """

    path: ClassVar[str]
    wanted: ClassVar[Any]
    #: What ARM's silence means: the REST spec's default (remediators.fields.DEFAULTS), or, for a
    #: property whose default the spec does not document, the JSON's ``absent``.
    absent: ClassVar[Any] = None
    field: ClassVar[Field]
    compliant: ClassVar[str]  # the reason when the property has the wanted value
    violation: ClassVar[str]  # the reason otherwise; ``{value}`` is the value found

    def value(self, registry: Any) -> Any:
        """The property's value as plain data (the default when ARM did not report it); a spelling
        of the wanted value is given as the JSON writes it, a lower-case enum in lower case."""
        value = self.field.value(registry)
        text = kusto_text(value).lower()
        if isinstance(self.wanted, bool):
            return text == "true" if text in ("true", "false") else value
        if text == kusto_text(self.wanted).lower():
            return self.wanted
        return text if isinstance(self.wanted, str) and self.wanted.islower() else value

    def settled(self, config: RuleConfig) -> Condition | None:
        return self.field.among([self.wanted])

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        value = self.value(registry)
        rest = self.path.removeprefix("properties.").split(".")
        before = _nest(rest, value)
        if self.field.among([self.wanted]).holds(registry):  # settled(): the predicate's negation
            reason = self.compliant if self.field.is_set(registry) else self.unset()
            return self.result(Status.COMPLIANT, reason, before=before)
        if not self.fixes:
            return self.result(Status.FLAGGED, self.violation_reason(registry, value), before=before)
        refused = self.refuse(registry, config, before)
        if refused is not None:
            return refused
        return self.result(
            Status.DRIFT,
            self.violation_reason(registry, value),
            before=before,
            after=_nest(rest, self.wanted),
            change={_snake(rest[0]): _nest(rest[1:], self.wanted) if rest[1:] else self.wanted},
        )

    def unset(self) -> str:
        """The reason for a property ARM did not report: what it is read as, and on whose word."""
        default = kusto_text(self.field.default)
        if self.path in DEFAULTS:
            return f"{self.field.name} is not set (ARM's default: {default})"
        return f"{self.field.name} is not set (read as {default}, as Azure Policy reads it)"

    def violation_reason(self, registry: Any, value: Any) -> str:
        """The reason for a violation, claiming only what the document holds: a property not set
        says so, a value outside the two the rule knows is quoted; otherwise :meth:`reason`."""
        if not self.field.is_set(registry):
            return f"{self.unset()}; the policy wants {kusto_text(self.wanted)}"
        known = {kusto_text(v).lower() for v in (self.wanted, self.field.default) if v is not None}
        if isinstance(self.wanted, bool):
            known = {"true", "false"}
        if len(known) == 2 and kusto_text(value).lower() not in known:
            return f"{self.field.name} is {kusto_text(value)!r}, not {kusto_text(self.wanted)}"
        return self.reason(registry, value)

    def reason(self, registry: Any, value: Any) -> str:
        """Why the value found is a violation (override to name a next step)."""
        return self.violation.format(value=value)

    def refuse(self, registry: Any, config: RuleConfig, before: dict[str, Any]) -> Evaluation | None:
        """A verdict that stops the fix (e.g. BLOCKED when it would be unsafe), or None to fix."""
        return None


class ReportRule(PropertyRule):
    """A report-only property rule (its JSON's ``report`` block): no write, a person decides the fix."""


def _snake(name: str) -> str:
    """An ARM property name as the SDK attribute (``azureADAuthenticationAsArmPolicy`` ->
    ``azure_ad_authentication_as_arm_policy``)."""
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", name).lower()


def _nest(path: Sequence[str], value: Any) -> Any:
    """``["policies", "exportPolicy", "status"], v`` -> ``{"policies": {"exportPolicy": {"status": v}}}``."""
    for part in reversed(path):
        value = {part: value}
    return value


def plain(value: Any) -> Any:
    """An SDK enum or model as plain JSON data (``SkuName.PREMIUM`` -> ``"Premium"``)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


PUBLIC_NETWORK_ACCESS = Field("properties.publicNetworkAccess")
SKU = Field("sku.name")


def public_access(registry: Any) -> str:
    """``publicNetworkAccess`` as ARM reports it, ignoring case; not set means Enabled (ARM's default)."""
    return "Disabled" if PUBLIC_NETWORK_ACCESS.among(["Disabled"]).holds(registry) else "Enabled"


def policy_status(registry: Any, policy: str) -> str:
    """``policies.<policy>.status`` in lower case, the spec's default when ARM did not report it
    (``policy`` is the ARM name, ``exportPolicy``); statuses are case-insensitive enums."""
    return kusto_text(Field(f"properties.policies.{policy}.status").value(registry)).lower()


def approved_endpoints(registry: Any) -> list[Any]:
    """The registry's private endpoint connections whose state is Approved, in any casing (ARM's
    and Azure Policy's enum comparison)."""
    connections = raw(registry, "properties.privateEndpointConnections")
    return [
        c
        for c in (connections if isinstance(connections, list) else [])
        if kusto_text(raw(c, "properties.privateLinkServiceConnectionState.status")).lower() == "approved"
    ]


def sku_name(registry: Any) -> str:
    """The SKU's name in its canonical spelling (``premium`` -> ``Premium``), or as written if unknown."""
    text = SKU.text(registry)
    return next((known for known in SKUS if text.lower() == known.lower()), text or "(not set)")


#: What a rule's JSON declares; a rule class that sets one of these in code would shadow it.
_DECLARED = (
    "name", "title", "description", "severity", "skus", "default_enabled", "fixes", "references",
    "azure_policy", "psrule", "notes", "role_actions", "workspace_actions", "event_operations",
    "rbac_actions", "path", "wanted", "absent", "compliant", "violation",
)  # fmt: skip


def _describe(cls: type[Rule], name: str, spec: RuleSpec, where: str) -> None:
    """Set ``cls``'s metadata from ``spec``, after checking the class and the JSON agree (``where``
    is ``remediators/<name>``, for the messages)."""
    in_code = [key for key in _DECLARED if key in cls.__dict__]
    if in_code:
        raise RuleSpecError(
            f"{where}.py: {cls.__name__} sets {', '.join(in_code)}; that belongs in {name}.json"
        )
    check = spec.declared()
    # The JSON's check and the class agree: a report block is a ReportRule, a property block a
    # PropertyRule, no block a plain Rule (or ChildRule) whose check is code.
    want = ReportRule if spec.report else PropertyRule if spec.property else Rule
    have = next(k for k in (ReportRule, PropertyRule, Rule) if issubclass(cls, k))
    if want is not have:
        block = "a report" if spec.report else "a property" if spec.property else "no property or report"
        raise RuleSpecError(
            f"{where}.json has {block} block, so {cls.__name__} must be a {want.__name__}, not a {have.__name__}"
        )
    cls.name, cls.title, cls.description = name, spec.title, spec.description
    cls.severity, cls.skus = spec.severity, spec.skus
    cls.default_enabled, cls.fixes, cls.notes = spec.default_enabled, spec.fixes, spec.notes
    cls.references, cls.azure_policy, cls.psrule = spec.references, spec.azure_policy, spec.psrule
    cls.role_actions, cls.workspace_actions = spec.role_actions, spec.workspace_actions
    cls.event_operations = spec.event_operations
    if check is not None:
        assert issubclass(cls, PropertyRule)
        if check.absent is not None and check.path in DEFAULTS:
            raise RuleSpecError(
                f"{where}.json: absent is for a property whose default the REST spec does not document; "
                f"{check.path} has one ({kusto_text(DEFAULTS[check.path])}): remove absent"
            )
        cls.path, cls.wanted, cls.absent = check.path, check.wanted, check.absent
        cls.field = Field(check.path, check.absent)
        if check.compliant:
            cls.compliant = check.compliant
        if check.violation:
            cls.violation = check.violation
