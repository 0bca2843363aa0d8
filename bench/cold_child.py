"""One fresh process of the cold-start benchmark: ``python -m bench.cold_child floor|ours``.

- ``floor``: imports the five packages a Function like ours cannot do without, and PyYAML (any
  Function reading a YAML policy pays for it), nothing else.
- ``ours``: what the Functions host does on a cold start: import ``function_app`` (indexing),
  then invoke the indexed ``on_registry_write`` with the event in ``$BENCH_EVENT`` (the host's
  ``EventGridEvent`` keyword arguments). That loads the policy and handles the event against ARM
  (the emulator, via the usual settings).

- ``floor_then_ours``: both, in that order, so the time after the floor's imports is exactly
  what our path adds on top of them.

It prints one JSON line when done: ``t_done`` and phase marks (wall clock, for the parent), CPU
so far and the modules loaded. Interpreter teardown after that line is not part of a cold start: a Functions
worker stays up after its first event. This module imports only the standard library.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

FLOOR = (
    "azure.functions",
    "azure.eventgrid",
    "azure.mgmt.containerregistry",
    "azure.identity",
    "tenacity",
    "yaml",
)


MARKS: dict[str, float] = {}


def mark(name: str) -> None:
    MARKS[name] = time.time()


def floor() -> None:
    for name in FLOOR:
        importlib.import_module(name)
    mark("floor_imported")


def ours() -> None:
    import azure.functions as func

    import function_app

    mark("app_imported")
    # The policy's libraries ($BENCH_POLICY_LIBS: the tree's own), imported here only to time them
    # apart: building the engine imports them anyway, so the total is unchanged.
    for name in filter(None, os.environ.get("BENCH_POLICY_LIBS", "").split(",")):
        importlib.import_module(name)
    mark("policy_libs_imported")
    from acrguard import runtime

    runtime.engine()  # what the first invocation builds lazily: settings, policy, notifier
    mark("engine_built")
    # Built from kwargs the parent made with emulator.event_delivery.host_event_kwargs: importing the
    # emulator here would add its modules to the cold start.
    event = func.EventGridEvent(**json.loads(os.environ["BENCH_EVENT"]))
    handler = next(
        f for f in function_app.app.get_functions() if f.get_function_name() == "on_registry_write"
    )
    handler.get_user_function()(event)


def floor_then_ours() -> None:
    """The floor's imports first, then ours: the difference is what ours adds beyond the floor."""
    floor()
    ours()


def main() -> None:
    mark("start")
    {"floor": floor, "ours": ours, "floor_then_ours": floor_then_ours}[sys.argv[1]]()
    mark("done")
    print(
        json.dumps(
            {
                "t_done": MARKS["done"],
                "marks": MARKS,
                "cpu_s": time.process_time(),
                "modules": len(sys.modules),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
