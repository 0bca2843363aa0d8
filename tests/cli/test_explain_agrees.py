"""``acrguard explain`` and the engine decide with the same function (acrguard.plan.plan); on every
registry of the demo estate, what explain says each rule will do is what the engine then does."""

from __future__ import annotations

import pytest
from azure.mgmt.containerregistry.models import Registry
from engine_helpers import DEMO_POLICY, DEMO_SEED, make_harness, write_event

from acrguard.azure.resource_ids import RegistryRef
from acrguard.explain import explain
from acrguard.policy import load_policy
from acrguard.run_mode import RunMode

POLICY_TEXT = DEMO_POLICY.read_text()
#: explain's verdict (and whether the rule is exempt) -> the engine's outcome for that rule.
EXPECTED = {
    ("drift", "enforce"): {"applied", "flagged"},  # flagged: fixed, but a person must act too
    ("drift", "dry-run"): {"planned"},
    ("compliant", None): {"compliant"},
    ("flagged", None): {"flagged"},
    ("blocked", None): {"flagged"},
    ("unsupported", None): {"skipped"},
}


@pytest.mark.parametrize("mode", [None, "dry-run"])
def test_explain_and_the_engine_agree_on_every_demo_registry(emu, mode):
    emu.seed(DEMO_SEED)
    policy, run = load_policy(DEMO_POLICY), RunMode(mode, "--dry-run")
    registries = [doc["id"] for doc in emu.registries()]
    assert len(registries) >= 6
    for resource_id in registries:
        ref = RegistryRef.parse(resource_id)
        explanation = explain(policy, ref, Registry(emu.get_registry(resource_id)), run=run)
        h = make_harness(POLICY_TEXT, mode, settle_s=0)
        h.engine.handle(write_event(resource_id))
        done = {r.rule: r for r in h.records if r.rule}
        explained = {r.name: r for r in explanation.rules if r.enabled}
        assert set(done) == set(explained), resource_id
        for name, rule in explained.items():
            record = done[name]
            assert record.mode == rule.mode, (resource_id, name)
            if explanation.exempt_reason:  # a registry write left a tag-exempt registry drifting: told
                told = rule.verdict == "drift" and explanation.exempt_reason.startswith("exempt: tagged")
                assert record.outcome == ("flagged" if told else "skipped"), (resource_id, name)
                continue
            key = (rule.verdict, rule.mode if rule.verdict == "drift" else None)
            assert record.outcome in EXPECTED[key], (resource_id, name, rule.verdict, record.outcome)
