"""``acrguard sweep``: every registry of the scoped subscriptions, by list pages or Resource Graph."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit

import typer

from acrguard.cli import render
from acrguard.cli.params import option, subscription_option
from acrguard.cli.render import Item
from acrguard.cli.run import CliError, Run, exit_code_for

if TYPE_CHECKING:
    pass
from acrguard.cli.app import command
from acrguard.cli.target import _subscription_id


def _subscriptions(values: list[str] | None) -> list[str] | None:
    return [_subscription_id(v) for v in values] if values else None  # type: ignore[misc]


@command
def sweep(
    run: Run,
    subscription: Annotated[
        list[str] | None,
        subscription_option(
            help="Subscription ID (repeatable). Default: the policy's scope, else every visible one.",
            callback=_subscriptions,
        ),
    ] = None,
    concurrency: Annotated[
        int | None,
        option(
            "--concurrency",
            "-c",
            min=1,
            max=64,
            help="Concurrent registry decisions/writes (default ACRGUARD_SWEEP_CONCURRENCY).",
        ),
    ] = None,
    tenant: Annotated[
        bool,
        option(
            "--tenant",
            help="Every subscription the identity can read, through Azure Resource Graph (policy pushed down).",
        ),
    ] = False,
    management_group: Annotated[
        list[str] | None,
        option(
            "--management-group",
            "-m",
            metavar="ID",
            help="Management group (repeatable), through Azure Resource Graph.",
        ),
    ] = None,
) -> None:
    """Every registry of the subscriptions, from list pages (no per-registry GET unless there is drift to fix).

    With --tenant or --management-group, one Resource Graph query finds the registries that may
    violate the policy; if Resource Graph is unavailable, --tenant falls back to the list and says so.
    """
    from acrguard.azure.arm import ArmError
    from acrguard.engine import graph_sweep

    if sum(map(bool, (subscription, tenant, management_group))) > 1:
        raise typer.BadParameter("give one of --subscription, --tenant or --management-group")
    engine = run.engine()
    with _progress() as advance:
        try:
            if tenant or management_group:
                summary = graph_sweep.sweep(
                    engine,
                    management_groups=management_group,
                    concurrency=concurrency,
                    source="cli",
                    on_result=advance,
                )
            else:
                summary = engine.reconcile(
                    subscription, concurrency=concurrency, source="cli", on_result=advance
                )
        except ArmError as exc:  # listing the subscriptions themselves failed
            endpoint = urlsplit(run.settings().arm_endpoint)  # scheme and host only: never a path
            raise CliError(str(exc), input=f"{endpoint.scheme}://{endpoint.hostname}/subscriptions") from None
    items = [Item(r.registry, r.outcome, r.records) for r in summary.results]
    registries = [i for i in items if not render.is_scope(i.registry)]  # apart: subscriptions not swept
    scopes = render.counts(i.outcome for i in items if render.is_scope(i.registry))
    stats = {
        **render.counts(i.outcome for i in registries),
        "registries": len(registries),
        "subscriptions": {outcome: n for outcome, n in scopes.items() if n},
        **summary.details,
    }
    if summary.in_transition:  # left unwritten while ARM created, updated or deleted them
        stats["in_transition"] = summary.in_transition
    if fallback := summary.details.get("fallback"):
        render.err_console().print(f"note: {fallback}")
    elif summary.details.get("source") == "resource-graph" and not run.json:
        render.err_console().print(graph_sweep.describe(summary.details))
    if not run.json:
        out = render.console()
        for table in render.sweep_tables(items, stats):
            out.print(table)
    code = exit_code_for(items, bool(summary.transient_errors))
    run.finish(code, stats, [i.to_dict() for i in items])


class _progress:
    """A progress bar on stderr, only when stdout is a terminal (never in pipes, CI logs or JSON)."""

    def __enter__(self) -> Any:
        self._bar = None
        if not sys.stdout.isatty():
            return lambda result: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TimeElapsedColumn

        self._bar = Progress(
            SpinnerColumn(),
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=render.err_console(),
            transient=True,
        )
        self._bar.start()
        task = self._bar.add_task("sweeping registries", total=None)
        return lambda result: self._bar.advance(task)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
