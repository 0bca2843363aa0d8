"""One registry's convergence, top to bottom: read, ``plan()``, wait for the IP rule list to settle
when it is replaced, PATCH, confirm from ARM's answer, record.

A plan with no list to replace, or whose list has been quiet for ``settle_s`` (acrguard.engine.settle),
is ONE PATCH. Otherwise the fixes that replace no list (anonymous pull, the admin user, public
network access, the ``policies``) are PATCHed at once and the list is put off: sleep until it can
be quiet, read again, decide again from that read (a change someone made meanwhile is part of
it), and go round again, at most ``MAX_DEFERRALS`` times and within the retry budget. Past that,
the list's rule is ``flagged`` and :class:`Unsettled` raised so that Event Grid redelivers. Every
PATCH is computed from the read just before it, a retry's too: the PATCH runs under
:meth:`acrguard.arm.Arm.attempts`, and each attempt after the first reads again.

Everything one pass learns about the registry lives on the :class:`Convergence`: the state it
judged and where that came from, the write in progress, and which failures a rule's own record
already told (so the registry gets no second ``failed`` line for them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from acrguard.arm import (
    WRITE_ACTION,
    Arm,
    ArmError,
    PermanentArmError,
    RegistryNotFound,
    TransientArmError,
)
from acrguard.audit import Audit, AuditRecord, Outcome
from acrguard.engine import provisioning
from acrguard.engine.child_writes import write_children
from acrguard.engine.settle import MAX_DEFERRALS, ListQuiet, Unsettled
from acrguard.engine.sources import ARM, GRAPH, GRAPH_AND_ARM, Candidate
from acrguard.plan import Plan, RuleDecision, children_needed, plan, remediators
from acrguard.policy import Policy
from acrguard.resource_ids import RegistryRef
from remediators import Status
from remediators.base import Children

if TYPE_CHECKING:
    from acrguard.engine.lease import RegistryLeases

#: A registry's overall outcome is its most serious rule outcome, in this order.
_SEVERITY: tuple[Outcome, ...] = ("failed", "applied", "planned", "flagged", "compliant", "skipped")


@dataclass
class RegistryResult:
    """Everything decided about one registry in one pass."""

    registry: str | None
    records: list[AuditRecord] = field(default_factory=list)
    error: ArmError | None = None  # a transient error the caller must surface (redelivery)
    #: The provisioningState (Creating, Updating, Deleting) that kept it from being written, if any.
    provisioning_state: str | None = None

    @property
    def outcome(self) -> Outcome:
        outcomes = {r.outcome for r in self.records}
        return next((o for o in _SEVERITY if o in outcomes), "skipped")


class Setup(Protocol):
    """What a convergence works with (the engine has it)."""

    policy: Policy
    arm: Arm
    audit: Audit
    leases: RegistryLeases | None


def default_mode(policy: Policy) -> str:
    return policy.mode_override or policy.doc.mode


def child_collections(
    setup: Setup, ref: RegistryRef, registry: Any, known: Children | None = None
) -> Children:
    """The child collections the rules enabled for ``registry`` need, ``known`` ones reused: one
    list call per collection still missing, none at all for the default policy."""
    have = dict(known or {})
    missing = [c for c in children_needed(setup.policy, ref, registry) if c not in have]
    if missing:
        from acrguard.arm_children import list_children  # loaded only when a child rule is on

        have.update(list_children(setup.arm, ref, missing))
    return have


class Convergence:
    """One registry, one pass: from a candidate to its records (``result``)."""

    def __init__(self, setup: Setup, candidate: Candidate, source: str) -> None:
        self.setup, self.arm, self.policy = setup, setup.arm, setup.policy
        self.ref, self.context, self.source = candidate.ref, candidate.context, source
        self.candidate = candidate
        self.result = RegistryResult(candidate.ref.resource_id)
        self.started = time.monotonic()
        self.origin: str | None = None  # where the state the next records judge came from
        self.told: list[BaseException] = []  # failures a rule's own record already told
        # The registry write in progress (see _write).
        self.read: Any = None  # the registry as last read, or as our last PATCH returned it
        self.children: Children = {}
        self.first: Plan | None = None  # the decision that asked for the write
        self.plan: Plan | None = None  # what our latest PATCH (or the read after it) was computed from
        self.sent: dict[str, RuleDecision] = {}  # by rule: our latest PATCH's
        self.done: set[str] = set()  # rules a PATCH of ours carried and ARM accepted
        self.trying: tuple[RuleDecision, ...] = ()  # what the PATCH under way carries
        self.held: tuple[RuleDecision, ...] = ()  # fixes our latest PATCH left out: the list was not quiet
        self.unread = False  # ``read`` predates the wait just slept: the list part reads under its lease

    # -- the pass -------------------------------------------------------------------------------

    def run(self) -> RegistryResult:
        """Converge; the errors a caller must see are on ``result`` (``error``), never lost."""
        try:
            self._converge()
        except RegistryNotFound as exc:
            self.emit("skipped", None, str(exc))
        except provisioning.BeingDeleted as exc:
            self.emit("skipped", None, str(exc))
            self.result.provisioning_state = exc.state
        except TransientArmError as exc:
            if not any(exc is told for told in self.told):
                self.emit("failed", None, f"{exc}; raised so the event is redelivered")
            self.result.error = exc
            self.result.provisioning_state = getattr(exc.__cause__, "state", None)
        except ArmError as exc:
            self.emit("failed", None, str(exc))
            self.result.error = exc
        return self.result

    def _converge(self) -> None:
        # 1. Read (or take the source's state), decide.
        given = self.candidate.state
        self.origin = self.candidate.origin if given is not None else ARM
        registry = given if given is not None else self.arm.get(self.ref)
        decided = self._decide(registry)
        if (decided.writes or decided.child_fixes) and (
            given is not None or provisioning.in_flight(registry)
        ):
            # State came from a list page or Resource Graph: re-read before writing (networkRuleSet
            # is replaced whole; a tag may since exempt the registry or match a dry-run override,
            # which child writes must honour too), and decide every rule from that read. The
            # children are listed again with it: a token created since the first list would
            # otherwise stay enabled under an "applied" record. A registry ARM is creating or
            # updating is read again until that ends (or raised for redelivery).
            registry = provisioning.read_when_idle(self.arm, self.ref)
            self.origin = ARM
            decided = self._decide(registry)
        if not decided.decisions:
            self.emit("skipped", None, "no rule is enabled for this registry", sku=decided.sku)
            return
        # 2. Record what needs no write.
        self._record_verdicts(decided, registry)
        # 3. Write: the registry's PATCH, then each child rule's writes. Each is tried and recorded
        # even when another was put off or failed transiently (the list's deferral; a child is a
        # resource of its own); the first such error is then raised.
        errors: list[TransientArmError] = []
        if decided.conflict:
            for d in decided.to_fix:
                self.emit("failed", d, decided.conflict, after=d.evaluation.after, sku=decided.sku)
        elif decided.to_fix:
            try:
                self._write(registry, decided)
            except TransientArmError as exc:  # recorded by _write, rule by rule
                errors.append(exc)
        for d in decided.child_fixes:
            try:
                self._write_children(registry, d, decided.sku)
            except TransientArmError as exc:  # recorded by _write_children
                errors.append(exc)
        if errors:
            raise errors[0]

    def _decide(self, registry: Any) -> Plan:
        """``plan()`` for ``registry`` with its child collections listed from ARM (a registry ARM is
        deleting is never written, and costs no further call)."""
        provisioning.check_not_deleting(registry)
        self.children = child_collections(self.setup, self.ref, registry)
        if self.origin == GRAPH and self.children:
            self.origin = GRAPH_AND_ARM  # the registry from ARG, its children listed from ARM
        return plan(self.policy, self.ref, registry, self.children)

    def _plan(self, registry: Any) -> Plan:
        """``plan()`` again for a later read of the same registry (the children already listed)."""
        return plan(
            self.policy, self.ref, registry, child_collections(self.setup, self.ref, registry, self.children)
        )

    def _record_verdicts(self, decided: Plan, registry: Any) -> None:
        exempt = decided.resolution.exempt_reason
        written = self.context.registry_written  # an event told of a write of the registry itself
        for d in decided.decisions:
            if d.action == "fix":
                continue
            if (
                exempt
                and written
                and decided.resolution.exempt_by_tag
                and d.evaluation.status is Status.DRIFT
            ):
                reason = _exempted_by_a_write(exempt, d, registry)  # left as it is: after = before
                self.emit("flagged", d, reason, after=d.evaluation.before, sku=decided.sku)
            elif exempt:
                status = d.evaluation.status
                verdict = "would be fixed" if status is Status.DRIFT else status.value
                self.emit("skipped", d, f"{exempt}; {verdict}: {d.evaluation.reason}", sku=decided.sku)
            elif d.outcome == "planned":
                self.emit("planned", d, d.evaluation.reason, after=d.evaluation.after, sku=decided.sku)
            else:
                self.emit(d.outcome, d, d.evaluation.reason, sku=decided.sku)

    # -- the registry's PATCH -------------------------------------------------------------------

    def _write(self, registry: Any, first: Plan) -> None:
        """Fix what ``first`` found: what replaces no list at once, the IP rule list once it is quiet."""
        clock, settings = self.arm.clock, self.arm.settings
        self.read, self.first, self.plan = registry, first, first
        started = clock.time()  # on the ARM layer's clock: the retry budget bounds the deferrals
        quiet = ListQuiet(settings.settle_s)
        try:
            for deferrals in range(MAX_DEFERRALS + 1):
                if self.plan.list_fixes and (self.unread or quiet.wait_s(self.read, clock.time()) == 0):
                    self._patch_with_list(quiet)
                else:
                    self._patch(None)  # what replaces no list, at once
                if not self.held:
                    break
                # The list was held back: wait until it can be quiet, or give up for now.
                wait = quiet.wait_s(self.read, clock.time())
                waited = clock.time() - started
                if (
                    deferrals == MAX_DEFERRALS
                    or waited + wait > settings.retry_budget_s
                    or wait >= self.arm.budget_s()  # the invocation's deadline comes first
                ):
                    reason = (
                        f"the IP rule list was still changing after {deferrals} waits for it to be quiet "
                        f"({waited:.1f}s; last by {quiet.changed_by or 'someone'}): not replaced now, so "
                        "that no rule being added is dropped; raised so the event is redelivered"
                    )
                    self._record(told={d.rule: ("flagged", d, reason) for d in self.held})
                    unsettled = Unsettled(f"PATCH {self.ref}: {reason}")
                    self.told.append(unsettled)
                    raise unsettled
                clock.sleep(wait)
                if self.setup.leases is not None:
                    self.unread = True  # read under the lease, by the list part: one GET, not two
                    continue
                self.read = self.arm.get(self.ref)
                self.plan = self._plan(self.read)
        except Unsettled:
            raise
        except RegistryNotFound as exc:  # deleted between the read and the write: nothing to fix
            for d in first.to_fix:
                self.emit("skipped", d, str(exc), sku=first.sku)
            return
        except TransientArmError as exc:
            # Each rule still to fix is told, by name, that it was not fixed now (what an earlier
            # PATCH of ours fixed is told as applied); raised so that Event Grid redelivers.
            pending = {
                d.rule: d for d in (*self.plan.to_fix, *self.held, *self.trying) if d.rule not in self.done
            }
            reason = f"{exc}; raised so the event is redelivered"
            told = {rule: ("failed", d, reason) for rule, d in pending.items()}
            self._record(told=told, only=self.done - set(pending))
            if told:
                self.told.append(exc)
            raise
        except ArmError as exc:
            failing = (*self.trying, *self.held) or self.plan.to_fix or first.to_fix  # held: never sent now
            self._record(
                told={d.rule: ("failed", d, f"PATCH rejected: {exc}") for d in failing}, only=self.done
            )
            return
        self._record()

    def _patch_with_list(self, quiet: ListQuiet) -> None:
        """The PATCH that replaces the IP rule list (with whatever else drifts), from a read taken
        once the list was quiet: the one place a whole list is written.

        Across Function instances it is written under the registry's lease (acrguard.engine.lease),
        from a read taken under it: another instance's write of the list before we held the lease
        is in that read (and, the list having just changed, restarts the quiet period)."""
        leases = self.setup.leases
        if leases is None:
            self._patch(quiet)
            return
        with leases.hold(self.ref):
            self.read = self.arm.get(self.ref)
            self.plan, self.unread = self._plan(self.read), False
            self._patch(quiet)

    def _patch(self, quiet: ListQuiet | None) -> None:
        """One PATCH (with its retries) of what may be sent from each attempt's read: every fix, less
        those that replace a list unless ``quiet`` says that read's list is quiet."""
        clock = self.arm.clock
        since = clock.monotonic()
        first_read: Any = self.read  # the first attempt's; each later attempt reads again
        for attempt in self.arm.attempts(f"PATCH {self.ref}", WRITE_ACTION, self.ref):
            with attempt:
                current, first_read = first_read if first_read is not None else self.arm.get(self.ref), None
                now = self.plan if current is self.read else self._plan(current)
                if now.conflict:
                    raise PermanentArmError(now.conflict)
                lists = quiet is not None and quiet.wait_s(current, clock.time()) == 0
                self.plan, self.held = now, () if lists else now.list_fixes
                self.trying = tuple(d for d in now.to_fix if d not in self.held)
                self.sent.update((d.rule, d) for d in self.trying)
                params = now.params(lists=lists)
                after = current if params is None else self.arm.patch(self.ref, params, since=since)
        self.read = after
        if params is not None:
            self.done.update(d.rule for d in self.trying)
        self.trying = ()

    def _record(
        self,
        *,
        told: dict[str, tuple[Outcome, RuleDecision, str]] | None = None,
        only: set[str] | None = None,
    ) -> None:
        """One record per rule the write concerned, in rule order, confirmed from ARM's last answer:
        ``first``'s fixes, and rules that drifted only while we waited (their first verdict is
        already in the audit; our PATCH fixed them too, so each gets its own record of that write).
        ``told``: rules whose outcome is already known (a list fix held back, a rejected PATCH's
        fixes). ``only``: besides those, just these rules (what an earlier PATCH of ours fixed)."""
        assert self.first is not None
        told = told or {}
        rules = {d.rule: d for d in self.first.to_fix}
        for d in [*self.sent.values(), *(d for _, d, _ in told.values())]:
            rules.setdefault(d.rule, d)
        if only is not None:
            rules = {rule: d for rule, d in rules.items() if rule in only or rule in told}
        if not rules:
            return
        confirmed = {d.rule: d for d in self._plan(self.read).decisions}
        sku = self.first.sku
        for rule, d in rules.items():
            now = confirmed.get(rule)
            if rule in told:
                outcome, decided, reason = told[rule]
                after = decided.evaluation.after if outcome == "failed" else None
                self.emit(outcome, decided, reason, after=after, sku=sku)
            elif rule not in self.sent:
                # The read just before writing no longer drifted for this rule and we never sent
                # it: someone else fixed it. Report the state as read.
                if now is None:
                    self.emit("skipped", d, "the rule no longer applies to this registry", sku=sku)
                else:
                    reason = f"already fixed when re-read before writing: {now.evaluation.reason}"
                    self.emit(now.outcome, now, reason, sku=sku)
            elif now is not None and now.evaluation.status is Status.DRIFT:
                ours = self.sent[rule]
                reason = f"ARM accepted the PATCH but the registry still drifts: {now.evaluation.reason}"
                self.emit("failed", ours, reason, after=now.evaluation.before, sku=sku)
            elif (ours := self.sent[rule]).needs_person:
                # Fixed what we could, but what is left needs a person (e.g. a kept 0.0.0.0/0 rule):
                # the decision is "flagged", never reported as done.
                reason = f"changed ({ours.evaluation.reason}), but a person must act: " + "; ".join(
                    ours.evaluation.notes
                )
                self.emit("flagged", ours, reason, after=now.evaluation.before if now else None, sku=sku)
            else:
                done = now.evaluation.before if now else ours.evaluation.after
                self.emit("applied", ours, ours.evaluation.reason, after=done, sku=sku)

    # -- a child rule's writes ------------------------------------------------------------------

    def _write_children(self, registry: Any, d: RuleDecision, sku: str) -> None:
        """A child rule's fix: each write in turn, then the verdict on the children as ARM answered
        the writes (no further read). When a write fails, the record names the writes already made
        and carries the state they left; a transient failure is then raised for redelivery, which
        re-lists and goes on."""
        wrote = write_children(self.arm, self.ref, d)
        if wrote.registry_gone is not None:
            self.emit("skipped", d, str(wrote.registry_gone), sku=sku)
            return
        after = plan(self.policy, self.ref, registry, wrote.children(self.children))
        confirmed = next((x for x in after.decisions if x.rule == d.rule), None)
        state = confirmed.evaluation.before if confirmed else d.evaluation.after
        if isinstance(wrote.error, TransientArmError):
            reason = f"{wrote.made()}{wrote.error}; raised so the event is redelivered"
            self.emit("failed", d, reason, after=state, sku=sku)
            self.told.append(wrote.error)
            raise wrote.error
        if wrote.error is not None:
            self.emit("failed", d, f"{wrote.made()}write rejected: {wrote.error}", after=state, sku=sku)
        elif confirmed is not None and confirmed.evaluation.status is Status.DRIFT:
            reason = f"ARM accepted the writes but the children still drift: {confirmed.evaluation.reason}"
            self.emit("failed", d, reason, after=state, sku=sku)
        else:
            self.emit("applied", d, d.evaluation.reason, after=d.evaluation.after, sku=sku)

    # -- records --------------------------------------------------------------------------------

    def emit(
        self,
        outcome: Outcome,
        decision: RuleDecision | None,
        reason: str,
        *,
        after: dict[str, Any] | None = None,
        sku: str | None = None,
    ) -> None:
        ev = decision.evaluation if decision else None
        rule = remediators().get(ev.rule) if ev else None
        context = self.context
        record = AuditRecord(
            outcome=outcome,
            registry=self.ref.resource_id,
            rule=ev.rule if ev else None,
            reason=reason,
            mode=(decision.mode if decision else None) or default_mode(self.policy),
            before=(ev.before or None) if ev else None,
            after=after if after is not None else (ev.before if ev and outcome == "compliant" else None),
            event_id=context.event_id,
            correlation_id=context.correlation_id,
            caller=context.caller,
            duration_ms=round((time.monotonic() - self.started) * 1000, 1),
            sku=sku,
            notes=list(ev.notes) if ev else [],
            source=self.source,
            state_from=self.origin,
            severity=rule.severity if rule else None,
            controls=rule.controls() if rule else {},
            references=list(rule.references) if rule else [],
        )
        self.result.records.append(self.setup.audit.emit(record))


def _exempted_by_a_write(exempt: str, d: RuleDecision, registry: Any) -> str:
    """Why a tag-exempt registry that a write left drifting is told to a person. Neither the event
    (no request body) nor one read (no history) says whether that write set the tag too, so every
    such write is told: a superset of one PATCH that sets the tag and opens the registry."""
    who = getattr(getattr(registry, "system_data", None), "last_modified_by", None) or "someone"
    return (
        f"{exempt}; would be fixed: {d.evaluation.reason}; written by {who} while exempt by a tag, "
        "which anyone who can write the registry can set: confirm the exemption, or grant it by ID "
        "in exempt.registries"
    )
