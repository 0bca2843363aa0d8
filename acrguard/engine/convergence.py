"""One registry's convergence, top to bottom: read, ``plan()``, record what needs no write, then
the registry's PATCH (acrguard.engine.patch: wait for the IP rule list to settle when it is
replaced, PATCH, confirm from ARM's answer, record) and each child rule's writes.

Everything one pass learns about the registry lives on the :class:`Convergence` (and, while it is
written, on its :class:`~acrguard.engine.patch.RegistryWrite`): the state it judged and where that
came from (its records' ``origin``), and which failures a rule's own record already told (so the
registry gets no second ``failed`` line for them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from acrguard.audit import Audit
from acrguard.azure.arm import Arm, ArmError, RegistryNotFound, TransientArmError
from acrguard.engine import children, provisioning
from acrguard.engine.patch import RegistryWrite
from acrguard.engine.records import Records, RegistryResult
from acrguard.engine.sources import ARM, GRAPH, GRAPH_AND_ARM, Candidate
from acrguard.plan import Plan, RuleDecision, plan
from acrguard.policy import Policy
from remediators import Children, Status

if TYPE_CHECKING:
    from acrguard.engine.lease import RegistryLeases
    from acrguard.run_mode import RunMode


class Setup(Protocol):
    """What a convergence works with (the engine has it)."""

    policy: Policy
    arm: Arm
    audit: Audit
    leases: RegistryLeases | None
    run_mode: RunMode


class Convergence:
    """One registry, one pass: from a candidate to its records (``result``)."""

    def __init__(self, setup: Setup, candidate: Candidate, source: str) -> None:
        self.setup, self.arm, self.policy = setup, setup.arm, setup.policy
        self.candidate, self.ref = candidate, candidate.ref
        self.records = Records(setup.policy, setup.audit, candidate, source, setup.run_mode)
        self.result, self.emit = self.records.result, self.records.emit
        self.told: list[BaseException] = []  # failures a rule's own record already told
        self.children: Children = {}  # the child collections the rules need, as last listed
        self._planned: tuple[Any, Children, Plan] | None = None  # the last plan(): registry, children, plan

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
        self.records.origin = self.candidate.origin if given is not None else ARM
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
            self.records.origin = ARM
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
            write = RegistryWrite(self.arm, self.setup.leases, self.records, self._plan)
            try:
                write.run(registry, decided)
            except TransientArmError as exc:  # recorded by the write, rule by rule
                errors.append(exc)
            finally:
                self.told += write.told
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
        self.children = children.collections(self.policy, self.arm, self.ref, registry)
        if self.records.origin == GRAPH and self.children:
            self.records.origin = GRAPH_AND_ARM  # the registry from ARG, its children listed from ARM
        return self._plan(registry, listed=True)

    def _plan(self, registry: Any, *, listed: bool = False) -> Plan:
        """``plan()`` for a read of the registry (the children already listed). ``plan()`` is pure,
        so a read equal to the one last planned (nobody wrote in between: a re-read of a listed
        registry, the read under the lease) reuses that plan instead of deciding again. The reads are
        compared only when there is an earlier plan: a compliant event plans once and pays nothing.
        ``listed``: the children were just listed for this very read."""
        known = (
            self.children
            if listed
            else children.collections(self.policy, self.arm, self.ref, registry, self.children)
        )
        last = self._planned
        if (
            last is not None
            and last[1] == known
            and (last[0] is registry or last[0].as_dict() == registry.as_dict())
        ):
            return last[2]
        decided = plan(self.policy, self.ref, registry, known, self.setup.run_mode, self.arm.clock.time())
        self._planned = (registry, known, decided)
        return decided

    def _record_verdicts(self, decided: Plan, registry: Any) -> None:
        written = self.candidate.context.registry_written  # an event told of a write of the registry itself
        for d in decided.decisions:
            if d.action == "fix":
                continue
            exempt = d.mode_from if d.mode == "exempt" else None
            by_tag = exempt is not None and d.exemption is not None and d.exemption.by == "tag"
            if by_tag and d.evaluation.status is Status.DRIFT and (written or d.exemption.problem):
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

    # -- a child rule's writes ------------------------------------------------------------------

    def _write_children(self, registry: Any, d: RuleDecision, sku: str) -> None:
        """A child rule's fix: each write in turn, then the verdict on the children as ARM answered
        the writes (no further read). When a write fails, the record names the writes already made
        and carries the state they left; a transient failure is then raised for redelivery, which
        re-lists and goes on."""
        wrote = children.write(self.arm, self.ref, d)
        if wrote.registry_gone is not None:
            self.emit("skipped", d, str(wrote.registry_gone), sku=sku)
            return
        after = plan(
            self.policy,
            self.ref,
            registry,
            wrote.children(self.children),
            self.setup.run_mode,
            self.arm.clock.time(),
        )
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
