"""The safety promises hold for child writes (token PATCHes, diagnostic-setting PUTs) as for the
registry's PATCH: each case below once broke one of them."""

from __future__ import annotations

import pytest
from engine_helpers import as_person, make_harness, write_event

from acrguard.azure.arm import TransientArmError
from acrguard.engine import graph_sweep
from acrguard.policy import PolicyError, parse_policy

SUB = "00000000-0000-0000-0000-00000000aaaa"
TOKENS_ON = """version: 1
mode: enforce
exempt:
  tags: {acrguard: exempt}
rules:
  anonymous_pull: {enabled: false}
  firewall_unavailable: {enabled: false}
  repository_tokens: {enabled: true}
"""


def add(emu, name, tags=None, **children):
    return emu.add_registry(
        subscription=SUB, resource_group="rg-platform", name=name, sku="Premium", tags=tags, children=children
    )


def token_patches(emu):
    return [r for r in emu.requests if r.method == "PATCH" and r.route == "tokens"]


def statuses(emu, resource_id):
    return {t["name"]: t["properties"].get("status", "enabled") for t in emu.children(resource_id, "tokens")}


def test_a_registry_exempted_after_resource_graphs_index_keeps_its_tokens(emu):
    """A child write is decided from a fresh ARM read, not the Resource Graph row: a registry tagged
    exempt after Resource Graph indexed it keeps its tokens."""
    resource_id = add(emu, "stalexempt", tokens=[{"name": "ci-push"}])
    emu.resource_graph.freeze()  # ARG trails ARM
    as_person(emu, "PATCH", resource_id, {"tags": {"acrguard": "exempt"}})
    graph_sweep.sweep(make_harness(TOKENS_ON).engine, subscriptions=[SUB])
    assert token_patches(emu) == []
    assert statuses(emu, resource_id) == {"ci-push": "enabled"}


def test_a_dry_run_override_matched_by_a_new_tag_is_honoured_by_child_writes(emu):
    """Never write in dry-run, even when the override that makes it
    dry-run matches a tag Resource Graph has not indexed yet."""
    resource_id = add(emu, "staleprod", tokens=[{"name": "ci-push"}])
    emu.resource_graph.freeze()
    as_person(emu, "PATCH", resource_id, {"tags": {"env": "prod"}})
    text = TOKENS_ON + "overrides:\n  - match: {tags: {env: prod}}\n    mode: dry-run\n"
    graph_sweep.sweep(make_harness(text).engine, subscriptions=[SUB])
    assert token_patches(emu) == []


def test_writes_made_before_a_transient_failure_are_in_the_audit(emu):
    """Two tokens disabled, then the third answered 503 until the
    budget ran out: the only record was a rule-less "failed" naming the third token. Now the rule's
    record names the writes made and the state they left, and the error is still raised."""
    resource_id = add(emu, "partialtok", tokens=[{"name": "ci-aaa"}, {"name": "ci-bbb"}, {"name": "ci-ccc"}])
    emu.inject(method="PATCH", route="tokens", path="tokens/ci-ccc", status=503, retry_after=0, times=None)
    h = make_harness(TOKENS_ON)
    with pytest.raises(TransientArmError):
        h.engine.handle(write_event(resource_id))
    assert statuses(emu, resource_id) == {"ci-aaa": "disabled", "ci-bbb": "disabled", "ci-ccc": "enabled"}
    # One decision, one line: the rule's record, not a second rule-less one for the same error.
    [record] = [r for r in h.records if r.outcome == "failed"]
    assert record.rule == "repository_tokens"
    assert "2 of 3 writes made (ci-aaa, ci-bbb)" in record.reason and "redelivered" in record.reason
    assert record.after == {"tokens": {"ci-aaa": "disabled", "ci-bbb": "disabled", "ci-ccc": "enabled"}}


def test_a_rejected_write_leaves_a_truthful_after(emu):
    """A permanent rejection of the third write; the record's
    `after` claimed every token disabled. Now it is the state the writes left."""
    resource_id = add(emu, "partialperm", tokens=[{"name": "ci-aaa"}, {"name": "ci-bbb"}, {"name": "ci-ccc"}])
    emu.inject(method="PATCH", route="tokens", path="tokens/ci-ccc", status=400, times=None)
    h = make_harness(TOKENS_ON)
    h.engine.handle(write_event(resource_id))
    [record] = [r for r in h.records if r.rule == "repository_tokens"]
    assert record.outcome == "failed" and "write rejected" in record.reason
    assert record.after == {"tokens": {"ci-aaa": "disabled", "ci-bbb": "disabled", "ci-ccc": "enabled"}}


def test_a_token_deleted_before_its_patch_does_not_stop_the_others(emu):
    """A 404 on one token's PATCH (deleted after the list) was taken
    for the registry's 404: the rule said "registry ... was not found" and the other enabled tokens
    were never written. A deleted token is enabled for no one: the others are disabled."""
    resource_id = add(emu, "deletedtok", tokens=[{"name": "ci-aaa"}, {"name": "ci-bbb"}])
    emu.inject(
        method="PATCH", route="tokens", path="tokens/ci-aaa", status=404, code="ResourceNotFound", times=None
    )
    h = make_harness(TOKENS_ON)
    h.engine.handle(write_event(resource_id))
    [record] = [r for r in h.records if r.rule == "repository_tokens"]
    assert record.outcome == "applied", record.reason
    assert statuses(emu, resource_id)["ci-bbb"] == "disabled"


def test_an_allowed_name_with_a_trailing_newline_is_refused():
    """`$` matches before a final newline, so `allowed: ["ci-push\\n"]`
    (a YAML block scalar) validated, matched no token, and ci-push would have been disabled."""
    with pytest.raises(PolicyError, match="allowed"):
        parse_policy(
            'version: 1\nrules:\n  repository_tokens: {enabled: true, allowed: ["ci-push\\n"]}\n', "p.yaml"
        )


def test_a_report_phase_verdict_on_children_says_they_were_listed_from_arm(emu):
    """With a child rule on, the report phase lists the children
    from ARM (Resource Graph cannot see them) yet the record said `state_from: resource-graph`.
    Now it says `resource-graph+arm`, and the only ARM calls are one list per registry."""
    resource_id = add(emu, "reportchild", tokens=[{"name": "ci-push"}])
    h = make_harness(TOKENS_ON, mode="dry-run")
    graph_sweep.sweep(h.engine, subscriptions=[SUB])
    arm = [(r.method, r.route) for r in emu.requests if r.route not in ("identity", "resourcegraph")]
    assert arm == [("GET", "tokens")]
    [record] = [r for r in h.records if r.rule == "repository_tokens"]
    assert (record.registry, record.outcome, record.state_from) == (
        resource_id,
        "planned",
        "resource-graph+arm",
    )
