"""The REST contract of Microsoft.ContainerRegistry/registries, as data derived from the SDK.

What a request may carry and what an answer contains are read from the generated models of
``azure-mgmt-containerregistry`` (the version the product runs; 15.x speaks api-version
2025-11-01): each ``rest_field``'s wire name and visibility (``read`` only = read-only; ``create``
without ``update`` = create-only), its type annotation (bool, int, str, date-time, array, map,
nested model) and its enum class (the allowed values and their canonical spelling). Nothing is
written out by hand, so the contract cannot drift from the SDK the product is tested with; the
ACR REST specification (``stable/2025-11-01``) was used to check the derivation, see
docs/EMULATOR.md "Contract".

Rules applied to a request body (``clean_request``):

- a JSON value of the wrong type, or a value outside an enum, is a 400 ``InvalidRequestContent``
  naming the path (ARM's deserialisation error);
- enum values are matched case-insensitively and stored in the spelling the spec declares;
- ``null`` means "not given";
- read-only fields are dropped silently, and so are properties this api-version does not declare;
- a create-only field in a PATCH (``zoneRedundancy``, ``location``) is a 400
  ``PropertyChangeNotAllowed`` (the code is the emulator's choice).

``normalise_document`` applies the same types and enums to a whole GET-shaped document (seeds and
every stored state), keeping only what the api-version declares, so answers contain nothing else.

Child resources (arm_children.py) use the same derivation through ``clean_model``: ``Token`` and
``TokenUpdateParameters``, ``CacheRule``, ``Replication``. The routes, by REST spec operation, to
check against ``stable/2025-11-01`` (Microsoft.ContainerRegistry) and ``preview/2021-05-01-preview``
(Microsoft.Insights, diagnosticsSettings_API.json)::

    GET   {registry}/tokens                        Tokens_List              200, value + nextLink
    GET   {registry}/tokens/{token}                Tokens_Get               200 | 404
    PUT   {registry}/tokens/{token}                Tokens_Create            201 created | 200 replaced (at once)
    PATCH {registry}/tokens/{token}                Tokens_Update            200 | 201 + Azure-AsyncOperation
    GET   {registry}/cacheRules                    CacheRules_List          200, value + nextLink
    GET   {registry}/replications                  Replications_List        200, value + nextLink
    GET   {registry}/providers/Microsoft.Insights/diagnosticSettings          DiagnosticSettings_List  200, value
    GET   {registry}/providers/Microsoft.Insights/diagnosticSettings/{name}   DiagnosticSettings_Get   200 | 404
    PUT   {registry}/providers/Microsoft.Insights/diagnosticSettings/{name}   DiagnosticSettings_CreateOrUpdate 200
    DELETE {registry}/providers/Microsoft.Insights/diagnosticSettings/{name}  DiagnosticSettings_Delete 200 | 204

``GET .../cacheRules/{name}`` and ``.../replications/{name}`` answer too. A missing registry is 404
``ParentResourceNotFound``. Other methods on these paths are 405. The product calls neither the
token PUT nor the setting DELETE: they are a person's writes, which tests play.
"""

from __future__ import annotations

import datetime
import enum
import functools
import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .http_types import ArmError

API_VERSION = "2025-11-01"
"""The api-version the installed SDK's models describe (azure-mgmt-containerregistry 15.x)."""

Kind = Literal["bool", "int", "string", "enum", "array", "map", "object"]
Mode = Literal["create", "update", "document"]


@dataclass(frozen=True)
class Field:
    """One property on the wire."""

    name: str
    kind: Kind
    visibility: frozenset[str]
    required: bool = False
    enum_name: str = ""
    enum_values: tuple[str, ...] = ()
    item: Field | None = None
    """The element of an array or the value of a map."""
    schema: Schema | None = None
    """The properties of an object."""
    read_only: bool = field(init=False)
    _spellings: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:  # precomputed: seeding 10k registries reads these a million times
        object.__setattr__(self, "read_only", not self.visibility & {"create", "update"})
        object.__setattr__(self, "_spellings", {value.lower(): value for value in self.enum_values})

    def canonical(self, value: str) -> str | None:
        return self._spellings.get(value.lower())


@dataclass(frozen=True)
class Schema:
    """An object's properties by wire name (a model class of the SDK)."""

    name: str
    fields: dict[str, Field] = field(default_factory=dict, hash=False, compare=False)

    @functools.cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(name for name, spec in self.fields.items() if spec.required)


def _models() -> types.ModuleType:
    from azure.mgmt.containerregistry import models  # the product's own dependency; imported on first use

    return models


@functools.cache
def _schema(model: type) -> Schema:
    models = _models()
    namespace = {**vars(typing.cast(Any, models)._models), "_models": models}
    hints = typing.get_type_hints(model, globalns=namespace)
    schema = Schema(model.__name__)
    for klass in reversed(model.__mro__):
        for attr, rest_field in vars(klass).items():
            if attr.startswith("_") or not hasattr(rest_field, "_visibility"):
                continue
            name = rest_field._rest_name_input or attr
            schema.fields[name] = _field(name, hints[attr], frozenset(rest_field._visibility or ()))
    return schema


def _field(name: str, hint: Any, visibility: frozenset[str]) -> Field:
    args = typing.get_args(hint)
    required = not (typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args)
    if not required:
        args = tuple(arg for arg in args if arg is not type(None))
        hint = args[0] if len(args) == 1 else typing.Union[args]  # noqa: UP007 (built from a tuple)
        args = typing.get_args(hint)
    origin = typing.get_origin(hint)
    enum_class = next((arg for arg in args if isinstance(arg, type) and issubclass(arg, enum.Enum)), None)
    if enum_class is not None:
        values = tuple(str(member.value) for member in enum_class)
        return Field(name, "enum", visibility, required, enum_class.__name__, values)
    if origin is list:
        return Field(name, "array", visibility, required, item=_field(name, args[0], visibility))
    if origin is dict:
        return Field(name, "map", visibility, required, item=_field(name, args[1], visibility))
    if hint is bool:
        return Field(name, "bool", visibility, required)
    if hint is int:
        return Field(name, "int", visibility, required)
    if hint in (str, datetime.datetime):
        return Field(name, "string", visibility, required)
    if isinstance(hint, type):
        return Field(name, "object", visibility, required, schema=_schema(hint))
    raise TypeError(f"the contract cannot model {name}: {hint!r}")


def registry_schema() -> Schema:
    """``Registry``: the body of a PUT and of every answer."""
    return _schema(_models().Registry)


def update_schema() -> Schema:
    """``RegistryUpdateParameters``: the body of a PATCH."""
    return _schema(_models().RegistryUpdateParameters)


@functools.cache
def read_only_properties() -> frozenset[str]:
    """Keys of ``properties`` only the server sets (``loginServer``, ``provisioningState``...)."""
    properties = registry_schema().fields["properties"].schema
    assert properties is not None
    return frozenset(name for name, spec in properties.fields.items() if spec.read_only)


def _invalid(message: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: '{message}'.",
    )


def _wrong_type(value: Any, to: str, path: str) -> ArmError:
    return _invalid(f"Error converting value {json.dumps(value)} to type '{to}'. Path '{path}'")


def clean_request(body: Mapping[str, Any], mode: Mode) -> dict[str, Any]:
    """The request body as the RP reads it, or ArmError(400); see the module docstring."""
    schema = registry_schema() if mode == "create" else update_schema()
    return _clean_object(body, schema, mode, "")


def _clean_object(body: Mapping[str, Any], schema: Schema, mode: Mode, path: str) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for name, value in body.items():
        where = f"{path}.{name}" if path else name
        spec = schema.fields.get(name)
        if spec is None:
            if mode == "update" and path in ("", "properties"):
                _refuse_create_only(name, path, where)
            continue  # a property this api-version does not declare: ignored, as ARM does
        if value is None or (spec.read_only and mode != "document"):
            continue
        cleaned[name] = _clean_value(value, spec, mode, where)
    for name in schema.required:
        if cleaned.get(name) is None:
            where = f"{path}.{name}" if path else name
            raise _invalid(f"Required property '{name}' not found in JSON. Path '{where}'")
    return cleaned


def _refuse_create_only(name: str, path: str, where: str) -> None:
    """A property of the created resource that PATCH does not declare can only be set by PUT."""
    created = registry_schema()
    if path == "properties":
        properties = created.fields["properties"].schema
        assert properties is not None
        created = properties
    spec = created.fields.get(name)
    if spec is not None and not spec.read_only:
        raise ArmError(
            400,
            "PropertyChangeNotAllowed",
            f"Changing property '{where}' is not allowed: it can only be set when the registry is created.",
        )


def _clean_value(value: Any, spec: Field, mode: Mode, path: str) -> Any:
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise _wrong_type(value, "Boolean", path)
        return value
    if spec.kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise _wrong_type(value, "Int32", path)
        return value
    if spec.kind == "string":
        if not isinstance(value, str):
            raise _wrong_type(value, "String", path)
        return value
    if spec.kind == "enum":
        canonical = spec.canonical(value) if isinstance(value, str) else None
        if canonical is None:
            raise _invalid(
                f"Error converting value {json.dumps(value)} to type '{spec.enum_name}'. Path '{path}'. "
                f"Allowed values: {', '.join(spec.enum_values)}"
            )
        return canonical
    if spec.kind == "array":
        if not isinstance(value, list):
            raise _wrong_type(value, "Array", path)
        assert spec.item is not None
        return [_clean_value(item, spec.item, mode, f"{path}[{index}]") for index, item in enumerate(value)]
    if not isinstance(value, Mapping):
        raise _wrong_type(value, "Object", path)
    if spec.kind == "map":
        assert spec.item is not None
        return {
            key: _clean_value(item, spec.item, mode, f"{path}.{key}")
            for key, item in value.items()
            if item is not None
        }
    assert spec.schema is not None
    return _clean_object(value, spec.schema, mode, path)


def normalise_document(document: Mapping[str, Any]) -> dict[str, Any]:
    """A GET-shaped document as ARM would answer it, or ArmError(400) for a wrong type or value.

    Keeps read-only fields (a seed or the stored state states what ARM answers), drops what the
    api-version does not declare, and spells enum values canonically.
    """
    return _clean_object(document, registry_schema(), "document", "")


def carry_read_only(
    previous: Mapping[str, Any], updated: dict[str, Any], schema: Schema | None = None
) -> None:
    """Put back the server-set (read-only) values of ``previous`` that ``updated`` lacks.

    A PATCH replaces ``retentionPolicy`` or ``encryption`` whole, but never the fields only the
    server sets in them (``lastUpdatedTime``, ``versionedKeyIdentifier``, ``principalId``...).
    """
    schema = schema or registry_schema()
    for name, spec in schema.fields.items():
        if name not in previous:
            continue
        old, new = previous[name], updated.get(name)
        if spec.read_only:
            if new is None:
                updated[name] = old
        elif spec.schema is not None and isinstance(old, Mapping) and isinstance(new, dict):
            carry_read_only(old, new, spec.schema)
        elif spec.item is not None and spec.item.schema is not None and isinstance(old, Mapping):
            for key, item in (new or {}).items() if isinstance(new, dict) else ():
                if isinstance(old.get(key), Mapping) and isinstance(item, dict):
                    carry_read_only(old[key], item, spec.item.schema)


def model_schema(model: str) -> Schema:
    """The wire schema of one of the SDK's models, by class name (``Token``, ``CacheRule``...)."""
    return _schema(getattr(_models(), model))


def clean_model(body: Mapping[str, Any], model: str, *, document: bool = False) -> dict[str, Any]:
    """A child resource's request body (read-only fields dropped) or, with ``document``, its GET
    document (read-only fields kept); ArmError(400) for a wrong type or value, as for registries."""
    return _clean_object(body, model_schema(model), "document" if document else "create", "")
