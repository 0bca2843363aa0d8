"""Seeds: registries to start from, read from JSON, YAML or a dict.

Accepted shapes (``registries`` may also be the whole document, as a bare list)::

    defaults:                 # optional, applied to compact entries
      location: westeurope
      subscription: 00000000-0000-0000-0000-00000000aaaa
      resource_group: rg-platform
    registries:
      - name: contosoprod     # compact entry, filled with realistic defaults
        sku: Premium
        tags: {env: prod}
        properties: {anonymousPullEnabled: true}
      - file: ../../tests/data/registries/basic.json   # a GET-shaped document, path relative to the seed
      - {id: /subscriptions/.../registries/x, sku: ..., properties: ...}   # a GET-shaped document inline
      - name: contosoci       # child resources, in a compact or inline entry (see child_documents.py)
        tokens: [{name: ci-push, properties: {status: disabled}}]
        cacheRules: [{name: hub, properties: {sourceRepository: docker.io/library/nginx, targetRepository: nginx}}]
        replications: [{location: northeurope}]          # Premium only; the home region is implied
        diagnosticSettings: [{name: to-law, properties: {workspaceId: ..., logs: [{categoryGroup: audit, enabled: true}]}}]
    subscriptions:            # optional: visible even without registries, or in another state
      - {id: 00000000-0000-0000-0000-00000000cccc, display_name: Sandbox, state: Disabled}
    meta: {...}               # free-form, ignored (generators put bookkeeping here)

Every registry is checked against the contract (types, enums; emulator/wire_schema.py) and ACR's SKU
rules, so a seed cannot hold a state ARM would refuse; what api-version 2025-11-01 does not declare
(``metadataSearch``, ``softDeletePolicy``) is dropped, as ARM would not answer it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import acr_rules, wire_schema
from .arm_paths import CHILD_KINDS, REGISTRY_TYPE, RegistryRef
from .child_documents import child_document
from .http_types import ArmError
from .registry_documents import DEFAULT_LOCATION, canonical_sku, registry_document

SeedSource = str | Path | Mapping[str, Any] | Sequence[Any]

_COMPACT_KEYS = {
    "subscription",
    "resource_group",
    "name",
    "sku",
    "location",
    "tags",
    "properties",
    *CHILD_KINDS,
}
_DEFAULT_KEYS = {"subscription", "resource_group", "location", "sku"}
_TOP_KEYS = {"defaults", "registries", "subscriptions", "meta"}
_SUBSCRIPTION_KEYS = {"id", "display_name", "state"}
_SUBSCRIPTION_STATES = ("Enabled", "Disabled", "Warned", "PastDue", "Deleted")


class SeedError(ValueError):
    """A seed that cannot be loaded; the message names the source, the entry and the reason."""


def read_seed_file(path: str | Path) -> Any:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # PyYAML is a runtime dependency; imported lazily to keep startup fast

        return yaml.safe_load(text)
    return json.loads(text)


def load_seed(source: SeedSource) -> list[dict[str, Any]]:
    """Registry documents (GET-shaped) from a seed file path or an already-parsed seed."""
    return parse_seed(source)[0]


Children = dict[str, dict[str, list[dict[str, Any]]]]
"""Child resource documents by registry ID, then by kind (``tokens``, ``cacheRules``...)."""


def parse_seed(source: SeedSource) -> tuple[list[dict[str, Any]], list[dict[str, str]], Children]:
    """(registry documents, explicit subscriptions ``{id, display_name?, state?}``, children) of a seed."""
    if isinstance(source, (str, Path)):
        path = Path(source)
        seed, base_dir, origin = read_seed_file(path), path.parent, str(path)
    else:
        seed, base_dir, origin = source, Path.cwd(), "<seed>"
    children: Children = {}
    documents = _documents(seed, base_dir=base_dir, origin=origin, children=children)
    return documents, _subscriptions(seed, origin), children


def _subscriptions(seed: Any, origin: str) -> list[dict[str, str]]:
    if not isinstance(seed, Mapping):
        return []
    subscriptions = []
    for index, entry in enumerate(seed.get("subscriptions") or []):
        where = f"{origin}: subscriptions[{index}]"
        if not isinstance(entry, Mapping) or not entry.get("id"):
            raise SeedError(f"{where}: expected a mapping with an 'id'")
        unknown = set(entry) - _SUBSCRIPTION_KEYS
        if unknown:
            raise SeedError(
                f"{where}: unknown key(s) {sorted(unknown)}; expected some of {sorted(_SUBSCRIPTION_KEYS)}"
            )
        if entry.get("state", "Enabled") not in _SUBSCRIPTION_STATES:
            raise SeedError(f"{where}: state must be one of {', '.join(_SUBSCRIPTION_STATES)}")
        subscriptions.append({str(k): str(v) for k, v in entry.items()})
    return subscriptions


def _documents(seed: Any, *, base_dir: Path, origin: str, children: Children) -> list[dict[str, Any]]:
    if isinstance(seed, Mapping):
        unknown = set(seed) - _TOP_KEYS
        if unknown:
            raise SeedError(
                f"{origin}: unknown top-level key(s) {sorted(unknown)}; expected {sorted(_TOP_KEYS)}"
            )
        defaults = dict(seed.get("defaults") or {})
        bad_defaults = set(defaults) - _DEFAULT_KEYS
        if bad_defaults:
            raise SeedError(f"{origin}: defaults: unknown key(s) {sorted(bad_defaults)}")
        entries = seed.get("registries") or []
    elif isinstance(seed, Sequence) and not isinstance(seed, str):
        defaults, entries = {}, seed
    else:
        raise SeedError(f"{origin}: a seed is a mapping with 'registries' or a list of registries")
    documents = []
    for index, entry in enumerate(entries):
        where = f"{origin}: registries[{index}]"
        if not isinstance(entry, Mapping):
            raise SeedError(f"{where}: expected a mapping, got {type(entry).__name__}")
        if "file" in entry:
            if set(entry) != {"file"}:
                raise SeedError(f"{where}: a 'file' entry takes no other keys")
            file_path = base_dir / str(entry["file"])
            try:
                document = read_seed_file(file_path)
            except OSError as error:
                raise SeedError(f"{where}: cannot read {file_path}: {error}") from None
            documents.append(_full_document(document, f"{where} ({file_path})"))
        else:
            own = {key: entry[key] for key in CHILD_KINDS if key in entry}
            entry = {key: value for key, value in entry.items() if key not in CHILD_KINDS}
            if "id" in entry:
                documents.append(_full_document(entry, where))
            else:
                documents.append(_compact_document(entry, defaults, where))
            if own:
                children[documents[-1]["id"]] = _children(documents[-1], own, where)
    return documents


def _children(registry: dict[str, Any], given: dict[str, Any], where: str) -> dict[str, list[dict[str, Any]]]:
    """The child documents of one seeded registry, or SeedError naming the faulty child."""
    found: dict[str, list[dict[str, Any]]] = {}
    for kind, entries in given.items():
        if not isinstance(entries, list):
            raise SeedError(f"{where}: {kind} must be a list")
        for index, entry in enumerate(entries):
            try:
                found.setdefault(kind, []).append(child_document(registry, kind, entry))
            except ValueError as error:
                raise SeedError(f"{where}: {kind}[{index}]: {error}") from None
    return found


def _compact_document(entry: Mapping[str, Any], defaults: Mapping[str, Any], where: str) -> dict[str, Any]:
    unknown = set(entry) - _COMPACT_KEYS
    if unknown:
        raise SeedError(
            f"{where}: unknown key(s) {sorted(unknown)}; expected some of {sorted(_COMPACT_KEYS)}"
        )
    merged = {**defaults, **entry}
    for required in ("subscription", "resource_group", "name"):
        if not merged.get(required):
            raise SeedError(f"{where}: '{required}' is required (in the entry or in defaults)")
    try:
        # Only the entry's own properties need the contract: the defaults around them conform.
        properties = wire_schema.clean_request(
            {"location": "-", "sku": {"name": "Basic"}, "properties": merged.get("properties") or {}},
            "create",
        ).get("properties", {})
        document = registry_document(
            subscription=str(merged["subscription"]),
            resource_group=str(merged["resource_group"]),
            name=str(merged["name"]),
            sku=str(merged.get("sku", "Premium")),
            location=str(merged.get("location", DEFAULT_LOCATION)),
            tags={str(k): str(v) for k, v in (merged.get("tags") or {}).items()},
            properties=properties,
        )
    except ArmError as error:
        raise SeedError(f"{where}: ARM would refuse this registry: {error.code}: {error.message}") from None
    except ValueError as error:
        raise SeedError(f"{where}: {error}") from None
    return _check(document, where, conforms=True)


def _full_document(document: Any, where: str) -> dict[str, Any]:
    if not isinstance(document, Mapping) or "id" not in document:
        raise SeedError(f"{where}: a registry document needs an 'id'")
    try:
        ref = RegistryRef.parse(str(document["id"]))
    except ValueError as error:
        raise SeedError(f"{where}: {error}") from None
    doc = copy.deepcopy(dict(document))
    sku = canonical_sku((doc.get("sku") or {}).get("name", ""))
    if sku is None:
        raise SeedError(f"{where}: sku.name must be one of Basic, Standard, Premium")
    doc["sku"] = {"name": sku, "tier": sku}
    doc.setdefault("type", REGISTRY_TYPE)
    doc.setdefault("name", ref.name)
    doc.setdefault("location", DEFAULT_LOCATION)
    doc.setdefault("tags", {})
    doc.setdefault("properties", {}).setdefault("provisioningState", "Succeeded")
    return _check(doc, where)


def _check(document: dict[str, Any], where: str, *, conforms: bool = False) -> dict[str, Any]:
    """The document as ARM would hold it (the api-version's shape), or SeedError."""
    try:
        if not conforms:
            document = wire_schema.normalise_document(document)
        acr_rules.check_registry(document)
    except ArmError as error:
        raise SeedError(f"{where}: ARM would refuse this registry: {error.code}: {error.message}") from None
    properties = document["properties"]
    if properties.get("networkRuleSet") is not None:
        properties["networkRuleSet"] = acr_rules.normalise_network_rule_set(properties["networkRuleSet"])
    return document
