"""An allow-list entry no real client can match is refused when the policy is validated, in every mode.

A firewall that denies by default and allows only addresses nobody has locks every client out, so
such an entry is a policy error, whatever the policy's, the rule's or an override's mode. The
blocks come from the IANA IPv4 Special-Purpose Address Registry (RFC 6890), every record whose
"Globally Reachable" column is False, and IANA's multicast space (RFC 5771):
https://www.iana.org/assignments/iana-ipv4-special-registry/ (updated 2024; records as of then).
RFC 1918's private ranges are among them: ACR's IP rules apply to its public endpoint and allow
"specific public IP addresses or address ranges" (Learn, "Configure public IP network rules",
https://learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks),
and traffic over a private endpoint is not subject to them.
"""

from __future__ import annotations

import ipaddress

import pytest
from policy_helpers import problems
from reliability import adversarial

from acrguard.policy import parse_policy

#: (block, words the refusal must use). IANA registry rows with Globally Reachable = False, and
#: multicast. 192.0.0.0/24's two globally reachable /32s (192.0.0.9 PCP anycast, 192.0.0.10 TURN
#: anycast) are service addresses, never a client's source address, so the whole /24 is refused.
NOT_A_CLIENT = [
    ("0.0.0.0/8", "this network"),
    ("10.0.0.0/8", "private (RFC 1918)"),
    ("100.64.0.0/10", "shared address space (RFC 6598"),
    ("127.0.0.0/8", "loopback"),
    ("169.254.0.0/16", "link-local"),
    ("172.16.0.0/12", "private (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments"),
    ("192.0.2.0/24", "TEST-NET-1, an RFC 5737 documentation range"),
    ("192.168.0.0/16", "private (RFC 1918)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "TEST-NET-2, an RFC 5737 documentation range"),
    ("203.0.113.0/24", "TEST-NET-3, an RFC 5737 documentation range"),
    ("224.0.0.0/4", "multicast"),
    ("240.0.0.0/4", "reserved"),
    ("255.255.255.255", "limited broadcast"),
]
#: Public ranges that the tests and examples allow-list instead.
PUBLIC = ["20.1.2.0/24", "20.9.8.7", "52.160.0.0/16", "8.8.8.8", "1.0.0.0/24", "223.255.255.0/24"]


def allow(*entries: str, extra: str = "", mode: str = "enforce") -> str:
    listed = ", ".join(f"'{e}'" for e in entries)
    return (
        f"version: 1\nmode: {mode}\nrules:\n  network_rules:\n    enabled: true\n"
        f"    allowed_ips: [{listed}]\n    min_prefix_length: 4\n{extra}"
    )


@pytest.mark.parametrize(("block", "words"), NOT_A_CLIENT, ids=[b for b, _ in NOT_A_CLIENT])
def test_a_block_no_client_has_is_refused_with_its_name_and_why(block, words):
    """Each special-purpose block, written as itself, is refused with its name and why no client
    on the internet can have an address in it."""
    ((path, reason),) = problems(allow(block))
    assert path == "rules.network_rules.allowed_ips[0]"
    assert reason.startswith(f"{block} is {words}"), reason
    assert ": " in reason[len(block) :] and "client" in reason, reason  # says why, not only what


@pytest.mark.parametrize(("block", "words"), NOT_A_CLIENT, ids=[b for b, _ in NOT_A_CLIENT])
def test_an_address_inside_a_block_no_client_has_is_refused(block, words):
    """A single address (or a smaller range) inside such a block names the block it lies in."""
    network = ipaddress.ip_network(block)
    inside = str(network.network_address + (network.num_addresses - 1) // 2)
    if inside == block:  # 255.255.255.255 has no smaller part
        return
    ((_, reason),) = problems(allow(inside))
    assert reason.startswith(f"{inside} is inside {block}, which is {words}"), reason


def test_the_documentation_range_message_says_no_real_client_has_such_an_address():
    """The allow-list of the old shipped default is refused, each entry with the range it lies in."""
    found = problems(allow("203.0.113.0/24", "198.51.100.7"))
    assert found == [
        (
            "rules.network_rules.allowed_ips[0]",
            "203.0.113.0/24 is TEST-NET-3, an RFC 5737 documentation range: no real client has "
            "such an address",
        ),
        (
            "rules.network_rules.allowed_ips[1]",
            "198.51.100.7 is inside 198.51.100.0/24, which is TEST-NET-2, an RFC 5737 documentation "
            "range: no real client has such an address",
        ),
    ]
    adversarial(
        1,
        "a policy whose Deny allow-list holds only RFC 5737 documentation ranges (the old shipped default)",
        "refused at validation, each entry with the range it lies in: "
        + "; ".join(reason for _, reason in found),
        round=3,
    )


def test_a_range_that_contains_a_block_no_client_has_is_refused_too():
    """A supernet spans the reserved block and other networks: no organisation's allocation
    contains a reserved block, so the entry is refused and the message says to list the public parts."""
    ((_, reason),) = problems(allow("203.0.0.0/16"))
    assert reason.startswith("203.0.0.0/16 contains 203.0.113.0/24, which is TEST-NET-3"), reason
    assert "list the public parts" in reason


@pytest.mark.parametrize(
    "where",
    [
        "policy mode dry-run",
        "rule mode dry-run",
        "rule disabled",
        "override",
        "override in dry-run",
    ],
)
def test_the_refusal_holds_in_every_mode(where):
    """Dry-run (the policy's or the rule's), a disabled rule and an override all refuse it: switching
    to enforce later must never be what reveals a lockout."""
    base = allow("20.1.2.0/24")
    text = {
        "policy mode dry-run": allow("192.0.2.0/24", mode="dry-run"),
        "rule mode dry-run": allow("192.0.2.0/24") + "    mode: dry-run\n",
        "rule disabled": allow("192.0.2.0/24").replace("enabled: true", "enabled: false"),
        "override": base
        + "overrides:\n  - match: {name: 'x*'}\n    rules: {network_rules: {allowed_ips: ['192.0.2.0/24']}}\n",
        "override in dry-run": base + "overrides:\n  - match: {name: 'x*'}\n    mode: dry-run\n"
        "    rules: {network_rules: {allowed_ips: ['192.0.2.0/24']}}\n",
    }[where]
    found = problems(text)
    assert found and all("TEST-NET-1" in reason for _, reason in found), found


def test_public_ranges_are_accepted():
    """The ranges the tests and examples use instead are public, and accepted."""
    policy = parse_policy(allow(*PUBLIC))
    assert policy.rules["network_rules"].allowed_ips == PUBLIC
    for entry in PUBLIC:  # and Python's copy of the IANA registry agrees they are global
        assert ipaddress.ip_network(entry).is_global, entry


def test_ipv6_documentation_range_is_refused():
    """RFC 3849's 2001:db8::/32 never gets as far as a range check: ACR's rules are IPv4 only."""
    ((_, reason),) = problems(allow("2001:db8::/32"))
    assert "IPv6" in reason
