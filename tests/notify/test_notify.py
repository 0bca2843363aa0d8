"""Notifications: a real local webhook server and the emulator's Event Grid topic (real publisher)."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke, json_out
from engine_helpers import SUB_A, SUB_B, rid
from webhook_receiver import WebhookReceiver

PROD, STD = rid("contosoprod"), rid("contosostd")
SECRET_PATH = "/hook/secret-token"  # Teams and Slack URLs carry their token in the path


@pytest.fixture
def hook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def policy_with(tmp_path, notify: str):
    text = (
        "version: 1\nmode: enforce\nexempt: {tags: {acrguard: exempt}}\n"
        "rules:\n  anonymous_pull: {enabled: true}\n"
        "  network_rules: {enabled: true, allowed_ips: ['20.1.2.0/24']}\n" + notify
    )
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("fmt", ["json", "teams", "slack"])
def test_webhook_tells_a_person_what_changed_who_caused_it_and_how_to_exempt(seeded, hook, tmp_path, fmt):
    policy = policy_with(
        tmp_path, f"notify:\n  webhooks: [{{url: '{hook.url(SECRET_PATH)}', format: {fmt}}}]\n"
    )
    result = invoke("-o", "json", "check", STD, policy=policy)
    assert result.returncode == 3, (
        result.stderr
    )  # 3: the Standard SKU's missing firewall is flagged (firewall_unavailable)
    assert len(hook.received) == 1
    text = json.dumps(hook.bodies()[0])
    assert "contosostd" in text and "anonymous" in text.lower()
    if fmt == "json":
        outcomes = {r["rule"]: r["outcome"] for r in hook.bodies()[0]["records"]}
        assert outcomes["anonymous_pull"] == "applied"
    else:
        assert "exempt" in text  # how to exempt it
        shape = {"teams": ("type", "attachments", "@type"), "slack": ("text", "blocks")}[fmt]
        assert any(key in hook.bodies()[0] for key in shape), hook.bodies()[0].keys()


def test_failing_webhook_never_undoes_or_fails_the_remediation(seeded, hook, tmp_path):
    hook.answer(*[500] * 10)
    policy = policy_with(tmp_path, f"notify:\n  webhooks: [{{url: '{hook.url(SECRET_PATH)}'}}]\n")
    result = invoke("-v", "check", STD, policy=policy)
    assert result.returncode == 3  # the fix stands; 3: firewall_unavailable flags the Standard SKU
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is False
    assert len(hook.received) == 3  # retried, bounded
    assert "notify_failed" in result.stderr
    assert "secret-token" not in result.stderr  # the URL's token is never logged


def test_sweep_batches_notifications(seeded, hook, tmp_path):
    policy = policy_with(tmp_path, f"notify:\n  webhooks: [{{url: '{hook.url(SECRET_PATH)}'}}]\n")
    result = invoke("-o", "json", "sweep", "--subscription", SUB_A, "--subscription", SUB_B, policy=policy)
    assert json_out(result)["summary"]["applied"] == 3
    assert len(hook.received) == 1  # one call for the whole sweep, not one per decision
    assert len(hook.bodies()[0]["records"]) >= 4


def test_event_grid_topic_receives_cloudevents_from_the_real_publisher(seeded, tmp_path):
    policy = policy_with(
        tmp_path,
        f"notify:\n  eventgrid: [{{endpoint: '{seeded.topic_endpoint}', key_setting: ACRGUARD_TEST_TOPIC_KEY}}]\n",
    )
    result = invoke("check", PROD, "--dry-run", policy=policy, ACRGUARD_TEST_TOPIC_KEY=seeded.topic_key)
    assert result.returncode == 3, result.stderr
    events = seeded.topic_events
    assert {e["type"] for e in events} == {"ACRGuard.RemediationPlanned"}
    assert {e["data"]["rule"] for e in events} == {"anonymous_pull", "network_rules"}
    assert all(e["specversion"] == "1.0" and e["subject"].lower() == PROD.lower() for e in events)


def test_event_grid_wrong_key_is_notify_failed_not_a_failure(seeded, tmp_path):
    policy = policy_with(
        tmp_path,
        f"notify:\n  eventgrid: [{{endpoint: '{seeded.topic_endpoint}', key_setting: ACRGUARD_TEST_TOPIC_KEY}}]\n",
    )
    result = invoke("-v", "check", STD, policy=policy, ACRGUARD_TEST_TOPIC_KEY="wrong")
    assert result.returncode == 3  # 3: the Standard SKU's missing firewall is flagged (firewall_unavailable)
    assert "notify_failed" in result.stderr and seeded.topic_events == []
