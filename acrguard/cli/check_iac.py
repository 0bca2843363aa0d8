"""The ``check-iac`` command's body (registered below): read, judge, print, exit.

Exit codes as ``check``: 0 nothing found, 3 findings (drift, flagged, or a verdict that depends
on a value the input leaves open), 1 an input or the policy could not be read, 2 usage.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from acrguard.cli import render
from acrguard.cli.app import command
from acrguard.cli.params import argument, option, subscription_option
from acrguard.cli.run import CliError, ExitCode, Output, Run


def _subscription(value: str | None) -> str | None:
    from acrguard.policy.model import GUID

    if value is not None and not GUID.fullmatch(value):
        raise typer.BadParameter(f"{value!r} is not a subscription ID (a GUID)")
    return value.lower() if value else None


def check_iac(
    run: Run,
    paths: Annotated[
        list[Path],
        argument(
            metavar="PATH",
            help="ARM templates (az bicep build output), Terraform plans (terraform show -json), or directories.",
        ),
    ],
    parameters: Annotated[
        Path | None,
        option("--parameters", "-p", metavar="FILE", help="Deployment parameter file for the template."),
    ] = None,
    subscription: Annotated[
        str | None,
        subscription_option(
            help="Subscription deployed to (for overrides, exemptions by ID, resourceGroup().id).",
            callback=_subscription,
        ),
    ] = None,
    resource_group: Annotated[
        str | None,
        option("--resource-group", "-g", metavar="GROUP", help="Resource group deployed to."),
    ] = None,
    location: Annotated[
        str | None,
        option("--location", "-l", metavar="REGION", help="resourceGroup().location."),
    ] = None,
    skip_other: Annotated[
        bool,
        option("--skip-other", help="JSON that is neither a template nor a plan: skip it (pre-commit)."),
    ] = False,
) -> None:
    """Judge the registries of ARM templates and Terraform plans before they are deployed (no Azure call)."""
    from acrguard.iac.check import check, context
    from acrguard.policy import PolicyError, load_policy
    from acrguard.run_mode import default_mode

    if parameters is not None and len(paths) != 1:
        raise typer.BadParameter("--parameters goes with one template", param_hint="--parameters")
    settings = run.policy_settings()
    try:
        policy = load_policy(settings.policy_file)
    except PolicyError as exc:
        problems = [(exc.file, f"{path or '<root>'}: {reason}") for path, reason in exc.problems]
        raise CliError("invalid policy", problems) from None
    run_mode = run.run_mode()
    run.mode = default_mode(policy, run_mode)
    where = context(subscription, resource_group, location)
    report = check(paths, parameters, policy, where, skip_other, run_mode)
    for error in report.errors:
        run.error(error.file, error.message)
    findings = sum(len(j.findings) for j in report.judged)
    code = ExitCode.ERROR if report.errors else ExitCode.DRIFT if findings else ExitCode.OK
    summary = {
        "files": report.files,
        "registries": len(report.judged),
        "findings": findings,
        "unknown": sum(v.outcome == "unknown" for j in report.judged for v in j.verdicts),
        "skipped": report.skipped,
    }
    output = run.opts.output
    if output is Output.sarif:
        from acrguard.iac import sarif

        sys.stdout.write(json.dumps(sarif.document(report), indent=2) + "\n")
        raise typer.Exit(int(code))
    if output is Output.junit:
        from acrguard.iac import junit

        sys.stdout.write(junit.document(report))
        raise typer.Exit(int(code))
    if not run.json:
        render.console().print(_table(report))
    run.finish(code, summary, [_result(j) for j in report.judged])


check_iac.__name__ = "check-iac"  # the command's name: command() registers fn.__name__
command(check_iac)


def _result(judged: Any) -> dict[str, Any]:
    found = judged.found
    return {
        "file": found.file,
        "line": found.line,
        "resource": found.symbol,
        "registry": judged.resource_id,
        "notes": found.notes,
        "verdicts": [
            {"rule": v.rule, "outcome": v.outcome, "status": v.status, "mode": v.mode, "reason": v.reason}
            for v in judged.verdicts
        ],
    }


def _table(report: Any) -> Any:
    from rich.table import Table
    from rich.text import Text

    styles = {
        "drift": "yellow",
        "flagged": "magenta",
        "unknown": "bold yellow",
        "compliant": "dim green",
        "skipped": "dim",
    }
    table = Table(title="check-iac", show_lines=False)
    for column in ("file:line", "resource", "rule", "outcome", "reason"):
        table.add_column(column, overflow="fold")
    for judged in report.judged:
        found = judged.found
        where = f"{found.file}:{found.line}" if found.line else found.file
        for v in judged.verdicts:
            outcome = Text(v.outcome, style=styles.get(v.outcome, ""))
            table.add_row(Text(where), Text(str(found.symbol)), v.rule, outcome, Text(v.reason))
    return table
