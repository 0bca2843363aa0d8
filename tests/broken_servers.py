"""Endpoints that fail below HTTP, each a real socket on 127.0.0.1: nothing listening, a TLS
certificate from a CA nobody trusts, a server that never answers, and one that answers garbage."""

from __future__ import annotations

import socket
import ssl
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import trustme

UNRESOLVABLE_HOST = "acrguard-test.invalid"  # RFC 6761: .invalid never resolves


def refused_port() -> int:
    """A port that was just free: connecting to it is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def serving(kind: str, ca: trustme.CA | None = None) -> Iterator[int]:
    """A listening port whose connections get ``kind``: ``silent`` (never answers) or ``garbage``
    (answers bytes that are not HTTP), over TLS with a certificate from ``ca`` when one is given
    (a CA the client does not trust makes the handshake fail)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    listener.settimeout(0.05)
    context = None
    if ca is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(5)
            try:
                if context is not None:
                    conn = context.wrap_socket(conn, server_side=True)
                held.append(conn)
                if kind == "garbage":
                    conn.recv(65536)
                    conn.sendall(b"this is not HTTP\r\n\r\n")
                    conn.close()
            except (OSError, ssl.SSLError):
                conn.close()  # e.g. the client refused our certificate: the point of that case

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        listener.close()
        for conn in held:
            conn.close()
        thread.join(timeout=5)


_COUNTING: list[tuple[int, list[tuple[str, int]]]] = []  # (port, attempts) while connections_to is open


def _count_connects(event: str, args: tuple) -> None:
    if event == "socket.connect" and _COUNTING and isinstance(args[1], tuple) and len(args[1]) >= 2:
        for port, attempts in _COUNTING:
            if args[1][1] == port:
                attempts.append(args[1][:2])


@contextmanager
def connections_to(port: int) -> Iterator[list[tuple[str, int]]]:
    """Every connection attempt this process makes to ``port`` while open (a ``socket.connect``
    audit hook, PEP 578: the attempts themselves, retried by any layer, not a log line about them)."""
    if not getattr(connections_to, "hooked", False):
        sys.addaudithook(_count_connects)  # cannot be removed: it only counts while a port is listed
        connections_to.hooked = True  # type: ignore[attr-defined]
    entry: tuple[int, list[tuple[str, int]]] = (port, [])
    _COUNTING.append(entry)
    try:
        yield entry[1]
    finally:
        _COUNTING.remove(entry)
