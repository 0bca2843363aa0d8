"""The policy pushed into the Resource Graph query never hides a registry that needs
attention. Over random registry states and random valid policies (the strategies of
tests/registry_strategies.py): a registry the query leaves out is compliant or skipped under ``plan()``.

The query is run by the emulator's strict KQL interpreter (emulator/kql.py) over the registry as
ARG's ``resources`` row, the same code path the sweep's tests use over HTTPS.
"""

from __future__ import annotations

import contextlib
import copy

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from registry_strategies import REF, decide, policies, states

from acrguard.engine import pushdown
from emulator import kql
from emulator.graph_api import _row

QUIET = ("compliant", "skipped")


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=states(), drawn=policies())
def test_a_registry_the_query_leaves_out_is_compliant_under_plan(state, drawn):
    policy, _ = drawn
    doc = state.document()
    selected = kql.parse(pushdown.query(policy)).run([_row(copy.deepcopy(doc))])
    decided = decide(policy, doc)
    if not selected:
        needs = [(d.rule, d.outcome) for d in decided.decisions if d.outcome not in QUIET]
        assert not needs and decided.conflict is None, (needs, pushdown.query(policy))


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(state=states(), drawn=policies())
def test_a_registry_the_fix_query_leaves_out_is_never_written_and_the_report_query_covers_it(state, drawn):
    """The sweep's fix phase sends only the predicates of rules that may write; a
    registry it leaves out must need no write under ``plan()``, and the two phases together select
    every registry the whole policy's query selects."""
    policy, _ = drawn
    row = _row(copy.deepcopy(state.document()))
    fix, report = pushdown.phases(policy)
    in_fix = bool(fix and kql.parse(fix).run([row]))
    in_report = bool(report and kql.parse(report).run([row]))
    if not in_fix:
        assert not decide(policy, state.document()).writes, fix
    assert in_fix or in_report or not kql.parse(pushdown.query(policy)).run([row])


@settings(max_examples=200, deadline=None)
@given(state=states(arm_valid=True), drawn=policies())
def test_the_query_leaves_out_the_compliant_registries_it_can_recognise(state, drawn):
    """Not only safe but useful: a registry with nothing to report on any rule, not exempt, is
    left out unless a rule's predicate cannot tell (a superset, but not "everything"). Overrides
    are not pushed down (a rule enabled in any override is queried for every registry), so a
    policy with overrides is only held to the safety property above."""
    policy, _ = drawn
    doc = state.document()
    decided = decide(policy, doc)
    selected = kql.parse(pushdown.query(policy)).run([_row(copy.deepcopy(doc))])
    quiet = all(d.outcome == "compliant" for d in decided.decisions)
    enabled = {d.rule for d in decided.decisions}
    if quiet and selected and enabled <= {"anonymous_pull", "admin_user"} and not policy.doc.overrides:
        raise AssertionError(f"a compliant registry was selected: {pushdown.query(policy)}")


def test_the_scope_and_id_exemptions_are_filtered_exactly():
    from acrguard.policy import parse_policy

    other = "00000000-0000-0000-0000-00000000ffff"
    policy = parse_policy(
        f"""
version: 1
mode: enforce
scope: {{subscriptions: ["{REF.subscription_id.upper()}"]}}
exempt: {{registries: ["{REF.resource_id.lower()}"]}}
rules: {{anonymous_pull: {{enabled: true}}}}
""",
        "scope.yaml",
    )
    query = kql.parse(pushdown.query(policy))
    base = {"id": REF.resource_id, "subscriptionId": REF.subscription_id, "type": "x"}
    row = {**base, "sku": {"name": "Premium"}, "properties": {"anonymousPullEnabled": True}}
    row["type"] = pushdown.REGISTRY_TYPE
    assert query.run([row]) == []  # exempt by ID, in any casing
    sibling = {**row, "id": REF.resource_id + "2"}
    assert query.run([sibling]) == [sibling]
    assert query.run([{**sibling, "subscriptionId": other}]) == []  # out of scope


@given(st.text(max_size=40))
def test_the_interpreter_never_guesses(text):
    """Any text is either parsed into the subset or refused with KqlError, never another exception."""
    with contextlib.suppress(kql.KqlError):
        kql.parse(text)
