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
import ipaddress
import json
import random
from collections.abc import Iterator
from typing import Any

import pytest
from azure.mgmt.containerregistry.models import Registry
from engine_helpers import write_event
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability import ExampleCounter

from acrguard.arm import Arm
from acrguard.audit import Audit, AuditRecord
from acrguard.engine import Engine
from acrguard.plan import Plan, plan
from acrguard.policy import Policy, parse_policy
from acrguard.resource_ids import RegistryRef
from acrguard.settings import Settings
from emulator import registry_document
from emulator.acr_rules import check_registry
from emulator.http_types import ArmError as EmulatedArmError
from emulator.registry_documents import merge_properties
from remediators import Status, all_rules, ipranges

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-props"
NAME = "contosoprops"
REF = RegistryRef(SUB, RG, NAME)
RULES = {r.name: r for r in all_rules()}

examples = ExampleCounter("hypothesis", "test_properties")


@pytest.fixture(scope="module", autouse=True)
def _record_example_counts() -> Iterator[None]:
    yield
    examples.flush()


# --- strategies: registry states ---------------------------------------------------------------

EXAMPLE_RANGES = ["20.1.2.0/24", "20.9.8.7", "20.9.8.7/32", "20.9.9.10", "20.9.9.0/25"]  # public
BROAD = ["0.0.0.0/0", "1.0.0.0/4", "8.0.0.0/7", "64.0.0.0/3"]
PRIVATE = ["10.1.0.0/16", "192.168.1.1", "172.16.5.0/24", "100.64.0.1", "127.0.0.1"]
HOST_BITS = ["203.0.113.5/24", "198.51.100.9/30"]  # ARM accepts these (strict=False)
MALFORMED = ["not-an-ip", "2001:db8::/32", "300.1.1.1", "1.2.3.4/33", ""]  # ARM never returns these

public_ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
public_cidr = st.tuples(st.integers(0, 2**32 - 1), st.integers(12, 32)).map(
    lambda t: str(ipaddress.IPv4Network((t[0], t[1]), strict=False))
)


def existing_rule(arm_valid: bool) -> st.SearchStrategy[str]:
    choices = [st.sampled_from(EXAMPLE_RANGES), st.sampled_from(BROAD), st.sampled_from(PRIVATE)]
    choices += [st.sampled_from(HOST_BITS), public_ipv4, public_cidr]
    if not arm_valid:
        choices.append(st.sampled_from(MALFORMED))
    return st.one_of(*choices)


@dataclasses.dataclass(frozen=True)
class State:
    sku: str
    anonymous_pull: bool
    admin_user: bool
    default_action: str | None  # None: no networkRuleSet at all
    rules: tuple[str, ...]
    bypass: str | None
    provisioning_state: str
    public_network_access: str
    private_endpoint: str | None  # None, Approved or Pending
    exempt_tag: bool

    def document(self) -> dict[str, Any]:
        """The registry as ARM's GET returns it."""
        doc = registry_document(
            subscription=SUB,
            resource_group=RG,
            name=NAME,
            sku=self.sku,
            tags={"acrguard": "exempt"} if self.exempt_tag else {"env": "test"},
        )
        props = doc["properties"]
        props.update(
            anonymousPullEnabled=self.anonymous_pull,
            adminUserEnabled=self.admin_user,
            provisioningState=self.provisioning_state,
            publicNetworkAccess=self.public_network_access,
        )
        if self.bypass is None:
            props.pop("networkRuleBypassOptions", None)
        else:
            props["networkRuleBypassOptions"] = self.bypass
        if self.default_action is None:
            props.pop("networkRuleSet", None)
        else:
            props["networkRuleSet"] = {
                "defaultAction": self.default_action,
                "ipRules": [{"action": "Allow", "value": v} for v in self.rules],
            }
        if self.private_endpoint:
            props["privateEndpointConnections"] = [
                {
                    "id": f"{REF.resource_id}/privateEndpointConnections/pe1",
                    "name": "pe1",
                    "properties": {"privateLinkServiceConnectionState": {"status": self.private_endpoint}},
                }
            ]
        return doc

    def properties_for_seed(self) -> dict[str, Any]:
        """What the emulator's seed accepts (private endpoints are read-only there)."""
        props = copy.deepcopy(self.document()["properties"])
        props.pop("privateEndpointConnections", None)
        return props


@st.composite
def states(draw: st.DrawFn, arm_valid: bool = False) -> State:
    """Registry states; ``arm_valid`` keeps to what ARM itself would accept and report."""
    sku = draw(st.sampled_from(["Basic", "Standard", "Premium"]))
    premium = sku == "Premium"
    rules: tuple[str, ...] = ()
    if premium:
        rules = tuple(draw(st.lists(existing_rule(arm_valid), max_size=6)))
        if draw(st.integers(0, 7)) == 0:  # near ACR's cap of 100: filler drawn from one seed (fast)
            filler = random.Random(draw(st.integers(0, 2**32))).sample(range(1, 250), 94)
            rules = tuple(f"203.0.{i}.0/24" if i < 113 else f"198.51.{i}.7" for i in filler) + rules
            rules = rules[:100] if arm_valid else rules
    default_action = draw(st.sampled_from(["Allow", "Deny"])) if premium else None
    if premium and not arm_valid and draw(st.integers(0, 9)) == 0:
        default_action, rules = None, ()  # a hand-written document without networkRuleSet
    return State(
        sku=sku,
        anonymous_pull=draw(st.booleans()) and (sku != "Basic" or not arm_valid),
        admin_user=draw(st.booleans()),
        default_action=default_action,
        rules=rules,
        bypass=draw(
            st.sampled_from(["AzureServices", "None", None] if not arm_valid else ["AzureServices", "None"])
        ),
        provisioning_state=draw(st.sampled_from(["Succeeded", "Updating", "Failed"])),
        public_network_access=draw(st.sampled_from(["Enabled", "Disabled"])) if premium else "Enabled",
        private_endpoint=None if arm_valid else draw(st.sampled_from([None, "Approved", "Pending"])),
        exempt_tag=draw(st.integers(0, 9)) == 0,
    )


# --- strategies: valid policies ----------------------------------------------------------------


@st.composite
def allow_lists(draw: st.DrawFn, min_prefix: int) -> list[str]:
    candidates = st.one_of(st.sampled_from(EXAMPLE_RANGES), public_ipv4, public_cidr)
    found: dict[str, str] = {}
    for value in draw(st.lists(candidates, max_size=6)):
        try:
            network = ipranges.parse(value)
        except ipranges.InvalidRange:
            continue
        if ipranges.public_problem(network, min_prefix) is None:
            found.setdefault(ipranges.key(value), value)
    return list(found.values())


@st.composite
def policies(draw: st.DrawFn) -> tuple[Policy, dict[str, Any]]:
    """A valid policy (the loader must accept it) and the document it was written from."""
    min_prefix = draw(st.sampled_from([8, 16, 24]))
    allowed = draw(allow_lists(min_prefix))
    mode = st.sampled_from([None, "dry-run", "enforce"])
    network: dict[str, Any] = {
        "enabled": draw(st.booleans()),
        "allowed_ips": allowed,
        "existing_rules": draw(st.sampled_from(["keep", "replace"])),
        "bypass": draw(st.sampled_from(["AzureServices", "None"])),
        "min_prefix_length": min_prefix,
        "allow_empty": not allowed or draw(st.booleans()),
    }
    rules: dict[str, Any] = {
        "anonymous_pull": {"enabled": draw(st.booleans())},
        "network_rules": network,
        "admin_user": {"enabled": draw(st.booleans())},
        "public_network_access": {
            "enabled": draw(st.booleans()),
            "allow_without_private_endpoint": draw(st.booleans()),
        },
    }
    for rule in rules.values():
        if (rule_mode := draw(mode)) is not None:
            rule["mode"] = rule_mode
    doc: dict[str, Any] = {
        "version": 1,
        "mode": draw(st.sampled_from(["enforce", "dry-run"])),
        "exempt": {"tags": {"acrguard": "exempt"}},
        "rules": rules,
    }
    if draw(st.booleans()):
        doc["overrides"] = [
            {
                "match": {"name": draw(st.sampled_from(["contoso*", "other*"]))},
                "rules": {"anonymous_pull": {"enabled": draw(st.booleans())}},
            }
        ]
    policy = parse_policy(json.dumps(doc), "generated.yaml", draw(st.sampled_from([None, None, "enforce"])))
    return policy, doc


# --- the engine's decision: acrguard.plan.plan itself, no copy ---------------------------------


def decide(policy: Policy, doc: dict[str, Any]) -> Plan:
    """The engine's own decision for this state (acrguard.plan.plan, the function it writes from)."""
    return plan(policy, REF, Registry(copy.deepcopy(doc)))


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
