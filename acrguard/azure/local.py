"""Nothing listens on this machine: a connection refused on loopback, told apart from a transient one.

Both the ARM client's errors and the credential need this diagnosis (a stopped emulator, a stale
managed-identity endpoint), so it lives below both of them.
"""

from __future__ import annotations

import ipaddress

#: How to start what is not listening, for the messages of both.
START_EMULATOR = (
    "if it is the emulator's, start it (`python -m emulator --seed emulator/seeds/demo.yaml`) and paste "
    "the `export` lines it prints"
)


def refused_locally(exc: BaseException) -> str | None:
    """``host:port`` when ``exc`` is a connection refused by a loopback address; None otherwise.

    Why this one failure is not transient: on loopback the refusal comes from this machine's own
    kernel, with no network, load balancer or proxy in between: no process has the port open.
    That is stale emulator exports or a stopped local service, and retrying for a minute changes
    nothing. A refusal from a remote host stays transient (a draining load balancer or a
    middlebox can refuse for a moment), and so do timeouts, resets and 5xx answers on loopback too:
    something is listening there. (The Function App's identity endpoint is on loopback: if its
    process is down, the event is still redelivered, see NoCredential.)
    """
    seen: set[int] = set()
    pending: list[BaseException | None] = [exc]
    refused, address = False, None
    while pending and len(seen) < 16:  # azure-core -> urllib3 -> socket: a short chain
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        refused = refused or isinstance(current, ConnectionRefusedError)
        conn = getattr(current, "conn", None)  # urllib3's NewConnectionError names the address
        if address is None and getattr(conn, "host", None):
            address = (conn.host, conn.port)
        inner = getattr(current, "inner_exception", None)
        pending += [
            current.__cause__,
            current.__context__,
            inner if isinstance(inner, BaseException) else None,
        ]
    if not refused or address is None:
        return None
    host, port = address
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        loopback = False
    return f"{host}:{port}" if loopback else None
