"""``acrguard exempt``: a break-glass exemption written as tags (one PATCH of tags only), audited
with the caller and notified; its dry run, its bad input, and ``--list``. The CLI runs in process
against the emulator with the real SDK; what was written is read from the emulator's request log.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from cli_helpers import flat, invoke, json_out, writes
from engine_helpers import POLICY, SUB_A, make_harness, rid
from webhook_receiver import WebhookReceiver

from acrguard.policy.exemption import format_time

EXEMPT = "  max_days: 7\n  require_reason: true\n"
HOOK_PATH = "/hook/s3cr3t-path-part?sig=s3cr3t-query-part"


def policy_text(extra: str = "", notify: str = "") -> str:
    return POLICY.replace("exempt:\n", f"exempt:\n{EXEMPT}{extra}") + notify


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text(policy_text(), encoding="utf-8")
    return path


def registry(emu, name: str, tags: dict[str, str] | None = None, open_: bool = False) -> str:
    return emu.add_registry(
        subscription=SUB_A,
        resource_group="rg-platform",
        name=name,
        sku="Standard",
        tags=tags or {},
        properties={"anonymousPullEnabled": open_},
    )


def patches(emu) -> list:
    return [r for r in writes(emu) if r.method == "PATCH"]


def test_exempt_writes_the_tags_alone_keeps_the_others_and_audits_the_caller(emu, policy):
    """One PATCH whose body is ``{"tags": ...}`` and nothing else (no property is sent), holding
    every tag the registry had; the record names the caller as ARM recorded the write."""
    target = registry(emu, "breakglass", tags={"team": "platform", "acrguard-exempt-rules": "old"})
    started = time.time()
    result = invoke(
        "exempt", target, "--for", "4h", "--reason", "INC-7: edge pulls", "-o", "json", policy=policy
    )
    assert result.returncode == 0, result.stderr
    [patch] = patches(emu)
    until = json_out(result)["results"][0]["until"]
    assert patch.body == {
        "tags": {
            "team": "platform",
            "acrguard": "exempt",
            "acrguard-exempt-until": until,
            "acrguard-exempt-reason": "INC-7: edge pulls",
        }
    }  # the old rules tag is gone: this exemption covers every rule
    ends = datetime.fromisoformat(until).timestamp()
    assert started + 4 * 3600 - 1 <= ends <= time.time() + 4 * 3600
    record = json_out(result)["results"][0]["record"]
    assert (record["outcome"], record["exemption"], record["exempt_until"]) == ("applied", "active", until)
    assert record["exempt_reason"] == "INC-7: edge pulls" and record["source"] == "cli"
    assert record["caller"] == {"appid": patch.principal.app_id, "principal_type": "ManagedIdentity"}
    assert emu.get_registry(target)["properties"]["anonymousPullEnabled"] is False  # untouched


def test_exempt_for_one_rule_writes_the_rules_tag(emu, policy):
    target = registry(emu, "onerulecli")
    result = invoke(
        "exempt", target, "--for", "30m", "--reason", "r", "--rule", "anonymous_pull", policy=policy
    )
    assert result.returncode == 0, result.stderr
    [patch] = patches(emu)
    assert patch.body["tags"]["acrguard-exempt-rules"] == "anonymous_pull"
    assert "acrguard-exempt-rules: anonymous_pull" in result.stdout


def test_exempt_dry_run_shows_the_tags_and_writes_nothing(emu, policy):
    target = registry(emu, "dryexempt")
    result = invoke("exempt", target, "--for", "2d", "--reason", "INC-8", "--dry-run", policy=policy)
    assert result.returncode == 0, result.stderr
    assert not writes(emu)
    assert "would write (dry run, nothing written)" in result.stdout
    assert "acrguard-exempt-reason: INC-8" in result.stdout
    assert "acrguard: exempt" in result.stdout


@pytest.mark.parametrize("how", ["--dry-run", "ACRGUARD_MODE", "policy"])
def test_exempt_never_writes_in_any_dry_run(emu, tmp_path, how):
    """A dry run from any source (the flag, the setting, the policy's mode) writes nothing."""
    path = tmp_path / "policies.yaml"
    mode = "mode: dry-run" if how == "policy" else "mode: enforce"
    path.write_text(policy_text().replace("mode: enforce", mode))
    target = registry(emu, "drysources")
    args = ["--dry-run"] if how == "--dry-run" else []
    env = {"ACRGUARD_MODE": "dry-run"} if how == "ACRGUARD_MODE" else {}
    result = invoke("exempt", target, "--for", "1h", "--reason", "r", "-o", "json", *args, policy=path, **env)
    assert result.returncode == 0, result.stderr
    assert not writes(emu)
    assert json_out(result)["results"][0]["record"]["outcome"] == "planned"


@pytest.mark.parametrize("duration", ["4 hours", "4w", "h", "0h", "-1h", "1.5h", ""])
def test_a_bad_duration_is_a_usage_error(emu, policy, duration):
    target = registry(emu, "badfor")
    result = invoke("exempt", target, "--for", duration, "--reason", "r", policy=policy)
    assert result.returncode == 2
    assert "--for" in flat(result.stderr) and ("duration" in result.stderr or "no time" in result.stderr)
    assert not writes(emu)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--for", "4h"], "say why"),
        (["--for", "4h", "--reason", "  "], "say why"),
        (["--reason", "r"], "how long?"),
        (["--for", "8d", "--reason", "r"], "longer than the policy's exempt.max_days (7 days)"),
        (
            ["--for", "4h", "--reason", "r", "--rule", "anonymous_pul"],
            "unknown rule 'anonymous_pul'; did you mean anonymous_pull?",
        ),
        (["--for", "4h", "--reason", "x" * 257], "a tag value holds at most 256"),
    ],
    ids=["no-reason", "blank-reason", "no-duration", "past-max-days", "unknown-rule", "long-reason"],
)
def test_bad_input_is_a_usage_error_and_writes_nothing(emu, policy, args, words):
    target = registry(emu, "badinput")
    result = invoke("exempt", target, *args, policy=policy)
    assert result.returncode == 2, result.stdout
    assert words in flat(result.stderr)
    assert not writes(emu)


def test_the_exemption_is_notified_without_a_secret(emu, tmp_path):
    """The notification carries the exemption (until, reason, caller); never the webhook's path or
    query (where its secret lives) nor the identity's token."""
    with WebhookReceiver().running() as hook:
        path = tmp_path / "policies.yaml"
        path.write_text(policy_text(notify=f"notify:\n  webhooks: [{{url: '{hook.url(HOOK_PATH)}'}}]\n"))
        target = registry(emu, "notifyme")
        result = invoke("exempt", target, "--for", "1h", "--reason", "INC-9", policy=path)
        assert result.returncode == 0, result.stderr
        [body] = hook.bodies()
    [told] = body["records"]
    assert (told["registry"], told["outcome"], told["exempt_reason"]) == (target, "applied", "INC-9")
    assert told["exempt_until"] and told["caller"]["appid"]
    text = json.dumps(body) + result.stdout + result.stderr
    from azure.identity import ManagedIdentityCredential

    token = ManagedIdentityCredential().get_token("https://management.azure.com/.default").token
    for secret in ("s3cr3t-path-part", "s3cr3t-query-part", token):
        assert secret not in text


def test_the_guard_does_not_revert_or_loop_on_the_exemption_it_is_told_of(emu, policy):
    """The tag PATCH is an ARM write event like any other: the engine reads the registry, finds it
    exempt, and writes nothing (an open registry is told to a person, not closed): one write in
    all, the CLI's, and the registry left open."""
    target = registry(emu, "noloop", open_=True)
    harness = make_harness(policy_text())
    emu.add_sink(harness.engine.handle)
    result = invoke("exempt", target, "--for", "4h", "--reason", "INC-10", policy=policy)
    assert result.returncode == 0, result.stderr
    emu.drain()
    assert len(writes(emu)) == 1 and set(patches(emu)[0].body) == {"tags"}
    decided = {r.rule: (r.outcome, r.exemption) for r in harness.records if r.registry == target}
    assert decided["anonymous_pull"] == ("flagged", "active")  # exempt, would be fixed: told
    assert {outcome for outcome, _ in decided.values()} <= {"flagged", "skipped"}
    assert emu.get_registry(target)["properties"]["anonymousPullEnabled"] is True


def test_list_shows_every_exemption_in_force_with_its_expiry(emu, tmp_path):
    """From the policy (a timed entry in force, a permanent one; an expired one left out) and from
    the registries' tags on the list pages (in force; expired left out)."""
    soon = format_time(datetime.now(UTC) + timedelta(hours=2))
    gone = "2020-01-01T00:00:00Z"
    entries = (
        f"  registries:\n    - {{id: '{rid('timedpolicy')}', until: '{soon}', reason: change freeze}}\n"
        f"    - '{rid('forever')}'\n    - {{id: '{rid('endedpolicy')}', until: '{gone}', reason: old}}\n"
    )
    path = tmp_path / "policies.yaml"
    path.write_text(POLICY.replace("exempt:\n", "exempt:\n  max_days: 7\n" + entries))  # a bare ID: allowed
    tagged = registry(
        emu,
        "taggednow",
        {"acrguard": "exempt", "acrguard-exempt-until": soon, "acrguard-exempt-reason": "INC-11"},
    )
    registry(
        emu,
        "taggedgone",
        {"acrguard": "exempt", "acrguard-exempt-until": gone, "acrguard-exempt-reason": "x"},
    )
    registry(emu, "plainone")
    result = invoke("exempt", "--list", "-o", "json", policy=path)
    assert result.returncode == 0, result.stderr
    rows = {
        (r["registry"], r["by"], r["until"], r["reason"], r["status"]) for r in json_out(result)["results"]
    }
    assert rows == {
        (rid("timedpolicy"), "policy", soon, "change freeze", "active"),
        (rid("forever"), "policy", None, None, "active"),
        (tagged, "tag", soon, "INC-11", "active"),
    }
    graph = invoke("exempt", "--list", "--tenant", "-o", "json", policy=path)
    assert graph.returncode == 0, graph.stderr
    assert {(r["registry"], r["until"]) for r in json_out(graph)["results"]} == {
        (a, b) for a, _, b, _, _ in rows
    }
    assert [r.method for r in emu.requests_for(route="resourcegraph")], "read through Resource Graph"
    table = invoke("exempt", "--list", policy=path)
    assert "taggednow" in table.stdout and soon in table.stdout and "never ends" in table.stdout
    assert "taggedgone" not in table.stdout and "endedpolicy" not in table.stdout


def test_list_takes_no_registry(emu, policy):
    result = invoke("exempt", rid("someone"), "--list", policy=policy)
    assert result.returncode == 2 and "--list takes no registry" in flat(result.stderr)
