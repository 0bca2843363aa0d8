"""IPv4 allow-list helpers shared by the network_rules rule and the policy validator.

ACR's firewall accepts public IPv4 addresses and CIDR ranges only ("IPv4 address or CIDR range",
``az acr network-rule add``). Policy entries must be written that way (no spaces, no netmask, no
leading zeros), and every entry ACR Guard sends is :func:`canonical`: what ``ipaddress`` prints,
with a single address bare, as ACR's docs write it.

An entry no client on the internet can match is refused (:data:`NOT_A_CLIENT`): with the firewall
denying by default, an allow-list of such entries locks every client out. An entry that *contains*
such a block is refused too: no organisation's allocation contains a reserved block, so a range
that does spans other people's networks as well; list its public parts instead.
"""

from __future__ import annotations

import ipaddress
import reprlib
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network

_PRIVATE = "a client arrives at ACR's public endpoint from its public address (NAT), never from this one"
_NAT = "a carrier translates it to a public address before the client reaches Azure"
_DOCUMENTATION = "no real client has such an address"
_BEFORE_AN_ADDRESS = "no client has it: a host uses it only until it has an address"
_LAB = "no client on the internet has it: it is for lab networks"

#: Blocks no client reaching ACR's public endpoint can have an address in: (block, what it is, why).
#: The IANA IPv4 Special-Purpose Address Registry's rows that are not globally reachable (RFC 6890,
#: https://www.iana.org/assignments/iana-ipv4-special-registry/), and multicast (RFC 5771).
#: Private ranges are among them: ACR's IP rules allow "specific public IP addresses or address
#: ranges" on the public endpoint (Learn: container-registry-access-selected-networks), and traffic
#: over a private endpoint is not subject to them. Most specific first: the first match is named.
NOT_A_CLIENT: tuple[tuple[IPv4Network, str, str], ...] = tuple(
    (ipaddress.IPv4Network(cidr), what, why)
    for cidr, what, why in (
        ("0.0.0.0/8", "this network (RFC 1122)", _BEFORE_AN_ADDRESS),
        ("10.0.0.0/8", "private (RFC 1918)", _PRIVATE),
        ("100.64.0.0/10", "shared address space (RFC 6598, carrier-grade NAT)", _NAT),
        ("127.0.0.0/8", "loopback", "it never leaves the client's own host"),
        ("169.254.0.0/16", "link-local", "it never leaves the client's own network link"),
        ("172.16.0.0/12", "private (RFC 1918)", _PRIVATE),
        ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)", "no client is given such an address"),
        ("192.0.2.0/24", "TEST-NET-1, an RFC 5737 documentation range", _DOCUMENTATION),
        ("192.168.0.0/16", "private (RFC 1918)", _PRIVATE),
        ("198.18.0.0/15", "benchmarking (RFC 2544)", _LAB),
        ("198.51.100.0/24", "TEST-NET-2, an RFC 5737 documentation range", _DOCUMENTATION),
        ("203.0.113.0/24", "TEST-NET-3, an RFC 5737 documentation range", _DOCUMENTATION),
        ("224.0.0.0/4", "multicast (RFC 5771)", "it is a destination, never a client's source address"),
        ("255.255.255.255/32", "limited broadcast (RFC 919)", "it is never a client's source address"),
        ("240.0.0.0/4", "reserved (RFC 1112)", "no client has it: it is assigned to no one and not routed"),
    )
)

#: ACR Premium's limit on public IP network rules per registry: 200 since January 2026 (the Learn
#: page on ACR firewall rules; it was 100 before).
MAX_IP_RULES = 200

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60


class InvalidRange(ValueError):
    """A value that cannot be an entry of ACR's IP allow-list; the message says why."""


def shown(value: object) -> str:
    """``repr`` clipped: a message never grows with the value it names."""
    return _REPR.repr(value)


def canonical(network: IPv4Network) -> str:
    """How an entry is sent to ARM: ``198.51.100.7`` for one address, ``198.51.100.64/26`` otherwise."""
    return str(network.network_address) if network.prefixlen == 32 else str(network)


def parse(value: str) -> IPv4Network:
    """Parse one allow-list entry strictly: an IPv4 address or CIDR range as ACR documents it.

    ``ipaddress`` also reads spaces, netmasks (``/255.255.255.0``) and zero-padded prefixes
    (``/026``); ACR documents none of them, so they are refused with the form to write instead.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidRange(f"{shown(value)} is not an IPv4 address or CIDR range")
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise InvalidRange(f"{shown(value)} is not an IPv4 address or CIDR range") from None
    if network.version != 4:
        raise InvalidRange(f"{shown(value)} is IPv6; ACR's firewall accepts IPv4 only")
    address = ipaddress.ip_interface(value.strip()).ip
    if network.network_address != address:
        raise InvalidRange(f"{shown(value)} has host bits set; {_host_bits_fix(address, network)}")
    if value not in (str(network), canonical(network)):  # type: ignore[arg-type]
        raise InvalidRange(
            f"{shown(value)} is not written as ACR documents it (an IPv4 address or address/prefix); "
            f"write {canonical(network)!r}"  # type: ignore[arg-type]
        )
    return network  # type: ignore[return-value]


def _host_bits_fix(address: IPv4Address, network: IPv4Network) -> str:
    """The narrowest fix first: the block that starts at the address as written (what a person who
    typed ``203.0.113.0/8`` most likely meant: its /24; one address for ``20.1.2.5/24``), then the
    network at the prefix written, with how many times wider it is: never a silent widening."""
    trailing_zeros = (int(address) & -int(address)).bit_length() - 1 if int(address) else 32
    narrow = IPv4Network(f"{address}/{32 - trailing_zeros}")
    size = (
        "one address" if narrow.num_addresses == 1 else f"{narrow.num_addresses:,} addresses from {address}"
    )
    factor = network.num_addresses // narrow.num_addresses
    return (
        f"did you mean {canonical(narrow)} ({size}), or {network} ({network.num_addresses:,} addresses, "
        f"{factor:,} times as many: the whole /{network.prefixlen} around it)?"
    )


@lru_cache(maxsize=4096)  # pure, and called a dozen times per firewall evaluation
def canonical_entry(value: str) -> str:
    """An existing rule (as ARM returned it) in canonical form; left as is if it does not parse."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except (ValueError, AttributeError):
        return value
    return canonical(network) if network.version == 4 else value  # type: ignore[arg-type]


def public_problem(network: IPv4Network, min_prefix: int) -> str | None:
    """Why ``network`` must not be allow-listed, or None when it is a reasonable public range."""
    if network.prefixlen == 0:
        return f"{network} allows every address on the internet"
    if network.prefixlen < min_prefix:
        return f"{network} is broader than /{min_prefix} ({network.num_addresses:,} addresses)"
    inside = [entry for entry in NOT_A_CLIENT if network.subnet_of(entry[0])]
    for block, what, why in inside or [entry for entry in NOT_A_CLIENT if network.overlaps(entry[0])]:
        entry, named = canonical(network), canonical(block) if block.prefixlen == 32 else str(block)
        if network == block:
            return f"{entry} is {what}: {why}"
        if network.subnet_of(block):
            return f"{entry} is inside {named}, which is {what}: {why}"
        return (
            f"{entry} contains {named}, which is {what}: {why}; no network's allocation contains it, "
            "so list the public parts of the range instead"
        )
    return None


@lru_cache(maxsize=4096)
def key(value: str) -> str:
    """Comparison key: '198.51.100.7' and '198.51.100.7/32' are the same rule."""
    return str(canonical_entry(value)).strip().lower()


@lru_cache(maxsize=4096)
def is_broad(value: str, min_prefix: int) -> bool:
    """True for an existing rule that effectively opens the registry (e.g. 0.0.0.0/0)."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except (ValueError, AttributeError):
        return False
    return network.version == 4 and network.prefixlen < min_prefix
