"""The one code path behind every entry point: re-read, evaluate, one minimal PATCH, confirm, audit.

The engine knows no trigger and no terminal: the Event Grid function, the timer, the CLI and the
demo all call :meth:`Engine.handle` (events), :meth:`Engine.process` (one registry) or
:meth:`Engine.reconcile` (whole subscriptions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Iterable
from typing import Any

from acrguard import budget, provisioning
from acrguard.arm import (
    Arm,
    ArmError,
    PermanentArmError,
    RegistryNotFound,
    TransientArmError,
    Unsettled,
)
from acrguard.audit import Audit, AuditRecord, Outcome
from acrguard.child_writes import write_children
from acrguard.clock import Clock
from acrguard.events import EventContext, Skip, accepted_operations, parse_events
from acrguard.locks import RegistryLocks
from acrguard.plan import Plan, RuleDecision, children_needed, plan, remediators
from acrguard.policy import Policy
from acrguard.resource_ids import RegistryRef
from acrguard.results import RegistryResult, Summary
from remediators import Status
from remediators.base import Children

log = logging.getLogger("acrguard.engine")


class Engine:
    def __init__(self, policy: Policy, arm: Arm, audit: Audit | None = None) -> None:
        self.policy = policy
        self.arm = arm
        self.audit = audit or Audit()
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
        results: list[RegistryResult] = []
        for parsed in parse_events(payload, self._operations):
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
        listed_from: str = "arm",
        source: str = "event",
    ) -> RegistryResult:
        """Converge one registry. ``listed`` is its state from a list call or a Resource Graph row
        (``listed_from``, carried into the records as ``state_from``): no GET then, unless there is
        drift to fix, when it is re-read first so a stale list cannot drop a rule."""
        context = context or EventContext()
        started = time.monotonic()
        result = RegistryResult(ref.resource_id)
        state_from: list[str | None] = [None]  # what the next records are decided from
        emit = self._emitter(result, ref, context, source, started, state_from)

        if reason := self.policy.scope_reason(ref):
            emit("skipped", None, reason)
            return result
        # Notifications of this registry's decisions leave after its lock is released: a slow
        # sink never holds up another delivery for this registry.
        with self.audit.batch(), self._locks.hold(ref.key):
            try:
                state_from[0] = listed_from if listed is not None else "arm"
                registry = listed if listed is not None else self.arm.get(ref)
                self._converge(ref, registry, emit, fresh=listed is None, state_from=state_from)
            except RegistryNotFound as exc:
                emit("skipped", None, str(exc))
            except provisioning.BeingDeleted as exc:
                emit("skipped", None, str(exc))
                result.provisioning_state = exc.state
            except TransientArmError as exc:
                if not exc.audited:
                    emit("failed", None, f"{exc}; raised so the event is redelivered")
                result.error = exc
                result.provisioning_state = getattr(exc.__cause__, "state", None)
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
        decided: Container[str] = (),
    ) -> Summary:
        """Every registry of every scoped subscription, from list pages (no per-registry GET),
        except those in ``decided`` (lower-case IDs a Resource Graph sweep decided before failing).

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
                        try:
                            ref = RegistryRef.parse(registry.id)
                        except ValueError as exc:  # one odd ID must not stop the sweep
                            unparsed.append(self._skip_unparsed(registry, str(exc), source))
                            continue
                        if ref.resource_id.lower() not in decided:
                            # The worker keeps this invocation's deadline (acrguard.budget).
                            decide = budget.carried(self.process)
                            listed.append(pool.submit(decide, ref, listed=registry, source=source))
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
            unparsed: list[RegistryResult] = []
            if in_scope:
                with ThreadPoolExecutor(
                    max_workers=min(workers, len(in_scope)), thread_name_prefix="acrguard-list"
                ) as listers:
                    for listed, failure in listers.map(budget.carried(list_one), in_scope):  # in order
                        futures += listed
                        if failure is not None:
                            summary.results.append(failure)
            for result in [*unparsed, *(future.result() for future in futures)]:
                summary.results.append(result)
                if on_result:
                    on_result(result)
        return summary

    # -- the decision ---------------------------------------------------------------------------

    def children(self, ref: RegistryRef, registry: Any, known: Children | None = None) -> dict[str, Any]:
        """The child collections the rules enabled for ``registry`` need, ``known`` ones reused: one
        list call per collection still missing, none at all for the default policy."""
        have = dict(known or {})
        missing = [c for c in children_needed(self.policy, ref, registry) if c not in have]
        if missing:
            from acrguard.arm_children import list_children  # loaded only when a child rule is on

            have.update(list_children(self.arm, ref, missing))
        return have

    def _converge(
        self,
        ref: RegistryRef,
        registry: Any,
        emit: _Emit,
        *,
        fresh: bool,
        known: Children | None = None,
        state_from: list[str | None],
    ) -> None:
        # A registry ARM is deleting is never written, and costs no further call (not even a GET
        # when it came from a list page or a Resource Graph row).
        provisioning.check_not_deleting(registry)
        children = self.children(ref, registry, known)
        if state_from[0] == "resource-graph" and set(children) - set(known or {}):
            state_from[0] = "resource-graph+arm"  # the registry from ARG, its children listed from ARM
        decided = plan(self.policy, ref, registry, children)
        if not decided.decisions:
            emit("skipped", None, "no rule is enabled for this registry", sku=decided.sku)
            return
        if (decided.writes or decided.child_fixes) and (not fresh or provisioning.in_flight(registry)):
            # State came from a list page or Resource Graph: re-read before writing (networkRuleSet
            # is replaced whole; a tag may since exempt the registry or match a dry-run override,
            # which child writes must honour too), and decide every rule from that read. A registry
            # ARM is creating or updating is read again until that ends (or raised for redelivery).
            fresh_state = self.arm.get(ref, until_idle=True)
            state_from[0] = "arm"
            self._converge(ref, fresh_state, emit, fresh=True, known=children, state_from=state_from)
            return
        exempt = decided.resolution.exempt_reason
        for d in decided.decisions:
            if d.action == "fix":
                continue
            if exempt:
                verdict = (
                    "would be fixed" if d.evaluation.status is Status.DRIFT else d.evaluation.status.value
                )
                emit("skipped", d, f"{exempt}; {verdict}: {d.evaluation.reason}", sku=decided.sku)
            elif d.outcome == "planned":
                emit("planned", d, d.evaluation.reason, after=d.evaluation.after, sku=decided.sku)
            else:
                emit(d.outcome, d, d.evaluation.reason, sku=decided.sku)
        if decided.conflict:
            for d in decided.to_fix:
                emit("failed", d, decided.conflict, after=d.evaluation.after, sku=decided.sku)
        elif decided.to_fix:
            self._write(ref, registry, decided, emit, children)
        for d in decided.child_fixes:
            write_children(self.policy, self.arm, ref, registry, d, children, emit, decided.sku)

    def _write(self, ref: RegistryRef, registry: Any, first: Plan, emit: _Emit, children: Children) -> None:
        """One PATCH of the merged change, recomputed from the read just before every attempt."""
        started = self.clock.time()
        last = [first]
        sent: dict[str, RuleDecision] = {}  # by rule: what our latest PATCH carried for it

        def prepare(current: Any) -> Any:
            last[0] = now = plan(self.policy, ref, current, self.children(ref, current, children))
            if now.conflict:
                raise PermanentArmError(now.conflict)
            if now.writes and now.replaces_lists:
                self._wait_until_settled(ref, current, started)
            sent.update((d.rule, d) for d in now.to_fix)
            return now.params()

        sku = first.sku
        try:
            updated, _ = self.arm.update(ref, registry, prepare)
        except TransientArmError:
            raise
        except RegistryNotFound as exc:  # deleted between the read and the write: nothing to fix
            for d in first.to_fix:
                emit("skipped", d, str(exc), sku=sku)
            return
        except ArmError as exc:
            for d in last[0].to_fix or first.to_fix:
                emit("failed", d, f"PATCH rejected: {exc}", after=d.evaluation.after, sku=sku)
            return
        after = plan(self.policy, ref, updated, self.children(ref, updated, children))
        confirmed = {d.rule: d for d in after.decisions}
        planned = {d.rule for d in first.to_fix}
        # A rule that drifted only while we waited to write (its first verdict is already in the
        # audit) was fixed by our PATCH too: it gets its own record of that write.
        for d in [*first.to_fix, *(d for rule, d in sent.items() if rule not in planned)]:
            now = confirmed.get(d.rule)
            if d.rule not in sent:
                # The read just before writing no longer drifted for this rule and we never sent
                # it: someone else fixed it. Report the state as read.
                if now is None:
                    emit("skipped", d, "the rule no longer applies to this registry", sku=sku)
                else:
                    reason = f"already fixed when re-read before writing: {now.evaluation.reason}"
                    emit(now.outcome, now, reason, sku=sku)
                continue
            ours = sent[d.rule]
            if now is not None and now.evaluation.status is Status.DRIFT:
                reason = f"ARM accepted the PATCH but the registry still drifts: {now.evaluation.reason}"
                emit("failed", ours, reason, after=now.evaluation.before, sku=sku)
            elif ours.needs_person:
                # Fixed what we could, but what is left needs a person (e.g. a kept 0.0.0.0/0 rule):
                # the decision is "flagged", never reported as done.
                reason = f"changed ({ours.evaluation.reason}), but a person must act: " + "; ".join(
                    ours.evaluation.notes
                )
                emit("flagged", ours, reason, after=now.evaluation.before if now else None, sku=sku)
            else:
                after = now.evaluation.before if now else ours.evaluation.after
                emit("applied", ours, ours.evaluation.reason, after=after, sku=sku)

    def _wait_until_settled(self, ref: RegistryRef, current: Any, started: float) -> None:
        """Raise :class:`Unsettled` while the registry was changed less than ``settle_s`` ago.

        Registries have no ETag, so a PATCH of the whole IP rule list cannot be conditional: a rule
        someone adds between our read and our write would be dropped. People add rules in bursts
        (``az acr network-rule add`` is a GET and a PATCH, often run a few times in a row), so we
        write only once the registry has been quiet for ``settle_s``, from a read taken then.
        """
        settle = self.arm.settings.settle_s
        system = getattr(current, "system_data", None)
        modified = getattr(system, "last_modified_at", None)
        if settle <= 0 or modified is None:
            return
        now = self.clock.time()
        age = now - modified.timestamp()
        if age >= settle:
            return
        waited = now - started
        who = getattr(system, "last_modified_by", None) or "someone"
        if waited + (settle - age) > self.arm.settings.retry_budget_s:
            raise TransientArmError(
                f"PATCH {ref}: the registry kept changing for {waited:.1f}s (last by {who}); "
                "not writing its IP rules now, raised so the event is redelivered"
            )
        raise Unsettled(
            f"{ref} was changed {max(age, 0):.1f}s ago by {who}; waiting for it to settle before "
            "replacing its IP rules",
            settle - max(age, 0.0),
        )

    # -- audit helpers --------------------------------------------------------------------------

    def _emitter(
        self,
        result: RegistryResult,
        ref: RegistryRef,
        context: EventContext,
        source: str,
        started: float,
        state_from: list[str | None],
    ) -> _Emit:
        def emit(
            outcome: Outcome,
            decision: RuleDecision | None,
            reason: str,
            *,
            after: dict[str, Any] | None = None,
            sku: str | None = None,
        ) -> None:
            ev = decision.evaluation if decision else None
            mode = decision.mode if decision else None
            rule = remediators().get(ev.rule) if ev else None
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
                state_from=state_from[0],
                severity=rule.severity if rule else None,
                controls=rule.controls() if rule else {},
                references=list(rule.references) if rule else [],
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

    def _skip_unparsed(self, registry: Any, reason: str, source: str) -> RegistryResult:
        """A listed registry whose ID cannot be handled: skipped with the reason, the sweep goes on."""
        registry_id = str(getattr(registry, "id", None) or "<no id>")[:300]
        result = RegistryResult(registry_id)
        record = AuditRecord(
            "skipped",
            registry_id,
            None,
            f"cannot handle this registry's ID: {reason}",
            mode=self._default_mode(),
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
