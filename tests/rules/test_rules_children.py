"""The child-resource rules (repository_tokens, cache_rules, geo_replication,
diagnostic_settings), end to end through the real engine and SDKs against the emulator.

What they cost is counted from the emulator's request log: the default policy reads the registry's
one GET and lists nothing; each child rule enabled adds exactly one list call, of its collection.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from azure.mgmt.containerregistry.models import Registry
from child_rule_helpers import CHILD_RULES, SUB, WORKSPACE, add, audit_setting, calls, policy
from engine_helpers import ROOT, Harness, SimulatedClock, make_harness, write_event

from acrguard.azure.resource_ids import RegistryRef
from acrguard.events import Skip, Target, parse_events
from acrguard.explain import explain
from acrguard.policy import PolicyError, parse_policy


@pytest.fixture(params=["Basic", "Standard", "Premium"])
def on_every_sku(request, emu):
    """``add`` on each SKU in turn: the registry is named after the stem and its SKU."""
    return lambda stem, **children: add(emu, f"{stem}{request.param.lower()}", request.param, **children)


TOKEN_WRITE = "Microsoft.ContainerRegistry/registries/tokens/write"


def run(text: str, *resource_ids: str, mode: str | None = None) -> Harness:
    """The engine under ``text``, after one registry-write event for each of ``resource_ids``."""
    h = make_harness(text, mode)
    for resource_id in resource_ids:
        h.engine.handle(write_event(resource_id))
    return h


# -- what it costs -------------------------------------------------------------------------------


def test_the_default_policy_lists_no_child_collection(emu, on_every_sku):
    """0 extra ARM calls per event for the default policy, children or not."""
    resource_id = on_every_sku(
        "defaults",
        tokens=[{"name": "ci-push"}],
        cacheRules=[{"name": "hub", "properties": {"sourceRepository": "docker.io/library/nginx"}}],
        diagnosticSettings=[audit_setting()],
    )
    h = run("version: 1\n", resource_id)
    assert h.records and not {r.rule for r in h.records} & set(CHILD_RULES)
    assert [c for c in calls(emu) if c[0] == "GET"] == [("GET", "registry")]


@pytest.mark.parametrize(("rule", "collection"), CHILD_RULES.items())
def test_each_child_rule_adds_exactly_one_list_call_of_its_collection(emu, rule, collection):
    resource_id = add(emu, f"cost{collection.lower()}")
    h = run(policy(rule), resource_id)
    assert [r.rule for r in h.records] == [rule]
    assert calls(emu)[:2] == [("GET", "registry"), ("GET", collection)]
    assert [c for c in calls(emu) if c[0] == "GET"] == [("GET", "registry"), ("GET", collection)]


def test_all_four_enabled_list_each_collection_once(emu):
    resource_id = add(emu, "costall", diagnosticSettings=[audit_setting()])
    run(policy(*CHILD_RULES), resource_id)
    assert sorted(calls(emu)) == sorted([("GET", "registry"), *(("GET", c) for c in CHILD_RULES.values())])


def test_a_rule_enabled_only_by_an_override_lists_only_for_the_registries_it_matches(emu):
    matched = add(emu, "ovrmatched", tags={"team": "payments"})
    other = add(emu, "ovrother")
    text = (
        policy()
        + "overrides:\n  - match: {tags: {team: payments}}\n    rules: {cache_rules: {enabled: true}}\n"
    )
    h = run(text, other)
    assert calls(emu) == [("GET", "registry")]
    h.engine.handle(write_event(matched))
    assert calls(emu)[1:] == [("GET", "registry"), ("GET", "cacheRules")]


# -- repository_tokens --------------------------------------------------------------------------


def test_repository_tokens_disables_each_enabled_token_but_the_allowed_ones(emu, on_every_sku):
    resource_id = on_every_sku(
        "tokens",
        tokens=[
            {"name": "ci-push", "properties": {"status": "enabled"}},
            {"name": "legacy-pull"},  # ARM's default status: enabled
            {"name": "release-bot", "properties": {"status": "enabled"}},
            {"name": "old-token", "properties": {"status": "disabled"}},
        ],
    )
    h = run(policy("repository_tokens", repository_tokens="allowed: [Release-Bot]"), resource_id)
    [record] = h.records
    assert (record.rule, record.outcome) == ("repository_tokens", "applied")
    assert record.after == {"tokens": {"ci-push": "disabled", "legacy-pull": "disabled"}}
    statuses = {t["name"]: t["properties"]["status"] for t in emu.children(resource_id, "tokens")}
    assert statuses == {
        "ci-push": "disabled",
        "legacy-pull": "disabled",
        "release-bot": "enabled",
        "old-token": "disabled",
    }
    patches = emu.requests_for(method="PATCH", route="tokens")
    assert sorted(p.resource_id.rsplit("/", 1)[-1] for p in patches) == ["ci-push", "legacy-pull"]
    assert all(p.body == {"properties": {"status": "disabled"}} for p in patches)
    assert emu.counters.writes(resource_id) == 0  # the registry itself is not written


def test_repository_tokens_long_running_patch_is_polled_and_confirmed(emu):
    resource_id = add(emu, "tokensasync", tokens=[{"name": "ci-push"}])
    emu.set_lro("async", polls=2, resource_id=resource_id)
    h = run(policy("repository_tokens"), resource_id)
    assert h.outcomes() == [("repository_tokens", "applied")]
    assert [p.operation_status for p in emu.requests_for(route="operation")] == [
        "InProgress",
        "InProgress",
        "Succeeded",
    ]
    assert emu.get_child(f"{resource_id}/tokens/ci-push")["properties"]["status"] == "disabled"


def test_repository_tokens_compliant_costs_one_list_and_no_write(emu):
    resource_id = add(emu, "tokensok", tokens=[{"name": "old-token", "properties": {"status": "disabled"}}])
    h = run(policy("repository_tokens"), resource_id)
    assert h.outcomes() == [("repository_tokens", "compliant")]
    assert calls(emu) == [("GET", "registry"), ("GET", "tokens")]


def test_repository_tokens_dry_run_and_exemption_write_nothing(emu):
    dry = add(emu, "tokensdry", tokens=[{"name": "ci-push"}])
    exempt = add(emu, "tokensexempt", tags={"acrguard": "exempt"}, tokens=[{"name": "ci-push"}])
    h = run(policy("repository_tokens", mode="dry-run"), dry)
    h.engine.handle(write_event(exempt))
    records = {r.registry: r for r in h.records}
    assert (records[dry].outcome, records[dry].mode) == ("planned", "dry-run")
    assert records[dry].after == {"tokens": {"ci-push": "disabled"}}
    # A registry write left it drifting while exempt by tag: told, never written.
    assert records[exempt].outcome == "flagged" and "would be fixed" in records[exempt].reason
    assert not [r for r in emu.requests if r.method in ("PATCH", "PUT")]


def test_repository_tokens_rule_mode_dry_run_is_its_report_mode(emu):
    resource_id = add(emu, "tokensreport", tokens=[{"name": "ci-push"}])
    h = run(policy("repository_tokens", repository_tokens="mode: dry-run"), resource_id)
    assert h.outcomes() == [("repository_tokens", "planned")]
    assert not emu.requests_for(method="PATCH")


def test_repository_tokens_allowed_names_are_checked():
    with pytest.raises(PolicyError) as caught:
        parse_policy(
            "version: 1\nrules:\n  repository_tokens: {enabled: true, allowed: [ok-name, 'no way']}\n",
            "p.yaml",
        )
    assert "allowed[1]" in str(caught.value) and "'no way' is not a token name" in str(caught.value)


def test_a_token_write_event_reevaluates_its_registry(emu):
    """Event Grid's registries/tokens/write names the token; it must route to the parent
    registry, not be skipped as an operation that cannot change a guarded property."""
    resource_id = add(emu, "tokensevent", tokens=[{"name": "ci-push"}])
    token_id = f"{resource_id}/tokens/ci-push"
    [parsed] = parse_events([write_event(token_id, "Microsoft.ContainerRegistry/registries/tokens/write")])
    assert isinstance(parsed, Target) and parsed.ref == RegistryRef.parse(resource_id)
    h = make_harness(policy("repository_tokens"))
    h.engine.handle(write_event(token_id, TOKEN_WRITE))
    assert h.outcomes() == [("repository_tokens", "applied")]


def test_a_token_write_event_is_skipped_without_a_read_when_repository_tokens_is_off(emu):
    """The engine acts on the operations its policy's rules react to (the deployment's
    Event Grid filter): with repository_tokens off, a token's write is a logged skip that names
    the rule, and costs no ARM call (before: a GET that could decide nothing new)."""
    resource_id = add(emu, "tokensoff", tokens=[{"name": "ci-push"}])
    h = make_harness(policy("anonymous_pull"))
    [result] = h.engine.handle(write_event(f"{resource_id}/tokens/ci-push", TOKEN_WRITE))
    [record] = result.records
    assert record.outcome == "skipped"
    assert "repository_tokens" in record.reason and "does not enable" in record.reason
    assert calls(emu) == []


def test_a_diagnostic_setting_write_event_reevaluates_its_registry():
    """Microsoft.Insights/diagnosticSettings/write under a registry routes to the registry."""
    registry = f"/subscriptions/{SUB}/resourceGroups/rg-platform/providers/Microsoft.ContainerRegistry/registries/diagreg"
    setting = f"{registry}/providers/Microsoft.Insights/diagnosticSettings/acrguard"
    [parsed] = parse_events([write_event(setting, "Microsoft.Insights/diagnosticSettings/write")])
    assert isinstance(parsed, Target) and parsed.ref == RegistryRef.parse(registry)
    # ... but not a diagnostic setting of another resource type
    other = setting.replace("Microsoft.ContainerRegistry/registries/diagreg", "Microsoft.KeyVault/vaults/kv1")
    [skipped] = parse_events([write_event(other, "Microsoft.Insights/diagnosticSettings/write")])
    assert isinstance(skipped, Skip) and "not a container registry resource" in skipped.reason


# -- cache_rules ----------------------------------------------------------------------------------


def test_cache_rules_flags_unapproved_upstreams_on_every_sku_and_never_writes(emu, on_every_sku):
    resource_id = on_every_sku(
        "cache",
        cacheRules=[
            {"name": "hub-nginx", "properties": {"sourceRepository": "docker.io/library/nginx"}},
            {"name": "mcr-dotnet", "properties": {"sourceRepository": "mcr.microsoft.com/dotnet/runtime"}},
        ],
    )
    h = run(policy("cache_rules", cache_rules="allowed_sources: ['MCR.microsoft.com/*']"), resource_id)
    [record] = h.records
    assert record.outcome == "flagged" and "hub-nginx (docker.io/library/nginx)" in record.reason
    assert "mcr-dotnet" not in record.reason
    assert calls(emu) == [("GET", "registry"), ("GET", "cacheRules")]


def test_cache_rules_without_rules_or_all_allowed_is_compliant(emu):
    none = add(emu, "cachenone")
    allowed = add(
        emu,
        "cacheallowed",
        cacheRules=[{"name": "hub", "properties": {"sourceRepository": "docker.io/library/nginx"}}],
    )
    h = run(policy("cache_rules", cache_rules="allowed_sources: [docker.io/library/*]"), none)
    h.engine.handle(write_event(allowed))
    assert h.outcomes() == [("cache_rules", "compliant"), ("cache_rules", "compliant")]


@pytest.mark.parametrize("rule", ["cache_rules", "geo_replication"])
def test_report_only_child_rules_on_an_exempt_registry_are_reported_skipped(emu, rule):
    resource_id = add(
        emu,
        f"exempt{rule.replace('_', '')}",
        tags={"acrguard": "exempt"},
        cacheRules=[{"name": "hub", "properties": {"sourceRepository": "docker.io/x"}}],
    )
    h = run(policy(rule), resource_id)
    [record] = h.records
    assert record.outcome == "skipped" and "exempt" in record.reason and "flagged" in record.reason
    assert not [r for r in emu.requests if r.method in ("PATCH", "PUT")]


# -- geo_replication ------------------------------------------------------------------------------


def test_geo_replication_flags_a_premium_registry_with_only_its_home_replica(emu):
    home_only = add(emu, "geohome")  # the emulator lists the home region's replication
    replicated = add(emu, "georepl", replications=[{"location": "westeurope"}, {"location": "North Europe"}])
    h = run(policy("geo_replication"), home_only)
    h.engine.handle(write_event(replicated))
    outcomes = {r.registry: (r.outcome, r.reason) for r in h.records}
    assert (
        outcomes[home_only][0] == "flagged" and "no replica outside the home region" in outcomes[home_only][1]
    )
    assert outcomes[replicated] == ("compliant", "replicated to northeurope")
    assert not [r for r in emu.requests if r.method in ("PATCH", "PUT")]


@pytest.mark.parametrize("sku", ["Basic", "Standard"])
def test_geo_replication_below_premium_is_unsupported_and_lists_nothing(emu, sku):
    resource_id = add(emu, f"geo{sku.lower()}", sku)
    h = run(policy("geo_replication"), resource_id)
    [record] = h.records
    assert record.outcome == "skipped" and "Premium" in record.reason
    assert calls(emu) == [("GET", "registry")]


# -- diagnostic_settings --------------------------------------------------------------------------


def test_diagnostic_settings_puts_the_acrguard_setting_on_every_sku(emu, on_every_sku):
    resource_id = on_every_sku(
        "diag",
        diagnosticSettings=[audit_setting("lab", WORKSPACE.replace("law-sec", "law-lab"))],
    )
    h = run(policy("diagnostic_settings"), resource_id)
    assert h.outcomes() == [("diagnostic_settings", "applied")]
    [put] = emu.requests_for(method="PUT", route="diagnosticSettings")
    assert put.resource_id.endswith("/providers/Microsoft.Insights/diagnosticSettings/acrguard")
    assert put.body["properties"]["workspaceId"] == WORKSPACE
    assert put.body["properties"]["logs"] == [
        {"categoryGroup": "audit", "enabled": True},
        {"categoryGroup": "allLogs", "enabled": False},
    ]
    names = sorted(s["name"] for s in emu.children(resource_id, "diagnosticSettings"))
    assert names == ["acrguard", "lab"]  # someone else's setting is left alone
    h.engine.handle(write_event(resource_id))  # the event our PUT causes
    assert h.outcomes()[-1] == ("diagnostic_settings", "compliant")


@pytest.mark.parametrize(
    "setting",
    [
        audit_setting(),
        audit_setting(categoryGroup="allLogs", enabled=True),
        {
            "name": "cats",
            "properties": {
                "workspaceId": WORKSPACE.upper(),
                "logs": [
                    {"category": "ContainerRegistryLoginEvents", "enabled": True},
                    {"category": "ContainerRegistryRepositoryEvents", "enabled": True},
                ],
            },
        },
    ],
)
def test_diagnostic_settings_compliant_setting_is_left_alone(emu, setting):
    resource_id = add(emu, "diagok", "Standard", diagnosticSettings=[setting])
    h = run(policy("diagnostic_settings"), resource_id)
    assert h.outcomes() == [("diagnostic_settings", "compliant")]
    assert calls(emu) == [("GET", "registry"), ("GET", "diagnosticSettings")]


def test_diagnostic_settings_dry_run_and_exemption_put_nothing(emu):
    dry = add(emu, "diagdry")
    exempt = add(emu, "diagexempt", tags={"acrguard": "exempt"})
    h = run(policy("diagnostic_settings", mode="dry-run"), dry)
    h.engine.handle(write_event(exempt))
    records = {r.registry: r for r in h.records}
    assert records[dry].outcome == "planned"
    assert records[dry].after == {
        "diagnosticSettings": {"acrguard": {"workspaceId": WORKSPACE, "logs": ["audit"]}}
    }
    # A registry write left it drifting while exempt by tag: told, never written.
    assert records[exempt].outcome == "flagged" and "would be fixed" in records[exempt].reason
    assert not emu.requests_for(method="PUT")


def test_diagnostic_settings_blocked_when_another_setting_already_uses_the_workspace(emu):
    partial = audit_setting("partial", category="ContainerRegistryLoginEvents", enabled=True)
    resource_id = add(emu, "diagblocked", diagnosticSettings=[partial])
    h = run(policy("diagnostic_settings"), resource_id)
    [record] = h.records
    assert record.outcome == "flagged" and "partial already sends some logs" in record.reason
    assert not emu.requests_for(method="PUT")


def test_diagnostic_settings_blocked_at_five_settings(emu):
    others = [audit_setting(f"s{i}", WORKSPACE.replace("law-sec", f"law{i}")) for i in range(5)]
    resource_id = add(emu, "diagfull", diagnosticSettings=others)
    h = run(policy("diagnostic_settings"), resource_id)
    [record] = h.records
    assert record.outcome == "flagged" and "5 diagnostic settings" in record.reason
    assert not emu.requests_for(method="PUT")


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ("{enabled: true}", "workspace_id: required when diagnostic_settings is enabled"),
        (
            "{enabled: true, workspace_id: /subscriptions/x/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/sa}",
            "is not a Log Analytics workspace resource ID",
        ),
    ],
)
def test_diagnostic_settings_workspace_id_is_required_and_checked(config, message):
    with pytest.raises(PolicyError) as caught:
        parse_policy(f"version: 1\nrules:\n  diagnostic_settings: {config}\n", "p.yaml")
    assert message in str(caught.value) and "Microsoft.OperationalInsights/workspaces" in str(caught.value)


def test_azure_monitor_sdk_is_loaded_only_when_the_rule_lists_settings(emu):
    """Cold start: the default policy's path through the engine never imports azure-mgmt-monitor."""
    resource_id = add(emu, "coldmonitor")
    code = (
        "import sys, json\n"
        "sys.path.insert(0, 'tests')\n"
        "from engine_helpers import make_harness, write_event\n"
        "import function_app\n"
        f"h = make_harness('version: 1\\n'); h.engine.handle(write_event({resource_id!r}))\n"
        "print(json.dumps('azure.mgmt.monitor' in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=emu.subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) is False


# -- explain agrees -------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [None, "dry-run"])
def test_explain_and_the_engine_agree_on_child_rules(emu, mode):
    registries = [
        add(
            emu,
            "agreeclean",
            tokens=[{"name": "old", "properties": {"status": "disabled"}}],
            replications=[{"location": "northeurope"}],
            diagnosticSettings=[audit_setting()],
        ),
        add(
            emu,
            "agreedirty",
            tokens=[{"name": "ci-push"}],
            cacheRules=[{"name": "hub", "properties": {"sourceRepository": "docker.io/x"}}],
        ),
        add(emu, "agreebasic", "Basic", tokens=[{"name": "ci-push"}]),
        add(emu, "agreeexempt", tags={"acrguard": "exempt"}, tokens=[{"name": "ci-push"}]),
    ]
    text = policy(*CHILD_RULES)
    expected = {
        "drift": {"applied", "planned"},
        "compliant": {"compliant"},
        "flagged": {"flagged"},
        "blocked": {"flagged"},
        "unsupported": {"skipped"},
    }
    for resource_id in registries:
        h = make_harness(text, mode)
        ref = RegistryRef.parse(resource_id)
        registry = Registry(emu.get_registry(resource_id))
        explanation = explain(
            h.engine.policy, ref, registry, h.engine.children(ref, registry), h.engine.run_mode
        )
        h.engine.handle(write_event(resource_id))
        done = {r.rule: r for r in h.records}
        for rule in (r for r in explanation.rules if r.enabled):
            record = done[rule.name]
            if explanation.exempt_reason:  # a registry write left a tag-exempt registry drifting: told
                told = rule.verdict == "drift" and explanation.exempt_reason.startswith("exempt: tagged")
                assert record.outcome == ("flagged" if told else "skipped"), (resource_id, rule.name)
            else:
                assert record.outcome in expected[rule.verdict], (
                    resource_id,
                    rule.name,
                    rule.verdict,
                    record.outcome,
                )
                assert record.mode == rule.mode


@pytest.mark.parametrize("source", ["starter", "policies.yaml"])
def test_the_commented_child_rule_examples_are_valid_policy(source):
    """The opt-in examples in `acrguard init`'s starter and the shipped policies.yaml parse as
    written once uncommented (the workspace placeholder filled in)."""
    from acrguard.policy.starter import STARTER

    text = STARTER if source == "starter" else (ROOT / "policies.yaml").read_text(encoding="utf-8")
    examples = [
        line.strip().lstrip("#").strip()
        for line in text.splitlines()
        if line.strip().startswith("#") and any(f"{rule}:" in line for rule in CHILD_RULES)
    ]
    assert sorted(e.split(":")[0] for e in examples) == sorted(CHILD_RULES)
    body = "\n".join(
        f"  {re.sub(r'<[^>]*>|/subscriptions/<id>[^}]*', WORKSPACE, e).split('  #')[0]}" for e in examples
    )
    parsed = parse_policy(f"version: 1\nrules:\n{body}\n", "examples.yaml")
    assert all(parsed.rules[rule].enabled for rule in CHILD_RULES)


def test_cli_explain_and_check_dry_run_show_the_child_rules_verdicts(emu, tmp_path):
    """``acrguard explain`` lists the children it needs (and never writes); ``check --dry-run``
    plans the same fix."""
    from cli_helpers import invoke, json_out

    resource_id = add(emu, "clichild", tokens=[{"name": "ci-push"}])
    policy_file = tmp_path / "policies.yaml"
    policy_file.write_text(policy("repository_tokens", "cache_rules"), encoding="utf-8")
    explained = json_out(invoke("-o", "json", "explain", resource_id, policy=policy_file))
    verdicts = {r["name"]: r["verdict"] for r in explained["results"][0]["rules"] if r["enabled"]}
    assert verdicts == {"repository_tokens": "drift", "cache_rules": "compliant"}
    checked = json_out(invoke("-o", "json", "check", "--dry-run", resource_id, policy=policy_file))
    outcomes = {r["rule"]: r["outcome"] for r in checked["results"][0]["records"]}
    assert outcomes == {"repository_tokens": "planned", "cache_rules": "compliant"}
    assert (
        sorted(c for c in calls(emu) if c[1] != "registry")
        == [("GET", "cacheRules")] * 2 + [("GET", "tokens")] * 2
    )
    assert not [r for r in emu.requests if r.method in ("PATCH", "PUT")]


def test_a_registry_patch_failing_transiently_still_writes_and_records_the_child_fixes(emu):
    """ARM answers every PATCH of the registry 503 while its token endpoint works: anonymous pull
    is recorded ``failed`` and raised for redelivery, and the enabled token, a separate resource,
    is still disabled and recorded in the same delivery: one audit line per decision. (Before, the
    registry's failure was raised past the child rules: the token's fix had no audit line at all.)"""
    from acrguard.azure.arm import TransientArmError

    resource_id = emu.add_registry(
        subscription=SUB,
        resource_group="rg-platform",
        name="tokensbusy",
        properties={"anonymousPullEnabled": True},
        children={"tokens": [{"name": "ci-push", "properties": {"status": "enabled"}}]},
    )
    emu.inject(method="PATCH", route="registry", resource_id=resource_id, status=503, times=None)
    h = make_harness(policy("anonymous_pull", "repository_tokens"))
    h.engine.arm.clock = SimulatedClock()  # the retries' backoff, without waiting for it

    with pytest.raises(TransientArmError):
        h.engine.handle(write_event(resource_id))

    assert sorted(h.outcomes(resource_id)) == [("anonymous_pull", "failed"), ("repository_tokens", "applied")]
    assert [t["properties"]["status"] for t in emu.children(resource_id, "tokens")] == ["disabled"]
