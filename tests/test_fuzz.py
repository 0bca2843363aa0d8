"""Bad input: the event parser and the policy loader.

The only allowed outcomes are a valid result or a clear validation error that names the problem
(a ``Skip`` with its reason; a ``PolicyError`` naming the file, the key path and the reason). Never
an unhandled exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import rid, write_event

from acrguard.events import Skip, Target, parse_events

PROD = rid("contosoprod")
BASE_EVENT = write_event(PROD)


def assert_allowed(results: list[Target | Skip]) -> None:
    assert isinstance(results, list) and results
    for result in results:
        assert isinstance(result, Target | Skip), result
        if isinstance(result, Skip):
            assert isinstance(result.reason, str) and result.reason.strip()


@pytest.mark.parametrize("depth", [100, 5_000, 200_000], ids=["depth 100", "depth 5000", "depth 200000"])
def test_deeply_nested_json_is_a_skip_not_a_recursion_error(depth: int) -> None:
    text = "[" * depth + "]" * depth
    for payload in (text, text.encode()):
        assert_allowed(parse_events(payload))
    nested: list[Any] = []
    inner = nested
    for _ in range(depth if depth < 10_000 else 10_000):
        inner.append([])
        inner = inner[0]
    assert_allowed(parse_events(nested))
    as_data = {**BASE_EVENT, "data": text}
    [skip] = parse_events(as_data)
    assert isinstance(skip, Skip)


def test_nested_batches_are_not_batches() -> None:
    """Event Grid delivers one array of events; an array inside it is a malformed event."""
    results = parse_events([[write_event(PROD)]])
    assert len(results) == 1 and isinstance(results[0], Skip)
    assert "must be a JSON object" in results[0].reason
