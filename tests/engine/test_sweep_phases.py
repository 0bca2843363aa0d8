"""The Resource Graph sweep at tenant scale. Writes never queue behind one
another's locks, the registries that may be written are found and fixed first (re-read from ARM
before the write), and the report-only findings are decided from Resource Graph's rows with no ARM
call, each record saying where its state came from. Real SDK against the emulator; ARM calls are
counted from the emulator's request log."""

from __future__ import annotations

import threading

from cli_helpers import writes
from engine_helpers import POLICY, SUB_A, SUB_B, make_harness, rid

from acrguard.azure.resource_ids import RegistryRef
from acrguard.engine import graph_sweep
from acrguard.plan import rules_by_name
from emulator.arm_paths import resource_key

PROD, LOCKED, STD = rid("contosoprod"), rid("contosolocked"), rid("contosostd")
_FORMER_STRIPES = 64  # the engine's lock stripes before per-registry locks


def _same_former_stripe_as(resource_id: str) -> str:
    """A registry name that shared ``resource_id``'s lock stripe under the striped locks."""
    stripe = hash(RegistryRef.parse(resource_id).key) % _FORMER_STRIPES
    for i in range(100_000):
        if hash(RegistryRef.parse(rid(f"stripe{i:05d}")).key) % _FORMER_STRIPES == stripe:
            return f"stripe{i:05d}"
    raise AssertionError("no registry name on the same stripe")


def test_a_write_in_progress_does_not_hold_up_another_registrys_decision(seeded):
    """A sweep worker deciding a registry never waits for another registry's write on the same lock
    stripe (the 64 striped locks were held for a write's GET and PATCH, so at 100,000 registries
    every worker soon queued behind the one write in progress)."""
    from azure.mgmt.containerregistry.models import Registry

    other = _same_former_stripe_as(PROD)
    seeded.add_registry(
        subscription=SUB_A, resource_group="rg-platform", name=other, sku="Standard",
        properties={"anonymousPullEnabled": False},
    )  # fmt: skip
    h = make_harness(settle_s=0)
    get_started, other_decided, seen_by_get = threading.Event(), threading.Event(), []

    def hold_the_get(request):
        if (
            request.method == "GET"
            and request.route == "registry"
            and request.resource_key == resource_key(PROD)
        ):
            get_started.set()
            seen_by_get.append(other_decided.wait(10))  # the write waits until the other is decided

    seeded.on_arm_request(hold_the_get)
    listed = {r["id"]: Registry(r) for r in seeded.registries()}
    writer = threading.Thread(
        target=h.engine.process, args=(RegistryRef.parse(PROD),), kwargs={"state": listed[PROD]}
    )
    writer.start()
    assert get_started.wait(10), "the write never re-read the registry"
    h.engine.process(RegistryRef.parse(rid(other)), state=listed[rid(other)])  # while PROD is locked
    other_decided.set()
    writer.join(30)
    assert seen_by_get == [True], "the other registry waited for the write's lock"
    assert ("anonymous_pull", "compliant") in h.outcomes(rid(other))
    assert ("anonymous_pull", "applied") in h.outcomes(PROD)


BASIC = rid("contosobasic")
WITH_REPORT_RULE = POLICY.replace(
    "firewall_unavailable: {enabled: false}", "firewall_unavailable: {enabled: true}"
)


def _arm_after(emu, seq: int) -> list:
    return [r for r in emu.requests if r.route in ("registry", "list", "operation") and r.seq > seq]


def test_the_sweep_fixes_first_then_reports_from_resource_graph_without_arm_calls(seeded):
    """A report-only rule (firewall_unavailable) made every open Basic/Standard
    registry a candidate of the one query, so at 100,000 registries the fixes waited behind 31
    queries. Now the registries a rule may write to are found and fixed first (each re-read from
    ARM before its PATCH), and the report phase decides from Resource Graph's rows alone."""
    h = make_harness(WITH_REPORT_RULE, settle_s=0)
    summary = graph_sweep.sweep(h.engine)
    fix, report = summary.details["phases"]["fix"], summary.details["phases"]["report"]
    queries = seeded.requests_for(route="resourcegraph")
    assert [fix["arg_queries"], report["arg_queries"]] == [1, 1] and len(queries) == 2
    assert "anonymousPullEnabled" in queries[0].body["query"]
    firewall_unavailable = rules_by_name()["firewall_unavailable"]
    report_only = firewall_unavailable.kql_may_violate(firewall_unavailable.Config())
    assert report_only not in queries[0].body["query"] and report_only in queries[1].body["query"]
    # The report phase made no ARM call at all.
    assert _arm_after(seeded, queries[1].seq) == []
    # Every write was re-read from ARM just before it: 2 ARM calls per drifted registry.
    writes_ = [r for r in seeded.requests if r.route == "registry" and r.method == "PATCH"]
    gets = [r for r in seeded.requests if r.route == "registry" and r.method == "GET"]
    assert (
        {w.resource_id for w in writes_}
        == {g.resource_id for g in gets}
        == {PROD, STD, rid("contosoapps", SUB_B, "rg-apps")}
    )
    assert all(any(g.resource_id == w.resource_id and g.seq < w.seq for g in gets) for w in writes_)
    assert fix["applied"] == 3 and report["registries"] == 1 and report["findings"] == 1
    # Which state each verdict came from: ARM for what was written, Resource Graph for the report.
    basic = [r for r in h.records if r.registry == BASIC]
    assert [(r.rule, r.outcome, r.state_from) for r in basic if r.rule == "firewall_unavailable"] == [
        ("firewall_unavailable", "flagged", "resource-graph")
    ]
    assert {r.state_from for r in h.records if r.registry == PROD} == {"arm"}
    assert "report phase: 1 more may violate the policy" in graph_sweep.describe(summary.details)


def test_a_dry_run_sweep_is_one_report_phase_with_no_arm_call(seeded):
    """Nothing can be written in dry-run, so there is no fix phase: every verdict
    (planned included) comes from Resource Graph's rows, and ARM is not called."""
    h = make_harness(WITH_REPORT_RULE, mode="dry-run")
    summary = graph_sweep.sweep(h.engine)
    assert list(summary.details["phases"]) == ["report"]
    assert len(seeded.requests_for(route="resourcegraph")) == 1 and _arm_after(seeded, -1) == []
    planned = {r.registry for r in h.records if r.outcome == "planned"}
    assert {PROD, STD} <= planned
    assert {r.state_from for r in h.records} == {"resource-graph"}


def test_a_registry_that_drifts_between_the_phases_is_still_re_read_before_its_write(seeded):
    """The report phase decides from rows, but a row that would be written (the
    registry drifted after the fix query) is re-read from ARM first, never written from the row."""
    h = make_harness(WITH_REPORT_RULE, settle_s=0)
    seeded.inject(route="resourcegraph", status=200, body={"totalRecords": 0, "count": 0, "resultTruncated": "false", "data": []})  # fmt: skip
    graph_sweep.sweep(h.engine)  # the fix phase found nothing (an empty answer), the report phase finds all
    stamped = [r for r in h.records if r.registry == PROD and r.outcome == "applied"]
    assert stamped and {r.state_from for r in stamped} == {"arm"}
    gets = seeded.requests_for(method="GET", route="registry", resource_id=PROD)
    patches = seeded.requests_for(method="PATCH", route="registry", resource_id=PROD)
    assert gets and patches and gets[0].seq < patches[0].seq


def test_every_subscriptions_client_shares_one_connection_pool(emu):
    """Every subscription's SDK client shares one connection pool (a pool each meant a sweep across
    1,000 subscriptions opened 1,000 TLS connections to ARM, a handshake each on both sides)."""
    subs = [f"10000000-0000-0000-0000-{i:012d}" for i in range(6)]
    for sub in subs:
        emu.add_registry(subscription=sub, resource_group="rg", name="sharedpool", sku="Standard")
    h = make_harness(settle_s=0)
    h.engine.process(
        RegistryRef.parse(rid("sharedpool", subs[0], "rg"))
    )  # the token and the first connection
    connections = emu.tls_connections
    for sub in subs[1:]:
        h.engine.process(RegistryRef.parse(rid("sharedpool", sub, "rg")))
    assert len(emu.requests_for(method="GET", route="registry")) == len(subs)
    assert emu.tls_connections == connections, "a subscription's client opened a connection of its own"


def test_resource_graph_failing_in_the_report_phase_falls_back_keeping_the_fixes(seeded):
    """ARG refusing the report phase's query after the fix phase wrote: the sweep
    lists the subscriptions instead, keeps what the fix phase decided and wrote, and counts no
    registry twice."""
    h = make_harness(WITH_REPORT_RULE, settle_s=0)
    refuse = []

    def after_the_fix_phase(result):
        if not refuse:
            refuse.append(seeded.inject(route="resourcegraph", status=403, times=None))

    summary = graph_sweep.sweep(h.engine, on_result=after_the_fix_phase)
    assert summary.details["source"] == "list" and "fell back to listing" in summary.details["fallback"]
    assert [q.status for q in seeded.requests_for(route="resourcegraph")] == [200, 403]
    registries = [r.registry for r in summary.results]
    assert len(registries) == len(set(registries)) and BASIC in registries
    assert summary.counts["applied"] == 3 and len(writes(seeded)) == 3


def test_the_fallback_does_not_decide_or_report_again_what_resource_graph_decided(seeded):
    """When Resource Graph fails after the fix phase, the list fallback leaves alone every registry
    the fix phase decided: no second read, decision, audit line or CLI line for it."""
    h = make_harness(WITH_REPORT_RULE, settle_s=0)
    streamed: list[str | None] = []

    def after_the_fix_phase(result):
        streamed.append(result.registry)
        if len(streamed) == 1:
            seeded.inject(route="resourcegraph", status=403, times=None)

    graph_sweep.sweep(h.engine, on_result=after_the_fix_phase)
    assert len(streamed) == len(set(streamed)), sorted(streamed)
    decided = [(r.registry, r.rule) for r in h.records if r.rule is not None]
    assert len(decided) == len(set(decided)), sorted(map(str, decided))


def test_the_resource_graph_sweep_fixes_a_tasks_bypass_the_firewall_otherwise_satisfies(emu):
    """Deny, exactly the allow-list, AzureServices, tasks bypass false, and a
    policy with bypass_for_tasks true. The fix query never looked at the tasks bypass, so the
    registry was not a candidate (0 candidates, while the list sweep wrote it)."""
    from reliability import adversarial

    allowed = ["20.1.2.0/24", "20.9.8.7"]
    tight = rid("tasksbypass")
    emu.add_registry(
        subscription=SUB_A, resource_group="rg-platform", name="tasksbypass", sku="Premium",
        properties={
            "anonymousPullEnabled": False,
            "networkRuleSet": {"defaultAction": "Deny", "ipRules": [{"action": "Allow", "value": v} for v in allowed]},
            "networkRuleBypassAllowedForTasks": False,
        },
    )  # fmt: skip
    policy = POLICY.replace(
        'allowed_ips: ["20.1.2.0/24", "20.9.8.7"]',
        'allowed_ips: ["20.1.2.0/24", "20.9.8.7"]\n    bypass_for_tasks: true',
    )
    h = make_harness(policy, settle_s=0)
    summary = graph_sweep.sweep(h.engine)
    assert ("network_rules", "applied") in h.outcomes(tight), (summary.details, h.outcomes())
    assert emu.get_registry(tight)["properties"]["networkRuleBypassAllowedForTasks"] is True
    adversarial(
        3,
        "Resource Graph sweep, tasks bypass false, firewall otherwise exact",
        "candidate of the fix query; network_rules applied",
        round=4,
    )
