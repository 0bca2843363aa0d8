"""Least privilege stays exact. The custom role grants the RBAC actions of the rules the
deployment enables and no other, and the Event Grid filter passes exactly their operations; the
code (acrguard/contract.py) and infra/ (parameter ``enabledRules``) both derive them from
acrguard/azure_contract.json, and these tests hold the two sides to the same answer.

The Bicep side is evaluated with tests/bicep_eval.py (the Bicep CLI is a downloaded binary and
cannot run here): the role's ``actions`` and the filter's ``values`` are interpreted from the
parse tree for each rule set, not matched as text.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import pytest
from bicep_eval import Template, parse
from repo_paths import ROOT as REPO

from acrguard.azure.children import _LIST
from acrguard.azure.resource_ids import PROVIDER_PREFIX, READ_ACTION, WRITE_ACTION
from acrguard.contract import (
    CONTRACT,
    RULES,
    operation_names,
    role_actions,
    rules_enabled,
)
from acrguard.events import ACCEPTED_OPERATIONS, Skip, Target, accepted_operations, parse_events
from acrguard.policy import load_policy, parse_policy
from remediators import all_rules

INFRA = REPO / "infra"
TARGET = INFRA / "modules" / "target-subscription.bicep"
EVENTS = INFRA / "modules" / "eventgrid-subscription.bicep"
MG = INFRA / "management-group.bicep"

#: Event Grid: at most 25 advanced filter values per event subscription, all filters together.
MAX_FILTER_VALUES = 25

DISCOVERED = tuple(rule.name for rule in all_rules())
NEW_ACTIONS = {
    "repository_tokens": {
        "Microsoft.ContainerRegistry/registries/tokens/read",
        "Microsoft.ContainerRegistry/registries/tokens/write",
        "Microsoft.ContainerRegistry/registries/tokens/operationStatuses/read",
    },
    "cache_rules": {"Microsoft.ContainerRegistry/registries/cacheRules/read"},
    "geo_replication": {"Microsoft.ContainerRegistry/registries/replications/read"},
    "diagnostic_settings": {
        "Microsoft.Insights/diagnosticSettings/read",
        "Microsoft.Insights/diagnosticSettings/write",
    },
}
RULE_SETS = {
    "none": (),
    "policies.yaml": rules_enabled(load_policy(REPO / "policies.yaml")),
    **{name: (name,) for name in RULES},
    "all": RULES,
}


def _policy_rules() -> tuple[str, ...]:
    return rules_enabled(load_policy(REPO / "policies.yaml"))


# --------------------------------------------------------------------------------------------------
# the contract file


def test_every_rule_in_remediators_has_a_contract_entry() -> None:
    """Exactly one entry per discovered rule: none missing, none for a rule that does not exist."""
    assert set(DISCOVERED) == set(RULES), set(DISCOVERED) ^ set(RULES)
    assert list(RULES) == sorted(RULES)


#: What the I/O layer calls to list each child collection (acrguard.azure.children): the action a
#: child rule's entry must grant; its write (the same path, ``/write``) is the fix and the event.
LIST_ACTIONS = {collection: action for collection, (_, action) in _LIST.items()}
#: Actions granted on the destination workspace only (``workspaceActions``), never in the role:
#: a setting that sends to a Log Analytics workspace needs these on that workspace.
WORKSPACE_ACTIONS = {
    "diagnostic_settings": {
        "Microsoft.OperationalInsights/workspaces/read",
        "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
    },
}
#: Actions an entry may hold beyond the registry's and its collections' read/write, and why.
EXTRA_ACTIONS = {
    # A token PATCH is long-running: its Azure-AsyncOperation status is read under tokens/.
    "repository_tokens": {"Microsoft.ContainerRegistry/registries/tokens/operationStatuses/read"},
}


@pytest.mark.parametrize("rule", all_rules(), ids=lambda r: r.name)
def test_each_rules_entry_grants_what_the_rule_does_and_no_more(rule) -> None:
    """A rule's RBAC actions and operations are declared once, in its JSON, and its contract entry
    says the same; each entry is held to what the rule's metadata and logic imply: a fixing rule
    PATCHes the registry unless it is a child rule, which writes its children instead; a report
    rule only reads; a child rule can list each collection it judges, and a change to one reaches
    the function. Every action is accounted for, so least privilege stays exact."""
    entry = CONTRACT["rules"][rule.name]
    on_workspace = WORKSPACE_ACTIONS.get(rule.name)
    assert set(entry) == {"roleActions", "operationNames", *(("workspaceActions",) if on_workspace else ())}
    actions = entry["roleActions"]
    assert set(entry.get("workspaceActions", ())) == (on_workspace or set())
    assert (rule.rbac_actions(), rule.event_operations) == (
        (*actions, *entry.get("workspaceActions", ())),
        tuple(entry["operationNames"]),
    )
    assert actions[0] == READ_ACTION
    assert (WRITE_ACTION in actions) == (rule.fixes and not rule.children), actions
    if not rule.fixes:
        assert all(action.endswith("/read") for action in actions), actions
    expected = {READ_ACTION, *((WRITE_ACTION,) if rule.fixes and not rule.children else ())}
    reacts_to = set(CONTRACT["base"]["operationNames"]) | set(entry["operationNames"])
    for collection in rule.children:
        listed = LIST_ACTIONS[collection]
        written = listed.removesuffix("/read") + "/write"
        assert listed in actions, (collection, actions)
        assert (written in actions) == rule.fixes, (collection, actions)
        assert written in reacts_to, (collection, entry["operationNames"])
        expected |= {listed, *((written,) if rule.fixes else ())}
    assert set(actions) == expected | EXTRA_ACTIONS.get(rule.name, set())
    if not rule.children:  # a registry property changes by registries/write, which base passes
        assert entry["operationNames"] == []


def test_the_child_rules_carry_their_actions_and_operations() -> None:
    for name, actions in NEW_ACTIONS.items():
        assert actions < set(CONTRACT["rules"][name]["roleActions"]), name
    assert CONTRACT["rules"]["repository_tokens"]["operationNames"] == [
        "Microsoft.ContainerRegistry/registries/tokens/write"
    ]
    # A deleted setting leaves the registry unlogged: its delete event re-evaluates it too.
    assert CONTRACT["rules"]["diagnostic_settings"]["operationNames"] == [
        "Microsoft.Insights/diagnosticSettings/write",
        "Microsoft.Insights/diagnosticSettings/delete",
    ]
    # geo_replication reacts to replications/write, which every deployment already listens for.
    assert "Microsoft.ContainerRegistry/registries/replications/write" in CONTRACT["base"]["operationNames"]


def test_no_wildcards_and_no_duplicates() -> None:
    for key in ("roleActions", "operationNames"):
        entries = [CONTRACT["base"][key], *(entry[key] for entry in CONTRACT["rules"].values())]
        for values in entries:
            assert len(set(values)) == len(values), values
            assert not [v for v in values if "*" in v], values


# --------------------------------------------------------------------------------------------------
# role_actions / operation_names / rules_enabled


def test_role_for_the_default_policy_is_exactly_base_plus_default_rules() -> None:
    """The empty policy (every rule at its default) and the shipped policies.yaml: read and write
    registries, nothing of the opt-in rules."""
    defaults = rules_enabled(parse_policy("version: 1\n"))
    assert defaults == tuple(sorted(r.name for r in all_rules() if r.default_enabled))
    for rules in (defaults, _policy_rules()):
        expected = set(CONTRACT["base"]["roleActions"]).union(
            *(CONTRACT["rules"][name]["roleActions"] for name in rules)
        )
        assert set(role_actions(rules)) == expected == {READ_ACTION, WRITE_ACTION}
        assert len(role_actions(rules)) == len(expected)
        assert set(operation_names(rules)) == set(CONTRACT["base"]["operationNames"])


def test_role_for_all_rules_includes_the_new_rules_actions() -> None:
    actions = set(role_actions(RULES))
    for name, needed in NEW_ACTIONS.items():
        assert needed <= actions, name
    assert {
        "Microsoft.ContainerRegistry/registries/tokens/write",
        "Microsoft.Insights/diagnosticSettings/write",
    } <= set(operation_names(RULES))


def test_a_rule_adds_only_its_own_entry() -> None:
    base = set(role_actions(()))
    assert set(role_actions(["repository_tokens"])) - base == NEW_ACTIONS["repository_tokens"]
    assert set(role_actions(["cache_rules", "admin_user"])) - base == NEW_ACTIONS["cache_rules"]


def test_unknown_rule_names_are_refused_naming_the_known_ones() -> None:
    with pytest.raises(
        ValueError, match=r"rule\(s\) nope not in azure_contract.json; known rules: admin_user"
    ):
        role_actions(["anonymous_pull", "nope"])
    with pytest.raises(ValueError, match="nope"):
        operation_names(["nope"])


def test_rules_enabled_includes_rules_an_override_enables() -> None:
    policy = parse_policy(
        "version: 1\n"
        "rules: {anonymous_pull: {enabled: false}, firewall_unavailable: {enabled: false}}\n"
        "overrides:\n"
        "  - match: {name: 'dev*'}\n"
        "    rules: {admin_user: {enabled: true}}\n"
    )
    assert rules_enabled(policy) == ("admin_user",)
    assert set(role_actions(rules_enabled(policy))) == {READ_ACTION, WRITE_ACTION}


# --------------------------------------------------------------------------------------------------
# infra/: the role and the filter, evaluated for each rule set


def _role_actions_in(path: Path, rules: tuple[str, ...]) -> list[str]:
    role = parse(path)["resources"]["remediatorRole"]  # the function's role (onboarding has its own)
    assert role["type"] == "Microsoft.Authorization/roleDefinitions"
    (permission,) = role["config"]["properties"]["permissions"]
    return Template(path, {"enabledRules": list(rules)}).value(permission["actions"])


def _advanced_filters_in(path: Path, rules: tuple[str, ...]) -> list[dict]:
    template = Template(path, {"enabledRules": list(rules)})
    if path == MG:
        return template.value(parse(path)["variables"]["eventSubscriptionProperties"]["value"])["filter"][
            "advancedFilters"
        ]
    (sub,) = [
        r
        for r in parse(path)["resources"].values()
        if r["type"] == "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    ]
    return template.value(sub["config"]["properties"]["filter"]["advancedFilters"])


@pytest.mark.parametrize("name", RULE_SETS)
@pytest.mark.parametrize("path", [TARGET, MG], ids=lambda p: p.name)
def test_bicep_role_grants_exactly_role_actions(path: Path, name: str) -> None:
    rules = RULE_SETS[name]
    actions = _role_actions_in(path, rules)
    assert len(actions) == len(set(actions)), actions  # union: each action once
    assert sorted(actions) == sorted(role_actions(rules))


@pytest.mark.parametrize("name", RULE_SETS)
@pytest.mark.parametrize("path", [EVENTS, MG], ids=lambda p: p.name)
def test_bicep_event_filter_is_exactly_operation_names(path: Path, name: str) -> None:
    rules = RULE_SETS[name]
    filters = _advanced_filters_in(path, rules)
    (operations,) = [f for f in filters if f["key"] == "data.operationName"]
    assert operations["operatorType"] == "StringIn"
    assert sorted(operations["values"]) == sorted(operation_names(rules))
    assert len(operations["values"]) == len(set(operations["values"]))


@pytest.mark.parametrize("path", [EVENTS, MG], ids=lambda p: p.name)
def test_bicep_event_filter_passes_only_registries_and_their_children(path: Path) -> None:
    """diagnosticSettings/write is raised for every resource type: the subject filter keeps the
    others out, and it says what the code's own check says (Event Grid compares case-insensitively)."""
    (subject,) = [f for f in _advanced_filters_in(path, RULES) if f["key"] == "subject"]
    assert subject == {
        "operatorType": "StringContains",
        "key": "subject",
        "values": CONTRACT["subjectContains"],
    }
    assert [value.lower() for value in subject["values"]] == [PROVIDER_PREFIX]


@pytest.mark.parametrize("path", [EVENTS, MG], ids=lambda p: p.name)
def test_all_rules_fit_event_grids_25_filter_values(path: Path) -> None:
    filters = _advanced_filters_in(path, RULES)
    total = sum(len(f["values"]) if isinstance(f.get("values"), list) else 1 for f in filters)
    assert 0 < total <= MAX_FILTER_VALUES, total


@pytest.mark.parametrize("path", [INFRA / "main.bicep", MG], ids=lambda p: p.name)
def test_entry_templates_allow_exactly_the_contracts_rules(path: Path) -> None:
    """A misspelt rule fails the deployment naming the allowed values, not deep in an expression."""
    param = parse(path)["parameters"]["enabledRules"]
    assert param.get("default") is None  # deployers choose; a stale default would grant the wrong role
    (allowed,) = [d["argument"] for d in param["decorators"] if d["type"] == "allowed"]
    assert allowed == list(RULES)


def test_enabled_rules_reach_the_role_and_the_filter() -> None:
    main = parse(INFRA / "main.bicep")["modules"]
    assert main["targets"]["config"]["config"]["params"]["enabledRules"] == "enabledRules"
    target = parse(TARGET)["modules"]["eventSubscription"]["config"]["config"]["params"]
    assert target["enabledRules"] == "enabledRules"


def test_parameters_file_enables_what_policies_yaml_enables() -> None:
    params = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert params["enabledRules"]["value"] == list(_policy_rules())


# --------------------------------------------------------------------------------------------------
# the helper deployers run, and the docs


def _helper(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "acrguard.contract", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_helper_prints_the_enabled_rules_parameter() -> None:
    done = _helper("--enabled-rules", "policies.yaml")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == list(_policy_rules())


def test_helper_names_the_problem_with_a_bad_policy(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("version: 1\nrules: {bogus: {enabled: true}}\n", encoding="utf-8")
    done = _helper("--enabled-rules", str(bad))
    assert done.returncode == 2 and done.stdout == ""
    assert "rules.bogus: unknown key; allowed: admin_user" in done.stderr
    missing = _helper("--enabled-rules", str(tmp_path / "absent.yaml"))
    assert missing.returncode == 2 and "cannot read the file" in missing.stderr


def test_docs_tell_deployers_about_the_parameter() -> None:
    deploy = (REPO / "docs" / "DEPLOY.md").read_text(encoding="utf-8")
    assert "enabledRules" in deploy
    assert "python -m acrguard.contract --enabled-rules" in deploy
    assert "enabledRules" in (REPO / "README.md").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------------------
# the code's Event Grid acceptance

REGISTRY = (
    "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-platform"
    "/providers/Microsoft.ContainerRegistry/registries/contosoprod"
)


def _event(load_sample, resource_id: str, operation: str) -> dict:
    event = copy.deepcopy(load_sample("events/registry-write.eventgrid.json"))
    event["subject"] = event["data"]["resourceUri"] = resource_id
    event["data"]["operationName"] = operation
    return event


def test_token_write_is_not_skipped_as_foreign(load_sample) -> None:
    """A token write (repository_tokens reacts to it) re-evaluates its registry; the old
    flat operation list skipped it as "cannot change a guarded registry property"."""
    event = _event(
        load_sample, f"{REGISTRY}/tokens/ci-pull", "Microsoft.ContainerRegistry/registries/tokens/write"
    )
    (result,) = parse_events(event)
    assert isinstance(result, Target), result
    assert result.ref.resource_id == REGISTRY


def test_diagnostic_setting_under_a_registry_is_accepted_elsewhere_not(load_sample) -> None:
    operation = "Microsoft.Insights/diagnosticSettings/write"
    (result,) = parse_events(
        _event(load_sample, f"{REGISTRY}/providers/Microsoft.Insights/diagnosticSettings/audit", operation)
    )
    assert isinstance(result, Target) and result.ref.resource_id == REGISTRY
    storage = REGISTRY.replace("Microsoft.ContainerRegistry/registries", "Microsoft.Storage/storageAccounts")
    (result,) = parse_events(
        _event(load_sample, f"{storage}/providers/Microsoft.Insights/diagnosticSettings/audit", operation)
    )
    assert isinstance(result, Skip) and "not a container registry resource" in result.reason


def test_code_accepts_what_the_filters_pass() -> None:
    assert frozenset(operation_names(RULES)) == ACCEPTED_OPERATIONS
    policy = load_policy(REPO / "policies.yaml")
    assert accepted_operations(policy) == frozenset(operation_names(_policy_rules()))


def test_an_operation_of_a_rule_the_policy_leaves_off_is_skipped_naming_the_rule(load_sample) -> None:
    operations = accepted_operations(load_policy(REPO / "policies.yaml"))
    event = _event(
        load_sample, f"{REGISTRY}/tokens/ci-pull", "Microsoft.ContainerRegistry/registries/tokens/write"
    )
    (result,) = parse_events(event, operations)
    assert isinstance(result, Skip)
    assert result.reason == (
        "operation Microsoft.ContainerRegistry/registries/tokens/write is only for rule(s) "
        "repository_tokens, which the policy does not enable"
    )
    (result,) = parse_events(
        _event(load_sample, REGISTRY, "Microsoft.ContainerRegistry/registries/write"), operations
    )
    assert isinstance(result, Target)
