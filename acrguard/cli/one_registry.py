"""Commands about one registry: ``check`` (fix or plan it) and ``explain`` (why each rule applies)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from acrguard.cli import render
from acrguard.cli.params import argument, option
from acrguard.cli.render import Item
from acrguard.cli.run import ExitCode, Run, exit_code_for

if TYPE_CHECKING:
    pass
from acrguard.cli.app import command
from acrguard.cli.history import WorkspaceOpt
from acrguard.cli.target import Target, _read, _target


@command
def check(run: Run, target: Target) -> None:
    """Check one registry and fix it (or plan the fix with --dry-run); prints before/after."""
    engine, ref = _target(run, *target)
    result = engine.process(ref, state=_read(engine, ref), source="cli")
    item = Item(result.registry, result.outcome, result.records)
    if not run.json:
        render.console().print(render.check_table(item))
    code = exit_code_for([item], result.error is not None)
    run.finish(code, render.counts([item.outcome]), [item.to_dict()])


@command
def explain(run: Run, target: Target) -> None:
    """Which rules apply to a registry, and why (scope, exemptions, the override that won). Never writes."""
    from acrguard.explain import explain as explain_registry

    engine, ref = _target(run, *target)
    explanation = explain_registry(
        engine.policy, ref, *_read(engine, ref, children=True), engine.run_mode
    ).to_dict()
    if not run.json:
        out = render.console()
        for part in render.explain_view(explanation):
            out.print(part)
    enabled = [r for r in explanation["rules"] if r["enabled"]]
    summary = {
        "rules": len(explanation["rules"]),
        "enabled": len(enabled),
        "drift": sum(r["verdict"] == "drift" for r in enabled),
    }
    run.finish(ExitCode.OK, summary, [explanation])


@command
def history(
    run: Run,
    registry: Annotated[
        str,
        argument(metavar="REGISTRY", help="The registry: its resource ID, or its name."),
    ],
    since: Annotated[
        str, option("--since", metavar="DURATION", help="How far back: 30m, 4h, 7d, 2w.", show_default=True)
    ] = "7d",
    rule: Annotated[str | None, option("--rule", metavar="RULE", help="Only this rule's decisions.")] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """A registry's decisions, newest first: what drifted, who caused it, what was done. Never writes."""
    from acrguard.cli import history as history_command

    history_command.show(run, registry, since, rule, workspace)
