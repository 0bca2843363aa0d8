"""Bad input: the event parser and the policy loader, fuzzed with hypothesis.

The only allowed outcomes are a valid result or a clear validation error that names the problem
(a ``Skip`` with its reason; a ``PolicyError`` naming the file, the key path and the reason). Never
an unhandled exception, and never an ARM call for an event that does not name a registry: the
engine is fed the invalid events against the emulator and its request log must stay empty.

Inputs: arbitrary JSON, mutations of a real event (fields deleted, retyped, replaced), truncated
JSON and YAML, huge payloads, odd Unicode in names, resource IDs with extra or missing segments
and wrong casing, and the ``azure.functions.EventGridEvent`` objects the Functions host builds.
"""

from __future__ import annotations

import copy
import json
import re
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
import yaml
from engine_helpers import DEMO_POLICY, DEMO_SEED, make_harness, patch_as_user, rid, write_event
from function_harness import FunctionApp, function_app_env, grid_event
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st
from reliability import ExampleCounter, record

from acrguard.azure.resource_ids import RegistryRef
from acrguard.events import Skip, Target, parse_event, parse_events
from acrguard.policy import Policy, PolicyDocument, PolicyError, parse_policy

SUB = "00000000-0000-0000-0000-00000000aaaa"
PROD = rid("contosoprod")
WRITE = "Microsoft.ContainerRegistry/registries/write"
SHIPPED_POLICY = DEMO_POLICY.read_text(encoding="utf-8")

examples = ExampleCounter("fuzz", "test_fuzz")


@pytest.fixture(scope="module", autouse=True)
def _record_example_counts() -> Iterator[None]:
    yield
    examples.flush()


# --- strategies --------------------------------------------------------------------------------

JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=40)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
ALNUM = string.ascii_letters + string.digits
LOWER_ALNUM = string.ascii_lowercase + string.digits
# Characters that look like ASCII to a human or to a case-insensitive regex, and other oddities.
ODD_CHARS = "ſKİıÅ\u00a0\u200b\u202e\ufeff\u0301ｃｏｎ\U0001f600\x00\n/\\%?#"
ODD_TEXT = st.text(alphabet=st.sampled_from(ODD_CHARS) | st.characters(), max_size=60)
NAMES = st.one_of(
    st.text(ALNUM, min_size=5, max_size=50),
    st.text(LOWER_ALNUM, min_size=1, max_size=4) | st.text(LOWER_ALNUM, min_size=51, max_size=60),
    st.builds(
        lambda a, odd, b: a + odd + b,
        st.text(LOWER_ALNUM, min_size=2, max_size=20),
        st.sampled_from(ODD_CHARS),
        st.text(LOWER_ALNUM, min_size=2, max_size=20),
    ),
    ODD_TEXT,
)
GROUPS = st.one_of(
    st.from_regex(r"[-\w._()]{0,89}[-\w_()]", fullmatch=True),
    st.sampled_from(["rg-platform", "RG-Platform", "rg.", "rg(x)", "grupo-ñ", "", "a" * 91]),
    ODD_TEXT,
)
SUBSCRIPTIONS = st.one_of(
    st.uuids().map(str),
    st.uuids().map(lambda u: str(u).upper()),
    st.uuids().map(lambda u: str(u).replace("-", "")),
    st.sampled_from([SUB, SUB.replace("a", "ａ"), SUB + "0", SUB[:-1], "subscription"]),
    ODD_TEXT,
)
LITERALS = ["subscriptions", "resourceGroups", "providers", "Microsoft.ContainerRegistry", "registries"]


def recase(draw: st.DrawFn, text: str) -> str:
    """Random ASCII casing, sometimes with a Unicode look-alike swapped in for one letter."""
    mask = draw(st.integers(0, 2 ** len(text) - 1))
    out = "".join(c.upper() if mask >> i & 1 else c.lower() for i, c in enumerate(text))
    if text and draw(st.integers(0, 9)) == 0:
        i = draw(st.integers(0, len(text) - 1))
        lookalike = {"s": "ſ", "k": "K", "i": "ı"}.get(out[i].lower())
        if lookalike:
            out = out[:i] + lookalike + out[i + 1 :]
    return out


@st.composite
def resource_ids(draw: st.DrawFn) -> str:
    """Registry IDs, right and wrong: casing, look-alikes, extra/missing/empty segments, children."""
    segments = [
        "",
        recase(draw, "subscriptions"),
        draw(SUBSCRIPTIONS),
        recase(draw, draw(st.sampled_from(["resourceGroups", "resourcegroups"]))),
        draw(GROUPS),
        recase(draw, "providers"),
        recase(draw, "Microsoft.ContainerRegistry"),
        recase(draw, "registries"),
        draw(NAMES),
    ]
    for _ in range(draw(st.integers(0, 3))):  # child resources: replications/x, webhooks/y ...
        segments += [draw(st.sampled_from(["replications", "webhooks", "scopeMaps", ""])), draw(NAMES)]
    for _ in range(draw(st.integers(0, 2))):  # structural damage
        action = draw(st.sampled_from(["drop", "duplicate", "insert", "empty"]))
        i = draw(st.integers(1, len(segments) - 1))
        if action == "drop":
            del segments[i]
        elif action == "duplicate":
            segments.insert(i, segments[i])
        elif action == "insert":
            segments.insert(i, draw(st.sampled_from([*LITERALS, "x"])))
        else:
            segments[i] = ""
    text = "/".join(segments)
    return text + draw(st.sampled_from(["", "", "/", "//", " ", "\n", "?api-version=1"]))


@st.composite
def valid_resource_ids(draw: st.DrawFn) -> str:
    """IDs ARM accepts, in any ASCII casing, sometimes naming a child resource."""
    sub = draw(st.uuids().map(str))
    group = draw(st.text(ALNUM + "-_()", min_size=1, max_size=30))
    name = draw(st.text(ALNUM, min_size=5, max_size=50))
    literals = [recase(draw, seg).replace("ſ", "s").replace("K", "k").replace("ı", "i") for seg in LITERALS]
    text = f"/{literals[0]}/{sub}/{literals[1]}/{group}/{literals[2]}/{literals[3]}/{literals[4]}/{name}"
    if draw(st.booleans()):
        text += "/replications/" + draw(st.text(LOWER_ALNUM, min_size=1, max_size=20))
    return text


def oracle(resource_id: str) -> tuple[str, str, str] | None:
    """An independent reading of a registry (or registry child) ID: (sub, rg, name) or None.

    ARM's rules: GUID subscription; resource group of 1-90 letters, digits, '-', '_', '.', '()',
    not ending in '.'; registry name of 5-50 ASCII letters and digits; child resources as
    type/name pairs; literal segments in any ASCII casing; one trailing slash tolerated.
    """
    text = resource_id.strip()
    parts = text.split("/")
    if len(parts) < 9 or parts[0] != "":
        return None
    _, subs, sub, groups, group, providers, namespace, registries, name, *rest = parts
    literals = [
        (subs, "subscriptions"),
        (groups, "resourcegroups"),
        (providers, "providers"),
        (namespace, "microsoft.containerregistry"),
        (registries, "registries"),
    ]
    if not all(seg.isascii() and seg.lower() == want for seg, want in literals):
        return None
    if not re.fullmatch(r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}", sub):
        return None
    if not (
        1 <= len(group) <= 90 and all(c.isalnum() or c in "-_.()" for c in group) and not group.endswith(".")
    ):
        return None
    if not (name.isascii() and name.isalnum() and 5 <= len(name) <= 50):
        return None
    if rest and rest[-1] == "":
        rest = rest[:-1]  # one trailing slash
    if len(rest) % 2 or not all(rest):
        return None
    return sub.lower(), group, name


def event_for(resource_id: str, operation: str = WRITE) -> dict[str, Any]:
    event = write_event(PROD, operation)
    event["subject"] = event["data"]["resourceUri"] = resource_id
    return event


BASE_EVENT = write_event(PROD)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key path in a JSON document (the root excluded)."""
    found: list[tuple[Any, ...]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, child in items:
        found.append((*prefix, key))
        found += paths(child, (*prefix, key))
    return found


def parent_of(doc: Any, path: tuple[Any, ...]) -> Any:
    """The container that holds ``path``'s last key."""
    for key in path[:-1]:
        doc = doc[key]
    return doc


@st.composite
def mutated_events(draw: st.DrawFn, base: dict[str, Any] = BASE_EVENT) -> dict[str, Any]:
    """The real sample event with 1-4 fields deleted, retyped or replaced by junk."""
    event = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        candidates = paths(event)
        if not candidates:
            break
        path = draw(st.sampled_from(candidates))
        parent = parent_of(event, path)
        action = draw(st.sampled_from(["delete", "replace", "stringify", "odd"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "stringify":
            parent[path[-1]] = json.dumps(parent[path[-1]])
        elif action == "odd":
            parent[path[-1]] = draw(ODD_TEXT)
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return event


def assert_allowed(results: list[Target | Skip]) -> None:
    """Every result is a Target naming a well-formed registry, or a Skip with a reason."""
    assert isinstance(results, list) and results
    for result in results:
        assert isinstance(result, Target | Skip), result
        if isinstance(result, Skip):
            assert isinstance(result.reason, str) and result.reason.strip()
            assert len(result.reason) < 2_000  # reasons clip what they quote
        else:
            ref = result.ref
            assert oracle(ref.resource_id) == (ref.subscription_id, ref.resource_group, ref.name)


# --- the event parser -------------------------------------------------------------------------

FAST = settings(max_examples=300, deadline=None)


@FAST
@given(JSON_VALUES)
def test_any_json_value_is_a_target_or_a_skip_with_a_reason(value: Any) -> None:
    examples.hit("parse_events(any JSON value)")
    assert_allowed(parse_events(value))
    assert_allowed(parse_events(json.dumps(value)))


@FAST
@given(mutated_events())
def test_a_damaged_real_event_is_a_target_or_a_skip_with_a_reason(event: dict[str, Any]) -> None:
    examples.hit("parse_events(mutated event)")
    assert_allowed(parse_events(event))
    assert_allowed(parse_events([event, event]))


@FAST
@given(mutated_events(base=json.loads(json.dumps(BASE_EVENT))), st.booleans())
def test_cloudevents_shape_damaged_is_a_target_or_a_skip(event: dict[str, Any], wrap: bool) -> None:
    examples.hit("parse_events(mutated CloudEvent)")
    cloud = {
        "specversion": "1.0",
        "type": event.get("eventType"),
        "source": event.get("topic"),
        "subject": event.get("subject"),
        "id": event.get("id"),
        "data": event.get("data"),
    }
    assert_allowed(parse_events([cloud] if wrap else cloud))


@FAST
@given(st.data())
def test_truncated_json_is_a_skip_naming_invalid_json(data: st.DataObject) -> None:
    examples.hit("parse_events(truncated JSON)")
    text = json.dumps([BASE_EVENT])
    cut = data.draw(st.integers(0, len(text) - 1))
    payload = text[:cut]
    as_bytes = data.draw(st.booleans())
    results = parse_events(payload.encode() if as_bytes else payload)
    assert_allowed(results)
    assert len(results) == 1 and isinstance(results[0], Skip)
    assert "not valid JSON" in results[0].reason or "empty event batch" in results[0].reason


@FAST
@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_a_skip_or_a_valid_result(payload: bytes) -> None:
    examples.hit("parse_events(arbitrary bytes)")
    assert_allowed(parse_events(payload))


@settings(max_examples=400, deadline=None)
@given(resource_ids())
@example(PROD)
@example(PROD.lower())
@example(PROD.upper().replace("PROVIDERS", "providers"))
@example(PROD + "/replications/westeurope")
@example(PROD + "/")
@example(PROD.replace("contosoprod", "contosoprod\u212a"))  # Kelvin sign: lower() gives 'k'
@example(PROD.replace("contosoprod", "contoſoprod"))  # long s: IGNORECASE matches it as 's'
@example(PROD.replace("subscriptions", "ſubscriptions"))
@example(PROD.replace("contosoprod", "İstanbul"))
def test_a_resource_id_is_a_target_exactly_when_arm_would_accept_it(resource_id: str) -> None:
    """Extra or missing segments, any casing, odd Unicode: Target iff an independent reading
    of ARM's naming rules accepts the ID, and then the same (subscription, group, name)."""
    examples.hit("resource ID vs. an independent oracle")
    result = parse_event(event_for(resource_id))
    expected = oracle(resource_id)
    if expected is None:
        assert isinstance(result, Skip), f"{resource_id!r} should be refused, got {result}"
        assert result.reason
    else:
        assert isinstance(result, Target), f"{resource_id!r} should be accepted: {result}"
        assert (result.ref.subscription_id, result.ref.resource_group, result.ref.name) == expected


@FAST
@given(st.data())
def test_casing_never_changes_which_registry_an_event_names(data: st.DataObject) -> None:
    examples.hit("resource ID casing")
    name = data.draw(st.text(LOWER_ALNUM, min_size=5, max_size=50))
    group = data.draw(st.text(LOWER_ALNUM + "-_()", min_size=1, max_size=20))
    canonical = rid(name, SUB, group)
    mask = data.draw(st.integers(0, 2 ** len(canonical) - 1))
    flipped = "".join(c.upper() if mask >> i & 1 else c.lower() for i, c in enumerate(canonical))
    parts = flipped.split("/")
    parts[4] = group  # a resource group name keeps its own casing (Unicode rules apply there)
    recased = "/".join(parts)
    result = parse_event(event_for(recased))
    assert isinstance(result, Target)
    assert result.ref.key == canonical.lower()
    assert result.ref.resource_group == group  # the group's own casing is kept for the URL


@settings(max_examples=150, deadline=None)
@given(
    event_id=st.text(max_size=40),
    event_type=st.one_of(st.just("Microsoft.Resources.ResourceWriteSuccess"), st.text(max_size=40)),
    subject=st.one_of(resource_ids(), st.text(max_size=40)),
    data=st.one_of(st.just(BASE_EVENT["data"]), st.dictionaries(st.text(max_size=12), JSON_VALUES)),
)
def test_functions_host_event_objects_are_a_target_or_a_skip(
    event_id: str, event_type: str, subject: str, data: dict[str, Any]
) -> None:
    examples.hit("azure.functions.EventGridEvent")
    event = func.EventGridEvent(
        id=event_id,
        data=data,
        topic="/subscriptions/" + SUB,
        subject=subject,
        event_type=event_type,
        event_time=None,
        data_version="2",
    )
    assert_allowed(parse_events(event))


def test_huge_payloads_are_refused_or_parsed_quickly() -> None:
    # What "quickly" rests on is asserted: the oversized body is refused on its size, before
    # parsing; huge fields are clipped. (Wall time is bench's to measure, never a test's.)
    oversized = b" " * (64 * 1024 * 1024 + 1)
    [skip] = parse_events(oversized)
    assert isinstance(skip, Skip) and "larger than any Event Grid delivery" in skip.reason
    del oversized

    huge_id = PROD + "/replications/x" * 50_000  # 750 kB subject: a child of contosoprod, deep
    assert isinstance(parse_event(event_for(huge_id)), Target)
    huge_name = PROD.replace("contosoprod", "a" * 1_000_000)
    result = parse_event(event_for(huge_name))
    assert isinstance(result, Skip) and len(result.reason) < 2_000  # quoted IDs are clipped

    batch = [event_for(PROD)] * 20_000
    assert len(parse_events(json.dumps(batch))) == 20_000
    junk = {**BASE_EVENT, "data": {**BASE_EVENT["data"], "claims": {"name": "x" * 5_000_000}}}
    [target] = parse_events(junk)
    assert isinstance(target, Target) and len(target.context.caller["name"]) <= 260  # clipped


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


# --- the engine never calls ARM for invalid input ------------------------------------------------

INVALID_EVENTS = st.one_of(
    mutated_events(),
    JSON_VALUES,
    resource_ids().filter(lambda r: oracle(r) is None).map(event_for),
    st.binary(max_size=100),
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.filter_too_much],
)
@given(payload=INVALID_EVENTS)
def test_the_engine_makes_no_arm_call_for_an_event_that_names_no_registry(emu: Any, payload: Any) -> None:
    parsed = parse_events(payload)
    assume(all(isinstance(p, Skip) for p in parsed))
    examples.hit("engine: invalid event -> 0 ARM calls")
    emu.reset()
    harness = make_harness()
    results = harness.engine.handle(payload)  # never raises for bad input
    assert emu.requests == []
    assert len(results) == len(parsed)
    assert all(r.outcome == "skipped" and r.records[0].reason for r in results)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(resource_id=valid_resource_ids())
def test_a_well_formed_event_for_an_unknown_registry_costs_at_most_one_read(
    emu: Any, resource_id: str
) -> None:
    assert oracle(resource_id) is not None
    examples.hit("engine: unknown registry -> <= 1 read, 0 writes")
    emu.reset()
    harness = make_harness()
    harness.engine.handle(event_for(resource_id))
    assert [r.method for r in emu.requests if r.route != "identity"] == ["GET"]
    assert emu.counters.writes() == 0
    assert [r.outcome for r in harness.records] == ["skipped"]
    assert "not found" in harness.records[0].reason


# --- the policy loader ---------------------------------------------------------------------------

BASE_POLICY: dict[str, Any] = yaml.safe_load(SHIPPED_POLICY)


def assert_policy_outcome(text: str) -> Policy | PolicyError:
    """A Policy, or a PolicyError naming the file and, for each problem, a path and a reason."""
    try:
        policy = parse_policy(text, "fuzzed.yaml")
    except PolicyError as exc:
        assert exc.file == "fuzzed.yaml" and "fuzzed.yaml: " in str(exc)
        assert exc.problems
        for path, reason in exc.problems:
            assert isinstance(path, str) and isinstance(reason, str) and reason.strip()
        return exc
    assert isinstance(policy, Policy)
    # A policy that loads can resolve any registry.
    resolution = policy.resolve(RegistryRef(SUB, "rg-platform", "contosoprod"), {"acrguard": "exempt"})
    assert set(resolution.rules) >= {"anonymous_pull", "network_rules"}
    return policy


@FAST
@given(st.text(max_size=300))
def test_arbitrary_text_is_a_policy_or_a_policy_error(text: str) -> None:
    examples.hit("parse_policy(arbitrary text)")
    assert_policy_outcome(text)


@FAST
@given(st.integers(0, len(SHIPPED_POLICY)))
def test_truncated_shipped_policy_is_a_policy_or_a_policy_error(cut: int) -> None:
    examples.hit("parse_policy(truncated policies.yaml)")
    assert_policy_outcome(SHIPPED_POLICY[:cut])


@st.composite
def mutated_policies(draw: st.DrawFn) -> dict[str, Any]:
    """The shipped policy with 1-3 values retyped, deleted, or unknown keys added (any Unicode)."""
    doc = copy.deepcopy(BASE_POLICY)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(paths(doc)))
        parent = parent_of(doc, path)
        action = draw(st.sampled_from(["replace", "delete", "unknown key", "odd text"]))
        if action == "delete" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "unknown key" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=20))] = draw(JSON_VALUES)
        elif action == "odd text":
            parent[path[-1]] = draw(ODD_TEXT)
        else:
            parent[path[-1]] = draw(JSON_VALUES)
    return doc


@settings(max_examples=150, deadline=None)
@given(mutated_policies(), st.sampled_from(["yaml", "json"]))
def test_a_damaged_policy_is_refused_naming_each_problem_where_it_is(doc: dict[str, Any], form: str) -> None:
    examples.hit("parse_policy(mutated policy)")
    text = yaml.safe_dump(doc, allow_unicode=True) if form == "yaml" else json.dumps(doc)
    outcome = assert_policy_outcome(text)
    if isinstance(outcome, PolicyError):
        for path, _ in outcome.problems:
            # Each problem points into the document, at a required key it lacks, or at its root.
            where = {str(k) for k in doc} | set(PolicyDocument.__struct_fields__)
            assert path == "" or any(path == k or path.startswith((k + ".", k + "[")) for k in where), (
                path,
                list(doc),
            )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("? [a, b]\n: 1\n", "a key must be a scalar, not a list"),
        ("version: 1\nrules: {? {a: 1}: x}\n", "a key must be a scalar, not a dict"),
        ("[" * 5_000 + "]" * 5_000, "not valid YAML"),
        ("{a: " * 5_000 + "1" + "}" * 5_000, "not valid YAML"),
        ("version: 1\nversion: 1\n", "duplicate key 'version'"),
        ("version: !!python/object/apply:os.system [echo]\n", "not valid YAML"),
        ("\x00", "not valid YAML"),
        (
            "version: 1\nrules:\n  network_rules:\n    enabled: true\n    allowed_ips: [1]\n",
            "expected str, got int",
        ),
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


def test_huge_policies_are_refused_with_the_reason() -> None:
    ips = [f"{a}.{b}.{c}.1" for a in (11, 12) for b in range(100) for c in range(50)]  # 10,000 public IPs
    doc = {"version": 1, "rules": {"network_rules": {"enabled": True, "allowed_ips": ips}}}
    with pytest.raises(PolicyError) as info:
        parse_policy(json.dumps(doc), "huge.yaml")
    assert "exceed ACR's limit of 200 IP rules" in str(info.value)
    for text in ("version: 1\n" + "k" * 2_000_000 + ": 1\n", json.dumps({"version": 1, "k" * 2_000_000: 1})):
        with pytest.raises(PolicyError) as info:
            parse_policy(text, "huge.yaml")
        message = str(info.value)
        assert "huge.yaml" in message and "larger than 256 KiB" in message  # refused before parsing
        assert len(message) < 5_000  # the key is not echoed back in full


@settings(max_examples=200, deadline=None)
@given(
    key=st.text(alphabet=string.ascii_letters + "_ſKİ", min_size=1, max_size=12),
    value=ODD_TEXT,
)
def test_unicode_in_keys_and_values_never_crashes_the_loader(key: str, value: str) -> None:
    examples.hit("parse_policy(unicode keys and values)")
    doc = copy.deepcopy(BASE_POLICY)
    doc["exempt"]["tags"] = {key: value}
    doc["overrides"][0]["match"]["name"] = value or "x"
    assert_policy_outcome(yaml.safe_dump(doc, allow_unicode=True))


# --- scope and forgery: well-formed events nobody should trust ------------------------------------

SUB_B = "00000000-0000-0000-0000-00000000bbbb"
LOCKED = rid("contosolocked")  # compliant in the demo seed
SCOPED_POLICY = """
version: 1
mode: enforce
scope: {subscriptions: [00000000-0000-0000-0000-00000000bbbb]}
rules:
  anonymous_pull: {enabled: true}
  network_rules: {enabled: true, allowed_ips: ["20.1.2.0/24", "20.9.8.7"]}
"""


def registry_reads(emu: Any, resource_id: str) -> int:
    return len(emu.requests_for(method="GET", resource_id=resource_id))


@pytest.fixture
def shipped_app(emu: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionApp]:
    emu.seed(DEMO_SEED)
    with function_app_env(monkeypatch, DEMO_POLICY) as app:
        yield app


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    sub=st.uuids().map(str).filter(lambda s: s != SUB_B), name=st.text(LOWER_ALNUM, min_size=5, max_size=50)
)
def test_an_event_outside_the_policy_scope_costs_no_arm_call(
    emu: Any, monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, sub: str, name: str
) -> None:
    examples.hit("scope: out-of-scope event -> 0 ARM calls")
    emu.reset()
    policy = tmp_path_factory.mktemp("scope") / "policy.yaml"
    policy.write_text(SCOPED_POLICY)
    with function_app_env(monkeypatch, policy) as app:
        app.on_registry_write(grid_event(event_for(rid(name, sub))))
        [line] = app.audit.records
    assert emu.requests == []  # no token, no read, no write
    assert line["outcome"] == "skipped" and "not in the policy's scope.subscriptions" in line["reason"]


def test_scope_and_forgery_costs(emu: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """ARM calls per hostile-but-well-formed event, through the real Event Grid function."""
    emu.seed(DEMO_SEED)
    policy = tmp_path / "policy.yaml"
    policy.write_text(SCOPED_POLICY.replace(SUB_B, f"{SUB}, {SUB_B}"))
    forged = write_event(LOCKED)
    forged["id"] = "forged-0001"
    forged["data"]["claims"] = {"name": "Mallory", "upn": "mallory@evil.example", "appid": "deadbeef"}
    cases: list[tuple[str, dict[str, Any], int, int]] = [
        ("forged event, registry already compliant", forged, 1, 0),
        ("forged event naming a registry that does not exist", event_for(rid("ghostregistry")), 1, 0),
        (
            "event for another resource type",
            event_for(PROD.replace("Microsoft.ContainerRegistry", "Microsoft.Storage")),
            0,
            0,
        ),
        (
            "event for an operation that cannot change a guarded property",
            write_event(PROD, "Microsoft.ContainerRegistry/registries/webhooks/write"),
            0,
            0,
        ),
    ]
    with function_app_env(monkeypatch, policy) as app:
        for order, (case, event, reads, writes) in enumerate(cases):
            before = (emu.counters.total_reads, emu.counters.total_writes)
            app.on_registry_write(grid_event(event))
            spent = (emu.counters.total_reads - before[0], emu.counters.total_writes - before[1])
            outcome = sorted({r["outcome"] for r in app.audit.records if r["event_id"] == event["id"]})
            record(
                "scope", case=case, reads=spent[0], writes=spent[1], outcome=", ".join(outcome), order=order
            )
            assert spent == (reads, writes), case
            app.audit.records.clear()
        # A flood of forged deliveries costs reads, never writes.
        before = (emu.counters.total_reads, emu.counters.total_writes)
        for i in range(50):
            app.on_registry_write(grid_event({**forged, "id": f"forged-{i:04}"}))
        spent = (emu.counters.total_reads - before[0], emu.counters.total_writes - before[1])
        assert spent == (50, 0) and emu.counters.writes(LOCKED) == 0
        record(
            "scope",
            case="50 more forged deliveries of the compliant registry",
            reads=spent[0],
            writes=spent[1],
            outcome="compliant",
            order=10,
        )
    out_of_scope = tmp_path / "scoped.yaml"
    out_of_scope.write_text(SCOPED_POLICY)
    with function_app_env(monkeypatch, out_of_scope) as app:
        before = len(emu.requests)
        app.on_registry_write(grid_event(write_event(PROD)))
        assert len(emu.requests) == before
        record(
            "scope",
            case="event for a registry outside scope.subscriptions",
            reads=0,
            writes=0,
            outcome="skipped",
            order=-1,
        )


def test_our_own_write_events_are_re_read_but_never_loop(shipped_app: FunctionApp, emu: Any) -> None:
    """A person turns anonymous pull on; Event Grid delivers their event to the real function;
    our fix emits an event whose caller is ACR Guard's own identity; it is delivered too, re-read,
    found compliant, and nothing further happens."""
    emu.add_sink(lambda event: shipped_app.on_registry_write(grid_event(event)))
    patch_as_user(emu, LOCKED, {"anonymousPullEnabled": True})
    emu.wait_for_events(2, timeout=20)
    emu.drain(timeout=20)
    events = emu.events
    assert [e["data"]["claims"].get("appid") for e in events][1] == emu.managed_identity.app_id
    assert len(events) == 2  # the person's and ours: our re-read wrote nothing, so no third
    assert emu.counters.writes(LOCKED) == 2 and registry_reads(emu, LOCKED) == 2
    ours = [
        r
        for r in shipped_app.audit.for_registry(LOCKED)
        if r["caller"].get("appid") == emu.managed_identity.app_id
    ]
    assert ours and {r["outcome"] for r in ours} == {"compliant"}
    assert emu.sink_errors == []
    our_patch = next(
        r.seq
        for r in emu.requests_for(method="PATCH", resource_id=LOCKED)
        if r.caller == emu.managed_identity.display_name
    )
    after = [r for r in emu.requests if r.seq > our_patch and r.resource_id and r.route == "registry"]
    reads, writes = sum(r.method == "GET" for r in after), sum(r.method == "PATCH" for r in after)
    assert (reads, writes) == (1, 0)
    record(
        "scope",
        case="our own write's event (caller: ACR Guard's identity)",
        reads=reads,
        writes=writes,
        outcome="compliant",
        order=5,
    )
