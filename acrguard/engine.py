"""The one code path behind every entry point: re-read, evaluate, one minimal PATCH, confirm, audit.

The engine knows no trigger and no terminal: the Event Grid function, the timer, the CLI and the
demo all call :meth:`Engine.handle` (events), :meth:`Engine.process` (one registry) or
:meth:`Engine.reconcile` (whole subscriptions).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from acrguard.arm import Arm, ArmError, PermanentArmError, RegistryNotFound, TransientArmError
from acrguard.audit import Audit, AuditRecord, Outcome
from acrguard.events import EventContext, Skip, parse_events
from acrguard.policy import Policy, Resolution
from acrguard.resource_ids import RegistryRef
from remediators import Evaluation, Status, all_remediators
from remediators.base import sku_name

log = logging.getLogger("acrguard.engine")

#: A registry's overall outcome is its most serious rule outcome, in this order.
_SEVERITY: tuple[Outcome, ...] = ("failed", "applied", "planned", "flagged", "compliant", "skipped")
_STATUS_OUTCOME: dict[Status, Outcome] = {
    Status.COMPLIANT: "compliant",
    Status.FLAGGED: "flagged",
    Status.BLOCKED: "flagged",  # a fix exists but is unsafe or impossible: a person decides
    Status.UNSUPPORTED: "skipped",
}
_LOCK_STRIPES = 64


@dataclass
class RegistryResult:
    """Everything decided about one registry in one pass."""

    registry: str | None
    records: list[AuditRecord] = field(default_factory=list)
    error: ArmError | None = None  # a transient error the caller must surface (redelivery)

    @property
    def outcome(self) -> Outcome:
        outcomes = {r.outcome for r in self.records}
        return next((o for o in _SEVERITY if o in outcomes), "skipped")


@dataclass
class Summary:
    """Counts of registry outcomes for a reconcile or sweep."""

    results: list[RegistryResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = Counter(r.outcome for r in self.results)
        return {
            o: counts.get(o, 0) for o in ("compliant", "applied", "planned", "flagged", "skipped", "failed")
        }

    @property
    def transient_errors(self) -> list[ArmError]:
        return [r.error for r in self.results if isinstance(r.error, TransientArmError)]


class Engine:
    def __init__(self, policy: Policy, arm: Arm, audit: Audit | None = None) -> None:
        self.policy = policy
        self.arm = arm
        self.audit = audit or Audit()
        self._remediators = {r.name: r for r in all_remediators()}
        # Striped locks: two deliveries of the same registry in this process are serialised so the
        # second re-reads after the first wrote (one write, not two). Bounded memory by design.
        self._locks = [threading.Lock() for _ in range(_LOCK_STRIPES)]

    # -- entry points ---------------------------------------------------------------------------

    def handle(self, payload: Any, source: str = "event") -> list[RegistryResult]:
        """Handle one event or a batch. Raises TransientArmError (after every event was tried)."""
        results: list[RegistryResult] = []
        for parsed in parse_events(payload):
            if isinstance(parsed, Skip):
                results.append(self._skip_event(parsed, source))
            else:
                results.append(self.process(parsed.ref, parsed.context, source=source))
        transient = [r.error for r in results if isinstance(r.error, TransientArmError)]
        if transient:
            raise transient[0]
        return results

    def process(
        self,
        ref: RegistryRef,
        context: EventContext | None = None,
        *,
        listed: Any | None = None,
        source: str = "event",
    ) -> RegistryResult:
        """Converge one registry. ``listed`` is its state from a list call (sweep): no GET then,
        unless there is drift to fix, when it is re-read first so a stale list cannot drop a rule."""
        context = context or EventContext()
        started = time.monotonic()
        result = RegistryResult(ref.resource_id)
        emit = self._emitter(result, ref, context, source, started)

        if reason := self.policy.scope_reason(ref):
            emit("skipped", None, reason)
            return result
        with self._locks[hash(ref.key) % _LOCK_STRIPES]:
            try:
                registry = listed if listed is not None else self.arm.get(ref)
                self._converge(ref, registry, emit, fresh=listed is None)
            except RegistryNotFound as exc:
                emit("skipped", None, str(exc))
            except TransientArmError as exc:
                emit("failed", None, f"{exc}; raised so the event is redelivered")
                result.error = exc
            except ArmError as exc:
                emit("failed", None, str(exc))
                result.error = exc
        return result

    def reconcile(
        self,
        subscriptions: Iterable[str] | None = None,
        *,
        concurrency: int | None = None,
        source: str = "reconcile",
        on_result: Callable[[RegistryResult], None] | None = None,
    ) -> Summary:
        """Every registry of every scoped subscription, from list pages (no per-registry GET).

        Subscriptions are listed in parallel (at most ``concurrency`` at once): a subscription's
        pages are sequential (each needs the previous continuation token), so listing them one
        subscription after another made a 10-subscription sweep wait for every page in turn.
        ARM throttles reads per subscription, so this does not raise any one subscription's rate.
        """
        from concurrent.futures import Future, ThreadPoolExecutor

        summary = Summary()
        subs = list(subscriptions or self.policy.subscriptions or self.arm.list_subscriptions())
        workers = max(1, concurrency or self.arm.settings.sweep_concurrency)
        # The pool exits (every decision made) before the batch does (notifications sent).
        with (
            self.audit.batch(),
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="acrguard-sweep") as pool,
        ):

            def list_one(sub: str) -> tuple[list[Future[RegistryResult]], RegistryResult | None]:
                listed: list[Future[RegistryResult]] = []
                try:
                    for registry in self.arm.list_registries(sub):
                        ref = RegistryRef.parse(registry.id)
                        listed.append(pool.submit(self.process, ref, listed=registry, source=source))
                except ArmError as exc:
                    return listed, self._skip_subscription(sub, str(exc), source, outcome="failed", error=exc)
                return listed, None

            in_scope = []
            for sub in subs:
                probe = RegistryRef(sub.lower(), "scope-check", "scopecheck")
                if reason := self.policy.scope_reason(probe):
                    summary.results.append(self._skip_subscription(sub, reason, source))
                else:
                    in_scope.append(sub)
            futures: list[Future[RegistryResult]] = []
            if in_scope:
                with ThreadPoolExecutor(
                    max_workers=min(workers, len(in_scope)), thread_name_prefix="acrguard-list"
                ) as listers:
                    for listed, failure in listers.map(list_one, in_scope):  # subscription order
                        futures += listed
                        if failure is not None:
                            summary.results.append(failure)
            for future in futures:
                result = future.result()
                summary.results.append(result)
                if on_result:
                    on_result(result)
        return summary

    # -- the decision ---------------------------------------------------------------------------

    def _converge(self, ref: RegistryRef, registry: Any, emit: _Emit, *, fresh: bool) -> None:
        resolution = self.policy.resolve(ref, registry.tags)
        sku = sku_name(registry)
        evaluations = self._evaluate(registry, resolution)
        if not evaluations:
            emit("skipped", None, "no rule is enabled for this registry", sku=sku)
            return
        if resolution.exempt_reason:
            for ev in evaluations:
                verdict = "would be fixed" if ev.status is Status.DRIFT else ev.status.value
                emit(
                    "skipped",
                    ev,
                    f"{resolution.exempt_reason}; {verdict}: {ev.reason}",
                    sku=sku,
                    mode="exempt",
                )
            return

        to_fix = [
            ev
            for ev in evaluations
            if ev.status is Status.DRIFT and resolution.rule_mode(ev.rule) == "enforce"
        ]
        if to_fix and not fresh:
            # State came from a list page: re-read before writing (networkRuleSet is replaced whole).
            self._converge(ref, self.arm.get(ref), emit, fresh=True)
            return

        for ev in evaluations:
            mode = resolution.rule_mode(ev.rule)
            if ev.status is Status.DRIFT and mode == "dry-run":
                emit("planned", ev, ev.reason, after=ev.after, sku=sku, mode=mode)
            elif ev.status is not Status.DRIFT:
                emit(_STATUS_OUTCOME[ev.status], ev, ev.reason, sku=sku, mode=mode)
        if to_fix:
            self._apply(ref, registry, resolution, to_fix, emit, sku)

    def _apply(
        self,
        ref: RegistryRef,
        registry: Any,
        resolution: Resolution,
        to_fix: list[Evaluation],
        emit: _Emit,
        sku: str,
    ) -> None:
        from azure.mgmt.containerregistry.models import RegistryUpdateParameters

        change: dict[str, Any] = {}
        for ev in to_fix:
            for key, value in ev.change.items():
                if key in change and change[key] != value:
                    raise PermanentArmError(f"rules disagree on {key}: {ev.rule} and another rule")
                change[key] = value
        params = RegistryUpdateParameters(**change)

        def fixed(current: Any) -> bool:
            return all(
                self._evaluate_one(current, resolution, ev.rule).status is not Status.DRIFT for ev in to_fix
            )

        try:
            updated = self.arm.update(ref, params, already_done=fixed)
        except TransientArmError:
            raise
        except RegistryNotFound as exc:  # deleted between the read and the write: nothing to fix
            for ev in to_fix:
                emit("skipped", ev, str(exc), sku=sku, mode="enforce")
            return
        except ArmError as exc:
            for ev in to_fix:
                emit("failed", ev, f"PATCH rejected: {exc}", after=ev.after, sku=sku, mode="enforce")
            return
        for ev in to_fix:
            confirmed = self._evaluate_one(updated, resolution, ev.rule)
            if confirmed.status is Status.DRIFT:
                emit(
                    "failed",
                    ev,
                    f"ARM accepted the PATCH but the registry still drifts: {confirmed.reason}",
                    after=confirmed.before,
                    sku=sku,
                    mode="enforce",
                )
            else:
                emit("applied", ev, ev.reason, after=confirmed.before, sku=sku, mode="enforce")

    def _evaluate(self, registry: Any, resolution: Resolution) -> list[Evaluation]:
        return [self._evaluate_one(registry, resolution, name) for name in resolution.enabled()]

    def _evaluate_one(self, registry: Any, resolution: Resolution, name: str) -> Evaluation:
        return self._remediators[name].evaluate(registry, resolution.rules[name])

    # -- audit helpers --------------------------------------------------------------------------

    def _emitter(
        self, result: RegistryResult, ref: RegistryRef, context: EventContext, source: str, started: float
    ) -> _Emit:
        def emit(
            outcome: Outcome,
            ev: Evaluation | None,
            reason: str,
            *,
            after: dict[str, Any] | None = None,
            sku: str | None = None,
            mode: str | None = None,
        ) -> None:
            record = AuditRecord(
                outcome=outcome,
                registry=ref.resource_id,
                rule=ev.rule if ev else None,
                reason=reason,
                mode=mode or self._default_mode(),
                before=(ev.before or None) if ev else None,
                after=after if after is not None else (ev.before if ev and outcome == "compliant" else None),
                event_id=context.event_id,
                correlation_id=context.correlation_id,
                caller=context.caller,
                duration_ms=round((time.monotonic() - started) * 1000, 1),
                sku=sku,
                notes=list(ev.notes) if ev else [],
                source=source,
            )
            result.records.append(self.audit.emit(record))

        return emit

    def _default_mode(self) -> str:
        return self.policy.mode_override or self.policy.doc.mode

    def _skip_event(self, skip: Skip, source: str) -> RegistryResult:
        ctx = skip.context
        result = RegistryResult(None)
        record = AuditRecord(
            outcome="skipped",
            registry=None,
            rule=None,
            reason=skip.reason,
            mode=self._default_mode(),
            event_id=ctx.event_id,
            correlation_id=ctx.correlation_id,
            caller=ctx.caller,
            duration_ms=0.0,
            source=source,
        )
        result.records.append(self.audit.emit(record))
        return result

    def _skip_subscription(
        self, sub: str, reason: str, source: str, outcome: Outcome = "skipped", error: ArmError | None = None
    ) -> RegistryResult:
        result = RegistryResult(f"/subscriptions/{sub}", error=error)
        record = AuditRecord(
            outcome, f"/subscriptions/{sub}", None, reason, mode=self._default_mode(), source=source
        )
        result.records.append(self.audit.emit(record))
        return result


_Emit = Callable[..., None]
