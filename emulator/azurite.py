"""Azurite (npm ``azurite``, Microsoft's Azure Storage emulator) beside the ARM emulator.

Installed into node_modules by ``make test``. The tests (tests/azurite.py) and the benchmarks
(bench/lease.py) start it with :func:`azurite`: a throwaway blob endpoint on a free loopback port.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
AZURITE = ROOT / "node_modules" / ".bin" / "azurite-blob"
START_TIMEOUT_S = 180.0
ACCOUNT = "devstoreaccount1"
# Azurite's documented, public development key (not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


class AzuriteUnavailable(RuntimeError):
    """Azurite is not installed (``npm ci``) or did not start."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def azurite(location: Path) -> Iterator[dict[str, str]]:
    """A running Azurite blob service storing into ``location``: its endpoint and connection string."""
    if not AZURITE.exists() or shutil.which("node") is None:
        raise AzuriteUnavailable(f"Azurite not installed at {AZURITE}: run `make test` (npm ci)")
    port = _free_port()
    process = subprocess.Popen(
        [
            str(AZURITE),
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(port),
            "--location",
            str(location),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # A hang guard, not a speed check: node loading Azurite took over 30 s beside other runs
        # (pytest -n 8 on 2 cores), and failing then fails every test of that worker that needs it.
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None:
                    stderr = process.stderr.read().decode() if process.stderr else ""
                    raise AzuriteUnavailable(f"Azurite exited: {stderr}") from None
                if time.monotonic() > deadline:
                    raise AzuriteUnavailable(f"Azurite did not start within {START_TIMEOUT_S:g} s") from None
                time.sleep(0.1)  # polling a port that is not open yet
        endpoint = f"http://127.0.0.1:{port}/{ACCOUNT}"
        yield {
            "endpoint": endpoint,
            "connection_string": (
                f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};BlobEndpoint={endpoint};"
            ),
        }
    finally:
        process.kill()  # a throwaway store in a temp dir: nothing to flush, and SIGTERM takes ~10 s
        process.wait(timeout=10)
