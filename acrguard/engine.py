"""The one code path behind every entry point: re-read, evaluate, one minimal PATCH, confirm, audit.

(Two PATCHes only when the IP rule list must wait to settle: the rest is written at once.)

The engine knows no trigger and no terminal: the Event Grid function, the timer, the CLI and the
demo all call :meth:`Engine.handle` (events), :meth:`Engine.process` (one registry) or
:meth:`Engine.reconcile` (whole subscriptions).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acrguard import provisioning
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
from acrguard.exemption import exemption_fields, exemption_note
from acrguard.locks import RegistryLocks
from acrguard.plan import Plan, RuleDecision, children_needed, plan, remediators
from acrguard.policy import Policy
from acrguard.resource_ids import RegistryRef
from acrguard.results import RegistryResult, Summary
from acrguard.settle import MAX_DEFERRALS, ListQuiet
from remediators import Status
from remediators.base import Children

if TYPE_CHECKING:
    from acrguard.lease import RegistryLeases

log = logging.getLogger("acrguard.engine")


class Engine:
    def __init__(
        self, policy: Policy, arm: Arm, audit: Audit | None = None, leases: RegistryLeases | None = None
    ) -> None:
        self.policy = policy
        self.arm = arm
        self.audit = audit or Audit()
        # Across instances: one writer of a registry's IP rule list at a time (acrguard.lease).
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
                self._converge(
                    ref,
                    registry,
                    emit,
                    fresh=listed is None,
                    state_from=state_from,
                    written=context.registry_written,
                )
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
        from concurrent.futures import Future

        # Workers run in a copy of this call's context: its notification batch and its deadline.
        from acrguard.context_pool import ContextPool

        summary = Summary()
        subs = list(subscriptions or self.policy.subscriptions or self.arm.list_subscriptions())
        workers = max(1, concurrency or self.arm.settings.sweep_concurrency)
        # The pool exits (every decision made) before the batch does (notifications sent).
        with (
            self.audit.batch(),
            ContextPool(max_workers=workers, thread_name_prefix="acrguard-sweep") as pool,
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
                            # A ContextPool: the worker keeps this call's batch and deadline.
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
            unparsed: list[RegistryResult] = []
            if in_scope:
                with ContextPool(
                    max_workers=min(workers, len(in_scope)), thread_name_prefix="acrguard-list"
                ) as listers:
                    for listed, failure in listers.map(list_one, in_scope):  # subscription order
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
        state_from: list[str | None],
        written: bool = False,
    ) -> None:
        """``written``: an event told of a write of the registry itself (which can set its tags)."""
        # A registry ARM is deleting is never written, and costs no further call (not even a GET
        # when it came from a list page or a Resource Graph row).
        provisioning.check_not_deleting(registry)
        children = self.children(ref, registry)
        if state_from[0] == "resource-graph" and children:
            state_from[0] = "resource-graph+arm"  # the registry from ARG, its children listed from ARM
        decided = plan(self.policy, ref, registry, children, self.clock.time())
        if not decided.decisions:
            emit("skipped", None, "no rule is enabled for this registry", sku=decided.sku)
            return
        if (decided.writes or decided.child_fixes) and (not fresh or provisioning.in_flight(registry)):
            # State came from a list page or Resource Graph: re-read before writing (networkRuleSet
            # is replaced whole; a tag may since exempt the registry or match a dry-run override,
            # which child writes must honour too), and decide every rule from that read. The
            # children are listed again with it: a token created since the first list would
            # otherwise stay enabled under an "applied" record. A registry ARM is creating or
            # updating is read again until that ends (or raised for redelivery).
            fresh_state = self.arm.get(ref, until_idle=True)
            state_from[0] = "arm"
            self._converge(ref, fresh_state, emit, fresh=True, state_from=state_from, written=written)
            return
        for d in decided.decisions:
            if d.action == "fix":
                continue
            exempt = d.mode_from if d.mode == "exempt" else None
            by_tag = exempt is not None and d.exemption is not None and d.exemption.by == "tag"
            if by_tag and d.evaluation.status is Status.DRIFT and (written or d.exemption.problem):
                reason = _exempted_by_a_write(exempt, d, registry)  # left as it is: after = before
                emit("flagged", d, reason, after=d.evaluation.before, sku=decided.sku)
            elif exempt:
                verdict = (
                    "would be fixed" if d.evaluation.status is Status.DRIFT else d.evaluation.status.value
                )
                emit("skipped", d, f"{exempt}; {verdict}: {d.evaluation.reason}", sku=decided.sku)
            elif d.outcome == "planned":
                emit("planned", d, d.evaluation.reason, after=d.evaluation.after, sku=decided.sku)
            else:
                emit(d.outcome, d, d.evaluation.reason, sku=decided.sku)
        # Each write is tried and recorded even when another was put off or failed transiently (the
        # list's deferral; a child is a resource of its own); the first such error is then raised.
        errors: list[TransientArmError] = []
        if decided.conflict:
            for d in decided.to_fix:
                emit("failed", d, decided.conflict, after=d.evaluation.after, sku=decided.sku)
        elif decided.to_fix:
            try:
                self._write(ref, registry, decided, emit, children)
            except TransientArmError as exc:  # audited by _write, rule by rule
                errors.append(exc)
        for d in decided.child_fixes:
            try:
                write_children(self.policy, self.arm, ref, registry, d, children, emit, decided.sku)
            except TransientArmError as exc:  # audited by write_children
                errors.append(exc)
        if errors:
            raise errors[0]

    def _write(self, ref: RegistryRef, registry: Any, first: Plan, emit: _Emit, children: Children) -> None:
        """Fix what ``first`` found: what replaces no list at once, the IP rule list once it is quiet.

        A plan with no list to replace, or whose list has been quiet for ``settle_s``
        (acrguard.settle), is ONE PATCH. Otherwise the fixes that replace no list (anonymous pull,
        the admin user, public network access, the ``policies``) are PATCHed at once and the list is
        put off: sleep until it can be quiet, read again, decide again from that read (a change
        someone made meanwhile is part of it), and go round again, at most ``MAX_DEFERRALS`` times
        and within the retry budget. Past that, the list's rule is ``flagged`` and the event raised
        so that Event Grid redelivers it. Every PATCH is computed from the read just before it, a
        retry's too (:meth:`Arm.update`).
        """
        w = _Write(self.clock.time(), first, registry, first)
        quiet = ListQuiet(self.arm.settings.settle_s)
        try:
            for deferrals in range(MAX_DEFERRALS + 1):
                if w.plan.list_fixes and (w.unread or quiet.wait_s(w.read, self.clock.time()) == 0):
                    self._write_list_part(ref, w, quiet, children)
                else:
                    self._patch(ref, w, None, children)  # what replaces no list, at once
                if not w.held:
                    break
                wait = quiet.wait_s(w.read, self.clock.time())
                waited = self.clock.time() - w.started
                if (
                    deferrals == MAX_DEFERRALS
                    or waited + wait > self.arm.settings.retry_budget_s
                    or wait >= self.arm.budget_s()  # the invocation's deadline comes first
                ):
                    reason = (
                        f"the IP rule list was still changing after {deferrals} waits for it to be quiet "
                        f"({waited:.1f}s; last by {quiet.changed_by or 'someone'}): not replaced now, so "
                        "that no rule being added is dropped; raised so the event is redelivered"
                    )
                    self._record(
                        ref, w, emit, children, told={d.rule: ("flagged", d, reason) for d in w.held}
                    )
                    raise Unsettled(f"PATCH {ref}: {reason}")
                self.clock.sleep(wait)
                if self.leases is not None:
                    w.unread = True  # read under the lease, by the list part: one GET, not two
                    continue
                current = self.arm.get(ref)
                w.read, w.plan = current, self._plan(ref, current, children)
        except Unsettled:
            raise
        except RegistryNotFound as exc:  # deleted between the read and the write: nothing to fix
            for d in first.to_fix:
                emit("skipped", d, str(exc), sku=first.sku)
            return
        except TransientArmError as exc:
            # Each rule still to fix is told, by name, that it was not fixed now (what an earlier
            # PATCH of ours fixed is told as applied); raised so that Event Grid redelivers.
            pending = {d.rule: d for d in (*w.plan.to_fix, *w.held, *w.trying) if d.rule not in w.done}
            reason = f"{exc}; raised so the event is redelivered"
            told = {rule: ("failed", d, reason) for rule, d in pending.items()}
            self._record(ref, w, emit, children, told=told, only=w.done - set(pending))
            exc.audited = bool(told) or exc.audited
            raise
        except ArmError as exc:
            failing = (*w.trying, *w.held) or w.plan.to_fix or first.to_fix  # held: never sent now
            told = {d.rule: ("failed", d, f"PATCH rejected: {exc}") for d in failing}
            self._record(ref, w, emit, children, told=told, only=w.done)
            return
        self._record(ref, w, emit, children)

    def _write_list_part(self, ref: RegistryRef, w: _Write, quiet: ListQuiet, children: Children) -> None:
        """The PATCH that replaces the IP rule list (with whatever else drifts), from a read taken
        once the list was quiet: the one place a whole list is written.

        Across Function instances it is written under the registry's lease (acrguard.lease), from
        a read taken under it: another instance's write of the list before we held the lease is
        in that read (and, the list having just changed, restarts the quiet period)."""
        if self.leases is None:
            self._patch(ref, w, quiet, children)
            return
        with self.leases.hold(ref):
            current = self.arm.get(ref)
            w.read, w.plan, w.unread = current, self._plan(ref, current, children), False
            self._patch(ref, w, quiet, children)

    def _patch(self, ref: RegistryRef, w: _Write, quiet: ListQuiet | None, children: Children) -> None:
        """One PATCH (with its retries) of what may be sent from each attempt's read: every fix, less
        those that replace a list unless ``quiet`` says that read's list is quiet. Updates ``w``."""

        def prepare(current: Any) -> Any:
            now = w.plan if current is w.read else self._plan(ref, current, children)
            if now.conflict:
                raise PermanentArmError(now.conflict)
            lists = quiet is not None and quiet.wait_s(current, self.clock.time()) == 0
            w.plan, w.held = now, () if lists else now.list_fixes
            w.trying = tuple(d for d in now.to_fix if d not in w.held)
            w.sent.update((d.rule, d) for d in w.trying)
            return now.params(lists=lists)

        w.read, wrote = self.arm.update(ref, w.read, prepare)
        if wrote:
            w.done.update(d.rule for d in w.trying)
        w.trying = ()

    def _record(
        self,
        ref: RegistryRef,
        w: _Write,
        emit: _Emit,
        children: Children,
        *,
        told: dict[str, tuple[Outcome, RuleDecision, str]] | None = None,
        only: set[str] | None = None,
    ) -> None:
        """One record per rule the write concerned, in rule order, confirmed from ARM's last answer:
        ``first``'s fixes, and rules that drifted only while we waited (their first verdict is
        already in the audit; our PATCH fixed them too, so each gets its own record of that write).
        ``told``: rules whose outcome is already known (a list fix held back, a rejected PATCH's
        fixes). ``only``: besides those, just these rules (what an earlier PATCH of ours fixed)."""
        told = told or {}
        rules = {d.rule: d for d in w.first.to_fix}
        for d in [*w.sent.values(), *(d for _, d, _ in told.values())]:
            rules.setdefault(d.rule, d)
        if only is not None:
            rules = {rule: d for rule, d in rules.items() if rule in only or rule in told}
        if not rules:
            return
        confirmed = {d.rule: d for d in self._plan(ref, w.read, children).decisions}
        sku = w.first.sku
        for rule, d in rules.items():
            now = confirmed.get(rule)
            if rule in told:
                outcome, decided, reason = told[rule]
                after = decided.evaluation.after if outcome == "failed" else None
                emit(outcome, decided, reason, after=after, sku=sku)
            elif rule not in w.sent:
                # The read just before writing no longer drifted for this rule and we never sent
                # it: someone else fixed it. Report the state as read.
                if now is None:
                    emit("skipped", d, "the rule no longer applies to this registry", sku=sku)
                else:
                    reason = f"already fixed when re-read before writing: {now.evaluation.reason}"
                    emit(now.outcome, now, reason, sku=sku)
            elif now is not None and now.evaluation.status is Status.DRIFT:
                ours = w.sent[rule]
                reason = f"ARM accepted the PATCH but the registry still drifts: {now.evaluation.reason}"
                emit("failed", ours, reason, after=now.evaluation.before, sku=sku)
            elif (ours := w.sent[rule]).needs_person:
                # Fixed what we could, but what is left needs a person (e.g. a kept 0.0.0.0/0 rule):
                # the decision is "flagged", never reported as done.
                reason = f"changed ({ours.evaluation.reason}), but a person must act: " + "; ".join(
                    ours.evaluation.notes
                )
                emit("flagged", ours, reason, after=now.evaluation.before if now else None, sku=sku)
            else:
                done = now.evaluation.before if now else ours.evaluation.after
                emit("applied", ours, ours.evaluation.reason, after=done, sku=sku)

    def _plan(self, ref: RegistryRef, registry: Any, children: Children) -> Plan:
        return plan(self.policy, ref, registry, self.children(ref, registry, children), self.clock.time())

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
                notes=[*ev.notes, *exemption_note(decision)] if ev else [],
                source=source,
                state_from=state_from[0],
                severity=rule.severity if rule else None,
                controls=rule.controls() if rule else {},
                references=list(rule.references) if rule else [],
                **exemption_fields(decision),
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


@dataclass
class _Write:
    """One registry's write in progress."""

    started: float  # on the ARM layer's clock: the retry budget bounds the deferrals
    first: Plan  # the decision that asked for the write (its other records are out)
    read: Any  # the registry as last read, or as our last PATCH returned it
    plan: Plan  # what our latest PATCH (or the read that came after it) was computed from
    sent: dict[str, RuleDecision] = field(default_factory=dict)  # by rule: our latest PATCH's
    done: set[str] = field(default_factory=set)  # rules a PATCH of ours carried and ARM accepted
    trying: tuple[RuleDecision, ...] = ()  # what the PATCH under way carries
    held: tuple[RuleDecision, ...] = ()  # fixes our latest PATCH left out: the list was not quiet
    unread: bool = False  # ``read`` predates the wait just slept: the list part reads under its lease


def _exempted_by_a_write(exempt: str, d: RuleDecision, registry: Any) -> str:
    """Why a tag-exempt registry that a write left drifting is told to a person. Neither the event
    (no request body) nor one read (no history) says whether that write set the tag too, so every
    such write is told: a superset of one PATCH that sets the tag and opens the registry."""
    if d.exemption is not None and d.exemption.problem:  # a tag exemption the policy does not accept
        return f"{exempt}; would be fixed: {d.evaluation.reason}; the exemption is not valid: {d.exemption.problem}"
    who = getattr(getattr(registry, "system_data", None), "last_modified_by", None) or "someone"
    return (
        f"{exempt}; would be fixed: {d.evaluation.reason}; written by {who} while exempt by a tag, "
        "which anyone who can write the registry can set: confirm the exemption, or grant it by ID "
        "in exempt.registries"
    )
