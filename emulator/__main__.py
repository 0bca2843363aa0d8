"""``python -m emulator --seed FILE [--port N]``: run the emulator until Ctrl-C.

Prints the URLs and the ``export`` lines that point the Azure SDK (and ACR Guard) at it.
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from .identity import DEV_USER
from .lro import LroMode
from .seeding import SeedError
from .server import UNSET_ENV_VARS, Emulator


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--seed", type=Path, help="seed file (JSON or YAML), e.g. emulator/seeds/demo.yaml")
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: any free port)")
    parser.add_argument("--state-dir", type=Path, help="where to write the CA file (default: a temp dir)")
    parser.add_argument("--page-size", type=int, default=100, help="registries per list page")
    parser.add_argument(
        "--lro", choices=("sync", "async"), default="sync", help="PUT/PATCH/DELETE answer style"
    )
    parser.add_argument("--topic-key", help="Event Grid topic access key (default: random)")
    parser.add_argument("--webhook", action="append", default=[], help="POST every ARM event to this URL")
    parser.add_argument(
        "--log-workspace",
        action="append",
        default=[],
        metavar="ID[=AUDIT_FILE]",
        help="serve a Log Analytics workspace (ID: a GUID) whose AppTraces follow an audit file "
        "(ACRGUARD_AUDIT_FILE's JSON lines), for `acrguard history --workspace ID`",
    )
    parser.add_argument("--log-requests", action="store_true", help="print one line per request served")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    emulator = Emulator(
        port=args.port,
        state_dir=args.state_dir,
        page_size=args.page_size,
        lro=LroMode(args.lro),
        topic_key=args.topic_key,
    )
    started = time.monotonic()
    emulator.start()
    try:
        seeded = emulator.seed(args.seed) if args.seed else []
    except (OSError, SeedError) as error:
        emulator.stop()
        print(f"error: cannot load seed: {error}", file=sys.stderr)
        return 2
    for url in args.webhook:
        emulator.add_sink(url)
    for spec in args.log_workspace:
        workspace_id, _, trail = spec.partition("=")
        try:
            workspace = emulator.log_workspace(workspace_id)
        except ValueError as error:
            emulator.stop()
            print(f"error: --log-workspace {spec}: {error}", file=sys.stderr)
            return 2
        if trail:
            workspace.follow(trail)
    print_banner(emulator, seeded, time.monotonic() - started)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    printed = 0
    try:
        while not stop.wait(0.2):
            if args.log_requests:
                records = emulator.requests
                for record in records[printed:]:
                    who = f" by {record.caller}" if record.caller else ""
                    print(f"{record.method} {record.path} -> {record.status}{who}", flush=True)
                printed = len(records)
    finally:
        emulator.stop()
        print("emulator stopped", flush=True)
    return 0


def print_banner(emulator: Emulator, seeded: list[str], startup_s: float) -> None:
    lines: list[Any] = [
        f"ACR Guard emulator listening on {emulator.base_url} (started in {startup_s * 1000:.0f} ms)",
        f"  ARM endpoint:      {emulator.arm_url}",
        f"  identity endpoint: {emulator.identity_endpoint}",
        f"  Event Grid topic:  {emulator.topic_endpoint}  (aeg-sas-key: {emulator.topic_key})",
        f"  Log Analytics:     {emulator.logs_url}",
        f"  CA certificate:    {emulator.ca_path}",
        f"  seeded registries: {len(seeded)}",
        "",
        "# Point the Azure SDK and ACR Guard at it:",
    ]
    lines += [f"export {name}={shlex.quote(value)}" for name, value in emulator.env().items()]
    lines += [f"unset {' '.join(UNSET_ENV_VARS)}", ""]
    lines.append(f"# A token for {DEV_USER.upn} (curl -H 'Authorization: Bearer ...'), valid 24 h:")
    lines.append(f"# {emulator.issue_token(DEV_USER, lifetime=24 * 3600)}")
    lines.append("# JSON: " + json.dumps({"base_url": emulator.base_url, "env": emulator.env()}))
    lines.append("Ready. Ctrl-C to stop.")
    print("\n".join(lines), flush=True)


def run(argv: list[str] | None = None) -> int:
    """:func:`main`, saying which extra to install when a dependency of the dev extra is missing
    (``pip install`` of a clone installs the service's dependencies only)."""
    try:
        return main(argv)
    except ModuleNotFoundError as exc:
        if not exc.name or exc.name.split(".")[0] in ("emulator", "acrguard"):
            raise  # our own module: a bug, not a missing install
        print(
            f"error: the emulator needs {exc.name}, from the dev extra: "
            "run `pip install -e '.[dev]'` (or `make`) in the clone",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(run())
