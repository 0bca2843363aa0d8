"""What a chat message says: a finding is not a change, and one decision is told once.

Rendered by the product (the notifier the policy configures, posting to a real local webhook)
from real decisions against the emulator's demo registries.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import ROOT, invoke
from engine_helpers import rid
from webhook_receiver import WebhookReceiver

STD = rid("contosostd")


@pytest.fixture
def hook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def policy_with(tmp_path, hook, fmt: str, mode: str = "enforce"):
    path = tmp_path / "policy.yaml"
    path.write_text(
        f"version: 1\nmode: {mode}\n"
        "rules:\n  anonymous_pull: {enabled: true}\n  firewall_unavailable: {enabled: true}\n"
        f"notify:\n  webhooks: [{{url: '{hook.url('/hook/x')}', format: {fmt}}}]\n"
    )
    return path


def _slack_sections(body: dict) -> dict[str, str]:
    """Each detail section's text, by the rule it names."""
    out = {}
    for block in body["blocks"]:
        text = block.get("text", {}).get("text", "") if block["type"] == "section" else ""
        for rule in ("anonymous_pull", "firewall_unavailable"):
            if f"`{rule}`" in text:
                out[rule] = text
    return out


def _teams_facts(body: dict) -> dict[str, dict[str, str]]:
    card = body["attachments"][0]["content"]
    out = {}
    for container in card["body"][1:]:
        items = container.get("items") or []
        if len(items) == 2:
            rule = next(
                r
                for r in ("anonymous_pull", "firewall_unavailable")
                if r.replace("_", "\\_") in items[0]["text"]
            )
            out[rule] = {f["title"]: f["value"] for f in items[1]["facts"]}
    return out


def test_a_slack_finding_says_what_is_wrong_not_a_change_that_will_never_happen(seeded, hook, tmp_path):
    """A report-only finding (a Standard registry open to the internet, which no write can close)
    shows the state as read and what a person can do; only the write shows a change."""
    result = invoke("check", STD, policy=policy_with(tmp_path, hook, "slack"))
    assert result.returncode == 3, result.stderr
    sections = _slack_sections(hook.bodies()[0])
    finding, fix = sections["firewall_unavailable"], sections["anonymous_pull"]
    assert "*Found:*" in finding and "publicNetworkAccess" in finding and '"Enabled"' in finding
    assert "→" not in finding and "(unset)" not in finding and "*Change:*" not in finding
    assert "*What to do:*" in finding and "<https://learn.microsoft.com/" in finding
    assert "*Change:*" in fix and "→" in fix and "*What to do:*" not in fix


def test_a_teams_finding_says_what_is_wrong_not_a_change_that_will_never_happen(seeded, hook, tmp_path):
    """The same finding in a Teams card: a "Found" fact with the state as read, a "What to do"
    fact with the rule's documentation, and no "Change" fact."""
    result = invoke("check", STD, policy=policy_with(tmp_path, hook, "teams"))
    assert result.returncode == 3, result.stderr
    facts = _teams_facts(hook.bodies()[0])
    finding, fix = facts["firewall_unavailable"], facts["anonymous_pull"]
    assert "Change" not in finding and "→" not in finding["Found"] and "(unset)" not in finding["Found"]
    assert (
        "publicNetworkAccess" in finding["Found"]
        and "](https://learn.microsoft.com/" in finding["What to do"]
    )
    assert "→" in fix["Change"] and "What to do" not in fix


def test_one_event_delivered_twice_in_one_replay_is_told_once(seeded, hook, tmp_path):
    """The same write as an EventGrid and as a CloudEvent in one replay decides the same thing
    twice (dry-run: both plan it); the batch tells each decision once."""
    events = [
        json.loads((ROOT / "examples" / "events" / f"registry-write.{kind}.json").read_text())
        for kind in ("eventgrid", "cloudevent")
    ]
    both = tmp_path / "both.json"
    both.write_text(json.dumps(events))
    result = invoke("replay", str(both), policy=policy_with(tmp_path, hook, "json", mode="dry-run"))
    assert result.returncode == 3, result.stderr
    assert len(hook.received) == 1
    records = hook.bodies()[0]["records"]
    decisions = [(r["registry"], r["rule"], r["outcome"]) for r in records]
    assert decisions and len(decisions) == len(set(decisions)), decisions
    assert hook.bodies()[0]["title"].startswith("ACR Guard: 1 planned on 1 registry")


def test_a_planned_firewall_fix_shows_only_what_it_would_change(seeded, hook, tmp_path):
    """The firewall fix sets the rule set and keeps the trusted-services bypass as it is: the
    message shows the rule set's change, and never "networkRuleBypassOptions: … → (unset)" for a
    property the PATCH would not touch."""
    path = tmp_path / "policy.yaml"
    path.write_text(
        "version: 1\nmode: dry-run\nrules:\n  anonymous_pull: {enabled: false}\n"
        "  network_rules: {enabled: true, allowed_ips: ['20.1.2.0/24']}\n"
        f"notify:\n  webhooks: [{{url: '{hook.url('/hook/x')}', format: slack}}]\n"
    )
    result = invoke("check", rid("contosoprod"), policy=path)
    assert result.returncode == 3, result.stderr
    section = _slack_sections_by_rule(hook.bodies()[0], "network_rules")
    assert "networkRuleSet" in section and "→" in section
    assert "networkRuleBypassOptions" not in section and "(unset)" not in section


def _slack_sections_by_rule(body: dict, rule: str) -> str:
    return next(
        block["text"]["text"]
        for block in body["blocks"]
        if block["type"] == "section" and f"`{rule}`" in block["text"]["text"]
    )
