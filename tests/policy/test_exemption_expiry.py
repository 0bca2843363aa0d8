"""Exemptions that end by themselves: by ID in the policy and by tag on the registry, decided with
the engine's clock (a simulated one here), over exactly at ``until``. Real SDK against the emulator.
"""

from __future__ import annotations

import dataclasses

import pytest
from engine_helpers import POLICY, SUB_A, SimulatedClock, rid, write_event

from acrguard.audit import Audit, AuditRecord
from acrguard.azure.arm import Arm
from acrguard.engine import Engine, pushdown
from acrguard.policy import PolicyError, parse_policy
from acrguard.policy.exemption import format_time
from acrguard.settings import Settings

UNTIL = 1_800_000_000.0  # SimulatedClock starts here: 2027-01-15T08:00:00Z
UNTIL_TEXT = "2027-01-15T08:00:00Z"
TAGS = {"acrguard": "exempt", "acrguard-exempt-until": UNTIL_TEXT, "acrguard-exempt-reason": "INC-42 hotfix"}


def policy_text(exempt: str = "") -> str:
    return POLICY.replace("exempt:\n", f"exempt:\n{exempt}")


def engine(text: str, clock: SimulatedClock) -> tuple[Engine, list[AuditRecord]]:
    settings = dataclasses.replace(Settings.from_env(), retry_budget_s=6.0, max_attempts=4)
    records: list[AuditRecord] = []
    return Engine(
        parse_policy(text, "test-policy.yaml"), Arm(settings, clock=clock), Audit([records.append])
    ), records


def open_registry(emu, name: str, sku: str = "Standard", **fields) -> str:
    props = {"anonymousPullEnabled": True}
    return emu.add_registry(
        subscription=SUB_A, resource_group="rg-platform", name=name, sku=sku, properties=props, **fields
    )


def by_id(name: str, extra: str = "") -> str:
    return (
        f"  registries:\n    - {{id: '{rid(name)}', until: '{UNTIL_TEXT}', reason: INC-42 hotfix{extra}}}\n"
    )


@pytest.mark.parametrize("kind", ["policy", "tag"])
def test_an_exemption_holds_until_the_second_before_and_is_over_exactly_at_until(emu, kind):
    """The rule at the boundary: in force while now < until. One second before, the open registry is
    left as it is (skipped, the record carrying until and reason); exactly at ``until`` the next
    event fixes it, and the record says the exemption expired and when."""
    name = f"bound{kind}"
    registry = open_registry(emu, name, tags=TAGS if kind == "tag" else {})
    clock = SimulatedClock()
    clock.now = UNTIL - 1
    guard, records = engine(policy_text(by_id(name) if kind == "policy" else ""), clock)

    guard.handle(write_event(registry))
    [held] = [r for r in records if r.rule == "anonymous_pull"]
    # A write while exempt by a tag (which anyone who can write it can set) is told to a person.
    assert (held.outcome, held.mode) == ("flagged" if kind == "tag" else "skipped", "exempt")
    assert (held.exemption, held.exempt_until, held.exempt_reason) == ("active", UNTIL_TEXT, "INC-42 hotfix")
    assert f"until {UNTIL_TEXT} (INC-42 hotfix)" in held.reason
    assert emu.get_registry(registry)["properties"]["anonymousPullEnabled"] is True

    clock.now = UNTIL
    records.clear()
    guard.handle(write_event(registry))
    [fixed] = [r for r in records if r.rule == "anonymous_pull"]
    assert fixed.outcome == "applied"
    assert (fixed.exemption, fixed.exempt_until) == ("expired", UNTIL_TEXT)
    assert any(f"expired at {UNTIL_TEXT}" in note for note in fixed.notes)
    assert fixed.to_dict()["exemption"] == "expired"  # a column the workbook can query
    assert emu.get_registry(registry)["properties"]["anonymousPullEnabled"] is False


def test_an_exemption_for_one_rule_leaves_the_others_to_be_fixed(emu):
    """``rules: [anonymous_pull]``: that rule is reported, the firewall is still fixed."""
    registry = open_registry(emu, "onerule", sku="Premium")
    clock = SimulatedClock()
    guard, records = engine(policy_text(by_id("onerule", ", rules: [anonymous_pull]")), clock)
    clock.now = UNTIL - 3600
    guard.handle(write_event(registry))
    outcomes = {r.rule: (r.outcome, r.exemption) for r in records}
    assert outcomes == {"anonymous_pull": ("skipped", "active"), "network_rules": ("applied", None)}


def test_a_tag_exemption_for_one_rule_reads_the_rules_tag(emu):
    open_registry(emu, "tagrule", sku="Premium", tags={**TAGS, "acrguard-exempt-rules": "network_rules"})
    clock = SimulatedClock()
    clock.now = UNTIL - 60
    guard, records = engine(policy_text(), clock)
    guard.reconcile([SUB_A])
    outcomes = {r.rule: r.outcome for r in records}
    assert outcomes == {"anonymous_pull": "applied", "network_rules": "skipped"}


EXEMPT_ENTRY = "  max_days: 7\n  require_reason: true\n  require_until: true\n  registries:\n    - {entry}\n"


@pytest.mark.parametrize(
    ("entry", "key", "words"),
    [
        ("{id: '%s', until: '2026-12-01T00:00:00Z'}", "exempt.registries[0].reason", "require_reason"),
        (
            "{id: '%s', until: '2099-01-01T00:00:00Z', reason: r}",
            "exempt.registries[0].until",
            "max_days (7)",
        ),
        ("{id: '%s', until: '2026-12-01T00:00:00', reason: r}", "exempt.registries[0].until", "no timezone"),
        ("{id: '%s', until: 'next tuesday', reason: r}", "exempt.registries[0].until", "not an ISO 8601"),
        (
            "{id: '%s', until: '2026-12-01T00:00:00Z', reason: r, rules: [anonymous_pul]}",
            "exempt.registries[0].rules",
            "did you mean anonymous_pull?",
        ),
        ("{id: '%s', reason: r}", "exempt.registries[0].until", "require_until"),
        ("'%s'", "exempt.registries[0]", "the policy requires them"),
    ],
    ids=["no-reason", "past-max-days", "no-timezone", "not-a-time", "unknown-rule", "no-until", "bare-id"],
)
def test_a_policy_exemption_the_policy_does_not_allow_stops_it_loading(entry, key, words):
    """Policy entries are refused at load time, naming the key and why."""
    text = policy_text(EXEMPT_ENTRY.format(entry=entry % rid("exemptme")))
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "p.yaml")
    [(path, reason)] = caught.value.problems
    assert path == key and words in reason


def test_a_permanent_policy_entry_and_a_plain_id_still_load():
    text = policy_text(
        f"  max_days: 7\n  registries:\n    - '{rid('forever')}'\n    - {{id: '{rid('withreason')}', reason: r}}\n"
    )
    assert len(parse_policy(text).doc.exempt.registries) == 2


@pytest.mark.parametrize(
    ("tags", "words"),
    [
        ({"acrguard": "exempt", "acrguard-exempt-until": UNTIL_TEXT}, "no acrguard-exempt-reason tag"),
        ({**TAGS, "acrguard-exempt-until": "2027-03-01T00:00:00Z"}, "more than exempt.max_days (7) away"),
        (
            {"acrguard": "exempt", "acrguard-exempt-reason": "r"},
            "never ends, and exempt.require_until is true",
        ),
        ({**TAGS, "acrguard-exempt-until": "soon"}, "not an ISO 8601 time"),
    ],
    ids=["no-reason", "past-max-days", "no-until", "bad-until"],
)
def test_a_tag_exemption_the_policy_does_not_allow_is_honoured_but_flagged(emu, tags, words):
    """Anyone who can write the registry can tag it: a bad tag exemption is not a reason to write
    (never a lock-out), but a sweep reports it ``flagged`` with the problem, for a person."""
    registry = open_registry(emu, "badtag", tags=tags)
    clock = SimulatedClock()
    clock.now = UNTIL - 86400
    guard, records = engine(
        policy_text("  max_days: 7\n  require_reason: true\n  require_until: true\n"), clock
    )
    guard.reconcile([SUB_A])
    [record] = [r for r in records if r.rule == "anonymous_pull"]
    assert (record.outcome, record.exemption) == ("flagged", "flagged")
    assert words in record.reason and "the exemption is not valid" in record.reason
    assert emu.get_registry(registry)["properties"]["anonymousPullEnabled"] is True


def calls(emu) -> list[tuple[str, str]]:
    return [(r.method, r.route) for r in emu.requests if r.route != "identity"]


@pytest.mark.parametrize("until", [UNTIL - 1, UNTIL], ids=["in-force", "expired"])
def test_an_exemption_costs_no_arm_call(emu, until):
    """The expiry is read from the registry's one GET: an event for an exempt registry costs what it
    costs without the tags (one GET; a GET and a PATCH once it has expired and the fix is due)."""
    clock = SimulatedClock()
    clock.now = until
    guard, _ = engine(policy_text(), clock)
    plain, tagged = open_registry(emu, "plain"), open_registry(emu, "tagged", tags=TAGS)
    counted = {}
    for registry in (plain, tagged):
        before = len(calls(emu))
        guard.handle(write_event(registry))
        counted[registry] = calls(emu)[before:]
    expected = [("GET", "registry")] if until < UNTIL else counted[plain]
    assert counted[tagged] == expected
    assert [m for m, _ in counted[plain]] == ["GET", "PATCH"]


def test_resource_graph_still_finds_a_registry_whose_exemption_can_end():
    """The sweep's query leaves out only registries exempt for good: one with ``until`` (or for
    some rules) must come back, or its drift would never be fixed once the exemption expired."""
    text = policy_text(
        f"  registries:\n    - '{rid('forever')}'\n"
        f"    - {{id: '{rid('timed')}', until: '{UNTIL_TEXT}', reason: r}}\n"
        f"    - {{id: '{rid('onerule')}', rules: [anonymous_pull]}}\n"
    )
    [excluded] = [f for f in pushdown.scope_filters(parse_policy(text)) if f.startswith("not(")]
    assert "/forever'" in excluded and "timed" not in excluded and "onerule" not in excluded


def test_times_are_written_in_utc_with_z():
    from datetime import UTC, datetime, timedelta, timezone

    assert format_time(datetime(2027, 1, 15, 9, 0, tzinfo=timezone(timedelta(hours=1)))) == UNTIL_TEXT
    assert format_time(datetime.fromtimestamp(UNTIL, UTC)) == UNTIL_TEXT
