"""``acrguard exempt``: a break-glass exemption that ends by itself, and the list of those in force.

``exempt REGISTRY --for 4h --reason "..." [--rule R]`` writes the policy's exemption tags with an
end and a reason (acrguard/break_glass.py: one PATCH of tags only, an audit line with the
caller, a notification); with ``--dry-run`` it shows them and writes nothing. ``exempt --list``
shows every exemption in force: the policy's entries, and the tags of every registry in scope read
from the subscriptions' list pages (as ``sweep`` reads them: no per-registry GET).
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard.cli import render
from acrguard.cli.app import command
from acrguard.cli.params import option
from acrguard.cli.run import CliError, ExitCode, Run
from acrguard.policy.exemption import format_time, parse_duration, rule_problems

if TYPE_CHECKING:
    from acrguard.engine import Engine
    from acrguard.policy.exemption import Exemption


def _duration(value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--for") from None


def _rules(values: list[str] | None) -> list[str]:
    if problems := rule_problems(values or ()):
        raise typer.BadParameter("; ".join(problems), param_hint="--rule")
    return values or []


ForOpt = Annotated[
    str | None,
    option("--for", metavar="DURATION", help="How long: 30m, 4h, 2d (at most the policy's exempt.max_days)."),
]
ReasonOpt = Annotated[
    str | None,
    option("--reason", metavar="TEXT", help="Why (an incident, a ticket): required."),
]
RuleOpt = Annotated[
    list[str] | None,
    option("--rule", "-r", metavar="RULE", help="Only this rule (repeatable). Default: every rule."),
]
ListOpt = Annotated[bool, option("--list", help="Show every exemption in force, with its expiry.")]
TenantOpt = Annotated[
    bool,
    option("--tenant", help="With --list: read the registries' tags through Azure Resource Graph."),
]


@command
def exempt(
    run: Run,
    target: Any,
    for_: ForOpt = None,
    reason: ReasonOpt = None,
    rule: RuleOpt = None,
    list_: ListOpt = False,
    tenant: TenantOpt = False,
) -> None:
    """Exempt a registry for a while (tags with an end and a reason), or --list the exemptions in force."""
    from acrguard.break_glass import MAX_TAG_VALUE, grant

    if list_:
        if any(target) or for_ or reason or rule:
            raise typer.BadParameter(
                "--list takes no registry, --for, --reason or --rule", param_hint="--list"
            )
        show_list(run, tenant)
        return
    if tenant:
        raise typer.BadParameter("--tenant goes with --list", param_hint="--tenant")
    duration = _duration(for_)
    rules = _rules(rule)
    if duration is None:
        raise typer.BadParameter("how long? e.g. --for 4h (30m, 2d)", param_hint="--for")
    text = (reason or "").strip()
    if not text:
        raise typer.BadParameter(
            "say why, e.g. --reason 'INC-1234: hotfix pull from the edge'", param_hint="--reason"
        )
    if len(text) > MAX_TAG_VALUE:
        raise typer.BadParameter(
            f"{len(text)} characters; a tag value holds at most {MAX_TAG_VALUE}", param_hint="--reason"
        )
    from acrguard.cli.target import _read, _target

    engine, ref = _target(run, *target)
    may_grant(engine, ref, duration, for_)
    registry = _read(engine, ref)
    from acrguard.azure.arm import ArmError
    from acrguard.plan import dry_run_everywhere

    # --dry-run, --mode, ACRGUARD_MODE or the policy's mode
    dry_run = dry_run_everywhere(engine.policy, engine.run_mode)

    try:
        done = grant(engine, ref, registry, duration=duration, reason=text, rules=rules, dry_run=dry_run)
    except ArmError as exc:
        raise CliError(str(exc), input=ref.resource_id) from None
    if not run.json:
        out = render.console()
        verb = "would write (dry run, nothing written)" if not done.written else "wrote"
        out.print(f"{verb} on {ref.resource_id}:", markup=False)
        for name, value in done.after.items():
            was = done.before.get(name)
            out.print(f"  {name}: {was + ' -> ' if was else ''}{value}", markup=False)
        who = ", ".join(f"{k}={v}" for k, v in done.record.caller.items())
        out.print(f"exempt until {format_time(done.until)}" + (f" (by {who})" if who else ""), markup=False)
    summary = {"until": format_time(done.until), "written": done.written}
    run.finish(ExitCode.OK, summary, [done.to_dict()])


def may_grant(engine: Engine, ref: Any, duration: timedelta, for_: str | None) -> None:
    """What the policy asks of a break-glass exemption before it is written (``exempt``, ``undo``)."""
    exempt_cfg = engine.policy.doc.exempt
    if exempt_cfg.max_days is not None and duration > timedelta(days=exempt_cfg.max_days):
        raise typer.BadParameter(
            f"{for_} is longer than the policy's exempt.max_days ({exempt_cfg.max_days} days)",
            param_hint="--for",
        )
    if not exempt_cfg.tags:
        raise CliError(
            "the policy names no exemption tag (exempt.tags): exempt the registry by ID in the policy"
        )
    if out := engine.policy.scope_reason(ref):
        raise CliError(f"not exempted: {out}", input=ref.resource_id)


def in_force(engine: Engine, tenant: bool = False) -> list[dict[str, Any]]:
    """Every exemption in force now (the engine's clock): the policy's, then each scoped registry's
    tags, from the list pages or (``tenant``) Resource Graph's rows. Expired ones are left out; a
    flagged tag exemption is listed as such."""
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.policy.exemption import of_entry

    policy, now = engine.policy, engine.clock.time()
    rows = []
    for entry in policy.doc.exempt.registries:
        found = of_entry(entry, now)
        if found.in_force:
            rows.append(_row(entry if isinstance(entry, str) else entry.id, found, now))
    for registry_id, tags in _tagged(engine, tenant):
        try:
            ref = RegistryRef.parse(registry_id)
        except ValueError:
            continue
        for found in policy.resolve(ref, tags, now).exemptions:
            if found.by == "tag" and found.in_force:
                rows.append(_row(ref.resource_id, found, now))
    return rows


def _tagged(engine: Engine, tenant: bool) -> Any:
    """(resource ID, tags) of every registry in scope: one Resource Graph query for the registries
    that have tags (``tenant``), else each subscription's list pages, as ``sweep`` reads them."""
    from acrguard.azure.resource_ids import RegistryRef

    policy = engine.policy
    if tenant:
        from acrguard.azure.resource_graph import ResourceGraph
        from acrguard.engine import pushdown

        query = pushdown.select(policy, "isnotnull(tags)")
        for row in ResourceGraph(engine.arm).rows(query, subscriptions=policy.subscriptions or None):
            yield str(row.get("id")), row.get("tags") or {}
        return
    for sub in list(policy.subscriptions or engine.arm.list_subscriptions()):
        if policy.scope_reason(RegistryRef(sub.lower(), "scope-check", "scopecheck")) is None:
            for registry in engine.arm.list_registries(sub):
                yield registry.id, registry.tags or {}


def _row(registry: str, found: Exemption, now: float) -> dict[str, Any]:
    left = None if found.until is None else max(0, int(found.until.timestamp() - now))
    return {
        "registry": registry,
        "by": found.by,
        "rules": sorted(found.rules) if found.rules else None,
        "until": format_time(found.until) if found.until else None,
        "seconds_left": left,
        "reason": found.reason,
        "status": found.status,
        "problem": found.problem,
    }


def _left(seconds: int | None) -> str:
    if seconds is None:
        return "never ends"
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    return (f"{days}d" if days else "") + (f"{hours}h" if hours or days else "") + f"{rest // 60}m"


def show_list(run: Run, tenant: bool = False) -> None:
    from rich.table import Table

    from acrguard.azure.arm import ArmError

    engine = run.engine()
    try:
        rows = in_force(engine, tenant)
    except ArmError as exc:
        raise CliError(str(exc)) from None
    if not run.json:
        table = Table(title=f"Exemptions in force ({len(rows)})", show_lines=False)
        for name in ("registry", "by", "rules", "until", "left", "reason", "status"):
            table.add_column(name, overflow="fold")
        for row in rows:
            status = row["status"] + (f": {row['problem']}" if row["problem"] else "")
            render._add_row(
                table,
                render._short_registry(row["registry"]),
                row["by"],
                ", ".join(row["rules"] or ["every rule"]),
                row["until"] or "-",
                _left(row["seconds_left"]),
                row["reason"] or "-",
                status,
            )
        render.console().print(table)
    by = {kind: sum(r["by"] == kind for r in rows) for kind in ("policy", "tag")}
    run.finish(ExitCode.OK, {"exemptions": len(rows), **by}, rows)
