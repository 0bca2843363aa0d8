"""The JSON Schema of policies.yaml (``acrguard schema``), generated from the validator's own models.

It is built from the msgspec Structs of acrguard/policy/model.py and each remediator's ``Config``, so it
cannot drift from what the validator accepts: types, enums and unknown keys agree exactly
(tests/policy/test_schema.py). Checks that need code (a private CIDR, the firewall's lockout guard, an
override's match that matches nothing) stay the validator's; the schema is for editors.
``python -m acrguard.policy.schema`` rewrites the committed policies.schema.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from acrguard.policy import model as policy
from remediators import all_rules

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "policies.schema.json"
DRAFT = "https://json-schema.org/draft/2020-12/schema"

#: Shown by editors on hover; the structs' docstrings are written for developers.
DESCRIPTIONS = {
    "version": "Format version of this file: 1.",
    "mode": "dry-run: report drift, change nothing. enforce: fix it. ACRGUARD_MODE overrides it.",
    "scope": "The subscriptions ACR Guard may act in.",
    "exempt": "Registries that are evaluated and reported, never changed.",
    "rules": "One entry per rule; an omitted rule takes its default.",
    "overrides": "Rules for matching registries, merged over `rules`; the first match wins.",
    "notify": "Where planned and applied decisions are sent.",
}


def _schema_model() -> type[msgspec.Struct]:
    """PolicyDocument with ``rules`` typed by the remediators' models (the validator converts those
    in a second step, after merging each override's rules over the base)."""
    rules = policy.rules_model()
    override_fields = [
        (f.name, rules if f.name == "rules" else f.type, _default(f))
        for f in msgspec.structs.fields(policy.Override)
    ]
    override = msgspec.defstruct("Override", override_fields, bases=(policy._Strict,))
    kinds = {"rules": rules, "overrides": list[override]}  # type: ignore[valid-type]
    fields = [
        (f.name, kinds.get(f.name, f.type), _default(f))
        for f in msgspec.structs.fields(policy.PolicyDocument)
    ]
    return msgspec.defstruct("Policy", fields, bases=(policy._Strict,))


def _default(f: msgspec.structs.FieldInfo) -> Any:
    if f.default_factory is not msgspec.NODEFAULT:
        return msgspec.field(default_factory=f.default_factory)
    return f.default


def policy_schema() -> dict[str, Any]:
    generated = msgspec.json.schema(_schema_model())
    defs = generated["$defs"]
    for definition in defs.values():
        definition.pop("description", None)
    for name, text in DESCRIPTIONS.items():
        defs["Policy"]["properties"][name]["description"] = text
    for rem in all_rules():
        skus = " and ".join(sorted(rem.skus))
        defs["Rules"]["properties"][rem.name]["description"] = f"{rem.title} ({skus})."
    guid = {"type": "string", "pattern": f"^{policy.GUID.pattern}$"}
    defs["Scope"]["properties"]["subscriptions"]["items"] = guid
    defs["Match"]["properties"]["subscription"]["anyOf"] = [guid, {"type": "null"}]
    # Match's own check: at least one criterion that is set (an empty match would match everything).
    defs["Match"]["anyOf"] = [
        {"required": [key], "properties": {key: {"type": "string", "minLength": 1}}}
        for key in ("subscription", "resource_group", "name")
    ] + [{"required": ["tags"], "properties": {"tags": {"minProperties": 1}}}]
    return {"$schema": DRAFT, "title": "ACR Guard policies.yaml", **generated}


def render() -> str:
    return json.dumps(policy_schema(), indent=2) + "\n"


if __name__ == "__main__":
    SCHEMA_FILE.write_text(render(), encoding="utf-8")
    sys.stdout.write(f"wrote {SCHEMA_FILE}\n")
