"""The CLI's contract for scripts and CI: exit codes, errors without tracebacks, and ARM call costs.
Each test runs the CLI in process against the emulator (tests/cli_helpers.invoke)."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke, json_out
from engine_helpers import EVENT_SAMPLES

from emulator.seeds import generate

SAMPLES = EVENT_SAMPLES


def test_a_malformed_event_in_valid_json_names_the_file_and_event_and_replays_nothing(emu, tmp_path):
    good = json.loads((SAMPLES / "registry-write.eventgrid.json").read_text())
    events = tmp_path / "mixed-events.json"
    events.write_text(json.dumps([good, {"subject": "no id, no type"}]))
    result = invoke("-o", "json", "replay", str(events))
    assert result.returncode == 1
    [line] = result.stderr.strip().splitlines()
    assert "mixed-events.json: event #1 is malformed: event is missing required field(s): id, type" in line
    error = json_out(result)["errors"][0]
    assert error["input"] == str(events) and error["message"].startswith("event #1")
    assert emu.requests == []  # every input is checked before any ARM call


def test_usage_errors_exit_2(emu):
    for args in (
        ["replay", "--delete-replayed", str(SAMPLES / "dead-letter-blob.json")],  # needs --dead-letter
        ["check", "not-a-resource-id"],
        ["--mode", "sometimes", "sweep"],
    ):
        result = invoke(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_an_invalid_policy_stops_every_command_with_file_key_path_and_reason(emu, tmp_path):
    bad = tmp_path / "typo-policy.yaml"
    bad.write_text("version: 1\nrulez: {}\n")
    result = invoke(
        "sweep", "--dry-run", "--subscription", "00000000-0000-0000-0000-00000000aaaa", policy=bad
    )
    assert result.returncode == 1
    assert f"{bad}: rulez: unknown key" in result.stderr and "Traceback" not in result.stderr
    assert emu.requests == []


def test_validate_checks_notification_endpoints_too(emu, tmp_path):
    policy = tmp_path / "notify-policy.yaml"
    policy.write_text(
        "version: 1\nnotify:\n  webhooks: [{url: 'http://chat.example/hook'}]\n"
        "  eventgrid: [{endpoint: 'https://topic.example/api/events', key_setting: 'not a name'}]\n"
    )
    result = invoke("-o", "json", "validate", str(policy))
    assert result.returncode == 1
    problems = {(p["path"], p["reason"]) for p in json_out(result)["results"][0]["problems"]}
    assert problems == {
        ("notify.webhooks[0].url", "must use https:// (http:// is accepted for localhost only)"),
        ("notify.eventgrid[0].key_setting", "must be the name of an app setting (A-Z, 0-9, _)"),
    }


@pytest.mark.parametrize("dry_run", [True, False], ids=["dry-run", "enforce"])
def test_a_1000_registry_sweep_costs_list_pages_plus_one_read_and_write_per_drifted_registry(emu, dry_run):
    estate = generate(subscriptions=1, per_subscription=1000, drift_ratio=0.01)
    emu.seed(estate)
    drifted = {rid.lower() for rid in estate["meta"]["drifted"]}
    args = ["-o", "json", "sweep", "--subscription", estate["meta"]["subscriptions"][0]]
    result = invoke(*args, *(["--dry-run"] if dry_run else []))
    summary = json_out(result)["summary"]
    assert summary["registries"] == 1000
    assert len(emu.requests_for(method="GET", route="list")) == 10  # 100 registries per page
    gets = {r.resource_id.lower() for r in emu.requests_for(method="GET", route="registry")}
    patches = {r.resource_id.lower() for r in emu.requests_for(method="PATCH")}
    if dry_run:
        assert result.returncode == 3 and summary["planned"] == len(drifted)
        assert gets == set() and patches == set()
    else:
        # 3: the estate's Basic/Standard registries are flagged (no firewall on their SKU)
        assert result.returncode == 3 and summary["applied"] == len(drifted)
        # A fresh read only before a write (a list page may be stale); compliant ones: no GET.
        assert gets == drifted and patches == drifted
        assert len(emu.requests_for(method="GET", route="registry")) == len(drifted)
