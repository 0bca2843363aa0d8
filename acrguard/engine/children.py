"""A registry's child collections (tokens, cache rules, replications, diagnostic settings): listed
only when an enabled rule needs them, and a child rule's fix written one child at a time.

The writes are apart from the registry PATCH because their failure modes differ: several writes,
some of which may land before one fails, and children that vanish between the list and the
write. What the writes did is returned as a value; the convergence confirms and records it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from acrguard.azure.arm import Arm
from acrguard.azure.errors import ArmError, RegistryNotFound
from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import RuleDecision, children_needed
from acrguard.policy import Policy
from remediators import Children


def collections(
    policy: Policy, arm: Arm, ref: RegistryRef, registry: Any, known: Children | None = None
) -> Children:
    """The child collections the rules enabled for ``registry`` need, ``known`` ones reused: one
    list call per collection still missing, none at all for the default policy."""
    have = dict(known or {})
    missing = [c for c in children_needed(policy, ref, registry) if c not in have]
    if missing:
        from acrguard.azure.children import list_children  # loaded only when a child rule is on

        have.update(list_children(arm, ref, missing))
    return have


@dataclass
class ChildWrites:
    """What a child rule's writes did, in order, until one failed."""

    planned: int  # writes the rule asked for
    answered: list[tuple[str, Any]] = field(default_factory=list)  # (collection, child as ARM answered)
    gone: list[tuple[str, str]] = field(default_factory=list)  # (collection, name): deleted since listed
    error: ArmError | None = None  # the failure that stopped the writes
    registry_gone: RegistryNotFound | None = None  # the registry itself was deleted

    def children(self, listed: Children) -> Children:
        """The collections as the writes left them: no further read."""
        now = {c: list(items) for c, items in listed.items()}
        for collection, name in self.gone:
            now[collection] = [c for c in now[collection] if _name(c) != name]
        for collection, child in self.answered:
            now[collection] = [c for c in now[collection] if _name(c) != _name(child)] + [child]
        return now

    def made(self) -> str:
        """ "2 of 3 writes made (a, b), then " when some landed before the failure; else ""."""
        names = [str(child.get("name", "")) for _, child in self.answered]
        return f"{len(names)} of {self.planned} writes made ({', '.join(names)}), then " if names else ""


def write(arm: Arm, ref: RegistryRef, d: RuleDecision) -> ChildWrites:
    """Each of ``d``'s writes in turn. A child deleted since it was listed is gone, not an error; the
    first other failure stops the writes (the registry's own deletion ends them too)."""
    from acrguard.azure.children import ChildNotFound, write_child

    done = ChildWrites(len(d.evaluation.writes))
    for write in d.evaluation.writes:
        try:
            done.answered.append((write.collection, write_child(arm, ref, write)))
        except ChildNotFound:
            done.gone.append((write.collection, write.name.lower()))
        except RegistryNotFound as exc:
            done.registry_gone = exc
            break
        except ArmError as exc:
            done.error = exc
            break
    return done


def _name(child: Any) -> str:
    return str(child.get("name", "")).lower()
