"""Where the registries to decide come from: events, subscription list pages, Resource Graph rows.

Each source yields :class:`Candidate` (a registry, its state if the source carries one, and the
state's ``origin``) or :class:`Passed` (what it could not make a candidate of, with the reason),
and :meth:`acrguard.engine.Engine.run` decides them all the same way. A source's state is a hint:
a registry that would be written is read again from ARM first, so a stale page or row can cost a
GET but never a wrong write.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from acrguard.audit import Outcome
from acrguard.azure.arm import Arm, ArmError
from acrguard.azure.resource_ids import RegistryRef
from acrguard.events import EventContext, Skip, parse_events
from acrguard.policy import Policy

#: Where a candidate's state came from (the audit record's ``state_from``): ARM (a GET or a list
#: page), a Resource Graph row, or a row whose children were then listed from ARM.
ARM, GRAPH, GRAPH_AND_ARM = "arm", "resource-graph", "resource-graph+arm"


@dataclass(frozen=True)
class Candidate:
    """A registry to decide. ``state``: as the source saw it (None: the engine reads it)."""

    ref: RegistryRef
    state: Any | None = None
    origin: str = ARM
    context: EventContext = field(default_factory=EventContext)


@dataclass(frozen=True)
class Passed:
    """What a source could not make a candidate of (an event for no registry, an odd ID, a
    subscription out of scope or that could not be listed): one record with the reason."""

    target: str | None  # a registry's or subscription's ID, when there is one
    reason: str
    outcome: Outcome = "skipped"
    error: ArmError | None = None
    context: EventContext = field(default_factory=EventContext)


Source = Iterable[Candidate | Passed]


def events(payload: Any, operations: frozenset[str]) -> Iterator[Candidate | Passed]:
    """An Event Grid delivery (one event or a batch): no state, so each registry is read."""
    for parsed in parse_events(payload, operations):
        if isinstance(parsed, Skip):
            yield Passed(None, parsed.reason, context=parsed.context)
        else:
            yield Candidate(parsed.ref, context=parsed.context)


def list_pages(arm: Arm, policy: Policy, subscriptions: Iterable[str] | None, workers: int) -> Source:
    """Every registry of every scoped subscription, from list pages (each with all properties).

    Subscriptions are listed ``workers`` at a time: a subscription's pages are sequential (each
    needs the previous continuation token), so listing them one after another made a
    10-subscription sweep wait for every page in turn. ARM throttles reads per subscription, so
    this does not raise any one subscription's rate. Candidates come in subscription order, each
    as soon as its page has arrived."""
    subs = list(subscriptions or policy.subscriptions or arm.list_subscriptions())
    in_scope = []
    for sub in subs:
        probe = RegistryRef(sub.lower(), "scope-check", "scopecheck")
        if reason := policy.scope_reason(probe):
            yield Passed(f"/subscriptions/{sub}", reason)
        else:
            in_scope.append(sub)
    if not in_scope:
        return
    from acrguard.engine.context_pool import ContextPool

    pages: dict[str, queue.SimpleQueue[Candidate | Passed | None]] = {
        s: queue.SimpleQueue() for s in in_scope
    }

    def list_one(sub: str) -> None:
        try:
            for registry in arm.list_registries(sub):
                pages[sub].put(_candidate(registry, ARM))
        except ArmError as exc:
            pages[sub].put(Passed(f"/subscriptions/{sub}", str(exc), "failed", exc))
        finally:
            pages[sub].put(None)  # this subscription is done

    # Workers run in a copy of this call's context: its deadline.
    with ContextPool(max_workers=min(workers, len(in_scope)), thread_name_prefix="acrguard-list") as listers:
        for sub in in_scope:
            listers.submit(list_one, sub)
        for sub in in_scope:
            while (item := pages[sub].get()) is not None:
                yield item


def graph_rows(rows: Iterable[dict[str, Any]]) -> Iterator[Candidate | Passed]:
    """Resource Graph rows: ARM's registry documents (the same shape a list page carries),
    deserialised into the SDK's ``Registry``."""
    from azure.mgmt.containerregistry.models import Registry

    for row in rows:
        yield _candidate(Registry(row), GRAPH)


def _candidate(registry: Any, origin: str) -> Candidate | Passed:
    try:
        return Candidate(RegistryRef.parse(str(registry.id)), registry, origin)
    except ValueError as exc:  # one odd ID must not stop the sweep
        registry_id = str(getattr(registry, "id", None) or "<no id>")[:300]
        return Passed(registry_id, f"cannot handle this registry's ID: {exc}")
