"""Batching belongs to the call that opened it: a sweep holds its own notifications (its worker
threads' included) and no one else's. The timer's sweep and the event path share one engine, so a
process-wide batch made an event's notification wait for the sweep to end (or be lost with it)."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from engine_helpers import SUB_A, make_harness, rid, write_event
from reliability import adversarial
from webhook_receiver import WebhookReceiver

from acrguard.engine import Summary, graph_sweep
from acrguard.notify import notifier_for

PROD, STD = rid("contosoprod"), rid("contosostd")
APPS = rid("contosoapps", "00000000-0000-0000-0000-00000000bbbb", "rg-apps")


@pytest.fixture
def hook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def registries(body: dict[str, Any]) -> set[str]:
    return {record["registry"].lower() for record in body["records"]}


SWEEPS = {
    "list": lambda engine: engine.reconcile([SUB_A], concurrency=2),
    "resource-graph": lambda engine: graph_sweep.sweep(engine, subscriptions=[SUB_A], concurrency=2),
}


@pytest.mark.parametrize("source", SWEEPS)
def test_an_event_is_notified_at_once_while_a_sweep_is_running(seeded, hook, source):
    """A sweep of one subscription (from list pages, or Resource Graph's rows) is writing (its PATCH of contosoprod held by the test) when an
    event for a registry of another subscription is handled on another thread: the event's
    notification reaches the webhook before the sweep ends, and the sweep's notifications (decided
    on its worker threads) still leave together, in one request, when it ends."""
    writing, release = threading.Event(), threading.Event()

    def held_patch() -> float:  # the emulator waits here before answering the sweep's PATCH
        writing.set()
        release.wait(60)
        return 0.0

    seeded.inject(method="PATCH", resource_id=PROD, delay=held_patch)
    harness = make_harness(settle_s=0, notify_webhook_url=hook.url())
    engine = harness.engine
    engine.audit.add_listener(notifier_for(engine.policy, engine.arm.settings))
    std_decided = threading.Event()  # after the notifier has seen contosostd's record
    engine.audit.add_listener(lambda r: std_decided.set() if r.registry == STD and r.rule else None)
    swept: list[Summary] = []
    sweep = threading.Thread(target=lambda: swept.append(SWEEPS[source](engine)))
    sweep.start()
    try:
        assert writing.wait(30) and std_decided.wait(30)  # mid-sweep: one decided, one writing
        engine.handle(write_event(APPS))
        during = hook.bodies()
    finally:
        release.set()
        sweep.join(60)
    assert [registries(body) for body in during] == [{APPS.lower()}]
    after = hook.bodies()[len(during) :]
    assert [registries(body) for body in after] == [{PROD.lower(), STD.lower()}]
    assert swept and swept[0].counts["applied"] == 2
    assert swept[0].details.get("source", "list") == source
    adversarial(
        4,
        f"an event handled while the timer's sweep ({source}) is mid-write on another thread",
        f"the event's notification left before the sweep ended ({len(during)} request); the sweep's "
        f"{sum(len(b['records']) for b in after)} records left in {len(after)} request at its end",
        round=3,
    )
