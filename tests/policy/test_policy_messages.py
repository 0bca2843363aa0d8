"""Validation messages a person can act on, one problem per line with its key path."""

from __future__ import annotations

import pytest
from engine_helpers import BAD_INPUT
from policy_helpers import problems

from acrguard.policy import PolicyError, parse_policy


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_an_empty_file_is_called_empty(text):
    """An empty file is called empty (not 'expected a mapping at the top level, got NoneType')."""
    ((path, reason),) = problems(text)
    assert path == ""
    assert "the file is empty" in reason and "version: 1" in reason and "acrguard init" in reason
    assert "NoneType" not in reason


@pytest.mark.parametrize(
    ("text", "kind"), [("- 1\n", "a list"), ("just text\n", "text"), ("5\n", "a number")]
)
def test_a_top_level_that_is_not_a_mapping_names_its_type_in_words(text, kind):
    """The top level must be keys; the message says what it found, in words."""
    ((path, reason),) = problems(text)
    assert path == ""
    assert reason.startswith("expected keys (version, mode, scope, ...) at the top level") and kind in reason


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [(c["policy"], c["path"], c["suggestion"]) for c in BAD_INPUT["unknown_keys"]],
)
def test_an_unknown_key_gets_the_nearest_known_one(text, path, suggestion):
    """An unknown key such as `rulez:` is answered with "did you mean `rules`?"."""
    found = problems(text)
    assert (path, f"unknown key; {suggestion}") in found, found


def test_an_unknown_key_with_no_near_match_lists_the_allowed_ones():
    """No close match -> the keys that are allowed there."""
    assert problems("version: 1\nscope: {zzz: 1}\n") == [("scope.zzz", "unknown key; allowed: subscriptions")]


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("10.0.0.0/8", "10.0.0.0/8 is private (RFC 1918)"),
        ("10.1.0.0/16", "10.1.0.0/16 is inside 10.0.0.0/8, which is private (RFC 1918)"),
        ("10.0.0.1", "10.0.0.1 is inside 10.0.0.0/8, which is private (RFC 1918)"),
        ("8.0.0.0/6", "8.0.0.0/6 contains 10.0.0.0/8, which is private (RFC 1918)"),
    ],
)
def test_the_private_range_message_says_how_the_entry_relates_to_the_range(entry, expected):
    """The message says whether the entry is, is inside, or contains the private range (not
    '10.0.0.0/8 overlaps 10.0.0.0/8, which is private')."""
    found = problems(
        f"version: 1\nrules: {{network_rules: {{allowed_ips: ['{entry}'], min_prefix_length: 6}}}}\n"
    )
    assert len(found) == 1, found
    path, reason = found[0]
    assert path == "rules.network_rules.allowed_ips[0]"
    assert reason.startswith(expected), reason
    assert "overlaps" not in reason


def test_several_allowed_ips_problems_are_one_line_each_with_their_index():
    """Several allowed_ips problems are one line each, with the entry's index."""
    found = problems(
        "version: 1\nrules:\n  network_rules:\n    allowed_ips: ['20.1.2.0/24', '10.0.0.0/8', '300.1.1.1',"
        " '20.1.2.0/24', '2001:db8::/32']\n"
    )
    assert [p for p, _ in found] == [
        "rules.network_rules.allowed_ips[1]",
        "rules.network_rules.allowed_ips[2]",
        "rules.network_rules.allowed_ips[3]",
        "rules.network_rules.allowed_ips[4]",
    ], found
    reasons = [r for _, r in found]
    assert "private" in reasons[0] and "not an IPv4" in reasons[1]
    assert "duplicates '20.1.2.0/24'" in reasons[2] and "IPv6" in reasons[3]
    assert not any(";" in r and "[" in r.split(";")[1] for r in reasons)  # no packed "[n] ...; [m] ..."


def test_subscription_problems_are_one_line_each_with_their_index():
    """scope.subscriptions problems are one line each with their index, not joined with '; '."""
    good = "00000000-0000-0000-0000-00000000aaaa"
    found = problems(f"version: 1\nscope: {{subscriptions: [abc, '{good}', ' {good}', '{good}']}}\n")
    assert [p for p, _ in found] == [
        "scope.subscriptions[0]",
        "scope.subscriptions[2]",
        "scope.subscriptions[3]",
    ], found
    assert "duplicate subscription" in found[2][1]


def test_the_report_prints_one_problem_per_line():
    """PolicyError's text is one 'file: key.path: reason' line per problem."""
    with pytest.raises(PolicyError) as info:
        parse_policy(
            "version: 1\nrules: {network_rules: {allowed_ips: ['10.0.0.1', '192.168.1.1']}}\n", "p.yaml"
        )
    lines = str(info.value).splitlines()[1:]
    assert [line.split(": ")[1] for line in lines] == [
        "rules.network_rules.allowed_ips[0]",
        "rules.network_rules.allowed_ips[1]",
    ], lines


@pytest.mark.parametrize(
    ("entry", "narrow", "wide"),
    [
        ("203.0.113.0/8", "203.0.113.0/24 (256 addresses", "203.0.0.0/8 (16,777,216 addresses, 65,536 times"),
        ("20.1.2.5/24", "20.1.2.5 (one address", "20.1.2.0/24 (256 addresses, 256 times"),
        ("198.51.100.64/25", "198.51.100.64/26 (64 addresses", "198.51.100.0/25 (128 addresses, 2 times"),
    ],
)
def test_an_entry_with_host_bits_gets_the_narrowest_fix_first_and_the_widening_said(entry, narrow, wide):
    """`203.0.113.0/8` got `did you mean 203.0.0.0/8?`, a range 65,536 times wider than the /24 the
    address names. The narrowest range that starts at the address written comes first; the network
    at the prefix written comes second, with how much it widens."""
    ((path, reason),) = problems(
        f"version: 1\nrules: {{network_rules: {{allowed_ips: ['{entry}'], min_prefix_length: 8}}}}\n"
    )
    assert path == "rules.network_rules.allowed_ips[0]"
    assert f"did you mean {narrow}" in reason and f"or {wide}" in reason, reason
    assert reason.index(narrow) < reason.index(wide)
