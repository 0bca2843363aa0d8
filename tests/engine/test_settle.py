"""The settle wait holds back only the IP rule list, and only while the list itself is changing.

A PATCH of ``networkRuleSet`` replaces the whole list, so the engine writes it only once the list
has been quiet for ``ACRGUARD_SETTLE_S`` (tests/reliability/test_race.py proves no rule of a person's is lost).
Everything else a plan changes (anonymous pull, the admin user, public network access, the
``policies``) replaces no list and must not wait behind it; and a write elsewhere in the registry
(a tag) must not keep the list's wait from ending.

Simulated time (the :class:`Timeline` of tests/reliability/test_race.py): the emulator stamps ``systemData``
with it, the engine sleeps on it, each of our ARM requests costs 0.1 s of it, and the person's
writes are scheduled on it. Real SDK, real HTTPS, the emulator as ARM.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from engine_helpers import POLICY, SUB_A, as_person, make_harness, ours, rid
from race_sim import Timeline
from reliability import adversarial

from acrguard.azure.arm import TransientArmError

REG = rid("contosobusy")
SETTLE_S = 5.0
REQUEST_S = 0.1  # what each of our ARM requests costs on the timeline
OPEN = {"anonymousPullEnabled": True, "networkRuleSet": {"defaultAction": "Allow", "ipRules": []}}


class Scenario:
    """A Premium registry left open (anonymous pull on, firewall Allow), a person writing to it
    every ``period`` seconds, and the engine handling the first write's event 0.5 s later."""

    def __init__(
        self, emu: Any, write: Callable[[int], None], period: float, writes: int, **children: Any
    ) -> None:
        self.emu = emu
        self.timeline = Timeline()
        emu.set_clock(self.timeline.datetime)
        emu.add_registry(
            subscription=SUB_A,
            resource_group="rg-platform",
            name="contosobusy",
            properties=OPEN,
            children=children or None,
        )
        self.patched_at: list[float] = []  # when each of our PATCHes reached ARM
        emu.on_arm_request(self._ours_cost_time)
        write(0)
        self.event = emu.events[-1]
        self.written_at = self.timeline.now
        for i in range(1, writes):
            self.timeline.at(self.written_at + i * period, lambda i=i: write(i))
        self.timeline.sleep(0.5)  # Event Grid's delivery

    def _ours_cost_time(self, request: Any) -> None:
        if ours(self.emu, request):
            self.timeline.sleep(REQUEST_S)
            if request.method == "PATCH":
                self.patched_at.append(self.timeline.now)

    def our_patches(self) -> list[tuple[float, dict[str, Any]]]:
        """(instant, properties) of each PATCH of ours, in order."""
        mine = [r for r in self.emu.requests_for(method="PATCH", resource_id=REG) if ours(self.emu, r)]
        assert len(mine) == len(self.patched_at)
        return list(zip(self.patched_at, [r.body["properties"] for r in mine], strict=True))

    def registry(self) -> dict[str, Any]:
        return self.emu.get_registry(REG)["properties"]


def tag_writer(emu: Any) -> Callable[[int], None]:
    return lambda i: as_person(emu, "PATCH", REG, {"tags": {"build": str(i)}})


def rule_adder(emu: Any) -> Callable[[int], None]:
    """``az acr network-rule add``: a GET, then a PATCH of the whole set plus one rule."""

    def add(i: int) -> None:
        rule_set = as_person(emu, "GET", REG)["properties"]["networkRuleSet"]
        rule_set["ipRules"] = [*rule_set["ipRules"], {"action": "Allow", "value": f"192.0.2.{10 + i}"}]
        as_person(emu, "PATCH", REG, {"properties": {"networkRuleSet": rule_set}})

    return add


def harness(timeline: Timeline, **settings: Any) -> Any:
    h = make_harness(**{"settle_s": SETTLE_S, "retry_budget_s": 30.0, **settings})
    h.engine.arm.clock = timeline
    return h


def test_a_tag_written_every_3_s_does_not_starve_the_anonymous_pull_fix(emu):
    """Someone writes a tag every 3 s (faster than the 5 s settle time) to a registry with
    anonymous pull on and its firewall open. Anonymous pull replaces no list: it is PATCHed at
    once, in the first delivery. The tags never touch the IP rule list, so the firewall's PATCH
    waits only until the list has been quiet for the settle time (judged from the first read's
    ``lastModifiedAt``), not for a registry nobody stops writing to: the delivery ends with both
    fixed, nothing raised."""
    s = Scenario(emu, tag_writer(emu), period=3.0, writes=30)
    h = harness(s.timeline)
    delivered_at = s.timeline.now

    h.engine.handle(s.event)  # no TransientArmError: nothing is left for a redelivery

    (first_at, first), (second_at, second) = s.our_patches()
    assert first == {"anonymousPullEnabled": False}, "the first PATCH carries what replaces no list"
    assert first_at <= delivered_at + 2 * REQUEST_S, "a GET, then the PATCH at once"
    assert second["networkRuleSet"]["defaultAction"] == "Deny"
    assert s.written_at + SETTLE_S <= second_at < s.written_at + SETTLE_S + 1.0
    assert s.registry()["anonymousPullEnabled"] is False
    assert s.registry()["networkRuleSet"]["defaultAction"] == "Deny"
    assert h.outcomes(REG) == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    adversarial(
        2,
        "a tag written every 3 s (settle 5 s) to a registry with anonymous pull on and the firewall open",
        f"anonymous pull fixed in the first PATCH, {first_at - delivered_at:.1f} s after delivery; the "
        f"firewall {second_at - s.written_at:.1f} s after the write (the tags do not restart the wait); "
        "one delivery, nothing raised",
        round=3,
    )


def test_an_ip_list_that_never_settles_is_flagged_naming_its_rule_and_redelivered(emu):
    """A person adds an IP rule every 3 s and does not stop. Anonymous pull is fixed at once; the
    list is put off while it keeps changing, and after the bounded number of deferrals (or the
    budget) the firewall rule is ``flagged`` (a notification asks a person), its record names the
    rule (no record without a rule), and the event is raised so Event Grid redelivers it. None of
    the person's rules is lost, and the redelivery after they stop fixes the firewall keeping them."""
    s = Scenario(emu, rule_adder(emu), period=3.0, writes=20)
    h = harness(s.timeline, retry_budget_s=60.0)

    with pytest.raises(TransientArmError):
        h.engine.handle(s.event)

    assert [body for _, body in s.our_patches()] == [{"anonymousPullEnabled": False}]
    assert h.outcomes(REG) == [("anonymous_pull", "applied"), ("network_rules", "flagged")]
    flagged = h.records[-1]
    waits = re.search(r"after (\d+) waits for it to be quiet \(([\d.]+)s", flagged.reason)
    assert waits and "IP rule list" in flagged.reason and "redelivered" in flagged.reason, flagged.reason
    assert s.registry()["anonymousPullEnabled"] is False
    assert s.registry()["networkRuleSet"]["defaultAction"] == "Allow"  # not replaced while it changed

    s.timeline.sleep(120)  # Event Grid's redelivery, after the person stopped
    h.engine.handle(s.event)

    final = s.registry()["networkRuleSet"]
    person = {f"192.0.2.{10 + i}" for i in range(20)}
    assert final["defaultAction"] == "Deny"
    assert person <= {r["value"] for r in final["ipRules"]}, "none of the person's rules is lost"
    assert h.outcomes(REG)[-1] == ("network_rules", "applied")
    adversarial(
        2,
        "a person adds an IP rule every 3 s and never stops (settle 5 s)",
        f"anonymous pull fixed at once; network_rules flagged after {waits.group(1)} waits ({waits.group(2)} s), "
        "the record naming the rule, and the event raised for redelivery; the redelivery after the "
        "burst fixed the firewall with all 20 of the person's rules kept",
        round=3,
    )


def test_a_settled_registry_gets_one_patch_for_the_list_and_the_rest(emu):
    """When the registry has been quiet for the settle time, a plan that changes both the list and
    anonymous pull is ONE PATCH: the split costs an ARM call only when the list must wait
    (one GET and one PATCH, as before)."""
    s = Scenario(emu, tag_writer(emu), period=3.0, writes=1)
    s.timeline.sleep(SETTLE_S)  # the event arrived late: the registry is already quiet
    h = harness(s.timeline)
    h.engine.handle(s.event)

    ((_, body),) = s.our_patches()
    assert body["anonymousPullEnabled"] is False and body["networkRuleSet"]["defaultAction"] == "Deny"
    assert emu.counters.reads(REG) == 1
    assert h.outcomes(REG) == [("anonymous_pull", "applied"), ("network_rules", "applied")]


def test_a_rule_added_while_we_wait_restarts_the_wait_and_is_kept(emu):
    """Tags every 3 s, and once, 4 s in, the person adds an IP rule (a GET, then a PATCH of the
    whole list). The list read after our wait differs from the first read's, so the wait starts
    again from that write: our list PATCH comes at least the settle time after it, is computed from
    a read that has the rule, and keeps it."""
    rule = "192.0.2.77"
    add = rule_adder(emu)
    tag = tag_writer(emu)

    def write(i: int) -> None:
        tag(i)
        if i == 1:
            s.timeline.at(s.timeline.now + 1.0, lambda: add(67))  # 192.0.2.77

    s = Scenario(emu, write, period=3.0, writes=10)
    h = harness(s.timeline)
    h.engine.handle(s.event)

    (_, first), (second_at, second) = s.our_patches()
    assert first == {"anonymousPullEnabled": False}
    assert second_at >= s.written_at + 4.0 + SETTLE_S, "the person's list write restarted the wait"
    assert rule in {r["value"] for r in second["networkRuleSet"]["ipRules"]}
    assert rule in {r["value"] for r in s.registry()["networkRuleSet"]["ipRules"]}
    assert h.outcomes(REG) == [("anonymous_pull", "applied"), ("network_rules", "applied")]


def test_a_rejected_list_patch_still_records_the_fix_written_before_it(emu):
    """Anonymous pull was PATCHed at once; the firewall's PATCH, after the wait, is refused (400).
    The records say what happened to each: anonymous pull ``applied`` (the write it was), the
    firewall ``failed`` with ARM's reason; nothing is reported without its rule."""
    s = Scenario(emu, tag_writer(emu), period=3.0, writes=1)
    gets = []

    def refuse_the_list_patch(request: Any) -> None:
        if ours(emu, request) and request.method == "GET":
            gets.append(request)
            if len(gets) == 2:  # the read after the wait: the next PATCH is the list's
                emu.inject(method="PATCH", resource_id=REG, status=400, code="InvalidRequest", times=1)

    emu.on_arm_request(refuse_the_list_patch)
    h = harness(s.timeline)
    h.engine.handle(s.event)

    assert h.outcomes(REG) == [("anonymous_pull", "applied"), ("network_rules", "failed")]
    assert "InvalidRequest" in h.records[-1].reason or "400" in h.records[-1].reason
    assert all(r.rule for r in h.records)
    assert s.registry()["anonymousPullEnabled"] is False


def test_an_ip_list_that_never_settles_does_not_hold_back_a_child_rules_fix(emu):
    """A person adds an IP rule every 3 s and does not stop, and the registry has an enabled
    repository token. Disabling the token replaces no list: it is written in the same delivery
    and has its own record, even though the firewall's list is put off, flagged and raised for
    redelivery. (Before, the list's deferral was raised past the child rules: the token stayed
    enabled with no audit line, delivery after delivery while the list kept changing.)"""
    s = Scenario(
        emu,
        rule_adder(emu),
        period=3.0,
        writes=20,
        tokens=[{"name": "ci-push", "properties": {"status": "enabled"}}],
    )
    text = POLICY.replace("rules:\n", "rules:\n  repository_tokens: {enabled: true}\n", 1)
    h = make_harness(text, settle_s=SETTLE_S, retry_budget_s=60.0)
    h.engine.arm.clock = s.timeline

    with pytest.raises(TransientArmError):
        h.engine.handle(s.event)

    assert sorted(h.outcomes(REG)) == [
        ("anonymous_pull", "applied"),
        ("network_rules", "flagged"),
        ("repository_tokens", "applied"),
    ]
    assert [t["properties"]["status"] for t in emu.children(REG, "tokens")] == ["disabled"]
    assert s.registry()["networkRuleSet"]["defaultAction"] == "Allow"  # not replaced while it changed
    adversarial(
        2,
        "a person adds an IP rule every 3 s and never stops, and a repository token is enabled",
        "the token disabled and recorded in the same delivery; network_rules flagged, raised for redelivery",
        round=3,
    )
