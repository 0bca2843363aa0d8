"""``acrguard undo``: put back what an ``applied`` decision changed (acrguard/undo.py says how).

``undo DECISION`` (an event_id or correlation_id from ``history``) or ``undo --registry R --rule X``
(the newest applied decision of that rule): first a break-glass exemption for the decision's
rules (``--for``, 24h by default), then ONE PATCH back to the decision's ``before``, only while the
registry still holds its ``after``. Exit codes: 0 undone (or, in a dry run, the plan shown); 1 an
unknown decision, one that was not applied or cannot be undone safely, or a registry changed since
(the three states are shown, and nothing is PATCHed back); 2 usage.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard.cli import render
from acrguard.cli.app import command
from acrguard.cli.exempt import ForOpt, ReasonOpt, _duration
from acrguard.cli.history import WorkspaceOpt
from acrguard.cli.params import argument, option
from acrguard.cli.run import CliError, ExitCode, Run

if TYPE_CHECKING:
    from acrguard.undo import Step

DEFAULT_FOR = "24h"


@command
def undo(
    run: Run,
    decision: Annotated[
        str | None,
        argument(
            metavar="DECISION",
            help="The decision's event_id or correlation_id (acrguard history -o json shows them).",
        ),
    ] = None,
    registry: Annotated[
        str | None,
        option(
            "--registry",
            metavar="REGISTRY",
            help="With --rule, instead of DECISION: the registry (resource ID or name).",
        ),
    ] = None,
    rule: Annotated[
        str | None,
        option("--rule", metavar="RULE", help="With --registry: undo that rule's newest applied decision."),
    ] = None,
    for_: ForOpt = None,
    reason: ReasonOpt = None,
    since: Annotated[
        str,
        option(
            "--since", metavar="DURATION", help="How far back to look: 30m, 4h, 7d, 2w.", show_default=True
        ),
    ] = "30d",
    workspace: WorkspaceOpt = None,
) -> None:
    """Put back what an applied decision changed: an exemption for a while first, then one PATCH."""
    from acrguard import undo as undoing
    from acrguard.azure.arm import ArmError
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.break_glass import MAX_TAG_VALUE, _caller, grant
    from acrguard.cli.exempt import may_grant
    from acrguard.cli.history import decisions
    from acrguard.cli.target import _read
    from acrguard.plan import dry_run_everywhere

    if decision and (registry or rule):
        raise typer.BadParameter("give DECISION, or --registry with --rule, not both", param_hint="DECISION")
    if not decision and not (registry and rule):
        raise typer.BadParameter(
            "which decision? give its event_id or correlation_id, or --registry R --rule RULE",
            param_hint="DECISION",
        )
    duration = _duration(for_ or DEFAULT_FOR)
    assert duration is not None
    entries = _chosen(decisions(run, registry, since, rule, workspace), decision, registry, rule, since)
    first = entries[0]
    named = decision or first.get("event_id") or first.get("correlation_id")
    undone = f"decision {named}" if named else f"the {rule} fix of {first.get('time')}"
    text = (reason or "").strip() or f"undo of {undone}"
    if len(text) > MAX_TAG_VALUE:
        raise typer.BadParameter(
            f"{len(text)} characters; a tag value holds at most {MAX_TAG_VALUE}", param_hint="--reason"
        )
    ref = RegistryRef.parse(str(first["registry"]))
    engine = run.engine()
    may_grant(engine, ref, duration, for_ or DEFAULT_FOR)
    rules = [str(e["rule"]) for e in entries]
    dry_run = any(dry_run_everywhere(engine.policy, engine.run_mode, name) for name in rules)

    def steps(state: Any) -> list[Step]:
        return [undoing.step(e, undoing.now_of(engine, ref, state, str(e["rule"]))) for e in entries]

    granted = None
    try:
        state = _read(engine, ref)
        planned = steps(state)
        granted = grant(
            engine,
            ref,
            state,
            duration=duration,
            reason=text,
            rules=rules,
            dry_run=dry_run,
            source=undoing.SOURCE,
        )
        done = caller = None
        if not dry_run:  # read again: the PATCH is computed from the registry as it is now
            planned = steps(_read(engine, ref))
            done = undoing.patch(engine, ref, planned)
            caller = _caller(done)
    except undoing.Conflict as exc:
        if granted is not None and granted.written:  # changed between the two reads
            exc.args = (
                f"{exc}; the exemption written first stays until {granted.to_dict()['until']} "
                "(remove its tags to end it sooner)",
            )
        _conflict(run, ref.resource_id, exc)
    except undoing.UndoRefused as exc:
        raise CliError(str(exc), input=ref.resource_id) from None
    except ArmError as exc:
        raise CliError(str(exc), input=ref.resource_id) from None
    records = [
        undoing.record(engine, ref, s, e, dry_run=dry_run, done=done, caller=caller)
        for s, e in zip(planned, entries, strict=True)
    ]
    if not run.json:
        out = render.console()
        verb = "would put back (dry run, nothing written)" if dry_run else "put back"
        out.print(f"{verb} on {ref.resource_id}, after exempting {', '.join(rules)}:", markup=False)
        out.print(_table(planned), markup=False)
        out.print(f"exempt until {granted.to_dict()['until']}: {text}", markup=False)
    results = [
        {**s.states(), "restore": s.restore, "record": r.to_dict()}
        for s, r in zip(planned, records, strict=True)
    ]
    summary = {
        "undone": 0 if dry_run else len(records),
        "written": not dry_run,
        "until": granted.to_dict()["until"],
    }
    run.finish(ExitCode.OK, summary, [{"exemption": granted.to_dict()}, *results])


def _chosen(
    found: list[dict[str, Any]], decision: str | None, registry: str | None, rule: str | None, since: str
) -> list[dict[str, Any]]:
    """The applied records to undo (newest first): every rule of the named decision, or the newest
    applied decision of ``rule``; a clear error for a decision that is unknown or not undoable."""
    from acrguard import undo as undoing
    from acrguard.policy.model import fold

    if decision is None:
        candidates = [
            e
            for e in found
            if e.get("outcome") == "applied" and not undoing.is_grant(e) and e.get("source") != undoing.SOURCE
        ]
        if not candidates:
            raise CliError(
                f"no applied decision of {rule} on {registry} in the last {since} (acrguard history shows them)",
                input=registry,
            )
        chosen = [candidates[0]]
    else:
        named = [e for e in found if decision in (e.get("event_id"), e.get("correlation_id"))]
        if not named:
            raise CliError(
                f"no decision {decision} in the history of the last {since} "
                "(an event_id or correlation_id; a longer --since looks further back)",
                input=decision,
            )
        chosen, seen = [], set()
        for e in named:
            if undoing.refusal(e) is None and e.get("rule") not in seen:
                seen.add(e.get("rule"))
                chosen.append(e)
        if not chosen:
            why = "; ".join(sorted({f"{e.get('rule') or '-'}: {undoing.refusal(e)}" for e in named}))
            raise CliError(f"decision {decision} cannot be undone: {why}", input=decision)
        if len({fold(str(e.get("registry"))) for e in chosen}) > 1:
            raise CliError(
                f"decision {decision} names more than one registry: undo each by --registry", input=decision
            )
    if problem := undoing.refusal(chosen[0]):
        raise CliError(f"cannot undo {chosen[0].get('rule')}: {problem}", input=decision or registry)
    return chosen


def _conflict(run: Run, registry: str, exc: Any) -> None:
    """The three states, then exit 1: the registry moved on since the decision."""
    from rich.table import Table

    if not run.json:
        table = Table(title=f"{registry}: changed since the decision, not undone", show_lines=True)
        for name in ("rule", "before (decision)", "after (decision)", "now"):
            table.add_column(name, overflow="fold")
        for s in exc.states:
            render._add_row(
                table,
                s["rule"],
                render._props(s["before"]),
                render._props(s["after"]),
                render._props(s["now"]),
            )
        render.console().print(table)
    run.error(registry, str(exc))
    run.finish(ExitCode.ERROR, {"undone": 0, "written": False}, exc.states)


def _table(steps: list[Step]) -> Any:
    from rich.table import Table

    table = Table(show_lines=True)
    for name in ("rule", "before (decision)", "after (decision)", "now", "PATCH"):
        table.add_column(name, overflow="fold")
    for s in steps:
        render._add_row(
            table,
            s.rule,
            render._props(s.before),
            render._props(s.after),
            render._props(s.now),
            render._props(s.restore),
        )
    return table
