"""Safety properties over random registry states x random valid policies (hypothesis).

States: SKU, anonymous pull, admin user, default action, existing IP rules (valid, broad, private,
with host bits, duplicated, malformed, near ACR's cap of 100), bypass, provisioning state, public
network access, private endpoints, tags (the exemption tag). Policies: any valid policies.yaml
(mode, per-rule modes, allow-lists, keep/replace, bypass, allow_empty, opt-in rules, overrides).

Properties:
- convergence: after the fix, evaluating again finds no drift to enforce;
- idempotence: a second pass plans no write;
- no lockout: ``keep`` never removes an existing rule; never Deny with an empty allow-list unless
  ``allow_empty``; bypass and public network access only move as the policy says;
- SKU safety: ``networkRuleSet`` is never sent to a non-Premium registry, anonymous pull is never
  touched on Basic, and ARM's SKU rules never reject the PATCH;
- minimality: the PATCH carries only properties that change, only for rules in enforce mode.

Most examples call the engine's own decision, :func:`acrguard.plan.plan` (pure: no I/O), and
apply its PATCH with ARM's semantics (the emulator's ``merge_properties``). The end-to-end
examples run the real engine and SDK against the emulator with the engine's own events fed back
to it, and check that its PATCH is exactly that plan.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from engine_helpers import write_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_strategies import NAME, RG, SUB, State, decide, policies, states
from reliability import ExampleCounter

from acrguard.audit import Audit, AuditRecord
from acrguard.azure.arm import Arm
from acrguard.engine import Engine
from acrguard.plan import Plan
from acrguard.policy import Policy
from acrguard.settings import Settings
from emulator.acr_rules import check_registry
from emulator.http_types import ArmError as EmulatedArmError
from emulator.registry_documents import merge_properties
from remediators import Status, all_rules, ipranges

RULES = {r.name: r for r in all_rules()}

examples = ExampleCounter("hypothesis", "test_properties")


@pytest.fixture(scope="module", autouse=True)
def _record_example_counts() -> Iterator[None]:
    yield
    examples.flush()


def patch_of(decided: Plan) -> dict[str, Any]:
    """The REST body's "properties" ARM receives for this plan."""
    params = decided.params()
    return params.as_dict().get("properties", {}) if params is not None else {}


def arm_holds(doc: dict[str, Any]) -> bool:
    """Whether ARM itself could report this state (its SKU and IP-rule checks pass)."""
    try:
        check_registry(doc, {})
    except EmulatedArmError:
        return False
    return True


def apply_patch(doc: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    """ARM's PATCH semantics (the emulator's); when ARM could hold the state before, its checks
    must accept the state after (EmulatedArmError otherwise: ARM would answer 400)."""
    after = copy.deepcopy(doc)
    after["properties"] = merge_properties(doc["properties"], patch)
    if arm_holds(doc):
        check_registry(after, patch)
    return after


def rule_keys(props: dict[str, Any]) -> list[str]:
    rule_set = props.get("networkRuleSet") or {}
    return [ipranges.key(r["value"]) for r in rule_set.get("ipRules") or []]


def same_value(key: str, current: Any, wanted: Any) -> bool:
    if key == "networkRuleSet":
        current = current or {"defaultAction": "Allow", "ipRules": []}
        return current.get("defaultAction") == wanted.get("defaultAction") and sorted(
            rule_keys({"networkRuleSet": current})
        ) == sorted(rule_keys({"networkRuleSet": wanted}))
    return current == wanted


@dataclasses.dataclass(frozen=True)
class Case:
    """One pure example: a registry state, a valid policy, and the state as ARM's GET returns it."""

    state: State
    policy: Policy
    doc: dict[str, Any]


cases = st.builds(lambda state, drawn: Case(state, drawn[0], state.document()), states(), policies())


PURE = settings(max_examples=250, deadline=None)


@PURE
@given(cases)
def test_convergence_after_the_fix_no_enforced_rule_drifts(case: Case) -> None:
    examples.hit("convergence (pure)")
    first = decide(case.policy, case.doc)
    assert first.conflict is None
    after = apply_patch(case.doc, patch_of(first))  # ARM accepts it: EmulatedArmError fails the test
    second = decide(case.policy, after)
    drift = [d.rule for d in second.to_fix]
    assert drift == [], (drift, patch_of(first))


@PURE
@given(cases)
def test_idempotence_a_second_pass_plans_no_write(case: Case) -> None:
    examples.hit("idempotence (pure)")
    first = patch_of(decide(case.policy, case.doc))
    after = apply_patch(case.doc, first)
    assert patch_of(decide(case.policy, after)) == {}
    assert patch_of(decide(case.policy, case.doc)) == first  # deterministic: same state, same plan


@PURE
@given(cases)
def test_no_lockout_keep_never_removes_a_rule_and_deny_never_comes_with_an_empty_list(case: Case) -> None:
    examples.hit("no lockout (pure)")
    result = decide(case.policy, case.doc)
    config = result.resolution.rules["network_rules"]
    patch = patch_of(result)
    if "networkRuleSet" in patch:
        sent = patch["networkRuleSet"]
        sent_keys = rule_keys(patch)
        if config.existing_rules == "keep":
            existing = rule_keys(case.doc["properties"])
            assert set(existing) <= set(sent_keys)  # nothing removed
            assert sent_keys[: len(existing)] == existing  # nor reordered
        else:
            assert sorted(sent_keys) == sorted(ipranges.key(v) for v in config.allowed_ips)
        if sent["defaultAction"] == "Deny" and not sent["ipRules"]:
            assert config.allow_empty, "Deny with an empty allow-list without allow_empty"
        assert len(sent["ipRules"]) <= ipranges.MAX_IP_RULES  # over the cap is blocked, not truncated
    if "networkRuleBypassOptions" in patch:
        assert patch["networkRuleBypassOptions"] == config.bypass
    if patch.get("publicNetworkAccess") == "Disabled":
        pna = result.resolution.rules["public_network_access"]
        assert case.state.private_endpoint == "Approved" or pna.allow_without_private_endpoint
    # Flagged broad rules are reported for a person, never silently dropped in keep mode.
    if config.existing_rules == "keep":
        broad = [v for v in case.state.rules if ipranges.is_broad(v, config.min_prefix_length)]
        if broad and "networkRuleSet" in patch:
            assert {ipranges.key(v) for v in broad} <= set(rule_keys(patch))


@PURE
@given(cases)
def test_sku_safety_nothing_is_sent_that_the_sku_cannot_carry(case: Case) -> None:
    examples.hit("SKU safety (pure)")
    patch = patch_of(decide(case.policy, case.doc))
    if case.state.sku != "Premium":
        assert not {"networkRuleSet", "networkRuleBypassOptions", "publicNetworkAccess"} & set(patch), patch
    if case.state.sku == "Basic":
        assert "anonymousPullEnabled" not in patch
    apply_patch(case.doc, patch)  # ARM's SKU (and IP rule) checks accept what we send


@PURE
@given(cases)
def test_minimality_the_patch_carries_only_changing_properties_of_enforced_rules(case: Case) -> None:
    examples.hit("minimality (pure)")
    result = decide(case.policy, case.doc)
    patch = patch_of(result)
    props = case.doc["properties"]
    for key, value in patch.items():
        assert not same_value(key, props.get(key), value), f"{key} sent unchanged"
    wanted = {key for d in result.to_fix for key in d.evaluation.after}
    assert set(patch) == wanted  # exactly what the drifting, enforced rules asked for
    if result.resolution.exempt_reason or all(d.mode == "dry-run" for d in result.decisions):
        assert patch == {}
    # The audit line's "after" is what the registry holds once the PATCH landed.
    after = apply_patch(case.doc, patch)["properties"]
    for d in result.to_fix:
        for key, value in d.evaluation.after.items():
            assert same_value(key, after.get(key), value) if key == "networkRuleSet" else after[key] == value


# --- end to end: the real engine and SDK against the emulator -------------------------------------


@pytest.fixture
def shared_arm(emu: Any) -> Iterator[Arm]:
    """One Arm (credential, clients) across examples, as one Function worker reuses it."""
    arm = Arm(dataclasses.replace(Settings.from_env(), retry_budget_s=10.0, max_attempts=4))
    yield arm
    arm.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(state=states(arm_valid=True), generated=policies(), hold=st.sampled_from([0, 0, 0, 1, 2]))
def test_end_to_end_the_engine_sends_exactly_the_safe_minimal_plan_and_settles(
    emu: Any, shared_arm: Arm, state: State, generated: tuple[Policy, Any], hold: int
) -> None:
    """Real SDK, real engine, the emulator as ARM, the engine's own write events fed back to it
    (loop closure), provisioning state Updating for the first requests when ``hold`` > 0."""
    examples.hit("end to end (engine + SDK + emulator)")
    policy, _ = generated
    emu.reset()
    resource_id = emu.add_registry(
        subscription=SUB,
        resource_group=RG,
        name=NAME,
        sku=state.sku,
        tags=state.document()["tags"],
        properties=state.properties_for_seed(),
    )
    if hold:
        emu.hold_updating(resource_id, requests=hold)
    doc = emu.get_registry(resource_id)
    expected = decide(policy, doc)
    expected_patch = patch_of(expected)
    records: list[AuditRecord] = []
    engine = Engine(policy, shared_arm, Audit([records.append]))
    emu.add_sink(engine.handle)  # our own PATCH's event comes back: it must settle, not loop

    engine.handle(write_event(resource_id))
    emu.drain(timeout=20)

    sent = [r for r in emu.requests_for(method="PATCH", resource_id=resource_id) if r.status in (200, 201)]
    assert [r.body["properties"] for r in sent] == ([expected_patch] if expected_patch else [])
    assert not [r for r in records if r.outcome == "failed"], [r.reason for r in records]
    final = emu.get_registry(resource_id)
    assert patch_of(decide(policy, final)) == {}  # converged
    if expected_patch:
        assert len(emu.events) == 1  # our write's event, re-read and settled: no second write
        ours = [r for r in records if r.caller.get("appid") == emu.managed_identity.app_id]
        assert ours and not {r.outcome for r in ours} & {"applied", "failed"}  # re-read, no write
    planned = {r.rule for r in records if r.outcome == "planned"}
    for d in expected.decisions:  # dry-run rules are reported, never written
        if d.evaluation.status is Status.DRIFT and d.mode == "dry-run":
            assert d.rule in planned or expected.resolution.exempt_reason
    writes = emu.counters.writes(resource_id)
    engine.handle(write_event(resource_id))  # idempotence, end to end
    assert emu.counters.writes(resource_id) == writes
    # SKU safety and no lockout on what ARM actually received and now holds.
    for body in (r.body["properties"] for r in sent):
        if state.sku != "Premium":
            assert "networkRuleSet" not in body
        if state.sku == "Basic":
            assert "anonymousPullEnabled" not in body
    if expected.resolution.rules["network_rules"].existing_rules == "keep":
        assert set(rule_keys(doc["properties"])) <= set(rule_keys(final["properties"]))
