"""The Resource Graph sweep never misses what ``plan()`` would fix.

Soundness over every field the rules read: the documents vary every registry property the SDK
model (the emulator's contract, derived from azure-mgmt-containerregistry's models) declares as a
writable bool or enum, plus the arrays of objects (``networkRuleSet.ipRules``,
``privateEndpointConnections``) and ``sku.name``. Each field is drawn absent, null, as each enum
value in several casings, as a value of another type, or left as ARM's default document has it;
arrays in any order, spelled differently, with elements missing keys. The policies enable any
rules in any mode, with every option that changes a predicate (``bypass_for_tasks``,
``existing_rules``, ``bypass``, allow-lists, overrides, exemptions by tag and by ID). A registry
the fix-phase query leaves out must get no write from ``plan()``; one the whole policy's query
leaves out must get nothing to report. The queries run in the emulator's KQL interpreter over the
registry as Resource Graph's ``resources`` row.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.containerregistry.models import Registry
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from registry_strategies import allow_lists
from reliability import ExampleCounter, adversarial, record

from acrguard.azure.resource_ids import RegistryRef
from acrguard.engine import pushdown
from acrguard.plan import plan
from acrguard.policy import Policy, parse_policy
from emulator import kql, registry_document, wire_schema
from emulator.graph_api import _row
from remediators import all_rules, ipranges

SUB = "00000000-0000-0000-0000-00000000aaaa"
REF = RegistryRef(SUB, "rg-sound", "soundreg")
RULES = {r.name: r for r in all_rules()}
CHILDREN = {c: [] for c in ("tokens", "cacheRules", "replications", "diagnosticSettings")}
WORKSPACE = f"/subscriptions/{SUB}/resourceGroups/rg-monitor/providers/Microsoft.OperationalInsights/workspaces/law-sound"

examples = ExampleCounter("hypothesis", "test_soundness")


@pytest.fixture(scope="module", autouse=True)
def _record_example_counts() -> Iterator[None]:
    yield
    examples.flush()


# --- the fields, from the SDK model ------------------------------------------------------------


def _fields(schema: wire_schema.Schema, prefix: str) -> Iterator[tuple[str, wire_schema.Field]]:
    for name, spec in schema.fields.items():
        path = prefix + name
        if spec.kind in ("bool", "enum") and not spec.read_only:
            yield path, spec
        elif spec.kind == "object" and spec.schema is not None:
            yield from _fields(spec.schema, path + ".")
        elif spec.kind == "array" and spec.item is not None and spec.item.kind == "object":
            yield path, spec


def drawn_fields() -> dict[str, wire_schema.Field]:
    """Every writable bool or enum of ``properties`` and ``sku``, and every array of objects."""
    schema = wire_schema.registry_schema()
    found = dict(_fields(schema, ""))
    return {p: f for p, f in found.items() if p.startswith(("properties.", "sku.name"))}


FIELDS = drawn_fields()
OTHER_TYPES = st.sampled_from(["", 7, ["x"], {"status": "x"}])


def spellings(value: str) -> st.SearchStrategy[str]:
    return st.sampled_from([value, value.lower(), value.upper(), value.swapcase()])


def scalar(spec: wire_schema.Field) -> st.SearchStrategy[Any]:
    if spec.kind == "bool":
        wire = st.sampled_from([True, False, "true", "False", "TRUE", 1, 0])
    else:
        wire = st.sampled_from(spec.enum_values).flatmap(spellings)
    return st.one_of(wire, OTHER_TYPES)


def element(schema: wire_schema.Schema, strings: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    """An array element built from its model: each field present or missing, enums in any casing."""
    parts: dict[str, st.SearchStrategy[Any]] = {}
    for name, spec in schema.fields.items():
        if spec.kind in ("bool", "enum"):
            parts[name] = scalar(spec)
        elif spec.kind == "string":
            parts[name] = st.sampled_from(strings)
        elif spec.kind == "object" and spec.schema is not None:
            parts[name] = element(spec.schema, strings)
    return st.fixed_dictionaries({}, optional=parts)


@st.composite
def arrays(draw: st.DrawFn, spec: wire_schema.Field, allowed: list[str]) -> Any:
    """An array field: the policy's own list (in order, shuffled, respelled, one short, one more,
    keys in either order), or elements drawn from the model."""
    assert spec.item is not None and spec.item.schema is not None
    canonical = [ipranges.canonical_entry(v) for v in allowed]
    respelled = [f"{v}/32" if "/" not in v else v for v in canonical]
    strings = [*canonical, *respelled, "192.0.2.10", "0.0.0.0/0", "not-an-ip"]
    listed = draw(
        st.sampled_from(["policy", "policy", "shuffled", "respelled", "short", "longer", "model", "odd"])
    )
    if listed == "model":
        return draw(st.lists(element(spec.item.schema, strings), max_size=4))
    if listed == "odd":
        return draw(st.sampled_from(["", "192.0.2.10", {"value": "x"}, [None], [["x"]]]))
    values = {"policy": canonical, "respelled": respelled, "short": canonical[1:]}.get(listed, canonical)
    if listed == "shuffled":
        values = draw(st.permutations(canonical))
    if listed == "longer":
        values = [*canonical, draw(st.sampled_from(strings))]
    if draw(st.booleans()):
        return [{"action": "Allow", "value": v} for v in values]
    return [{"value": v, "action": draw(spellings("Allow"))} for v in values]


def set_path(doc: dict[str, Any], path: str, value: Any, *, remove: bool = False) -> None:
    *parents, leaf = path.split(".")
    holder = doc
    for step in parents:
        if not isinstance(holder.get(step), dict):
            holder[step] = {}
        holder = holder[step]
    if remove:
        holder.pop(leaf, None)
    else:
        holder[leaf] = value


@st.composite
def documents(draw: st.DrawFn, allowed: list[str]) -> dict[str, Any]:
    sku = draw(st.sampled_from(["Basic", "Standard", "Premium", "Premium"]))
    tags = draw(st.sampled_from([{}, {"acrguard": "exempt"}, {"ACRGUARD": "Exempt"}]))
    doc = registry_document(
        subscription=REF.subscription_id, resource_group=REF.resource_group, name=REF.name, sku=sku, tags=tags
    )
    for path, spec in FIELDS.items():
        how = draw(st.sampled_from(["keep", "keep", "absent", "null", "value", "value"]))
        if how == "keep":
            continue
        if how == "absent":
            set_path(doc, path, None, remove=True)
        elif how == "null":
            set_path(doc, path, None)
        elif spec.kind == "array":
            set_path(doc, path, draw(arrays(spec, allowed)))
        else:
            set_path(doc, path, draw(scalar(spec)))
    return doc


# --- the policies: every rule, every option that changes a predicate ---------------------------

MODES = st.sampled_from([None, None, "dry-run", "enforce"])


@st.composite
def network_config(draw: st.DrawFn, allowed: list[str]) -> dict[str, Any]:
    return {
        "allowed_ips": allowed,
        "allow_empty": True,
        "existing_rules": draw(st.sampled_from(["keep", "replace"])),
        "bypass": draw(st.sampled_from(["AzureServices", "None"])),
        "bypass_for_tasks": draw(st.sampled_from([None, True, False])),
    }


@st.composite
def policies(draw: st.DrawFn) -> tuple[Policy, list[str]]:
    allowed = draw(allow_lists(8))
    rules: dict[str, dict[str, Any]] = {}
    for name in RULES:
        rule: dict[str, Any] = {"enabled": draw(st.booleans())}
        if (mode := draw(MODES)) is not None:
            rule["mode"] = mode
        rules[name] = rule
    rules["network_rules"].update(draw(network_config(allowed)))
    rules["public_network_access"]["allow_without_private_endpoint"] = draw(st.booleans())
    rules["diagnostic_settings"]["workspace_id"] = WORKSPACE
    doc: dict[str, Any] = {
        "version": 1,
        "mode": draw(st.sampled_from(["enforce", "dry-run"])),
        "exempt": {"tags": {"acrguard": "exempt"}},
        "rules": rules,
    }
    if draw(st.integers(0, 5)) == 0:
        doc["exempt"]["registries"] = [REF.resource_id.upper()]
    overrides = []
    for _ in range(draw(st.integers(0, 2))):
        changed = draw(st.lists(st.sampled_from(sorted(RULES)), max_size=3, unique=True))
        override_rules: dict[str, Any] = {name: {"enabled": draw(st.booleans())} for name in changed}
        if draw(st.booleans()):
            override_rules["network_rules"] = draw(network_config(allowed)) | {"enabled": True}
        entry: dict[str, Any] = {"match": {"name": draw(st.sampled_from(["sound*", "other*"]))}}
        entry["rules"] = override_rules
        if (mode := draw(MODES)) is not None:
            entry["mode"] = mode
        overrides.append(entry)
    if overrides:
        doc["overrides"] = overrides
    return parse_policy(json.dumps(doc), "sound.yaml"), allowed


@st.composite
def cases(draw: st.DrawFn) -> tuple[Policy, dict[str, Any]]:
    policy, allowed = draw(policies())
    return policy, draw(documents(allowed))


def selects(query: str | None, doc: dict[str, Any]) -> bool:
    return bool(query) and bool(kql.parse(query).run([_row(copy.deepcopy(doc))]))  # type: ignore[arg-type]


def test_the_drawn_fields_cover_every_field_a_rule_compares() -> None:
    """The generator is derived from the SDK model, and every path a rule's check compares (its
    declared condition, under a config with every option set) is among the drawn fields."""
    from remediators.network_rules import NetworkRulesConfig

    configs = {"network_rules": NetworkRulesConfig(allowed_ips=["20.1.2.0/24"], bypass_for_tasks=True)}
    read: set[str] = set()
    for name, rule in RULES.items():
        settled = rule.settled(configs.get(name) or rule.Config()) if name != "diagnostic_settings" else None
        read |= set(settled.fields()) if settled is not None else set()
    assert read and read <= set(FIELDS), sorted(read - set(FIELDS))
    record("soundness_fields", fields=sorted(FIELDS))


def _policy(rules: str) -> Policy:
    return parse_policy(f"version: 1\nmode: enforce\nrules: {rules}\n", "misses.yaml")


def our_registry(sku: str = "Premium", **properties: Any) -> dict[str, Any]:
    return registry_document(
        subscription=SUB, resource_group=REF.resource_group, name=REF.name, sku=sku, properties=properties
    )


#: The two misses of the hand-written predicates, always run first: the tasks bypass the firewall's
#: predicate never read, and anonymous pull absent (the spec's default, false: nothing to write).
TASKS_MISS = (
    _policy(
        "{network_rules: {enabled: true, allowed_ips: ['20.1.2.0/24'], bypass_for_tasks: true}, "
        "anonymous_pull: {enabled: false}}"
    ),
    our_registry(
        networkRuleSet={"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "20.1.2.0/24"}]},
        networkRuleBypassAllowedForTasks=False,
    ),
)
ABSENT_MISS = (_policy("{anonymous_pull: {enabled: true}}"), our_registry("Standard"))
del ABSENT_MISS[1]["properties"]["anonymousPullEnabled"]


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
@example(TASKS_MISS)
@example(ABSENT_MISS)
def test_a_registry_the_fix_query_leaves_out_gets_no_write_from_plan(case) -> None:
    policy, doc = case
    examples.hit("fix query sound (every field)")
    decided = plan(policy, REF, Registry(copy.deepcopy(doc)), CHILDREN)
    fix, _ = pushdown.phases(policy)
    if not selects(fix, doc):
        assert not decided.writes and not decided.child_fixes, (fix, decided.change)
    if not selects(pushdown.query(policy), doc):
        needs = [(d.rule, d.outcome) for d in decided.decisions if d.outcome not in ("compliant", "skipped")]
        assert not needs, (needs, pushdown.query(policy))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_each_rule_condition_means_the_same_to_plan_and_to_resource_graph(case) -> None:
    """The condition a rule's check uses and its KQL are one declaration: on every drawn registry,
    ``holds`` (plan's side) and the query over the row (Resource Graph's side) agree."""
    policy, doc = case
    examples.hit("condition holds == KQL (every rule)")
    registry = Registry(copy.deepcopy(doc))
    for name, rule in RULES.items():
        for rules in (policy.rules, *policy.override_rules):
            settled = rule.settled(rules[name]) if name in rules else None
            if settled is not None:
                in_kql = selects(f"resources | where {settled.kql()}", doc)
                assert settled.holds(registry) == in_kql, (name, settled.kql())


# --- the two misses, stated plainly ------------------------------------------------------------


def test_the_fix_query_selects_a_firewall_whose_tasks_bypass_differs() -> None:
    """Deny, exactly the allow-list, AzureServices, tasks bypass false, policy bypass_for_tasks
    true: plan() writes the tasks bypass, so the fix phase must select the registry."""
    policy = _policy(
        "{network_rules: {enabled: true, allowed_ips: ['20.1.2.0/24'], bypass_for_tasks: true}, "
        "anonymous_pull: {enabled: false}}"
    )
    doc = our_registry(
        networkRuleSet={"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": "20.1.2.0/24"}]},
        networkRuleBypassAllowedForTasks=False,
    )
    decided = plan(policy, REF, Registry(copy.deepcopy(doc)), CHILDREN)
    assert decided.change == {"network_rule_bypass_allowed_for_tasks": True}
    fix, _ = pushdown.phases(policy)
    assert selects(fix, doc), fix
    adversarial(
        3,
        "tasks bypass false, policy bypass_for_tasks true, firewall otherwise exact",
        "selected by the fix query",
        round=4,
    )


def test_the_fix_query_and_plan_agree_on_a_registry_without_anonymous_pull() -> None:
    """anonymousPullEnabled absent: the spec's default (false) applies on both sides, so plan()
    writes nothing and the query leaves it out; set true in any spelling, both act."""
    policy = _policy("{anonymous_pull: {enabled: true}}")
    fix, _ = pushdown.phases(policy)
    base = our_registry("Standard")
    absent = copy.deepcopy(base)
    absent["properties"].pop("anonymousPullEnabled")
    assert not plan(policy, REF, Registry(copy.deepcopy(absent)), CHILDREN).writes
    assert not selects(fix, absent)
    for value in (True, "true", "True"):
        on = copy.deepcopy(base)
        on["properties"]["anonymousPullEnabled"] = value
        assert plan(policy, REF, Registry(copy.deepcopy(on)), CHILDREN).writes
        assert selects(fix, on), (value, fix)
    adversarial(3, "anonymousPullEnabled absent, or 'true' as text", "plan and the fix query agree", round=4)


def test_the_firewall_list_is_read_by_element_not_as_json_text() -> None:
    """The allow-list with its keys in the other order (Kusto does not promise key order in
    tostring) is still recognised as compliant: the predicate reads each element's value."""
    policy = _policy("{network_rules: {enabled: true, allowed_ips: ['20.1.2.0/24', '20.9.8.7']}}")
    listed = [{"value": "20.1.2.0/24", "action": "Allow"}, {"value": "20.9.8.7", "action": "Allow"}]
    doc = our_registry(networkRuleSet={"defaultAction": "Deny", "ipRules": listed})
    assert not plan(policy, REF, Registry(copy.deepcopy(doc)), CHILDREN).writes
    fix, _ = pushdown.phases(policy)
    assert not selects(fix, doc), fix
    adversarial(
        3, "allow-list objects with keys in another order", "recognised as compliant, not swept", round=4
    )
