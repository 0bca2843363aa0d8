"""The one code path behind every entry point: candidates in, one convergence per registry, records out.

The engine knows no trigger and no terminal: the Event Grid function, the timer, the CLI and the
demo all call :meth:`Engine.handle` (events), :meth:`Engine.process` (one registry),
:meth:`Engine.reconcile` (whole subscriptions) or :meth:`Engine.run` (any source of candidates,
acrguard.engine.sources). Each registry's way from its state to its records reads top to bottom
in acrguard.engine.convergence.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acrguard.audit import Audit, AuditRecord
from acrguard.azure.arm import Arm, ArmError, TransientArmError
from acrguard.azure.resource_ids import RegistryRef
from acrguard.budget import Clock
from acrguard.engine import children, sources
from acrguard.engine.convergence import Convergence
from acrguard.engine.records import RegistryResult
from acrguard.engine.sources import ARM, Candidate, Passed, Source
from acrguard.events import EventContext, accepted_operations
from acrguard.policy import Policy
from acrguard.run_mode import POLICY_DECIDES, RunMode, default_mode

if TYPE_CHECKING:
    from acrguard.engine.lease import RegistryLeases

log = logging.getLogger("acrguard.engine")


@dataclass
class Summary:
    """Counts of registry outcomes for a reconcile or sweep."""

    results: list[RegistryResult] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)  # where the registries came from (graph_sweep)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r.outcome for r in self.results)
        return {
            o: counts.get(o, 0) for o in ("compliant", "applied", "planned", "flagged", "skipped", "failed")
        }

    @property
    def in_transition(self) -> dict[str, int]:
        """Registries left unwritten because ARM was creating, updating or deleting them, by state:
        Deleting ones are skipped, Creating/Updating ones raised for redelivery (acrguard.engine.provisioning)."""
        return dict(Counter(r.provisioning_state.capitalize() for r in self.results if r.provisioning_state))

    @property
    def transient_errors(self) -> list[ArmError]:
        return [r.error for r in self.results if isinstance(r.error, TransientArmError)]


class Engine:
    def __init__(
        self,
        policy: Policy,
        arm: Arm,
        audit: Audit | None = None,
        leases: RegistryLeases | None = None,
        run_mode: RunMode = POLICY_DECIDES,
    ) -> None:
        self.policy = policy
        self.run_mode = run_mode  # the operator's mode: plan() applies it over the policy's
        self.arm = arm
        self.audit = audit or Audit()
        # Across instances: one writer of a registry's IP rule list at a time (acrguard.engine.lease).
        self.leases = leases
        # Two deliveries of the same registry in this process are serialised so the second
        # re-reads after the first wrote (one write, not two).
        self._locks = RegistryLocks()
        # The operations this policy's rules react to (the deployment's Event Grid filter): a
        # token's write with repository_tokens off is skipped, naming the rule, without a read.
        self._operations = accepted_operations(policy)

    @property
    def clock(self) -> Clock:
        return self.arm.clock

    # -- entry points ---------------------------------------------------------------------------

    def handle(self, payload: Any, source: str = "event") -> list[RegistryResult]:
        """Handle one event or a batch. Raises TransientArmError (after every event was tried)."""
        results = self.run(sources.events(payload, self._operations), 1, source=source).results
        transient = [r.error for r in results if isinstance(r.error, TransientArmError)]
        if transient:
            raise transient[0]
        return results

    def process(
        self,
        ref: RegistryRef,
        context: EventContext | None = None,
        *,
        state: Any | None = None,
        origin: str = ARM,
        source: str = "event",
    ) -> RegistryResult:
        """Converge one registry. ``state``: as a list page, a Resource Graph row or the caller read
        it (``origin``, the records' ``state_from``); no GET then, unless there is drift to fix,
        when it is re-read first so that a stale state cannot drop a rule."""
        return self.converge(Candidate(ref, state, origin, context or EventContext()), source)

    def reconcile(
        self,
        subscriptions: Iterable[str] | None = None,
        *,
        concurrency: int | None = None,
        source: str = "reconcile",
        on_result: Callable[[RegistryResult], None] | None = None,
    ) -> Summary:
        """Every registry of every scoped subscription, from list pages (no per-registry GET)."""
        workers = self.workers(concurrency)
        listed = sources.list_pages(self.arm, self.policy, subscriptions, workers)
        return self.run(listed, workers, source=source, on_result=on_result)

    def run(
        self,
        candidates: Source,
        concurrency: int | None = None,
        *,
        source: str = "reconcile",
        on_result: Callable[[RegistryResult], None] | None = None,
        into: Summary | None = None,
    ) -> Summary:
        """Decide every candidate, ``concurrency`` at a time (1: on this thread, in order), inside
        one notification batch; results in the candidates' order, into ``into`` when given. What
        was decided is reported even when the source fails part way (its error is then raised)."""
        summary = into if into is not None else Summary()
        workers = self.workers(concurrency)

        def done(result: RegistryResult) -> None:
            summary.results.append(result)
            if on_result:
                on_result(result)

        # The pool exits (every decision made) before the batch does (notifications sent).
        with self.audit.batch():
            if workers == 1:
                for item in candidates:
                    done(self.decide(item, source))
                return summary
            from concurrent.futures import Future

            from acrguard.engine.context_pool import ContextPool

            # A ContextPool: each worker keeps this call's notification batch and deadline.
            with ContextPool(max_workers=workers, thread_name_prefix="acrguard-sweep") as pool:
                pending: list[Future[RegistryResult] | RegistryResult] = []
                try:
                    for item in candidates:
                        if isinstance(item, Passed):
                            pending.append(self.decide(item, source))
                        else:
                            pending.append(pool.submit(self.decide, item, source))
                finally:
                    for each in pending:
                        done(each.result() if isinstance(each, Future) else each)
        return summary

    def workers(self, concurrency: int | None) -> int:
        return max(1, concurrency or self.arm.settings.sweep_concurrency)

    # -- one candidate --------------------------------------------------------------------------

    def decide(self, item: Candidate | Passed, source: str) -> RegistryResult:
        return self.converge(item, source) if isinstance(item, Candidate) else self._passed(item, source)

    def converge(self, candidate: Candidate, source: str) -> RegistryResult:
        convergence = Convergence(self, candidate, source)
        if reason := self.policy.scope_reason(candidate.ref):
            convergence.emit("skipped", None, reason)
            return convergence.result
        # Notifications of this registry's decisions leave after its lock is released: a slow
        # sink never holds up another delivery for this registry.
        with self.audit.batch(), self._locks.hold(candidate.ref.key):
            return convergence.run()

    def children(self, ref: RegistryRef, registry: Any) -> dict[str, Any]:
        """The child collections the rules enabled for ``registry`` need (none for the default policy)."""
        return children.collections(self.policy, self.arm, ref, registry)

    def _passed(self, item: Passed, source: str) -> RegistryResult:
        """One record for what a source could not make a candidate of."""
        ctx = item.context
        record = AuditRecord(
            item.outcome,
            item.target,
            None,
            item.reason,
            mode=default_mode(self.policy, self.run_mode),
            event_id=ctx.event_id,
            event_time=ctx.event_time,
            correlation_id=ctx.correlation_id,
            caller=ctx.caller,
            duration_ms=0.0 if item.target is None else None,  # an event skipped before any read
            source=source,
        )
        result = RegistryResult(item.target, error=item.error)
        result.records.append(self.audit.emit(record))
        return result


class RegistryLocks:
    """One lock per registry while someone holds or waits for it; forgotten when the last leaves.

    Exact, where the 64 striped locks it replaces were not: a write (GET, settle, PATCH) held the
    stripe of 1/64 of all registries, so a sweep's other workers, deciding compliant rows in a
    millisecond each, soon all queued behind it and a 100,000-registry sweep wrote about one
    registry at a time. Memory is bounded by the registries in flight.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, list[int]]] = {}

    def __len__(self) -> int:
        """Registries held or waited for now."""
        with self._guard:
            return len(self._held)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._held.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._held[key]
