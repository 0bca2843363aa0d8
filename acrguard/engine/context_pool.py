"""A thread pool whose tasks run in a copy of the submitting thread's context.

``concurrent.futures`` workers start from an empty :mod:`contextvars` context, so state that belongs
to one call (the notifier's batch, :meth:`acrguard.audit.Audit.batch`) would not reach the work
that call hands to its workers. Each task gets its own copy (a context cannot be entered by two
threads at once), taken when it is submitted; ``map`` submits through ``submit``, so it copies too.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class ContextPool(ThreadPoolExecutor):
    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        return super().submit(contextvars.copy_context().run, fn, *args, **kwargs)
