"""Notification sinks in detail, in process (fast): the engine the Function App builds, against the
emulator; webhooks against a local HTTP server; the real EventGridPublisherClient against the
emulator's Event Grid topic. tests/notify/test_notify.py covers the same through the CLI."""

from __future__ import annotations

import json
import logging
import math
import time
from email.utils import formatdate

import pytest
from engine_helpers import POLICY, SimulatedClock, rid, write_event
from webhook_receiver import WebhookReceiver

from acrguard.audit import AuditRecord
from acrguard.notify import Notifier
from acrguard.notify.notifier import MAX_RETRY_AFTER_S
from acrguard.notify.sinks import EventGridSink, WebhookSink
from acrguard.run_mode import RunMode, run_mode
from acrguard.runtime import build_engine
from acrguard.settings import Settings
from emulator.seeds import generate

PROD, LOCKED, STD = rid("contosoprod"), rid("contosolocked"), rid("contosostd")


@pytest.fixture
def webhook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def engine_for(tmp_path, monkeypatch):
    """``engine_for(notify_yaml, mode=None)``: the engine the Function App builds, from a policy file."""

    def make(notify: str, mode: str | None = None):
        path = tmp_path / "policies.yaml"
        path.write_text(POLICY + notify, encoding="utf-8")
        monkeypatch.setenv("ACRGUARD_POLICY_FILE", str(path))
        return build_engine(Settings.from_env(), run_mode(None, option=mode))

    return make


def notify_failed_lines(caplog) -> list[dict]:
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "acrguard.audit"]
    return [line for line in lines if line.get("outcome") == "notify_failed"]


def test_json_webhook_gets_each_event_s_decisions_in_one_request_on_the_event_path(
    seeded, engine_for, webhook
):
    """One request per event, sent after the registry's lock is released and
    before handle() returns."""
    engine = engine_for(f"notify:\n  webhooks: [{{url: '{webhook.url()}', format: json}}]\n")
    engine.handle(write_event(PROD))
    engine.handle(write_event(LOCKED))  # compliant: not news, nothing sent
    bodies = webhook.bodies()
    assert len(bodies) == 1  # both applied rules of the one event, sent before handle() returned
    assert {b["schema"] for b in bodies} == {"acrguard/notification/v1"}
    records = [r for b in bodies for r in b["records"]]
    assert sorted(r["rule"] for r in records) == ["anonymous_pull", "network_rules"]
    pull = next(r for r in records if r["rule"] == "anonymous_pull")
    assert pull["outcome"] == "applied" and pull["registry"] == PROD
    assert pull["before"] == {"anonymousPullEnabled": True} and pull["after"] == {
        "anonymousPullEnabled": False
    }
    assert pull["caller"]["upn"] == "dev@contoso.example"
    assert "acrguard: exempt" in bodies[0]["exempt_hint"]


def test_teams_and_slack_messages_say_what_where_who_and_how_to_exempt(seeded, engine_for, webhook):
    engine = engine_for(
        "notify:\n  webhooks:\n"
        f"    - {{url: '{webhook.url('/teams')}', format: teams}}\n"
        f"    - {{url: '{webhook.url('/slack')}', format: slack}}\n",
        mode="dry-run",
    )
    engine.handle(write_event(STD))  # Standard: anonymous pull planned, network rules unsupported
    [teams] = webhook.bodies("/teams")
    [slack] = webhook.bodies("/slack")

    attachment = teams["attachments"][0]
    assert teams["type"] == "message"
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    text = json.dumps(card)
    assert card["body"][0]["text"] == "ACR Guard: 1 planned on 1 registry"
    facts = {f["title"]: f["value"] for f in card["body"][1]["items"][1]["facts"]}
    assert facts["Registry"] == STD
    assert facts["Change"] == "anonymousPullEnabled: true → false"
    assert facts["Caused by"] == "dev@contoso.example (app 04b07795-8ddb-461a-bbee-02f9e1bf7b46)"
    assert facts["Mode"] == "dry-run"
    assert "tag it acrguard: exempt" in text and "exempt.registries" in text

    assert slack["text"] == "ACR Guard: 1 planned on 1 registry"
    kinds = [b["type"] for b in slack["blocks"]]
    assert kinds == ["header", "section", "context"]
    section = slack["blocks"][1]["text"]["text"]
    assert "*Would change (dry-run)* `anonymous_pull` on `contosostd`" in section
    assert "`anonymousPullEnabled`: `true` → `false`" in section and "`dev@contoso.example`" in section
    assert "`acrguard: exempt`" in slack["blocks"][2]["elements"][0]["text"]
    assert seeded.counters.total_writes == 0


def test_failing_webhook_is_retried_then_logged_and_the_fix_stands(seeded, engine_for, webhook, caplog):
    webhook.answer(*[500] * 10)
    engine = engine_for(f"notify:\n  webhooks: [{{url: '{webhook.url('/T000/B000/secret-token')}'}}]\n")
    caplog.set_level(logging.INFO, logger="acrguard.audit")
    engine.handle(write_event(STD))
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is False  # remediation stands
    assert len(webhook.received) == 3  # one record, three attempts
    [failed] = notify_failed_lines(caplog)
    assert failed["attempts"] == 3 and failed["records"] == 1 and failed["registry"] == STD
    assert failed["reason"].startswith("HTTP 500")
    assert failed["sink"].startswith("webhook(json) http://127.0.0.1:")
    assert "secret-token" not in caplog.text  # the URL's path (a Teams/Slack token) is never logged
    applied = [json.loads(r.getMessage()) for r in caplog.records if '"outcome":"applied"' in r.getMessage()]
    assert [a["rule"] for a in applied] == ["anonymous_pull"]


def test_client_errors_are_not_retried_and_a_recovering_webhook_is(seeded, engine_for, webhook, caplog):
    engine = engine_for(f"notify:\n  webhooks: [{{url: '{webhook.url()}'}}]\n", mode="dry-run")
    caplog.set_level(logging.INFO, logger="acrguard.audit")
    webhook.answer(400)
    engine.handle(write_event(STD))
    assert len(webhook.received) == 1 and len(notify_failed_lines(caplog)) == 1
    webhook.answer(503, 200)
    engine.handle(write_event(STD))
    assert len(webhook.received) == 3 and len(notify_failed_lines(caplog)) == 1


def test_a_large_sweep_sends_one_request_per_chunk_per_sink(emu, engine_for, webhook, monkeypatch):
    estate = generate(subscriptions=1, per_subscription=450, drift_ratio=1.0)
    emu.seed(estate)
    monkeypatch.setenv("TEST_TOPIC_KEY", emu.topic_key)
    engine = engine_for(
        f"notify:\n  webhooks: [{{url: '{webhook.url()}', format: slack}}]\n"
        f"  eventgrid: [{{endpoint: '{emu.topic_endpoint}', key_setting: TEST_TOPIC_KEY}}]\n",
        mode="dry-run",
    )
    summary = engine.reconcile(estate["meta"]["subscriptions"])
    news = [r for result in summary.results for r in result.records if r.outcome in ("planned", "flagged")]
    assert len(news) >= 450
    assert len(webhook.received) == math.ceil(len(news) / 200)  # not one call per decision
    assert emu.counters.topic_requests == math.ceil(len(news) / 500)
    assert len(emu.topic_events) == len(news)
    first = webhook.bodies()[0]
    assert first["text"].startswith("ACR Guard: ") and "…and 190 more" in json.dumps(
        first, ensure_ascii=False
    )


def test_eventgrid_topic_receives_cloudevents_with_the_audit_record(seeded, engine_for, monkeypatch):
    monkeypatch.setenv("NOTIFY_TOPIC_KEY", seeded.topic_key)
    engine = engine_for(
        f"notify:\n  eventgrid: [{{endpoint: '{seeded.topic_endpoint}', key_setting: NOTIFY_TOPIC_KEY}}]\n"
    )
    engine.handle(write_event(PROD))
    events = seeded.topic_events
    assert len(events) == 2 and seeded.counters.topic_requests == 1  # one publish per event
    assert {e["type"] for e in events} == {"ACRGuard.RemediationApplied"}
    assert {e["source"] for e in events} == {"/acrguard"}
    assert {e["subject"] for e in events} == {PROD}
    assert all(e["specversion"] == "1.0" and e["id"] for e in events)
    data = {e["data"]["rule"]: e["data"] for e in events}
    assert data["anonymous_pull"]["outcome"] == "applied"
    assert data["anonymous_pull"]["after"] == {"anonymousPullEnabled": False}
    assert data["network_rules"]["caller"]["upn"] == "dev@contoso.example"


def test_eventgrid_from_settings_uses_the_identity_and_reports_failures_when_asked(
    seeded, engine_for, monkeypatch
):
    monkeypatch.setenv("ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT", seeded.topic_endpoint)
    monkeypatch.setenv("ACRGUARD_NOTIFY_ON_FAILED", "true")
    seeded.inject(method="PATCH", resource_id=STD, status=400, times=None)
    engine = engine_for("", mode=None)
    engine.handle(write_event(STD))  # enforce: the PATCH is rejected -> failed
    engine.run_mode = RunMode("dry-run", "--dry-run")
    engine.handle(write_event(PROD))  # dry-run: planned
    types = sorted(e["type"] for e in seeded.topic_events)
    assert types == [
        "ACRGuard.RemediationFailed",
        "ACRGuard.RemediationPlanned",
        "ACRGuard.RemediationPlanned",
    ]
    assert seeded.counters.identity_requests >= 1  # a bearer token, not a key


def test_eventgrid_rejected_key_is_not_retried_and_a_503_is(seeded, engine_for, monkeypatch, caplog):
    monkeypatch.setenv("ACRGUARD_NOTIFY_EVENTGRID_ENDPOINT", seeded.topic_endpoint)
    monkeypatch.setenv("ACRGUARD_NOTIFY_EVENTGRID_KEY", "d3Jvbmcta2V5")
    caplog.set_level(logging.INFO, logger="acrguard.audit")
    engine_for("", mode="dry-run").handle(write_event(STD))
    assert seeded.counters.topic_requests == 1 and not seeded.topic_events
    [failed] = notify_failed_lines(caplog)
    assert failed["reason"].startswith("HTTP 401") and failed["sink"].startswith(
        "eventgrid https://127.0.0.1:"
    )

    monkeypatch.setenv("ACRGUARD_NOTIFY_EVENTGRID_KEY", seeded.topic_key)
    seeded.inject(route="topic", status=503, times=2)
    engine_for("", mode="dry-run").handle(write_event(STD))
    assert seeded.counters.topic_requests == 1 + 3
    assert [e["type"] for e in seeded.topic_events] == ["ACRGuard.RemediationPlanned"]
    assert len(notify_failed_lines(caplog)) == 1


def test_a_misconfigured_sink_never_blocks_remediation(seeded, engine_for, caplog):
    caplog.set_level(logging.INFO, logger="acrguard.audit")
    engine = engine_for(
        "notify:\n  eventgrid: [{endpoint: 'https://topic.example/api/events', key_setting: UNSET_TOPIC_KEY}]\n"
    )
    engine.handle(write_event(STD))
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is False
    [failed] = notify_failed_lines(caplog)
    assert failed["attempts"] == 1 and "UNSET_TOPIC_KEY" in failed["reason"]


@pytest.mark.parametrize("sink", ["webhook", "eventgrid"])
def test_a_retry_after_http_date_is_honoured(seeded, webhook, sink):
    """One Retry-After parser (azure-core's). ``Retry-After`` may be an HTTP date
    (RFC 9110); the webhook sink's own parser read only seconds and retried at once."""
    date = {"Retry-After": formatdate(time.time() + 60, usegmt=True)}  # past the cap, whatever the load
    if sink == "webhook":
        webhook.answer(429, headers=date)
        target = WebhookSink(webhook.url())
    else:
        seeded.inject(route="topic", status=429, headers=date)
        target = EventGridSink(seeded.topic_endpoint, seeded.topic_key)
    clock = SimulatedClock()
    notifier = Notifier([target], attempts=2, backoff_s=0, clock=clock)
    notifier(AuditRecord("applied", STD, "anonymous_pull", "test", mode="enforce"))
    assert notifier.delivered == 1 and notifier.given_up == 0
    assert clock.slept == [MAX_RETRY_AFTER_S]  # waited for the date (backoff is 0), up to the cap
