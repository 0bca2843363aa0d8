"""A ``Retry-After`` that is neither seconds nor an HTTP date: a transient failure, never a crash.

Real SDK, real HTTPS, the emulator as ARM answering 503 with ``Retry-After: soon``.
"""

from __future__ import annotations

import pytest
from engine_helpers import SUB_A, make_harness, rid, write_event

PROD = rid("contosoprod")
STD = rid("contosostd")


@pytest.mark.parametrize("method", ["GET", "PATCH"])
def test_a_malformed_retry_after_is_a_transient_failure_not_a_crash(seeded, method):
    """A 503 whose ``Retry-After`` is neither seconds nor an HTTP date (``soon``: a proxy's or
    gateway's answer) is a transient failure, retried with the usual backoff, never a crash
    (``email.utils.parsedate_to_datetime`` raised ValueError inside the retry loop's wait, and it
    escaped the engine with no audit line for the registry and no retry)."""
    seeded.inject(method=method, resource_id=STD, status=503, headers={"Retry-After": "soon"}, times=1)
    h = make_harness(settle_s=0)
    h.engine.handle(write_event(STD))  # retried with the usual backoff; the second attempt works
    assert ("anonymous_pull", "applied") in h.outcomes(STD)


def test_a_malformed_retry_after_does_not_stop_a_sweep(seeded):
    """One registry that cannot be handled never stops the sweep: the same malformed ``Retry-After``
    on every PATCH of one registry fails that registry, the others are fixed, and the sweep's
    summary carries the transient error (a ValueError once ended ``reconcile`` with no summary)."""
    seeded.inject(method="PATCH", resource_id=STD, status=503, headers={"Retry-After": "soon"}, times=None)
    h = make_harness(settle_s=0, max_attempts=2)
    summary = h.engine.reconcile([SUB_A])
    assert [r.outcome for r in summary.results if r.registry == STD] == ["failed"]
    assert summary.transient_errors  # raised by the timer, so the failure is seen
    assert ("anonymous_pull", "applied") in h.outcomes(PROD)
