"""`acrguard schema` and the committed policies.schema.json, generated from the
validator's own models, accept and refuse what the validator does."""

from __future__ import annotations

import copy
import json
import subprocess
from typing import Any

import jsonschema
import pytest
import yaml
from cli_helpers import ACRGUARD, ROOT
from engine_helpers import POLICY
from hypothesis import given, settings
from hypothesis import strategies as st

from acrguard.policy import PolicyError, parse_policy
from acrguard.policy.schema import SCHEMA_FILE, policy_schema, render
from acrguard.policy.starter import STARTER

VALIDATOR = jsonschema.Draft202012Validator(policy_schema())
SHIPPED = (ROOT / "policies.yaml").read_text(encoding="utf-8")
SUB = "00000000-0000-0000-0000-00000000aaaa"


def validator_accepts(text: str) -> bool:
    try:
        parse_policy(text, "p.yaml")
    except PolicyError:
        return False
    return True


def schema_accepts(text: str) -> bool:
    return VALIDATOR.is_valid(yaml.safe_load(text))


def test_the_committed_schema_is_the_generated_one():
    """policies.schema.json is regenerated with `python -m acrguard.policy.schema`."""
    assert SCHEMA_FILE.read_text(encoding="utf-8") == render(), "run: python -m acrguard.policy.schema"
    jsonschema.Draft202012Validator.check_schema(json.loads(render()))


def test_acrguard_schema_prints_it():
    result = subprocess.run([str(ACRGUARD), "schema"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == policy_schema()


def test_the_shipped_policy_points_editors_at_the_schema():
    """The yaml-language-server modeline (VS Code's YAML extension) names the file."""
    first = SHIPPED.splitlines()[0]
    assert first == "# yaml-language-server: $schema=./policies.schema.json"
    assert (ROOT / first.split("$schema=")[1]).resolve() == SCHEMA_FILE


GOOD = {
    "shipped policies.yaml": SHIPPED,
    "acrguard init's starter": STARTER,
    "tests' engine policy": POLICY,
    "minimal": "version: 1\n",
    "every section": f"""
version: 1
mode: dry-run
scope: {{subscriptions: ['{SUB}']}}
exempt: {{tags: {{team: '*'}}, registries: []}}
rules:
  anonymous_pull: {{enabled: true, mode: enforce}}
  admin_user: {{enabled: false, mode: null}}
  public_network_access: {{enabled: true, allow_without_private_endpoint: true}}
  network_rules: {{allowed_ips: [20.9.8.7], existing_rules: replace, bypass: None, min_prefix_length: 16}}
overrides:
  - match: {{subscription: '{SUB}', resource_group: 'rg-*', tags: {{env: dev}}}}
    mode: dry-run
    rules: {{network_rules: {{enabled: false}}}}
    description: dev
notify:
  webhooks: [{{url: 'https://example.com/hook', format: slack}}]
  eventgrid: [{{endpoint: 'https://t.westeurope-1.eventgrid.azure.net/api/events', key_setting: TOPIC_KEY}}]
  on_failed: true
""",
}

BAD = {
    # unknown keys, at every level
    "unknown top-level key": "version: 1\nrulez: {}\n",
    "unknown rule": "version: 1\nrules: {anonymus_pull: {}}\n",
    "unknown rule key": "version: 1\nrules: {admin_user: {enabeld: true}}\n",
    "unknown scope key": "version: 1\nscope: {subscription: []}\n",
    "unknown override key": "version: 1\noverrides: [{match: {name: x}, rule: {}}]\n",
    "unknown key in an override's rules": "version: 1\noverrides: [{match: {name: x}, rules: {admin: {}}}]\n",
    "unknown match key": "version: 1\noverrides: [{match: {registry: x}}]\n",
    "unknown sink key": "version: 1\nnotify: {webhooks: [{url: 'https://e.com/h', fmt: json}]}\n",
    # wrong types
    "version as text": "version: '1'\n",
    "enabled as text": "version: 1\nrules: {anonymous_pull: {enabled: 'true'}}\n",
    "enabled as a number": "version: 1\nrules: {anonymous_pull: {enabled: 1}}\n",
    "allowed_ips as text": "version: 1\nrules: {network_rules: {allowed_ips: 20.9.8.7}}\n",
    "an allowed_ips entry as a number": "version: 1\nrules: {network_rules: {allowed_ips: [7]}}\n",
    "min_prefix_length as text": "version: 1\nrules: {network_rules: {min_prefix_length: '8'}}\n",
    "min_prefix_length out of range": "version: 1\nrules: {network_rules: {min_prefix_length: 33}}\n",
    "a tag value as a number": "version: 1\nexempt: {tags: {env: 1}}\n",
    "overrides as a mapping": "version: 1\noverrides: {match: {name: x}}\n",
    "a rule as a list": "version: 1\nrules: {admin_user: [enabled]}\n",
    "top level as a list": "- version: 1\n",
    "empty file": "",
    # bad enum values
    "version 2": "version: 2\n",
    "mode yolo": "version: 1\nmode: yolo\n",
    "rule mode": "version: 1\nrules: {admin_user: {mode: audit}}\n",
    "existing_rules": "version: 1\nrules: {network_rules: {existing_rules: merge}}\n",
    "bypass": "version: 1\nrules: {network_rules: {bypass: azureservices}}\n",
    "default_action": "version: 1\nrules: {network_rules: {default_action: Allow}}\n",
    "webhook format": "version: 1\nnotify: {webhooks: [{url: 'https://e.com/h', format: discord}]}\n",
    "override mode": "version: 1\noverrides: [{match: {name: x}, mode: maybe}]\n",
    # missing and malformed values the schema can state
    "no version": "mode: enforce\n",
    "webhook without url": "version: 1\nnotify: {webhooks: [{format: json}]}\n",
    "an empty match": "version: 1\noverrides: [{match: {}}]\n",
    "a subscription that is not a GUID": "version: 1\nscope: {subscriptions: [prod]}\n",
    "a match subscription that is not a GUID": "version: 1\noverrides: [{match: {subscription: prod}}]\n",
    "the deliberately invalid example": (ROOT / "examples/invalid/bad-policy.yaml").read_text(),
}

#: What only code can check; the schema accepts these, the validator refuses them (and says why).
VALIDATOR_ONLY = {
    "a private allowed_ips entry": "version: 1\nrules: {network_rules: {allowed_ips: [10.0.0.0/8]}}\n",
    "an allowed_ips entry that is not an address": "version: 1\nrules: {network_rules: {allowed_ips: [x]}}\n",
    "Deny with an empty allow-list": "version: 1\nrules: {network_rules: {enabled: true}}\n",
    "an exempt registry that is not a registry ID": "version: 1\nexempt: {registries: [/subscriptions/x]}\n",
    "duplicate keys (YAML, before any schema)": "version: 1\nmode: dry-run\nmode: enforce\n",
    "a whole-number float (YAML 8.0)": "version: 1\nrules: {network_rules: {min_prefix_length: 8.0}}\n",
    "an http webhook": "version: 1\nnotify: {webhooks: [{url: 'http://e.com/h'}]}\n",
}


@pytest.mark.parametrize("name", GOOD)
def test_both_accept_the_good_policies(name):
    """Every valid test policy is valid for the schema too (no false squiggles)."""
    assert validator_accepts(GOOD[name]) and schema_accepts(GOOD[name])


@pytest.mark.parametrize("name", BAD)
def test_both_refuse_the_bad_policies(name):
    """Unknown keys, wrong types and bad enum values: both refuse."""
    text = BAD[name]
    assert not validator_accepts(text)
    assert not VALIDATOR.is_valid(yaml.safe_load(text) if text else None)


@pytest.mark.parametrize("name", VALIDATOR_ONLY)
def test_what_only_code_can_check_is_the_validators(name):
    """The schema is looser only where a check needs code: the validator still refuses these."""
    text = VALIDATOR_ONLY[name]
    assert not validator_accepts(text)
    if "duplicate keys" not in name:  # yaml.safe_load keeps the last of duplicate keys
        assert schema_accepts(text)


# --- generated: the shipped policy with one value changed -----------------------------------------

BASE: dict[str, Any] = yaml.safe_load(SHIPPED)
SCALARS = st.one_of(
    st.booleans(),
    st.integers(-3, 40),
    st.sampled_from(["", "dry-run", "enforce", "keep", "replace", "None", "AzureServices", "Deny", "x"]),
    st.none(),
    st.just([]),
    st.just({}),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place that holds a value, except inside allowed_ips/subscriptions/registries (what those
    hold is checked by code: VALIDATOR_ONLY)."""
    out = [prefix] if prefix else []
    if prefix and prefix[-1] in ("allowed_ips", "subscriptions", "registries", "url", "endpoint"):
        return out
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            out += _paths(value, (*prefix, index))
    return out


PATHS = _paths(BASE)


@settings(max_examples=300, deadline=None)
@given(path=st.sampled_from(PATHS), value=SCALARS, unknown=st.booleans())
def test_schema_and_validator_agree_on_mutated_policies(path, value, unknown):
    """One value retyped, or one unknown key added, anywhere in the shipped policy:
    the schema and the validator give the same verdict (the lockout guard aside: it needs code)."""
    doc = copy.deepcopy(BASE)
    parent = doc
    for step in path[:-1]:
        parent = parent[step]
    if unknown and isinstance(parent, dict):
        parent["zz_unknown"] = value
    else:
        parent[path[-1]] = value
    text = json.dumps(doc)
    ours = validator_accepts(text)
    theirs = VALIDATOR.is_valid(doc)
    if theirs and not ours:  # only the checks that need code may refuse what the schema accepts
        with pytest.raises(PolicyError) as info:
            parse_policy(text, "p.yaml")
        assert all("lock every client out" in reason for _, reason in info.value.problems), info.value
    else:
        assert ours == theirs, (path, value, unknown)
