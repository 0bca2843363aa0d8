"""What a rule reads from a registry, declared once for ``plan()`` and for Resource Graph alike.

A rule's "nothing to do here" condition is a small expression over ARM properties
(:class:`Among`, :class:`Exactly`, :class:`AllOf`, :class:`AnyOf`). ``holds(registry)`` decides it
in ``plan()``; ``kql()`` states the same condition to Resource Graph, and a rule's pushdown
predicate is ``not(<kql>)`` (base.Rule.kql_may_violate). Both sides read the same wire JSON
(the SDK model is a mapping over it) and compare the same text, Kusto's ``tostring`` of the value,
case-insensitively for enums (as ARM and Azure Policy's ``equals`` do). So a field the check reads
cannot be missing from the predicate, and a value the check does not recognise (absent without a
default that passes, null, another type, another spelling) selects the registry: fail closed.

Absent or null means the default the REST spec documents (:data:`DEFAULTS`), never "violation".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

#: ``"default"`` of each registry property the rules read, from the ACR REST specification:
#: Azure/azure-rest-api-specs, specification/containerregistry/resource-manager/
#: Microsoft.ContainerRegistry/Registry/stable/2025-11-01/containerregistry.json at commit
#: 23a78d00c75519f9ecc5519f2965682a646117d0 (RegistryProperties, NetworkRuleSet, the five policies).
#: ``encryption.status``, ``sku.name`` and a private endpoint's status document no default.
#: tests/rules/test_rule_defaults.py checks each entry against the SDK model (the emulator's contract).
DEFAULTS: Mapping[str, Any] = {
    "properties.adminUserEnabled": False,
    "properties.anonymousPullEnabled": False,
    "properties.publicNetworkAccess": "Enabled",
    "properties.networkRuleBypassOptions": "AzureServices",
    "properties.networkRuleBypassAllowedForTasks": False,
    "properties.zoneRedundancy": "Disabled",
    "properties.roleAssignmentMode": "LegacyRegistryPermissions",
    "properties.networkRuleSet.defaultAction": "Allow",
    "properties.policies.quarantinePolicy.status": "disabled",
    "properties.policies.trustPolicy.status": "disabled",
    "properties.policies.retentionPolicy.status": "disabled",
    "properties.policies.retentionPolicy.days": 7,
    "properties.policies.exportPolicy.status": "enabled",
    "properties.policies.azureADAuthenticationAsArmPolicy.status": "enabled",
}


def kusto_text(value: Any) -> str:
    """``tostring(value)`` as Kusto renders it: null is "", a bool ``true``/``false``, an object or
    array its JSON. Only the scalar forms are ever compared with a rule's values."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Mapping | list):
        import json  # only for a value of the wrong type: kept off the cold start

        return json.dumps(value, separators=(",", ":"), default=str)
    return str(value)


def raw(document: Any, path: str) -> Any:
    """The wire value at the dotted ARM ``path`` of ``document`` (an SDK model is a mapping over its
    JSON), or None when a step is missing or not an object, as Kusto's path access answers."""
    value = document
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def quote(value: str) -> str:
    """A KQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


class Field:
    """One registry property by its ARM path; ``absent`` only for a property whose default the spec
    does not document (the JSON's ``absent``), otherwise :data:`DEFAULTS` decides. (Plain classes
    here, not dataclasses: each dataclass costs the Function's cold start about a millisecond.)"""

    __slots__ = ("absent", "path")

    def __init__(self, path: str, absent: Any = None) -> None:
        self.path, self.absent = path, absent

    @property
    def default(self) -> Any:
        return DEFAULTS.get(self.path, self.absent)

    @property
    def name(self) -> str:
        return self.path.removeprefix("properties.")

    def text(self, registry: Any) -> str:
        return kusto_text(raw(registry, self.path))

    def is_set(self, registry: Any) -> bool:
        """False when ARM did not report the property (absent, null or empty): the default applies."""
        return self.text(registry) != ""

    def value(self, registry: Any) -> Any:
        """The value as reported, or the default when it was not."""
        return raw(registry, self.path) if self.is_set(registry) else self.default

    def canonical(self, registry: Any, spellings: Iterable[Any]) -> Any:
        """The value in the first matching spelling of ``spellings`` (``deny`` -> ``Deny``), else as is."""
        value = self.value(registry)
        found = kusto_text(value).lower()
        return next((s for s in spellings if kusto_text(s).lower() == found), value)

    def among(self, values: Iterable[Any]) -> Among:
        return Among(self, tuple(values))


class Condition:
    """A condition over a registry that ``plan()`` decides and Resource Graph evaluates alike."""

    __slots__ = ()

    def holds(self, registry: Any) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def kql(self) -> str:  # pragma: no cover - abstract
        raise NotImplementedError

    def fields(self) -> tuple[str, ...]:  # pragma: no cover - abstract
        """The ARM paths the condition reads."""
        raise NotImplementedError


class Among(Condition):
    """The property's text is one of ``values``, ignoring case; not set counts as its default."""

    __slots__ = ("field", "values")

    def __init__(self, field: Field, values: tuple[Any, ...]) -> None:
        self.field, self.values = field, values

    def accepted(self) -> tuple[str, ...]:
        """The texts that pass, as written (compared ignoring case); "" when the default passes."""
        texts = dict.fromkeys(kusto_text(v) for v in self.values)
        default = kusto_text(self.field.default).lower() if self.field.default is not None else None
        if default is not None and default in {t.lower() for t in texts}:
            texts[""] = None  # absent, null or empty: ARM's default, which passes
        return tuple(texts)

    def holds(self, registry: Any) -> bool:
        return self.field.text(registry).lower() in {t.lower() for t in self.accepted()}

    def kql(self) -> str:
        listed = ", ".join(quote(t) for t in self.accepted())
        return f"tostring({self.field.path}) in~ ({listed})"

    def fields(self) -> tuple[str, ...]:
        return (self.field.path,)


class Exactly(Condition):
    """The array at ``path`` holds exactly ``values`` in this order, each element's ``key`` equal
    (case-sensitive) to the value. Read element by element, never as JSON text: Kusto does not
    promise an object's key order in ``tostring``."""

    __slots__ = ("key", "path", "values")

    def __init__(self, path: str, key: str, values: tuple[str, ...]) -> None:
        self.path, self.key, self.values = path, key, values

    def element(self, registry: Any, index: int) -> Any:
        array = raw(registry, self.path)
        return array[index] if isinstance(array, list) and index < len(array) else None

    def holds(self, registry: Any) -> bool:
        if self.element(registry, len(self.values)) is not None:
            return False
        return all(
            kusto_text(raw(self.element(registry, i), self.key)) == v for i, v in enumerate(self.values)
        )

    def kql(self) -> str:
        parts = [f"tostring({self.path}[{i}].{self.key}) == {quote(v)}" for i, v in enumerate(self.values)]
        parts.append(f"isnull({self.path}[{len(self.values)}])")
        return " and ".join(parts)

    def fields(self) -> tuple[str, ...]:
        return (self.path,)


class AllOf(Condition):
    """Every part holds (``and``); :class:`AnyOf` is its ``or``."""

    __slots__ = ("parts",)
    joiner: ClassVar[str] = "and"

    def __init__(self, parts: tuple[Condition, ...]) -> None:
        self.parts = parts

    def holds(self, registry: Any) -> bool:
        return all(p.holds(registry) for p in self.parts)

    def kql(self) -> str:
        return f" {self.joiner} ".join(f"({p.kql()})" for p in self.parts)

    def fields(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f for p in self.parts for f in p.fields()))


class AnyOf(AllOf):
    __slots__ = ()
    joiner: ClassVar[str] = "or"

    def holds(self, registry: Any) -> bool:
        return any(p.holds(registry) for p in self.parts)
