"""Scripted failures: "the next N matching calls answer X", plus global latency.

A :class:`Fault` matches on method, route, resource ID and/or a path regex, and acts by delaying,
dropping the connection, or answering a status with a realistic error body. Faults are consulted
in the order they were added; each match consumes one of its ``times``.

Routes: ``registry`` (GET/PUT/PATCH/DELETE one registry), ``list``, ``operation`` (LRO status
polls), ``subscriptions`` (GET /subscriptions[/{id}]), ``resourcegraph`` (Resource Graph queries), ``tokens``, ``cacheRules``, ``replications`` and
``diagnosticSettings`` (a registry's child resources; their status polls are ``operation``), ``identity`` (managed-identity endpoint), ``topic`` (Event Grid publish). A fault with no
``route`` matches the ARM routes only, so ``inject(status=500)`` never breaks token acquisition
by surprise; script the identity endpoint with ``route="identity"``.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .arm_paths import CHILD_KINDS, resource_key

ARM_ROUTES = frozenset({"registry", "list", "operation", "subscriptions", "resourcegraph", *CHILD_KINDS})
ROUTES = ARM_ROUTES | {"identity", "topic", "logs", "other"}

Delay = float | Callable[[], float] | None

# ARM's usual code for each status (ARM RPC common error codes); a fault may override it.
DEFAULT_ARM_CODES: dict[int, str] = {
    400: "BadRequest",
    401: "InvalidAuthenticationToken",
    403: "AuthorizationFailed",
    404: "ResourceNotFound",
    409: "Conflict",
    412: "PreconditionFailed",
    429: "SubscriptionRequestsThrottled",  # ARM's subscription-level throttling code
    500: "InternalServerError",
    502: "BadGateway",
    503: "ServiceUnavailable",
    504: "GatewayTimeout",
}


@dataclass
class Fault:
    # -- what it matches (all given criteria must hold)
    method: str | None = None
    resource_id: str | None = None
    """Registry ID (case-insensitive); for ``list`` the collection path; polls match their registry."""
    route: str | None = None
    path: str | None = None
    """Regular expression searched (case-insensitively) in the URL path."""
    # -- what it does
    status: int | None = None
    code: str | None = None
    message: str | None = None
    retry_after: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: Any = None
    """Replaces the whole JSON error body when given."""
    reset: Literal["rst", "close"] | None = None
    delay: Delay = None
    """Seconds (or a callable returning seconds) to wait before acting; alone, it only adds latency."""
    times: int | None = 1
    """How many matching calls it affects; None means every one until reset()."""
    hits: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.route is not None and self.route not in ROUTES:
            raise ValueError(f"unknown route {self.route!r}; expected one of {sorted(ROUTES)}")
        if self.status is None and self.reset is None and self.delay is None:
            raise ValueError("a fault needs a status, a reset or a delay")
        if self.status is not None and self.reset is not None:
            raise ValueError("a fault either answers a status or resets the connection, not both")
        if self.reset not in (None, "rst", "close"):
            raise ValueError("reset must be 'rst' or 'close'")
        if self.times is not None and self.times < 1:
            raise ValueError("times must be >= 1 (or None for unlimited)")
        self._path_re = re.compile(self.path, re.IGNORECASE) if self.path else None
        self._resource_key = resource_key(self.resource_id) if self.resource_id else None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.hits >= self.times

    def matches(self, method: str, route: str, target_key: str | None, path: str) -> bool:
        if self.route is None and route not in ARM_ROUTES:
            return False
        if self.route is not None and self.route != route:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        if self._resource_key is not None and self._resource_key != target_key:
            return False
        return not (self._path_re is not None and not self._path_re.search(path))

    def delay_seconds(self) -> float:
        return resolve_delay(self.delay)

    def describe(self) -> str:
        action = (
            f"status {self.status}" if self.status else f"reset ({self.reset})" if self.reset else "delay"
        )
        return f"{action} [{self.hits}/{self.times if self.times is not None else 'inf'}]"


def resolve_delay(delay: Delay) -> float:
    if delay is None:
        return 0.0
    value = delay() if callable(delay) else delay
    return max(0.0, float(value))


def exponential_latency(mean_s: float, *, seed: int | None = None) -> Callable[[], float]:
    """A latency distribution for benchmarks: exponential with the given mean (seedable)."""
    rng = random.Random(seed)
    lock = threading.Lock()

    def sample() -> float:
        with lock:
            return rng.expovariate(1.0 / mean_s) if mean_s > 0 else 0.0

    return sample


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def take(self, method: str, route: str, target_key: str | None, path: str) -> Fault | None:
        """The first live fault that matches, with one use consumed; None if nothing matches."""
        with self._lock:
            for fault in self._faults:
                if not fault.exhausted and fault.matches(method, route, target_key, path):
                    fault.hits += 1
                    return fault
        return None

    @property
    def pending(self) -> list[Fault]:
        with self._lock:
            return [fault for fault in self._faults if not fault.exhausted]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
