"""``acrguard history``: a registry's decisions, newest first, from the local audit file the CLI
appends to (ACRGUARD_AUDIT_FILE); bad input is a usage error that names the option."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import flat, invoke, json_out
from engine_helpers import rid

PROD = rid("contosoprod")


def test_a_fix_made_by_check_is_in_the_history_with_its_before_after_and_time(seeded, tmp_path):
    trail = tmp_path / "audit.jsonl"
    fixed = invoke("-o", "json", "check", PROD, ACRGUARD_AUDIT_FILE=str(trail))
    assert fixed.returncode in (0, 3), fixed.stderr
    again = invoke("-o", "json", "check", PROD, ACRGUARD_AUDIT_FILE=str(trail))  # now compliant
    assert again.returncode in (0, 3), again.stderr

    shown = invoke("-o", "json", "history", PROD.upper(), ACRGUARD_AUDIT_FILE=str(trail))
    assert shown.returncode == 0, shown.stderr
    found = json_out(shown)["results"]
    applied = [d for d in found if d["outcome"] == "applied" and d["rule"] == "anonymous_pull"]
    assert len(applied) == 1, found
    assert applied[0]["before"] == {"anonymousPullEnabled": True}
    assert applied[0]["after"] == {"anonymousPullEnabled": False}
    times = [datetime.fromisoformat(d["time"].replace("Z", "+00:00")) for d in found]
    assert times == sorted(times, reverse=True)  # newest first
    pull = [d["outcome"] for d in found if d["rule"] == "anonymous_pull"]
    assert pull == ["compliant", "applied"]  # the second check's verdict comes first

    by_name = json_out(invoke("-o", "json", "history", "ContosoProd", ACRGUARD_AUDIT_FILE=str(trail)))
    assert by_name["results"] == found  # a bare name matches the registry's last ID segment
    one_rule = json_out(
        invoke(
            "-o", "json", "history", PROD, "--rule", "firewall_unavailable", ACRGUARD_AUDIT_FILE=str(trail)
        )
    )
    assert one_rule["results"] and {d["rule"] for d in one_rule["results"]} == {"firewall_unavailable"}
    table = invoke("history", PROD, ACRGUARD_AUDIT_FILE=str(trail))
    assert "anonymous_pull" in table.stdout and "applied" in table.stdout


def _line(
    when: datetime, outcome: str = "applied", registry: str = PROD, rule: str = "anonymous_pull"
) -> str:
    record = {"time": when.isoformat().replace("+00:00", "Z"), "outcome": outcome, "registry": registry}
    return json.dumps({**record, "rule": rule, "reason": "r"}) + "\n"


def test_since_keeps_only_the_window_and_a_damaged_line_is_skipped_not_fatal(emu, tmp_path):
    now = datetime.now(UTC)
    trail = tmp_path / "audit.jsonl"
    trail.write_text(
        _line(now - timedelta(hours=5), "applied")
        + _line(now - timedelta(hours=1), "compliant")
        + '{"time": "2026-12-01T00:00:00Z", "outcome": "app'  # cut short by a crash
        + "\n"
        + _line(now - timedelta(minutes=5), "planned", rid("other"))
    )
    recent = json_out(invoke("-o", "json", "history", PROD, "--since", "2h", ACRGUARD_AUDIT_FILE=str(trail)))
    assert [d["outcome"] for d in recent["results"]] == ["compliant"]
    week = invoke("-o", "json", "history", PROD, ACRGUARD_AUDIT_FILE=str(trail))
    assert [d["outcome"] for d in json_out(week)["results"]] == ["compliant", "applied"]
    assert "skipped 1 line(s) that are not audit records" in week.stderr


@pytest.mark.parametrize(
    ("args", "option", "says"),
    [
        (["--since", "7x"], "--since", "30m, 4h, 7d, 2w"),
        (["--since", "0d"], "--since", "positive"),
        (["--since", "1000d"], "--since", "at most 730d"),
        (["--rule", "anonymous-pull"], "--rule", "no rule called 'anonymous-pull'"),
    ],
)
def test_bad_options_are_usage_errors_naming_the_option(emu, tmp_path, args, option, says):
    trail = tmp_path / "audit.jsonl"
    trail.write_text("")
    result = invoke("history", PROD, *args, ACRGUARD_AUDIT_FILE=str(trail))
    assert result.returncode == 2, result.stdout
    assert option in flat(result.stderr) and says in flat(result.stderr)


def test_a_registry_that_is_neither_an_id_nor_a_name_is_a_usage_error(emu, tmp_path):
    result = invoke("history", "/subscriptions/x/oops", ACRGUARD_AUDIT_FILE=str(tmp_path / "a.jsonl"))
    assert result.returncode == 2 and "REGISTRY" in flat(result.stderr)


def test_without_a_workspace_or_an_audit_file_history_says_where_it_could_read(emu):
    result = invoke("-o", "json", "history", PROD, ACRGUARD_AUDIT_FILE=None, ACRGUARD_HISTORY_WORKSPACE=None)
    assert result.returncode == 1
    message = json_out(result)["errors"][0]["message"]
    assert "--workspace" in message and "ACRGUARD_AUDIT_FILE" in message
