"""A child rule's fix (a token's PATCH, a diagnostic setting's PUT), written one child at a time.

Apart from the engine's registry PATCH because its failure modes differ: several writes, some of
which may land before one fails, and children that vanish between the list and the write.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from acrguard.arm import Arm
from acrguard.arm_errors import ArmError, RegistryNotFound, TransientArmError
from acrguard.plan import RuleDecision, plan
from acrguard.policy import Policy
from acrguard.resource_ids import RegistryRef
from remediators import Status
from remediators.base import Children


def write_children(
    policy: Policy,
    arm: Arm,
    ref: RegistryRef,
    registry: Any,
    d: RuleDecision,
    children: Children,
    emit: Callable[..., Any],
    sku: str,
) -> None:
    """A child rule's fix: each write in turn, then the verdict on the children as ARM answered
    the writes (no further read). A child deleted since it was listed is gone, not an error.
    When a write fails, the record names the writes already made and carries the state they
    left; a transient failure is then raised for redelivery, which re-lists and goes on."""
    from acrguard.arm_children import ChildNotFound, write_child

    writes = d.evaluation.writes
    answered: list[tuple[str, Any]] = []
    gone: list[tuple[str, str]] = []
    error: ArmError | None = None
    for write in writes:
        try:
            answered.append((write.collection, write_child(arm, ref, write)))
        except ChildNotFound:
            gone.append((write.collection, write.name.lower()))
        except RegistryNotFound as exc:
            emit("skipped", d, str(exc), sku=sku)
            return
        except ArmError as exc:
            error = exc
            break
    now = {c: list(items) for c, items in children.items()}
    for collection, name in gone:
        now[collection] = [c for c in now[collection] if str(c.get("name", "")).lower() != name]
    for collection, child in answered:
        name = str(child.get("name", "")).lower()
        now[collection] = [c for c in now[collection] if str(c.get("name", "")).lower() != name] + [child]
    confirmed = next(
        (x for x in plan(policy, ref, registry, now, arm.clock.time()).decisions if x.rule == d.rule), None
    )
    state = confirmed.evaluation.before if confirmed else d.evaluation.after
    if error is not None:
        made = [str(child.get("name", "")) for _, child in answered]
        done = f"{len(made)} of {len(writes)} writes made ({', '.join(made)}), then " if made else ""
        if isinstance(error, TransientArmError):
            emit("failed", d, f"{done}{error}; raised so the event is redelivered", after=state, sku=sku)
            error.audited = True
            raise error
        emit("failed", d, f"{done}write rejected: {error}", after=state, sku=sku)
    elif confirmed is not None and confirmed.evaluation.status is Status.DRIFT:
        reason = f"ARM accepted the writes but the children still drift: {confirmed.evaluation.reason}"
        emit("failed", d, reason, after=state, sku=sku)
    else:
        emit("applied", d, d.evaluation.reason, after=d.evaluation.after, sku=sku)
