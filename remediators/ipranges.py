"""IPv4 allow-list helpers shared by the network remediator and the policy validator.

ACR's firewall accepts public IPv4 addresses and CIDR ranges only. ``ipaddress``'s ``is_private``
is deliberately not used: it also flags the RFC 5737 documentation ranges (192.0.2.0/24,
198.51.100.0/24, 203.0.113.0/24), which are valid here and used by samples and tests.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Network

#: Ranges ACR would never see as a client address on the public internet.
NON_PUBLIC: tuple[tuple[IPv4Network, str], ...] = tuple(
    (ipaddress.IPv4Network(cidr), why)
    for cidr, why in (
        ("0.0.0.0/8", "'this network' (RFC 1122)"),
        ("10.0.0.0/8", "private (RFC 1918)"),
        ("100.64.0.0/10", "shared address space (RFC 6598)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private (RFC 1918)"),
        ("192.168.0.0/16", "private (RFC 1918)"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved (RFC 1112)"),
    )
)

#: ACR Premium's limit on public IP network rules per registry (SKU limits table: "Public IP
#: network rules: 100"; Get-AzContainerRegistryUsage reports IPRules limit 100).
MAX_IP_RULES = 100


class InvalidRange(ValueError):
    """A value that cannot be an entry of ACR's IP allow-list; the message says why."""


def parse(value: str) -> IPv4Network:
    """Parse one allow-list entry strictly (address or CIDR, IPv4, no host bits)."""
    if not isinstance(value, str) or not value.strip():
        raise InvalidRange(f"{value!r} is not an IPv4 address or CIDR range")
    text = value.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError as exc:
        try:
            loose = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise InvalidRange(f"{value!r} is not an IPv4 address or CIDR range ({exc})") from None
        raise InvalidRange(f"{value!r} has host bits set; did you mean {loose}?") from None
    if network.version != 4:
        raise InvalidRange(f"{value!r} is IPv6; ACR's firewall accepts IPv4 only")
    return network  # type: ignore[return-value]


def public_problem(network: IPv4Network, min_prefix: int) -> str | None:
    """Why ``network`` must not be allow-listed, or None when it is a reasonable public range."""
    if network.prefixlen == 0:
        return f"{network} allows every address on the internet"
    if network.prefixlen < min_prefix:
        return f"{network} is broader than /{min_prefix} ({network.num_addresses:,} addresses)"
    for reserved, why in NON_PUBLIC:
        if network.overlaps(reserved):
            return f"{network} overlaps {reserved}, which is {why}; ACR sees only public IPv4 clients"
    return None


def key(value: str) -> str:
    """Comparison key: '198.51.100.7' and '198.51.100.7/32' are the same rule."""
    try:
        return str(ipaddress.ip_network(value.strip(), strict=False))
    except (ValueError, AttributeError):
        return str(value).strip().lower()


def is_broad(value: str, min_prefix: int) -> bool:
    """True for an existing rule that effectively opens the registry (e.g. 0.0.0.0/0)."""
    try:
        network = ipaddress.ip_network(value.strip(), strict=False)
    except (ValueError, AttributeError):
        return False
    return network.version == 4 and network.prefixlen < min_prefix
