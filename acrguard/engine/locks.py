"""One lock per registry in flight, for the engine's "one write, not two" serialisation."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager


class RegistryLocks:
    """One lock per registry while someone holds or waits for it; forgotten when the last leaves.

    Exact, where the 64 striped locks it replaces were not: a write (GET, settle, PATCH) held the
    stripe of 1/64 of all registries, so a sweep's other workers, deciding compliant rows in a
    millisecond each, soon all queued behind it and a 100,000-registry sweep wrote about one
    registry at a time. Memory is bounded by the registries in flight.
    """

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._held: dict[str, tuple[threading.Lock, list[int]]] = {}

    def __len__(self) -> int:
        """Registries held or waited for now."""
        with self._guard:
            return len(self._held)

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._held.setdefault(key, (threading.Lock(), [0]))
            users[0] += 1
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users[0] -= 1
                if not users[0]:
                    del self._held[key]
