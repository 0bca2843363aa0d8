"""``acrguard undo``: an applied decision taken back (an exemption first, then one PATCH to its
``before``) over the emulator with the real SDK; the decisions come from the local audit file the
CLI appends to. What was written is read from the emulator's request log."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from cli_helpers import flat, invoke, json_out, writes
from engine_helpers import POLICY, SUB_A, as_person, make_harness, ours, rid, write_event
from webhook_receiver import WebhookReceiver

from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import plan

#: The test policy with what ``exempt``/``undo`` need of an exemption (an end, a most).
UNDO_POLICY = POLICY.replace(
    "exempt:\n",
    "exempt:\n  max_days: 7\n  until_tag: acrguard-exempt-until\n  reason_tag: acrguard-exempt-reason\n"
    "  rules_tag: acrguard-exempt-rules\n",
)


@pytest.fixture
def policy(tmp_path):
    path = tmp_path / "policies.yaml"
    path.write_text(UNDO_POLICY, encoding="utf-8")
    return path


@pytest.fixture
def trail(tmp_path):
    return tmp_path / "audit.jsonl"


def registry(emu, name: str, sku: str = "Standard", **properties) -> str:
    return emu.add_registry(
        subscription=SUB_A,
        resource_group="rg-platform",
        name=name,
        sku=sku,
        tags={"team": "platform"},
        properties={"anonymousPullEnabled": True, **properties},
    )


def ip_rules(action: str, values: list[str]) -> dict:
    return {"defaultAction": action, "ipRules": [{"action": "Allow", "value": v} for v in values]}


def open_premium(emu, name: str) -> str:
    """A Premium registry open to all but with a person's IP rule (anonymous pull already off)."""
    return registry(
        emu, name, sku="Premium", anonymousPullEnabled=False, networkRuleSet=ip_rules("Allow", ["52.1.1.1"])
    )


def ip_rules_by_hand(emu, target: str, action: str, values: list[str]) -> None:
    as_person(emu, "PATCH", target, {"properties": {"networkRuleSet": ip_rules(action, values)}})


def run(policy, trail, *args, **env):
    return invoke(*args, policy=policy, ACRGUARD_AUDIT_FILE=str(trail), ACRGUARD_SETTLE_S="0", **env)


def fixed_by_event(emu, policy, trail, target: str) -> str:
    """The guard fixes ``target`` on an ARM event (replayed): the decision has an event_id."""
    event = write_event(target, id="undo-me-" + target.rsplit("/", 1)[-1])
    result = run(policy, trail, "replay", "-", stdin=json.dumps(event))
    assert result.returncode == 0, result.stderr
    return event["id"]


def lines(trail) -> list[dict]:
    return [json.loads(line) for line in trail.read_text().splitlines()]


def patches(emu) -> list:
    return [r for r in writes(emu) if r.method == "PATCH"]


def test_undo_exempts_first_then_puts_the_property_back_in_one_patch(emu, policy, trail):
    """The decision's rule is exempted (tags only, for that rule, with an end), then ONE PATCH sends
    the decision's before and nothing else; the undo has its own applied audit line naming the
    decision, with the caller as ARM recorded the write."""
    target = registry(emu, "undoneone")
    decision = fixed_by_event(emu, policy, trail, target)
    assert emu.get_registry(target)["properties"]["anonymousPullEnabled"] is False
    before = len(patches(emu))

    result = run(policy, trail, "-o", "json", "undo", decision, "--for", "4h")
    assert result.returncode == 0, result.stderr
    tags, back = patches(emu)[before:]
    assert set(tags.body) == {"tags"}
    assert tags.body["tags"]["acrguard-exempt-rules"] == "anonymous_pull"
    assert tags.body["tags"]["team"] == "platform"
    assert back.body == {"properties": {"anonymousPullEnabled": True}}
    assert emu.get_registry(target)["properties"]["anonymousPullEnabled"] is True

    undone = [e for e in lines(trail) if e.get("source") == "undo" and e["outcome"] == "applied"]
    grant, record = sorted(undone, key=lambda e: e["reason"])  # "exemption ..." before "undo: ..."
    assert grant["exemption"] == "active" and grant["rule"] == "anonymous_pull"
    assert record["rule"] == "anonymous_pull"
    assert (record["before"], record["after"]) == (
        {"anonymousPullEnabled": False},
        {"anonymousPullEnabled": True},
    )
    assert record["caller"]["appid"] == back.principal.app_id
    assert any(decision in note for note in record["notes"])
    document = json_out(result)
    assert document["summary"]["undone"] == 1 and document["summary"]["written"] is True


def test_the_guard_hears_the_undo_and_leaves_it_alone(emu, policy, trail):
    """Both writes of the undo are events; the guard, reading the registry, finds the rule exempt
    and writes nothing: the undo is not reverted, and nothing loops."""
    target = registry(emu, "undonoloop")
    run(policy, trail, "check", target)
    harness = make_harness(UNDO_POLICY)
    emu.add_sink(harness.engine.handle)
    before = len(writes(emu))
    result = run(policy, trail, "undo", "--registry", target, "--rule", "anonymous_pull")
    assert result.returncode == 0, result.stderr
    emu.drain()
    assert len(writes(emu)) == before + 2  # the tags, the property: the guard wrote nothing
    assert emu.get_registry(target)["properties"]["anonymousPullEnabled"] is True
    assert "put back on" in result.stdout and "exempt until" in result.stdout


@pytest.mark.parametrize("how", ["--dry-run", "--mode", "ACRGUARD_MODE", "policy"])
def test_a_dry_run_shows_the_plan_and_writes_nothing(emu, policy, trail, tmp_path, how):
    target = registry(emu, "undodry")
    run(policy, trail, "check", target)
    count = len(writes(emu))
    path = policy
    if how == "policy":
        path = tmp_path / "dry.yaml"
        path.write_text(UNDO_POLICY.replace("mode: enforce", "mode: dry-run"))
    args = {"--dry-run": ["--dry-run"], "--mode": ["--mode", "dry-run"]}.get(how, [])
    env = {"ACRGUARD_MODE": "dry-run"} if how == "ACRGUARD_MODE" else {}
    result = run(
        path, trail, "-o", "json", "undo", "--registry", target, "--rule", "anonymous_pull", *args, **env
    )
    assert result.returncode == 0, result.stderr
    assert len(writes(emu)) == count  # nothing written
    document = json_out(result)
    assert document["summary"] == {**document["summary"], "undone": 0, "written": False}
    step = document["results"][1]
    assert step["restore"] == {"anonymousPullEnabled": True}
    assert step["record"]["outcome"] == "planned"
    assert document["results"][0]["exemption"]["record"]["outcome"] == "planned"


def test_a_registry_changed_since_is_not_undone_and_the_three_states_are_shown(emu, policy, trail):
    """Someone turned anonymous pull back on by hand after the fix: the registry no longer holds the
    decision's after, so the undo stops before any write (not even the exemption) and shows the
    decision's before and after beside the registry's value now."""
    target = registry(emu, "undoconflict", sku="Premium")
    run(policy, trail, "check", target)
    as_person(emu, "PATCH", target, {"properties": {"anonymousPullEnabled": True}})
    count = len(writes(emu))
    result = run(policy, trail, "-o", "json", "undo", "--registry", target, "--rule", "anonymous_pull")
    assert result.returncode == 1
    assert len(writes(emu)) == count  # not even the exemption
    [states] = json_out(result)["results"]
    assert states == {
        "rule": "anonymous_pull",
        "before": {"anonymousPullEnabled": True},
        "after": {"anonymousPullEnabled": False},
        "now": {"anonymousPullEnabled": True},
    }
    assert "no longer holds the decision's after" in json_out(result)["errors"][0]["message"]
    table = run(policy, trail, "undo", "--registry", target, "--rule", "anonymous_pull")
    assert table.returncode == 1 and "changed since the decision" in table.stdout


def test_an_ip_list_undo_keeps_every_rule_added_since(emu, policy, trail):
    """Keep mode: the guard set Deny and merged its allow-list into the person's rule; a person then
    added another rule. The undo puts back Allow and drops no rule: neither the person's nor the
    guard's, nor the one added since."""
    target = open_premium(emu, "undoips")
    decision = fixed_by_event(emu, policy, trail, target)
    rules = emu.get_registry(target)["properties"]["networkRuleSet"]
    assert rules["defaultAction"] == "Deny"
    ip_rules_by_hand(emu, target, "Deny", [r["value"] for r in rules["ipRules"]] + ["52.2.2.0/24"])
    result = run(policy, trail, "-o", "json", "undo", decision)
    assert result.returncode == 0, result.stderr
    now = emu.get_registry(target)["properties"]["networkRuleSet"]
    assert now["defaultAction"] == "Allow"
    values = {r["value"] for r in now["ipRules"]}
    assert values == {"52.1.1.1", "20.1.2.0/24", "20.9.8.7", "52.2.2.0/24"}


def test_an_ip_list_undo_puts_back_a_rule_the_decision_removed(emu, tmp_path, trail):
    """Replace mode removed a person's rule: the undo puts it back beside every rule present now."""
    path = tmp_path / "replace.yaml"
    path.write_text(
        UNDO_POLICY.replace(
            'allowed_ips: ["20.1.2.0/24", "20.9.8.7"]',
            'allowed_ips: ["20.9.8.7"]\n    existing_rules: replace',
        )
    )
    target = open_premium(emu, "undoreplace")
    run(path, trail, "check", target)
    assert [r["value"] for r in emu.get_registry(target)["properties"]["networkRuleSet"]["ipRules"]] == [
        "20.9.8.7"
    ]
    result = run(path, trail, "undo", "--registry", target, "--rule", "network_rules")
    assert result.returncode == 0, result.stderr
    now = emu.get_registry(target)["properties"]["networkRuleSet"]
    assert now["defaultAction"] == "Allow"
    assert {r["value"] for r in now["ipRules"]} == {"20.9.8.7", "52.1.1.1"}


def test_an_ip_rule_the_decision_wrote_and_someone_removed_is_a_conflict(emu, policy, trail):
    target = registry(emu, "undoshrunk", sku="Premium", anonymousPullEnabled=False)
    run(policy, trail, "check", target)
    ip_rules_by_hand(emu, target, "Deny", ["20.9.8.7"])
    count = len(writes(emu))
    result = run(policy, trail, "undo", "--registry", target, "--rule", "network_rules")
    assert result.returncode == 1 and len(writes(emu)) == count
    assert "networkRuleSet" in flat(result.stderr)


def test_the_exemption_undo_sets_ends_at_its_boundary(emu, policy, trail):
    """The undo's exemption holds the guard off until the instant before ``until``; from ``until``
    on (that instant included) the rule applies again and the fix is planned, expiry noted."""
    target = registry(emu, "undoexpiry")
    run(policy, trail, "check", target)
    result = run(
        policy, trail, "-o", "json", "undo", "--registry", target, "--rule", "anonymous_pull", "--for", "2h"
    )
    assert result.returncode == 0, result.stderr
    until = json_out(result)["summary"]["until"]
    ends = datetime.fromisoformat(until).timestamp()
    written = emu.get_registry(target)
    assert written["tags"]["acrguard-exempt-until"] == until
    harness = make_harness(UNDO_POLICY)
    state = harness.engine.arm.get(RegistryRef.parse(target))

    def pull(now: float):
        return next(
            d
            for d in plan(harness.engine.policy, RegistryRef.parse(target), state, now=now).decisions
            if d.evaluation.rule == "anonymous_pull"
        )

    held = pull(ends - 1)
    assert held.mode == "exempt" and held.action != "fix" and held.exemption.in_force
    due = pull(ends)
    assert due.mode == "enforce" and due.exemption.expired and due.action == "fix"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (["no-such-decision"], 1, "no decision no-such-decision"),
        (["--registry", "undobad", "--rule", "anonymous_pull", "--for", "4 hours"], 2, "--for"),
        (["--registry", "undobad", "--rule", "anonymous_pull", "--for", "8d"], 2, "exempt.max_days"),
        (["--registry", "undobad"], 2, "which decision?"),
        (["dec", "--rule", "anonymous_pull"], 2, "not both"),
        (["--registry", "undobad", "--rule", "anonymous-pull"], 2, "no rule called"),
        (["--registry", "undobad", "--rule", "admin_user"], 1, "no applied decision of admin_user"),
    ],
    ids=["unknown", "bad-for", "past-max-days", "no-rule", "both", "unknown-rule", "none-applied"],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(emu, policy, trail, args, code, words):
    target = registry(emu, "undobad")
    run(policy, trail, "check", target)
    count = len(writes(emu))
    result = run(policy, trail, "undo", *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert words in flat(result.stderr)
    assert len(writes(emu)) == count


def test_a_decision_that_was_not_applied_is_refused_naming_its_outcome(emu, policy, trail):
    target = registry(emu, "undoplanned")
    event = write_event(target, id="planned-only")
    run(policy, trail, "--dry-run", "replay", "-", stdin=json.dumps(event))
    count = len(writes(emu))
    result = run(policy, trail, "undo", "planned-only")
    assert result.returncode == 1
    assert "cannot be undone" in flat(result.stderr) and "'planned'" in flat(result.stderr)
    assert len(writes(emu)) == count


def test_an_undo_is_not_undone_again(emu, policy, trail):
    """A second undo of the same decision finds the registry already back at its before: the
    registry no longer holds the decision's after, so nothing is written again."""
    target = registry(emu, "undotwice")
    run(policy, trail, "check", target)
    assert run(policy, trail, "undo", "--registry", target, "--rule", "anonymous_pull").returncode == 0
    count = len(writes(emu))
    again = run(policy, trail, "undo", "--registry", target, "--rule", "anonymous_pull")
    assert again.returncode == 1  # the check's decision is found again (never the undo's own lines)
    assert "no longer holds" in flat(again.stderr) and len(writes(emu)) == count


def test_a_child_rule_decision_is_refused(emu, policy, trail):
    entry = {
        "time": datetime.now().astimezone().isoformat(),
        "outcome": "applied",
        "registry": rid("undochild"),
        "rule": "repository_tokens",
        "reason": "r",
        "event_id": "child-decision",
        "before": {"tokens": [{"name": "ci", "status": "enabled"}]},
        "after": {"tokens": [{"name": "ci", "status": "disabled"}]},
    }
    trail.write_text(json.dumps(entry) + "\n")
    result = run(policy, trail, "undo", "child-decision")
    assert result.returncode == 1
    assert "child resources" in flat(result.stderr)
    assert not writes(emu)


def test_the_undo_is_notified_on_its_own_without_a_secret(emu, tmp_path, trail):
    """The webhook hears the exemption and the undo (naming the decision it undoes); never the
    webhook's path or query, where its secret lives."""
    with WebhookReceiver().running() as hook:
        path = tmp_path / "policies.yaml"
        url = hook.url("/hook/s3cr3t-path?sig=s3cr3t-query")
        path.write_text(UNDO_POLICY + f"notify:\n  webhooks: [{{url: '{url}'}}]\n")
        target = registry(emu, "undonotify")
        decision = fixed_by_event(emu, path, trail, target)
        told_before = len(hook.bodies())
        result = run(path, trail, "undo", decision)
        assert result.returncode == 0, result.stderr
        bodies = hook.bodies()[told_before:]
    records = [r for body in bodies for r in body["records"]]
    undo = [r for r in records if r["reason"].startswith("undo:")]
    assert len(undo) == 1 and undo[0]["outcome"] == "applied"
    assert any(decision in note for note in undo[0]["notes"])
    assert any(r.get("exemption") == "active" for r in records)  # the exemption, told too
    text = json.dumps(bodies) + result.stdout + result.stderr
    assert "s3cr3t-path" not in text and "s3cr3t-query" not in text


def person_writes_during_our_tag_patch(emu, target: str, properties: dict) -> list:
    """A person's PATCH of ``properties`` that lands just before the undo's exemption PATCH: after
    the undo's first read, before the read its PATCH is computed from."""
    done: list = []

    def hook(request) -> None:
        if request.method == "PATCH" and ours(emu, request) and not done:
            done.append(as_person(emu, "PATCH", target, {"properties": properties}))

    emu.on_arm_request(hook)
    return done


def test_an_ip_rule_added_while_the_undo_runs_is_kept(emu, policy, trail):
    """A person adds an IP rule between the undo's first read and its PATCH: the PATCH is computed
    from the read after the exemption, so the person's rule is in the list it sends."""
    target = open_premium(emu, "undorace")
    run(policy, trail, "check", target)
    listed = [r["value"] for r in emu.get_registry(target)["properties"]["networkRuleSet"]["ipRules"]]
    raced = person_writes_during_our_tag_patch(
        emu, target, {"networkRuleSet": ip_rules("Deny", [*listed, "52.3.3.3"])}
    )
    result = run(policy, trail, "undo", "--registry", target, "--rule", "network_rules")
    assert result.returncode == 0, result.stderr
    assert raced, "the person's write never landed during the undo"
    now = emu.get_registry(target)["properties"]["networkRuleSet"]
    assert now["defaultAction"] == "Allow"
    assert {r["value"] for r in now["ipRules"]} == {*listed, "52.3.3.3"}


def test_a_change_while_the_undo_runs_stops_it_after_the_exemption(emu, policy, trail):
    """The registry changes between the undo's first read and its PATCH: no PATCH is sent, exit 1,
    and the error says the exemption written first stays until it ends."""
    target = registry(emu, "undoracepull")
    run(policy, trail, "check", target)
    person_writes_during_our_tag_patch(emu, target, {"anonymousPullEnabled": True})
    count = len(patches(emu))
    result = run(policy, trail, "-o", "json", "undo", "--registry", target, "--rule", "anonymous_pull")
    assert result.returncode == 1
    ours_now = [p for p in patches(emu)[count:] if ours(emu, p)]
    assert [set(p.body) for p in ours_now] == [{"tags"}]  # the exemption only, no property PATCH
    message = json_out(result)["errors"][0]["message"]
    assert "no longer holds" in message and "the exemption written first stays until" in message
