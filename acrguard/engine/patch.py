"""The registry's PATCH: what replaces no list at once, the IP rule list once it is quiet.

A plan with no list to replace, or whose list has been quiet for ``settle_s`` (acrguard.engine.settle),
is ONE PATCH. Otherwise the fixes that replace no list (anonymous pull, the admin user, public
network access, the ``policies``) are PATCHed at once and the list is put off: sleep until it can
be quiet, read again, decide again from that read (a change someone made meanwhile is part of
it), and go round again, at most ``MAX_DEFERRALS`` times and within the retry budget. Past that,
the list's rule is ``flagged`` and :class:`~acrguard.engine.settle.Unsettled` raised so that Event
Grid redelivers. Every PATCH is computed from the read just before it, a retry's too: the PATCH
runs under :meth:`acrguard.azure.arm.Arm.attempts`, and each attempt after the first reads again. Then
one record per rule the write concerned, confirmed from ARM's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from acrguard.audit import Outcome
from acrguard.azure.arm import (
    Arm,
    ArmError,
    PermanentArmError,
    RegistryNotFound,
    TransientArmError,
)
from acrguard.azure.resource_ids import WRITE_ACTION
from acrguard.engine.records import Records
from acrguard.engine.settle import MAX_DEFERRALS, ListQuiet, Unsettled
from acrguard.plan import Plan, RuleDecision
from remediators import Status

if TYPE_CHECKING:
    from acrguard.engine.lease import RegistryLeases


class RegistryWrite:
    """One registry's PATCH in progress, from the decision that asked for it to its records.
    ``plan_for``: the decision for a later read of the registry (its children already listed)."""

    def __init__(
        self, arm: Arm, leases: RegistryLeases | None, records: Records, plan_for: Callable[[Any], Plan]
    ) -> None:
        self.arm, self.leases, self.records, self.plan_for = arm, leases, records, plan_for
        self.ref, self.emit = records.ref, records.emit
        self.told: list[BaseException] = []  # failures a rule's own record already told
        self.read: Any = None  # the registry as last read, or as our last PATCH returned it
        self.first: Plan | None = None  # the decision that asked for the write
        self.plan: Plan | None = None  # what our latest PATCH (or the read after it) was computed from
        self.sent: dict[str, RuleDecision] = {}  # by rule: our latest PATCH's
        self.done: set[str] = set()  # rules a PATCH of ours carried and ARM accepted
        self.trying: tuple[RuleDecision, ...] = ()  # what the PATCH under way carries
        self.held: tuple[RuleDecision, ...] = ()  # fixes our latest PATCH left out: the list was not quiet
        self.unread = False  # ``read`` predates the wait just slept: the list part reads under its lease

    def run(self, registry: Any, first: Plan) -> None:
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
                if self.leases is not None:
                    self.unread = True  # read under the lease, by the list part: one GET, not two
                    continue
                self.read = self.arm.get(self.ref)
                self.plan = self.plan_for(self.read)
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
        leases = self.leases
        if leases is None:
            self._patch(quiet)
            return
        with leases.hold(self.ref):
            self.read = self.arm.get(self.ref)
            self.plan, self.unread = self.plan_for(self.read), False
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
                now = self.plan if current is self.read else self.plan_for(current)
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
        confirmed = {d.rule: d for d in self.plan_for(self.read).decisions}
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
