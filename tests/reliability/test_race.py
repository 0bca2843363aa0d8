"""A person's burst of IP-rule additions races ACR Guard's fixes; no rule is lost.

The scenario. A Premium registry's firewall was left open (``defaultAction: Allow``). A person
adds N rules in a row with ``az acr network-rule add``: each is a GET and then a PATCH of the whole
rule set (defaultAction as read, plus one rule), the GET 0.2–3 s after the previous PATCH, the
PATCH 0.1–0.8 s after its GET. Every write raises an event that reaches ACR Guard 0.3–3 s later;
each of our ARM requests takes 0.05–0.4 s. ACR Guard fixes the firewall (Deny, plus the policy's
allow-list, keeping every existing rule). ACR registries have no ETag: a PATCH of ``networkRuleSet``
that lands after the person's PATCH but was computed from a read before it drops their rule.

Simulated time. Everything runs on one :class:`Timeline`: the emulator stamps ``systemData`` with
it, ACR Guard sleeps on it, and the person's requests are scheduled on it. Each of our requests
advances it by its cost before the emulator serves it, so the person's requests that fall due in
between land first, exactly where a race puts them. Nothing waits in real time; each seed is one
reproducible interleaving (over real HTTPS, with the real SDK and engine).

The defence (``ACRGUARD_SETTLE_S``, acrguard.engine.settle): before a PATCH that replaces the rule list,
wait until the list has been quiet for the settle time (judged by the first read's
``lastModifiedAt``, then by comparing the list between reads), and compute the PATCH from a read
taken then. The control run turns it off and must lose rules, or the scenario proves nothing.
"""

from __future__ import annotations

import dataclasses
import heapq
import random
from typing import Any

import pytest
from engine_helpers import rid
from race_sim import CHUNKS, INTERLEAVINGS, POLICY, POLICY_IPS, Timeline, open_firewall_and_schedule_burst
from reliability import record

from acrguard.audit import Audit
from acrguard.azure.arm import Arm, TransientArmError
from acrguard.engine import Engine
from acrguard.policy import parse_policy
from acrguard.settings import Settings

REG = rid("contosorace")
SETTLE_S = 5.0  # the default: above the 3.8 s a burst can pause between two PATCHes


@dataclasses.dataclass
class Outcome:
    seed: int
    person_rules: list[str]
    lost: list[str]
    our_patches: int
    redeliveries: int
    converged: bool


def run_interleaving(emu: Any, arm: Arm, seed: int, settle_s: float) -> Outcome:
    rng = random.Random(seed)
    emu.reset()
    timeline = Timeline()
    arm.clock = timeline
    emu.set_clock(timeline.datetime)
    person_rules = open_firewall_and_schedule_burst(emu, timeline, rng, "contosorace")
    me = emu.managed_identity.object_id

    def our_request_costs_time(request: Any) -> None:
        if request.principal is not None and request.principal.object_id == me:
            timeline.sleep(rng.uniform(0.05, 0.4))  # the person's writes due meanwhile land first

    emu.on_arm_request(our_request_costs_time)

    engine = Engine(parse_policy(POLICY, "race-policy.yaml"), arm, Audit())
    engine.arm.settings = dataclasses.replace(arm.settings, settle_s=settle_s)
    deliveries: list[tuple[float, int, dict[str, Any]]] = []
    delivered = 0
    redeliveries = 0
    for step in range(2000):
        events = emu.events
        for event in events[delivered:]:  # Event Grid: each write's event arrives a little later
            heapq.heappush(deliveries, (timeline.now + rng.uniform(0.3, 3.0), step, event))
        delivered = len(events)
        action_due = timeline.next_due()
        if not deliveries and action_due is None:
            break
        if deliveries and (action_due is None or deliveries[0][0] <= action_due):
            due, _, event = heapq.heappop(deliveries)
            timeline.advance_to(due)
            try:
                engine.handle(event)
            except TransientArmError:  # Event Grid redelivers later
                redeliveries += 1
                heapq.heappush(deliveries, (timeline.now + rng.uniform(10, 60), step, event))
        else:
            assert action_due is not None
            timeline.advance_to(action_due)
    else:
        raise AssertionError(f"seed {seed}: no quiescence after 2000 steps")

    final = emu.get_registry(REG)["properties"]["networkRuleSet"]
    values = [r["value"] for r in final["ipRules"]]
    ours = [
        r
        for r in emu.requests_for(method="PATCH", resource_id=REG)
        if r.principal is not None and r.principal.object_id == me
    ]
    return Outcome(
        seed=seed,
        person_rules=person_rules,
        lost=[v for v in person_rules if v not in values],
        our_patches=len(ours),
        redeliveries=redeliveries,
        converged=final["defaultAction"] == "Deny" and set(POLICY_IPS) <= set(values),
    )


@pytest.fixture
def race_arm(emu: Any):
    arm = Arm(dataclasses.replace(Settings.from_env(), retry_budget_s=60.0, max_attempts=6))
    yield arm
    arm.close()


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_a_burst_of_rule_additions_never_loses_a_rule(emu, race_arm, chunk):
    """Over 200 seeded interleavings of a person's burst of rule additions with
    ACR Guard's fixes, 0 of the person's rules are lost, and every registry ends compliant."""
    outcomes = [
        run_interleaving(emu, race_arm, seed, SETTLE_S) for seed in range(chunk, INTERLEAVINGS, CHUNKS)
    ]
    lost = [(o.seed, o.lost) for o in outcomes if o.lost]
    record(
        "race",
        defence="settle",
        interleavings=len(outcomes),
        person_rules=sum(len(o.person_rules) for o in outcomes),
        lost=sum(len(o.lost) for o in outcomes),
        our_patches=sum(o.our_patches for o in outcomes),
        redeliveries=sum(o.redeliveries for o in outcomes),
    )
    assert lost == []
    assert all(o.converged for o in outcomes), [o.seed for o in outcomes if not o.converged]


def test_without_the_defence_the_same_scenario_loses_rules(emu, race_arm):
    """The control: with the settle wait off (ACRGUARD_SETTLE_S=0) the same interleavings drop
    the person's rules, so the scenario can see a loss and the 0 above means something."""
    outcomes = [run_interleaving(emu, race_arm, seed, 0.0) for seed in range(0, INTERLEAVINGS, 4)]
    lost = sum(len(o.lost) for o in outcomes)
    record(
        "race",
        defence="none",
        interleavings=len(outcomes),
        person_rules=sum(len(o.person_rules) for o in outcomes),
        lost=lost,
        our_patches=sum(o.our_patches for o in outcomes),
        redeliveries=sum(o.redeliveries for o in outcomes),
    )
    assert lost > 0
