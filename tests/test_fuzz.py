"""Bad input: the event parser and the policy loader.

The only allowed outcomes are a valid result or a clear validation error that names the problem
(a ``Skip`` with its reason; a ``PolicyError`` naming the file, the key path and the reason). Never
an unhandled exception.
"""

from __future__ import annotations

from typing import Any

import pytest
from engine_helpers import rid, write_event

from acrguard.events import Skip, Target, parse_event, parse_events
from acrguard.policy import PolicyError, parse_policy
from acrguard.resource_ids import RegistryRef

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


def event_for(
    resource_id: str, operation: str = "Microsoft.ContainerRegistry/registries/write"
) -> dict[str, Any]:
    event = write_event(PROD, operation)
    event["subject"] = event["data"]["resourceUri"] = resource_id
    return event


@pytest.mark.parametrize(
    "name",
    ["contosoprod\u212a", "contoſoprod", "İstanbul1", "contosoprodı", "contoso\u200bprod", "ｃｏｎｔｏｓｏ"],
)
def test_registry_names_with_non_ascii_characters_are_refused(name: str) -> None:
    """Registry names are ASCII; a Unicode case-insensitive match would take 'ſ' for 's' and
    the Kelvin sign for 'k' (and lower() it into another registry's key)."""
    result = parse_event(event_for(rid(name)))
    assert isinstance(result, Skip) and "not a container registry resource ID" in result.reason
    with pytest.raises(ValueError):
        RegistryRef.parse(rid(name))


@pytest.mark.parametrize(
    "resource_id",
    [PROD.replace("subscriptions", "ſubscriptions"), PROD.replace("Microsoft.", "Microſoft.")],
)
def test_literal_segments_match_ascii_case_insensitively_only(resource_id: str) -> None:
    assert isinstance(parse_event(event_for(resource_id)), Skip)
    assert isinstance(parse_event(event_for(PROD.upper().replace("CONTOSOPROD", "contosoprod"))), Target)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("? [a, b]\n: 1\n", "a key must be a scalar, not a list"),
        ("version: 1\nrules: {? {a: 1}: x}\n", "a key must be a scalar, not a dict"),
        ("[" * 5_000 + "]" * 5_000, "nested too deeply"),
        ("{a: " * 5_000 + "1" + "}" * 5_000, "nested too deeply"),
        ("version: 1\nversion: 1\n", "duplicate key 'version'"),
        ("version: !!python/object/apply:os.system [echo]\n", "not valid YAML"),
        ("\x00", "not valid YAML"),
        ("version: 1\nrules:\n  network_rules:\n    enabled: true\n    allowed_ips: [1]\n", "valid string"),
    ],
    ids=[
        "sequence as key",
        "mapping as key",
        "5000 nested sequences",
        "5000 nested mappings",
        "duplicate key",
        "python tag",
        "NUL byte",
        "integer IP",
    ],
)
def test_pathological_yaml_is_a_policy_error_not_a_crash(text: str, expected: str) -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert expected in str(info.value) and "p.yaml" in str(info.value)
