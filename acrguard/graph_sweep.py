"""A sweep whose candidates come from Azure Resource Graph, with the per-subscription list as fallback.

ARG is a hint. Its rows are ARM's registry documents (the same shape a list page carries), so they
are deserialised into the SDK's ``Registry`` and handed to :meth:`Engine.process` as ``listed``
state, exactly like a list page: a registry that would be written is re-read from ARM first
(``Engine._converge``), so ARG's lag can cost a GET but never a wrong write. Re-reading every row
instead would add a GET for each candidate that turns out compliant or flagged (the pushdown is a
superset) and change nothing that is written.

When ARG cannot answer (forbidden, unavailable after retries, a truncated result) the sweep lists
the subscriptions instead, and says so in the summary (``details["fallback"]``). A management group
cannot be listed without ARG (its subscriptions are what ARG resolves), so that raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from acrguard import pushdown
from acrguard.arm import ArmError
from acrguard.engine import Engine, RegistryResult, Summary
from acrguard.resource_graph import ResourceGraph
from acrguard.resource_ids import RegistryRef

log = logging.getLogger("acrguard.sweep")


class GraphScopeError(ArmError):
    """A management-group sweep that Resource Graph could not answer (no fallback exists)."""


def sweep(
    engine: Engine,
    *,
    subscriptions: list[str] | None = None,
    management_groups: list[str] | None = None,
    concurrency: int | None = None,
    source: str = "reconcile",
    on_result: Callable[[RegistryResult], None] | None = None,
    graph: ResourceGraph | None = None,
) -> Summary:
    """Sweep the tenant (or ``management_groups``, or ``subscriptions``) through Resource Graph."""
    from azure.mgmt.containerregistry.models import Registry

    graph = graph or ResourceGraph(engine.arm)
    subs = subscriptions or (engine.policy.subscriptions if not management_groups else None)
    text = pushdown.query(engine.policy)
    started = time.monotonic()
    try:
        rows = list(graph.rows(text, subscriptions=subs, management_groups=management_groups))
    except ArmError as exc:
        if management_groups:
            raise GraphScopeError(
                f"Resource Graph could not answer for management group(s) {', '.join(management_groups)} "
                f"({exc}); without it their subscriptions are unknown: pass --subscription instead"
            ) from exc
        reason = f"Resource Graph unavailable ({exc}); fell back to listing every subscription"
        log.warning("%s", reason)
        summary = engine.reconcile(subs, concurrency=concurrency, source=source, on_result=on_result)
        summary.details.update(source="list", fallback=reason, **graph.stats.as_dict())
        return summary

    graph_s = round(time.monotonic() - started, 2)
    summary = Summary()
    workers = max(1, concurrency or engine.arm.settings.sweep_concurrency)

    def one(row: dict[str, Any]) -> RegistryResult:
        registry = Registry(row)  # the SDK model over the same JSON ARM returns
        try:
            ref = RegistryRef.parse(str(row.get("id")))
        except ValueError as exc:  # one odd ID must not stop the sweep
            return engine._skip_unparsed(registry, str(exc), source)
        return engine.process(ref, listed=registry, source=source)

    with engine.audit.batch(), ThreadPoolExecutor(workers, thread_name_prefix="acrguard-sweep") as pool:
        for result in pool.map(one, rows):
            summary.results.append(result)
            if on_result:
                on_result(result)
    summary.details.update(
        source="resource-graph", candidates=len(rows), arg_s=graph_s, **graph.stats.as_dict()
    )
    return summary


def reconcile(engine: Engine, *, source: str = "reconcile") -> Summary:
    """The timer's sweep, from the source ``ACRGUARD_RECONCILE_SOURCE`` selects."""
    if engine.arm.settings.reconcile_source == "arg":
        return sweep(engine, source=source)
    return engine.reconcile(source=source)
