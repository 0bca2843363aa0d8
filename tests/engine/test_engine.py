"""The engine end to end: real SDK clients, real HTTPS, the emulator as ARM."""

from __future__ import annotations

import pytest
from engine_helpers import POLICY, SUB_A, SUB_B, SimulatedClock, make_harness, patch_as_user, rid, write_event

from acrguard.azure.arm import TransientArmError

PROD, LOCKED, STD, BASIC, PUBDIST = (
    rid(n) for n in ("contosoprod", "contosolocked", "contosostd", "contosobasic", "publicdist")
)


def test_drifted_premium_is_fixed_with_one_read_and_one_write(seeded):
    h = make_harness()
    h.engine.handle(write_event(PROD))
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    doc = seeded.get_registry(PROD)["properties"]
    assert doc["anonymousPullEnabled"] is False
    assert doc["networkRuleSet"] == {
        "defaultAction": "Deny",
        "ipRules": [
            {"action": "Allow", "value": "20.1.2.0/24"},
            {"action": "Allow", "value": "20.9.8.7"},
        ],
    }
    assert doc["networkRuleBypassOptions"] == "AzureServices"
    assert (seeded.counters.reads(PROD), seeded.counters.writes(PROD)) == (1, 1)
    patch = seeded.requests_for(method="PATCH", resource_id=PROD)[0].body
    # Minimal: only the two changed properties travel.
    assert patch == {"properties": {"anonymousPullEnabled": False, "networkRuleSet": doc["networkRuleSet"]}}
    applied = next(r for r in h.records if r.rule == "anonymous_pull")
    assert applied.before == {"anonymousPullEnabled": True} and applied.after == {
        "anonymousPullEnabled": False
    }
    assert applied.caller["upn"] == "dev@contoso.example" and applied.event_id


def test_long_running_patch_is_polled_to_completion(seeded):
    # ACR's Registries_Update answers 200, or 201 + Azure-AsyncOperation (the SDK accepts only those).
    seeded.set_lro("async", polls=2, initial_status=201, retry_after=0)
    h = make_harness()
    h.engine.handle(write_event(STD))
    assert sorted(h.outcomes(STD)) == [("anonymous_pull", "applied"), ("network_rules", "skipped")]
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is False
    assert seeded.counters.writes(STD) == 1 and seeded.counters.polls(STD) >= 2


def test_compliant_registry_costs_one_read_and_no_write(seeded):
    h = make_harness()
    h.engine.handle(write_event(LOCKED))
    assert sorted(h.outcomes(LOCKED)) == [("anonymous_pull", "compliant"), ("network_rules", "compliant")]
    assert (seeded.counters.reads(LOCKED), seeded.counters.writes(LOCKED)) == (1, 0)


def test_irrelevant_events_cost_no_arm_call(seeded, load_sample):
    h = make_harness()
    for name in ("storage-write", "subscription-validation"):
        h.engine.handle(load_sample(f"events/{name}.eventgrid.json"))
    h.engine.handle(write_event(PROD, "Microsoft.ContainerRegistry/registries/webhooks/write"))
    assert [r.outcome for r in h.records] == ["skipped"] * 3
    assert seeded.requests == []


def test_basic_sku_is_skipped_with_the_sku_in_the_reason(seeded):
    h = make_harness()
    h.engine.handle(write_event(BASIC))
    assert {r.outcome for r in h.records} == {"skipped"}
    assert all("Basic" in r.reason for r in h.records)
    assert seeded.counters.writes(BASIC) == 0


def test_dry_run_writes_nothing_and_logs_planned(seeded):
    h = make_harness(mode="dry-run")
    h.engine.handle(write_event(PROD))
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "planned"), ("network_rules", "planned")]
    assert all(r.mode == "dry-run" for r in h.records)
    assert seeded.counters.writes() == 0
    planned = next(r for r in h.records if r.rule == "network_rules")
    assert planned.after["networkRuleSet"]["defaultAction"] == "Deny"


def test_exempt_by_tag_is_reported_never_changed(seeded):
    h = make_harness()
    h.engine.handle(write_event(PUBDIST))
    assert all("exempt: tagged acrguard=exempt" in r.reason for r in h.records)
    assert any("would be fixed" in r.reason for r in h.records)
    # A write left a tag-exempt registry drifting: told to a person (tests/notify/test_self_exemption.py).
    assert all(r.outcome == ("flagged" if "would be fixed" in r.reason else "skipped") for r in h.records)
    assert seeded.counters.writes() == 0


def test_out_of_scope_subscription_costs_no_arm_call(seeded):
    h = make_harness(POLICY + f"scope: {{subscriptions: [{SUB_B}]}}\n")
    h.engine.handle(write_event(PROD))
    assert h.outcomes() == [(None, "skipped")] and "scope" in h.records[0].reason
    assert seeded.requests == []


def test_keep_merges_existing_rules_and_replace_replaces(seeded):
    apps = rid("contosoapps", SUB_B, "rg-apps")
    make_harness().engine.handle(write_event(apps))
    values = [r["value"] for r in seeded.get_registry(apps)["properties"]["networkRuleSet"]["ipRules"]]
    assert values == ["192.0.2.10", "20.1.2.0/24", "20.9.8.7"]
    make_harness(
        POLICY.replace(
            "enabled: true\n    allowed_ips", "enabled: true\n    existing_rules: replace\n    allowed_ips"
        )
    ).engine.handle(write_event(apps))
    values = [r["value"] for r in seeded.get_registry(apps)["properties"]["networkRuleSet"]["ipRules"]]
    assert values == ["20.1.2.0/24", "20.9.8.7"]


def test_override_first_match_wins(seeded):
    policy = (
        POLICY + "overrides:\n  - match: {name: 'contoso*'}\n    rules: {anonymous_pull: {enabled: false}}\n"
    )
    h = make_harness(policy)
    h.engine.handle(write_event(STD))
    assert h.outcomes(STD) == [("network_rules", "skipped")]
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is True


def test_child_resource_event_reevaluates_the_parent(seeded, load_sample):
    h = make_harness()
    h.engine.handle(load_sample("events/replication-write.eventgrid.json"))
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "applied"), ("network_rules", "applied")]


def test_cloudevents_schema(seeded, load_sample):
    h = make_harness()
    h.engine.handle(load_sample("events/registry-write.cloudevent.json"))
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "applied"), ("network_rules", "applied")]


def test_loop_closure_our_own_write_comes_back_and_causes_no_write(seeded):
    h = make_harness()
    seeded.add_sink(h.engine.handle)
    patch_as_user(seeded, LOCKED, {"anonymousPullEnabled": True})  # a person turns it on
    seeded.wait_for_events(2)  # theirs, then ours
    seeded.drain()  # ours came back, was handled (a re-read), and caused nothing further
    events = seeded.events
    assert len(events) == 2, [e["data"]["claims"].get("name") for e in events]
    assert events[0]["data"]["claims"]["name"] == "Dev Eloper"
    assert seeded.counters.writes(LOCKED) == 2  # the user's PATCH and ours, nothing more
    assert [(r.rule, r.outcome) for r in h.records if r.rule == "anonymous_pull"] == [
        ("anonymous_pull", "applied"),
        ("anonymous_pull", "compliant"),
    ]
    assert seeded.get_registry(LOCKED)["properties"]["anonymousPullEnabled"] is False


@pytest.mark.parametrize("status", [429, 503])
def test_transient_errors_are_retried_then_succeed(seeded, status):
    seeded.inject(method="GET", resource_id=PROD, status=status, retry_after=0, times=2)
    seeded.inject(method="PATCH", resource_id=PROD, status=status, retry_after=0, times=1)
    h = make_harness()
    h.engine.handle(write_event(PROD))
    assert sorted(h.outcomes(PROD)) == [("anonymous_pull", "applied"), ("network_rules", "applied")]
    assert len(seeded.requests_for(method="GET", resource_id=PROD, status=status)) == 2
    # one refused PATCH, then a re-read (the retry checks whether it landed), then the PATCH that works
    assert [r.status for r in seeded.requests_for(method="PATCH", resource_id=PROD)] == [status, 200]


def test_retry_after_is_honoured(seeded):
    seeded.inject(method="GET", resource_id=PROD, status=429, retry_after=1, times=1)
    h = make_harness()
    h.engine.arm.clock = clock = SimulatedClock()
    h.engine.handle(write_event(PROD))
    assert len(seeded.requests_for(method="GET", resource_id=PROD)) == 2
    assert clock.slept == [1.0]  # the one wait before the second GET: ARM's Retry-After


def test_exhausted_attempts_raise_for_redelivery(seeded):
    seeded.inject(method="GET", resource_id=PROD, status=503, times=None)
    h = make_harness(max_attempts=3, retry_budget_s=60.0)
    with pytest.raises(TransientArmError, match="still failing after 3 attempts"):
        h.engine.handle(write_event(PROD))
    assert len(seeded.requests_for(method="GET", resource_id=PROD)) == 3  # bounded: SDK retries are off
    assert h.outcomes(PROD) == [(None, "failed")] and "redelivered" in h.records[0].reason


def test_deleted_registry_is_a_skip(seeded):
    h = make_harness()
    h.engine.handle(write_event(rid("ghostregistry")))
    assert h.outcomes() == [(None, "skipped")] and "not found" in h.records[0].reason


def test_forbidden_is_failed_naming_the_permission(seeded):
    seeded.inject(method="PATCH", resource_id=PROD, status=403)
    h = make_harness()
    h.engine.handle(write_event(PROD))  # does not raise: a retry would not help
    failed = [r for r in h.records if r.outcome == "failed"]
    assert failed and all("Microsoft.ContainerRegistry/registries/write" in r.reason for r in failed)


def test_reconcile_uses_list_pages_and_rereads_only_drifted(seeded):
    seeded.page_size = 2
    h = make_harness()
    summary = h.engine.reconcile([SUB_A, SUB_B])
    assert seeded.counters.identity_requests == 1  # the parallel listers share one token request
    assert summary.counts == {
        "compliant": 1,
        "applied": 3,
        "planned": 0,
        "flagged": 0,
        "skipped": 2,
        "failed": 0,
    }
    assert seeded.counters.reads(LOCKED) == 0  # compliant: known from the list page alone
    assert (
        seeded.counters.reads(PROD) == 1 and seeded.counters.writes(PROD) == 1
    )  # fresh read before the write
    again = h.engine.reconcile([SUB_A, SUB_B])
    assert again.counts["applied"] == 0 and again.counts["compliant"] == 4


def test_retry_budget_bounds_the_time_spent(seeded):
    seeded.inject(method="GET", resource_id=PROD, status=429, retry_after=1, times=None)
    h = make_harness(max_attempts=50, retry_budget_s=2.5)
    h.engine.arm.clock = clock = SimulatedClock()
    with pytest.raises(TransientArmError) as info:
        h.engine.handle(write_event(PROD))
    gets = seeded.requests_for(method="GET", resource_id=PROD)
    # Retry-After 1 s within a 2.5 s budget: GETs at 0, 1 and 2 s; a third wait would end past it.
    assert clock.slept == [1.0, 1.0] and len(gets) == 3
    assert "429" in str(info.value)


def test_unauthorized_is_retried_then_raised_never_lost(seeded):
    seeded.inject(method="GET", resource_id=PROD, status=401, times=None)
    h = make_harness(max_attempts=2)
    with pytest.raises(TransientArmError):
        h.engine.handle(write_event(PROD))
    assert len(seeded.requests_for(method="GET", resource_id=PROD)) >= 2


def test_reconcile_without_scope_covers_every_reachable_subscription(seeded):
    summary = make_harness().engine.reconcile()
    assert summary.counts["applied"] == 3  # both demo subscriptions, found through GET /subscriptions
    assert seeded.requests_for(route="subscriptions")[0].status == 200
