"""Time budgets the platform cuts: an Event Grid delivery and the Functions host's functionTimeout.

Event Grid waits 30 s for a delivery's answer, then queues it for retry ("Event Grid waits 30
seconds for a response after delivering a message": https://learn.microsoft.com/azure/event-grid/delivery-and-retry);
the host kills an invocation at host.json's functionTimeout. Each test drives the real functions
(function_app.py) over the real SDK against the emulator, on simulated time: the emulator's faults
say how long to wait (Retry-After), the engine's clock waits without waiting, and the assertions
read that clock, never the wall clock.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from engine_helpers import POLICY, ROOT, SimulatedClock, drifting_registry, make_harness, write_event
from function_harness import FunctionApp, function_app_env, grid_event
from reliability import adversarial

from acrguard import budget, runtime
from acrguard.azure.arm import TransientArmError
from acrguard.azure.resource_ids import RegistryRef
from acrguard.settings import Settings, SettingsError


def _on_simulated_time(app: FunctionApp) -> SimulatedClock:
    """The Function App's engine, on a clock that waits without waiting (set before any ARM call)."""
    clock = SimulatedClock()
    runtime.engine().arm.clock = clock
    return clock


@pytest.mark.parametrize("cut", ["throttled", "slow-operation"])
def test_a_delivery_cut_by_its_deadline_is_redelivered_and_converges_with_one_line_per_decision(
    emu, monkeypatch, tmp_path, cut
):
    """A delivery whose write outlives Event Grid's 30 s (ARM throttles the PATCH with Retry-After
    10 s; or accepts it and keeps the operation running) stops inside the delivery's deadline,
    audits the decision failed and raises; the redelivery re-reads and converges. Before, the
    handler kept retrying for the 60 s retry budget, so Event Grid sent a duplicate while it worked."""
    (policy := tmp_path / "policies.yaml").write_text(POLICY)
    rid = drifting_registry(emu, "cutregistry")
    if cut == "throttled":
        emu.inject(method="PATCH", resource_id=rid, status=429, retry_after=10, times=None)
    else:
        emu.set_lro("async", polls=1000, retry_after=10, resource_id=rid)
    event = write_event(rid, id="delivery-1")

    with function_app_env(monkeypatch, policy) as app:
        clock = _on_simulated_time(app)
        started = clock.now
        with pytest.raises(TransientArmError):
            app.on_registry_write(grid_event(event))  # the first delivery
        spent = clock.now - started
        assert spent <= budget.EVENT_DEADLINE_S < budget.DELIVERY_TIMEOUT_S, (
            f"the handler ran {spent:g} s of simulated time"
        )
        first = app.audit.for_registry(rid)
        # One line per rule it could not fix, naming the rule (never a line without one).
        assert {line["outcome"] for line in first} == {"failed"}, first
        assert all(line["rule"] and "redelivered" in line["reason"] for line in first), first

        # The platform's redelivery, once ARM answers again (our accepted PATCH may have landed).
        emu.clear_faults()
        emu.complete_operations()
        emu.set_lro("sync", resource_id=rid)
        app.on_registry_write(grid_event(event))

    doc = emu.get_registry(rid)
    assert doc["properties"]["anonymousPullEnabled"] is False
    assert doc["properties"]["networkRuleSet"]["defaultAction"] == "Deny"
    second = [line for line in app.audit.for_registry(rid) if line not in first]
    assert {line["rule"] for line in second} == {"anonymous_pull", "network_rules"}
    assert {line["outcome"] for line in second} <= {"applied", "compliant"}, second
    # One line per decision: each delivery decided each rule once (a redelivery is a new decision).
    for delivery in (first, second):
        rules = [line["rule"] for line in delivery]
        assert sorted(rules) == ["anonymous_pull", "network_rules"], delivery
    adversarial(
        11,
        f"Event Grid delivery cut at 30 s: the PATCH {'is throttled (429, Retry-After 10 s)' if cut == 'throttled' else 'operation keeps running (polls every 10 s)'}",
        f"handler stops after {spent:g} s (deadline {budget.EVENT_DEADLINE_S:g} s), audits one `failed` line per rule and "
        f"raises; the redelivery converges ({', '.join(sorted(line['outcome'] for line in second))}); one line per decision",
        round=3,
    )


def test_the_timers_sweep_stops_before_the_hosts_function_timeout(emu, monkeypatch, tmp_path):
    """Three registries whose PATCH ARM keeps throttling (Retry-After 200 s), swept one at a time
    with the largest retry budget host.json allows: every registry gets its one `failed` line and
    the invocation ends before functionTimeout (10 min). Before, each registry had its own 595 s
    budget, so the host killed the sweep mid-write with registries never audited."""
    (policy := tmp_path / "policies.yaml").write_text(POLICY)
    rids = [drifting_registry(emu, f"sweepregistry{i}") for i in range(3)]
    emu.inject(method="PATCH", status=429, retry_after=200, times=None)
    host = json.loads((ROOT / "host.json").read_text())["functionTimeout"]
    assert host == "00:10:00"
    with function_app_env(
        monkeypatch, policy, ACRGUARD_RETRY_BUDGET_S="595", ACRGUARD_SWEEP_CONCURRENCY="1"
    ) as app:
        clock = _on_simulated_time(app)
        started = clock.now
        with pytest.raises(TransientArmError):
            app.reconcile(None)
        spent = clock.now - started
    assert spent <= 600 - budget.MARGIN_S, f"the sweep ran {spent:g} s of simulated time"
    for rid in rids:
        lines = app.audit.for_registry(rid)
        assert sorted((line["rule"], line["outcome"]) for line in lines) == [
            ("anonymous_pull", "failed"),
            ("network_rules", "failed"),
        ], rid
    adversarial(
        11,
        "timer sweep of 3 registries whose PATCH is throttled 200 s at a time, retry budget 595 s",
        f"all 3 audited `failed` within {spent:g} s of simulated time (functionTimeout 600 s less a "
        f"{budget.MARGIN_S:g} s margin); before, 3,000 s: the host would kill it mid-write",
        round=3,
    )


def test_a_retry_budget_past_the_hosts_function_timeout_is_refused(monkeypatch):
    """ACRGUARD_RETRY_BUDGET_S=3600 in the Function App (host.json's functionTimeout 00:10:00):
    refused with the setting, the bound and where it comes from. It used to be accepted, so the
    host could stop an invocation in the middle of a write, before its audit line."""
    monkeypatch.setenv("ACRGUARD_RETRY_BUDGET_S", "3600")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    ((name, reason),) = raised.value.problems
    assert name == "ACRGUARD_RETRY_BUDGET_S"
    assert "at most 595 seconds" in reason and "functionTimeout is 00:10:00" in reason
    assert str(ROOT / "host.json") in reason and "'3600'" in reason
    monkeypatch.setenv("ACRGUARD_RETRY_BUDGET_S", "595")
    assert Settings.from_env().retry_budget_s == 595
    adversarial(
        11,
        "ACRGUARD_RETRY_BUDGET_S=3600 with host.json's functionTimeout 00:10:00",
        "refused: the error names the setting, the 595 s bound and host.json's functionTimeout",
        round=3,
    )


def test_a_settle_wait_that_cannot_fit_in_a_delivery_is_refused(monkeypatch):
    """ACRGUARD_SETTLE_S=30 could never be waited out within one Event Grid delivery: refused."""
    monkeypatch.setenv("ACRGUARD_SETTLE_S", "30")
    with pytest.raises(SettingsError) as raised:
        Settings.from_env()
    assert raised.value.problems == [
        ("ACRGUARD_SETTLE_S", "must be a number of seconds from 0 to 20, got '30'")
    ]


def test_without_a_host_json_only_the_static_range_applies(tmp_path):
    """The CLI installed from a wheel has no host.json and no host to cut it: 3,600 s is accepted
    there, and a host.json with no limit ("-1") bounds nothing either."""
    site = tmp_path / "site-packages"
    for package in ("acrguard", "remediators"):
        shutil.copytree(ROOT / package, site / package, ignore=shutil.ignore_patterns("__pycache__"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACRGUARD_", "PYTHON"))}
    program = "from acrguard.settings import Settings; print(Settings.from_env().retry_budget_s)"
    env.update(PYTHONPATH=str(site), ACRGUARD_RETRY_BUDGET_S="3600")
    run = subprocess.run(
        [sys.executable, "-c", program], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and run.stdout.strip() == "3600.0", run.stderr
    (unlimited := tmp_path / "host.json").write_text('{"version": "2.0", "functionTimeout": "-1"}')
    assert budget.function_timeout(unlimited).seconds is None
    (odd := tmp_path / "odd" / "host.json").parent.mkdir()
    odd.write_text('{"functionTimeout": "ten minutes"}')
    with pytest.raises(ValueError, match="functionTimeout must be a TimeSpan"):
        budget.function_timeout(odd)
    assert budget.function_timeout(tmp_path / "none.json") is None
    (days := tmp_path / "days.json").write_text('{"functionTimeout": "1.02:00:30"}')
    assert budget.function_timeout(days).seconds == 86400 + 7200 + 30


def test_a_request_in_flight_at_the_deadline_is_abandoned_there(emu):
    """ARM answers a GET only after 2 s, with 0.7 s left of the delivery: the request's read timeout
    is capped at what is left (not ACRGUARD_HTTP_TIMEOUT_S, 20 s), so the handler gives up at its
    deadline and raises for redelivery instead of answering Event Grid late."""
    rid = drifting_registry(emu, "slowregistry")
    h = make_harness(http_timeout_s=20, max_attempts=1)
    # Simulated time: the 0.7 s stay 0.7 s however long a loaded machine takes to get the token,
    # so the request is sent and its read timeout (0.7 s, real) meets the 2 s delay.
    clock = h.engine.arm.clock = SimulatedClock()
    emu.inject(method="GET", resource_id=rid, delay=2, times=1)
    with budget.within(clock, 0.7, "a test's 0.7 s"), pytest.raises(TransientArmError, match="timed out"):
        h.engine.arm.get(RegistryRef.parse(rid))
    emu.drain(timeout=10)  # the delayed answer, sent to nobody


def test_a_resource_graph_query_in_flight_at_the_deadline_is_abandoned_there(emu):
    """Resource Graph answers only after 2 s, with 0.7 s left of the invocation: the query's read
    timeout is capped at what is left, as ARM's requests are (not ACRGUARD_HTTP_TIMEOUT_S, 20 s),
    so the sweep gives up at its deadline instead of running past the host's functionTimeout."""
    from acrguard.azure.resource_graph import ResourceGraph
    from acrguard.engine import pushdown

    drifting_registry(emu, "slowgraph")
    h = make_harness(http_timeout_s=20, max_attempts=1)
    clock = h.engine.arm.clock = SimulatedClock()  # as above: 0.7 s left, whatever the load
    graph = ResourceGraph(h.engine.arm)
    emu.inject(route="resourcegraph", delay=2, times=1)
    with budget.within(clock, 0.7, "a test's 0.7 s"), pytest.raises(TransientArmError, match="timed out"):
        list(graph.rows(pushdown.query(h.engine.policy)))
    emu.drain(timeout=10)  # the delayed answer, sent to nobody
    adversarial(
        11,
        "Resource Graph answers a sweep's query 2 s late with 0.7 s of the invocation left",
        "the query's read timeout was capped at the deadline: abandoned there, raised (transient)",
        round=3,
    )
