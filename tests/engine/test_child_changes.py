"""Child resources that change behind the engine's back: a token created while a sweep decides, a
diagnostic setting deleted (its ``ResourceDeleteSuccess`` event), a registry's own delete event.

Real SDK clients against the emulator; the person's writes go through the emulator's ARM API with
the person's own token.
"""

from __future__ import annotations

from typing import Any

import pytest
from child_rule_helpers import WORKSPACE, add, audit_setting, calls, policy
from engine_helpers import as_person, make_harness, ours, rid, write_event
from reliability import adversarial

from acrguard.contract import RULES, operation_names
from acrguard.events import Skip, Target, parse_events

DIAGNOSTIC_DELETE = "Microsoft.Insights/diagnosticSettings/delete"


def token_statuses(emu: Any, resource_id: str) -> dict[str, str]:
    return {t["name"]: t["properties"].get("status", "enabled") for t in emu.children(resource_id, "tokens")}


def test_a_token_created_between_the_sweeps_list_and_its_write_is_disabled_too(emu):
    """A sweep lists a registry's tokens from its page, finds one enabled, and re-reads the registry
    before writing; in between, a person creates another enabled token. The sweep used to decide
    from the tokens it listed first: it disabled only the first, left the new one enabled and
    recorded ``applied``. Now the re-read lists the children again, so both are disabled."""
    resource_id = add(emu, "tokensrace", tokens=[{"name": "ci-push"}])
    created: list[str] = []

    def person_creates_a_token_before_our_reread(request: Any) -> None:
        if request.method == "GET" and request.route == "registry" and ours(emu, request) and not created:
            # `az acr token create`: Tokens_Create with the person's own token (enabled by default)
            created.append(as_person(emu, "PUT", f"{resource_id}/tokens/late-push", {"properties": {}}))

    emu.on_arm_request(person_creates_a_token_before_our_reread)
    h = make_harness(policy("repository_tokens"))
    h.engine.reconcile()

    assert created, "the sweep never re-read the registry before writing"
    [record] = [r for r in h.records if r.rule == "repository_tokens"]
    assert token_statuses(emu, resource_id) == {"ci-push": "disabled", "late-push": "disabled"}
    assert (record.outcome, record.after) == (
        "applied",
        {"tokens": {"ci-push": "disabled", "late-push": "disabled"}},
    )
    adversarial(
        8,
        "a person creates an enabled token between the sweep's list of tokens and its write",
        "the re-read before writing lists the tokens again: both disabled, audit 'applied' naming both",
        round=3,
    )


def test_deleting_the_acrguard_diagnostic_setting_puts_it_back_at_once(emu):
    """A person deletes the ``acrguard`` diagnostic setting. ARM raises ResourceDeleteSuccess for
    diagnosticSettings/delete; the handler used to skip that event type, so the registry went
    unlogged until the reconcile (up to 6 h). Now the delete routes to the parent registry, which
    is re-read and the setting PUT back, on the event path."""
    resource_id = add(emu, "diaggone", "Standard", diagnosticSettings=[audit_setting("acrguard")])
    h = make_harness(policy("diagnostic_settings"))
    emu.add_sink(h.engine.handle)

    response = emu.arm_request(
        "DELETE",
        f"{resource_id}/providers/Microsoft.Insights/diagnosticSettings/acrguard?api-version=2021-05-01-preview",
    )
    assert response.status_code == 200
    emu.drain()

    [deleted, *_] = emu.events
    assert (deleted["eventType"], deleted["data"]["operationName"]) == (
        "Microsoft.Resources.ResourceDeleteSuccess",
        DIAGNOSTIC_DELETE,
    )
    first = h.records[0]
    assert (first.rule, first.outcome, first.event_id) == ("diagnostic_settings", "applied", deleted["id"])
    [setting] = emu.children(resource_id, "diagnosticSettings")
    assert (setting["name"], setting["properties"]["workspaceId"]) == ("acrguard", WORKSPACE)
    assert h.records[-1].outcome == "compliant"  # our PUT's own event settles, no loop
    adversarial(
        9,
        "a person deletes the acrguard diagnostic setting",
        "its ResourceDeleteSuccess re-reads the parent registry: the setting is PUT back at once, "
        "audit 'applied' on the delete's event",
        round=3,
    )


def test_a_registrys_own_delete_event_is_skipped_without_an_arm_call(emu, load_sample):
    """A registry's own ResourceDeleteSuccess (examples/events/registry-delete.eventgrid.json) names
    nothing left to guard: a skip that says so, with no GET that could only 404."""
    resource_id = add(emu, "contosoprod")
    h = make_harness(policy("diagnostic_settings"))
    [result] = h.engine.handle(load_sample("events/registry-delete.eventgrid"))
    [record] = result.records
    assert record.outcome == "skipped" and record.registry is None
    assert record.reason.startswith(f"registry {resource_id.replace('/resourceGroups/', '/resourcegroups/')}")
    assert "was deleted: nothing left to guard" in record.reason
    assert calls(emu) == []
    adversarial(
        9,
        "a registry's own ResourceDeleteSuccess event",
        "skipped ('was deleted: nothing left to guard') with 0 ARM calls",
        round=3,
    )


def test_the_delete_sample_routes_to_its_registry_only_when_a_rule_watches_the_child(load_sample):
    """The diagnostic-setting delete sample re-evaluates its registry under a policy that enables
    diagnostic_settings; under the default rules it is skipped naming that rule."""
    event = load_sample("events/diagnostic-setting-delete.eventgrid")
    [routed] = parse_events(event)
    assert isinstance(routed, Target) and routed.ref.name == "contosoprod"
    [skipped] = parse_events(event, operation_names(()))
    assert isinstance(skipped, Skip) and "diagnostic_settings" in skipped.reason


@pytest.mark.parametrize(
    ("event_type", "operation"),
    [
        ("Microsoft.Resources.ResourceWriteSuccess", DIAGNOSTIC_DELETE),
        ("Microsoft.Resources.ResourceDeleteSuccess", "Microsoft.Insights/diagnosticSettings/write"),
    ],
)
def test_an_event_whose_type_and_operation_disagree_is_skipped(event_type, operation):
    setting = f"{rid('diagreg')}/providers/Microsoft.Insights/diagnosticSettings/acrguard"
    event = write_event(setting, operation, eventType=event_type)
    [parsed] = parse_events(event)
    assert isinstance(parsed, Skip)
    assert parsed.reason == f"operation {operation} does not match event type {event_type}"


def test_only_child_deletes_that_can_make_a_rule_drift_pass_the_filter():
    """Deleting a diagnostic setting or a replication can leave a registry non-compliant; deleting a
    token or a cache rule cannot (a deleted token is enabled for no one). The default rules' filter
    passes no delete at all."""
    deletes = sorted(op for op in operation_names(RULES) if op.lower().endswith("/delete"))
    assert deletes == [
        "Microsoft.ContainerRegistry/registries/replications/delete",
        DIAGNOSTIC_DELETE,
    ]
    assert not [op for op in operation_names(()) if op.lower().endswith("/delete")]
    assert "Microsoft.ContainerRegistry/registries/delete" not in operation_names(RULES)
