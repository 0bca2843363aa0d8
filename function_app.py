"""Azure Functions entry points (Python v2 model). Thin by design: parse, call the engine, raise.

- ``on_registry_write``: Event Grid trigger for ARM ``ResourceWriteSuccess`` on registries (and
  ``ResourceDeleteSuccess`` of the child resources a rule watches).
  A transient failure (after the bounded retries in acrguard.azure.arm) propagates, so the delivery
  fails and Event Grid retries it (then dead-letters it). Bad input is logged and returns. It runs
  under the delivery's deadline (acrguard.budget): Event Grid stops waiting after 30 s.
- ``reconcile``: timer trigger (``ACRGUARD_RECONCILE_SCHEDULE``) that sweeps every scoped
  subscription for drift that no event reported (missed events, drift older than the app), under
  host.json's ``functionTimeout`` less a margin.
"""

from __future__ import annotations

import azure.functions as func

from acrguard import budget, runtime
from acrguard.settings import host_timeout, reconcile_schedule

app = func.FunctionApp()


@app.function_name("on_registry_write")
@app.event_grid_trigger(arg_name="event")
def on_registry_write(event: func.EventGridEvent) -> None:
    engine = runtime.engine()
    with budget.for_event(engine.clock):
        engine.handle(event, source="event")


@app.function_name("reconcile")
@app.timer_trigger(arg_name="timer", schedule=reconcile_schedule(), run_on_startup=False, use_monitor=True)
def reconcile(timer: func.TimerRequest) -> None:
    from acrguard.engine import graph_sweep

    engine = runtime.engine()
    with budget.for_timer(engine.clock, host_timeout()):
        summary = graph_sweep.reconcile(engine, source="reconcile")
    if summary.transient_errors:
        # Surface it (the invocation fails and alerts); the next run picks the registries up again.
        raise summary.transient_errors[0]
