"""``acrguard history``: one registry's decisions, newest first, from the workspace or the audit file."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard import history
from acrguard.cli import render
from acrguard.cli.params import option
from acrguard.cli.run import CliError, ExitCode

if TYPE_CHECKING:
    from acrguard.cli.run import Run


#: ``--workspace``: ``history`` and ``undo`` read the decisions the same way.
WorkspaceOpt = Annotated[
    str | None,
    option(
        "--workspace",
        metavar="GUID",
        help="Log Analytics workspace ID (default: ACRGUARD_HISTORY_WORKSPACE, else ACRGUARD_AUDIT_FILE).",
    ),
]


def decisions(
    run: Run, registry: str | None, since: str, rule: str | None, workspace: str | None
) -> list[dict[str, Any]]:
    """The decisions the command line asks for, from ``--workspace`` / ACRGUARD_HISTORY_WORKSPACE,
    else ACRGUARD_AUDIT_FILE; a clear error when neither is set. ``undo`` reads them the same way
    (``registry`` None: every registry's, to find a decision by its ID)."""
    registry = _registry(registry) if registry is not None else None
    if workspace is not None:
        workspace = _workspace_id(workspace)
    if rule is not None and rule not in all_rule_names():
        known = ", ".join(sorted(all_rule_names()))
        raise typer.BadParameter(f"no rule called {rule!r}; the rules are: {known}", param_hint="--rule")
    try:
        window = history.parse_duration(since, what="--since")
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--since") from None
    if window > history.MAX_SINCE:
        raise typer.BadParameter(
            f"may reach back at most {history.MAX_SINCE.days}d, got {since}", param_hint="--since"
        )
    settings = run.settings()
    query = history.Query(registry, datetime.now(UTC) - window, rule)
    workspace = workspace or settings.history_workspace
    if workspace:
        from acrguard.azure.credential import default_credential

        try:
            return history.from_workspace(
                workspace, default_credential(), query, endpoint=settings.logs_endpoint
            )
        except history.WorkspaceError as exc:
            raise CliError(str(exc), input=workspace) from None
        except Exception as exc:  # the SDK's errors: one line, never a traceback or a token
            raise CliError(
                f"the workspace query failed: {type(exc).__name__}: {_first_line(exc)}", input=workspace
            ) from None
    if settings.audit_file:
        try:
            return history.from_file(settings.audit_file, query)
        except OSError as exc:
            raise CliError(str(exc), input=settings.audit_file) from None
    raise CliError(
        "no history to read: give --workspace (the Log Analytics workspace ID the Function App logs to), "
        "or set ACRGUARD_HISTORY_WORKSPACE, or ACRGUARD_AUDIT_FILE for the local audit file",
        input="--workspace",
    )


def show(run: Run, registry: str, since: str, rule: str | None, workspace: str | None) -> None:
    found = decisions(run, registry, since, rule, workspace)
    if not run.json:
        render.console().print(render.history_table(registry, found, since))
    run.finish(ExitCode.OK, render.counts(d["outcome"] for d in found), found)


def _registry(text: str) -> str:
    """A resource ID (parsed, so a typo is an error here) or a bare registry name."""
    from acrguard.azure.resource_ids import RegistryRef

    text = text.strip()
    if "/" in text:
        try:
            return RegistryRef.parse(text).resource_id
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="REGISTRY") from None
    if not re.fullmatch(r"[A-Za-z0-9]{1,50}", text):
        raise typer.BadParameter(
            f"{text!r} is neither a registry resource ID nor a registry name (letters and digits)",
            param_hint="REGISTRY",
        )
    return text


def _workspace_id(text: str) -> str:
    """The query API addresses a workspace by its ID (a GUID); a name or resource ID would only get
    the service's "The requested path does not exist" (Azure/azure-sdk-for-python#32798)."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise typer.BadParameter(
            "must be the workspace ID, a GUID (the workspace's customerId, 'Workspace ID' in the "
            f"portal), not its name or resource ID; got {text.strip()[:80]!r}",
            param_hint="--workspace",
        ) from None


def all_rule_names() -> set[str]:
    from acrguard.plan import rules_by_name

    return set(rules_by_name())


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0][:300] if str(exc).strip() else "no message"
