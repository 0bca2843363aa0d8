"""One engine process of a cross-instance race (tests/reliability/test_race_instances.py): a Function instance.

``python tests/race_worker.py HOST PORT NAME`` with the authkey on stdin. The environment wires
the real SDK to the emulator (and ACRGUARD_LEASE_CONTAINER_URL plus AZURE_STORAGE_CONNECTION_STRING
to Azurite, when the run uses leases). It handles the deliveries the coordinator sends, one at a
time, on the coordinator's simulated clock (tests/race_sim.py), with the production engine built
by acrguard.runtime.build_engine.
"""

from __future__ import annotations

import random
import sys
import traceback
from multiprocessing.connection import Client, Connection
from pathlib import Path


class RemoteClock:
    """acrguard.budget.Clock on the coordinator's simulated time."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn

    def time(self) -> float:
        self.conn.send(("time",))
        return self.conn.recv()[1]

    def monotonic(self) -> float:
        return self.time()  # simulated time never goes back

    def sleep(self, seconds: float) -> None:
        self.conn.send(("sleep", max(0.0, seconds)))
        self.conn.recv()  # ("wake", now)


def main() -> None:
    host, port, name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    conn = Client((host, port), authkey=sys.stdin.buffer.read())
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
        from acrguard import runtime
        from acrguard.azure.arm import TransientArmError

        engine = runtime.build_engine()
        engine.arm.clock = RemoteClock(conn)
    except BaseException:
        conn.send(("error", traceback.format_exc()))
        raise
    while True:
        message = conn.recv()
        if message[0] == "stop":
            return
        _, event, seed = message
        random.seed(seed)  # the retry layer's jitter: part of the seeded interleaving
        try:
            engine.handle(event)
            conn.send(("done", "ok"))
        except TransientArmError:
            conn.send(("done", "transient"))  # Event Grid redelivers
        except BaseException:
            conn.send(("error", f"{name}: {traceback.format_exc()}"))
            raise


if __name__ == "__main__":
    main()
