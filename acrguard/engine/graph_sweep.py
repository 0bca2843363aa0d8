"""A sweep whose candidates come from Azure Resource Graph, with the per-subscription list as fallback.

Two phases, so that what can be fixed is fixed first, whatever the estate's report-only findings:

- **fix**: a query with only the predicates of rules that may write (fixing rules not in dry-run,
  :func:`acrguard.engine.pushdown.write_predicate`), its rows decided on the sweep's worker threads;
- **report**: the whole policy's query, streamed page by page; each registry the fix phase did not
  decide is decided from its row (report-only findings such as ``firewall_unavailable``, dry-run
  plans), with no ARM call (but one list per collection an enabled child rule needs: ARG cannot
  see children). At 100,000 registries with 1 % drift the report phase has ~30 times
  the fix phase's rows, which one query (before) made every fix wait behind.

ARG is a hint. Its rows are ARM's registry documents (the same shape a list page carries): they
are candidates with state (acrguard.engine.sources), exactly like a list page's, so a registry
that would be written is re-read from ARM first (acrguard.engine.convergence): ARG's lag can cost
a GET but never a wrong write; a verdict taken from the row alone says so (``state_from:
resource-graph`` in its audit record).

When ARG cannot answer (forbidden, unavailable after retries, a truncated result, paging that would
not end, a quota that refills past the retry budget) the sweep switches sources: it lists the
subscriptions instead, and
says so in the summary (``details["fallback"]``) and a warning; what a phase had already decided
stands. No registry is decided twice in one sweep: its lower-cased ID is kept across pages, phases
and the fallback. A management group cannot be listed without ARG (its subscriptions are
what ARG resolves), so that raises.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from acrguard.azure.arm import ArmError
from acrguard.azure.resource_graph import ResourceGraph
from acrguard.engine import pushdown, sources
from acrguard.engine.core import Engine, RegistryResult, Summary
from acrguard.engine.sources import Candidate, Passed, Source

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
    """Sweep the tenant (or ``management_groups``, or ``subscriptions``) through Resource Graph:
    first fix (the registries a rule may write to), then report (every other registry that may
    violate the policy, decided from its row with no ARM call)."""
    graph = graph or ResourceGraph(engine.arm)
    subs = subscriptions or (engine.policy.subscriptions if not management_groups else None)
    fix_query, report_query = pushdown.phases(engine.policy, engine.run_mode)
    summary = Summary()
    once = _Once()

    def rows(text: str) -> Source:
        return once(
            sources.graph_rows(graph.rows(text, subscriptions=subs, management_groups=management_groups))
        )

    def run(candidates: Source, workers: int | None) -> None:
        engine.run(candidates, workers, source=source, on_result=on_result, into=summary)

    phases: dict[str, dict[str, Any]] = {}
    try:
        with engine.audit.batch():
            if fix_query is not None:  # on the sweep's workers: a write is a GET and a PATCH
                with _Phase(phases, "fix", graph, summary):
                    run(rows(fix_query), concurrency)
            if report_query is not None:  # on this thread: decided from the rows, no ARM call
                with _Phase(phases, "report", graph, summary):
                    run(rows(report_query), 1)
    except ArmError as exc:
        if management_groups:
            raise GraphScopeError(
                f"Resource Graph could not answer for management group(s) {', '.join(management_groups)} "
                f"({exc}); without it their subscriptions are unknown: pass --subscription instead"
            ) from exc
        reason = f"Resource Graph unavailable ({exc}); fell back to listing every subscription"
        log.warning("%s", reason)
        # Switch sources: what Resource Graph's phases decided before it failed stands (writes were
        # re-read from ARM first); the list decides, writes, audits and reports only the others.
        workers = engine.workers(concurrency)
        run(once(sources.list_pages(engine.arm, engine.policy, subs, workers)), workers)
        summary.details.update(source="list", fallback=reason, **graph.stats.as_dict())
        return summary
    summary.details.update(
        source="resource-graph",
        candidates=len(summary.results),
        arg_s=round(sum(p["arg_s"] for p in phases.values()), 2),
        phases=phases,
        **graph.stats.as_dict(),
    )
    return summary


class _Once:
    """Lets each registry through once across the sweep's sources: a page repeated, the report
    phase's rows that the fix phase decided, the fallback's list of what Resource Graph decided."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def __call__(self, candidates: Iterable[Candidate | Passed]) -> Iterator[Candidate | Passed]:
        for item in candidates:
            key = (item.ref.resource_id if isinstance(item, Candidate) else item.target or "").lower()
            if key in self._seen:
                continue
            self._seen.add(key)
            yield item


class _Phase:
    """Times one phase and counts what it cost and found, into ``phases[name]``."""

    def __init__(self, phases: dict[str, dict[str, Any]], name: str, graph: ResourceGraph, summary: Summary):
        self.phases, self.name, self.graph, self.summary = phases, name, graph, summary

    def __enter__(self) -> None:
        self.started, self.epoch = time.monotonic(), time.time()
        self.queries, self.results = self.graph.stats.queries, len(self.summary.results)
        self.graph_s = self.graph.stats.seconds

    def __exit__(self, *exc: object) -> None:
        results = self.summary.results[self.results :]
        records = [r.outcome for result in results for r in result.records]
        self.phases[self.name] = {
            "arg_queries": self.graph.stats.queries - self.queries,
            "registries": len(results),
            **Summary(results).counts,
            "findings": sum(o in ("planned", "flagged") for o in records),  # one per rule's verdict
            "fixes": records.count("applied"),
            "wall_s": round(time.monotonic() - self.started, 2),
            "arg_s": round(self.graph.stats.seconds - self.graph_s, 2),
            "started_at": self.epoch,
            "ended_at": time.time(),
        }


def describe(details: dict[str, Any]) -> str:
    """One line on what each phase found and cost (the CLI's note on stderr)."""
    fix, report = details["phases"].get("fix"), details["phases"].get("report")
    parts = []
    if fix:
        parts.append(
            f"fix phase: {fix['registries']} registries a rule may write to ({fix['arg_queries']} queries), "
            f"{fix['fixes']} fixes, {fix['findings']} findings"
        )
    if report:
        parts.append(
            f"report phase: {report['registries']} more may violate the policy ({report['arg_queries']} "
            f"queries), {report['findings']} findings decided from Resource Graph's rows (no registry read)"
        )
    return (
        "Resource Graph: "
        + ("; ".join(parts) or "no rule can find anything")
        + ("; the others are compliant by the query")
    )


def reconcile(engine: Engine, *, source: str = "reconcile") -> Summary:
    """The timer's sweep, from the source ``ACRGUARD_RECONCILE_SOURCE`` selects."""
    if engine.arm.settings.reconcile_source == "arg":
        return sweep(engine, source=source)
    return engine.reconcile(source=source)
