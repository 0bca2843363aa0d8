"""Child resources that change behind the engine's back: a token created while a sweep decides, a
diagnostic setting deleted (its ``ResourceDeleteSuccess`` event), a registry's own delete event.

Real SDK clients against the emulator; the person's writes go through the emulator's ARM API with
the person's own token.
"""

from __future__ import annotations

from typing import Any

from engine_helpers import make_harness
from reliability import adversarial
from test_rules_children import add, policy


def ours(emu: Any, request: Any) -> bool:
    return request.principal is not None and request.principal.object_id == emu.managed_identity.object_id


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
            created.append(emu.add_child(resource_id, "tokens", {"name": "late-push"}))

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
