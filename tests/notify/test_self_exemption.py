"""Exemption by tag is a write anyone who can write the registry can make: one PATCH can set the
exemption tag and open the registry. ACR Guard then changes nothing (an exemption is honoured), but
a person hears of it. Real SDK, the emulator's ARM with the person's own token, and a real webhook.
"""

from __future__ import annotations

import dataclasses

import pytest
from engine_helpers import POLICY, SUB_A, as_person
from reliability import adversarial
from webhook_receiver import WebhookReceiver

from acrguard.audit import Audit, AuditRecord
from acrguard.azure.arm import Arm
from acrguard.engine import Engine
from acrguard.notify import notifier_for
from acrguard.policy import parse_policy
from acrguard.settings import Settings

OPEN_AND_EXEMPT = {"tags": {"acrguard": "exempt"}, "properties": {"anonymousPullEnabled": True}}


@pytest.fixture
def hook():
    receiver = WebhookReceiver().start()
    yield receiver
    receiver.stop()


def engine_with_webhook(hook: WebhookReceiver, extra: str = "") -> tuple[Engine, list[AuditRecord]]:
    policy = parse_policy(
        POLICY.replace("exempt:\n", f"exempt:\n{extra}")
        + f"notify:\n  webhooks: [{{url: '{hook.url()}'}}]\n",
        "test-policy.yaml",
    )
    settings = dataclasses.replace(Settings.from_env(), retry_budget_s=6.0, max_attempts=4)
    records: list[AuditRecord] = []
    notifier = notifier_for(policy, settings)
    assert notifier is not None
    return Engine(policy, Arm(settings), Audit([records.append, notifier])), records


def add(emu, name: str, **fields) -> str:
    return emu.add_registry(
        subscription=SUB_A, resource_group="rg-platform", name=name, sku="Standard", **fields
    )


def anonymous_pull(records: list[AuditRecord]) -> list[AuditRecord]:
    return [r for r in records if r.rule == "anonymous_pull"]


def test_one_write_that_sets_the_exemption_tag_and_opens_the_registry_is_told_to_a_person(emu, hook):
    """A person's one PATCH sets the exemption tag and anonymousPullEnabled=true. The registry is
    left as they made it (the exemption is honoured), but the decision is no longer a silent
    ``skipped … would be fixed``: it is ``flagged`` (exempt, would be fixed) and notified."""
    registry = add(emu, "selfexempt")
    engine, records = engine_with_webhook(hook)
    emu.add_sink(engine.handle)

    as_person(emu, "PATCH", registry, OPEN_AND_EXEMPT)
    emu.drain()

    [record] = anonymous_pull(records)
    assert (record.outcome, record.mode) == ("flagged", "exempt")
    assert record.reason.startswith("exempt: tagged acrguard=exempt; would be fixed: ")
    assert "exempt.registries" in record.reason  # the exemption that cannot be self-granted
    assert record.caller["upn"] == "dev@contoso.example"
    assert emu.get_registry(registry)["properties"]["anonymousPullEnabled"] is True  # honoured
    told = [r for body in hook.bodies() for r in body["records"] if r["rule"] == "anonymous_pull"]
    assert [(r["outcome"], r["registry"]) for r in told] == [("flagged", registry)]
    assert told[0]["before"] == told[0]["after"] == {"anonymousPullEnabled": True}  # nothing changed
    adversarial(
        5,
        "one PATCH sets the exemption tag and anonymousPullEnabled=true",
        "left as written (exemption honoured), audit 'flagged' (exempt, would be fixed), notified",
        round=3,
    )


def test_an_exemption_by_id_in_the_policy_stays_quiet(emu, hook):
    """Exemption by resource ID lives in policies.yaml, which the registry's writers do not control:
    the same write to a registry exempt by ID is a plain ``skipped``, with no notification."""
    registry = add(emu, "idexempt")
    engine, records = engine_with_webhook(hook, f"  registries: ['{registry}']\n")
    emu.add_sink(engine.handle)

    as_person(emu, "PATCH", registry, {"properties": {"anonymousPullEnabled": True}})
    emu.drain()

    [record] = anonymous_pull(records)
    assert record.outcome == "skipped" and "would be fixed" in record.reason
    assert not [r for body in hook.bodies() for r in body["records"] if r["rule"] == "anonymous_pull"]


def test_a_sweep_of_a_tag_exempt_registry_reports_it_without_notifying(emu, hook):
    """The standing state (found by a sweep, not by a write) is reported ``skipped``: the person
    heard of it when the write happened."""
    add(emu, "sweptexempt", tags={"acrguard": "exempt"}, properties={"anonymousPullEnabled": True})
    engine, records = engine_with_webhook(hook)
    engine.reconcile()
    [record] = anonymous_pull(records)
    assert record.outcome == "skipped" and "would be fixed" in record.reason
    assert not hook.received
