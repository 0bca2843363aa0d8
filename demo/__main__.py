"""``make demo``: people change registries; ACR Guard, through its real Function, puts them back.

1. Start the emulator (HTTPS ARM + managed identity) seeded with emulator/seeds/demo.yaml.
2. Point the app at it the way Azure would: environment only (IDENTITY_ENDPOINT, ACRGUARD_*...).
3. Every write the emulator accepts emits an ARM ``ResourceWriteSuccess`` event, delivered to the
   real ``on_registry_write`` function object, including the events for ACR Guard's own writes.
4. A person (dev@contoso.example, with their own token) makes a change on each registry.
5. Print the audit trail and a before/after table. No Azure account, no network beyond loopback.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "emulator" / "seeds" / "demo.yaml"
API = "2025-11-01"


def main() -> int:
    from rich.console import Console

    from emulator.identity import DEV_USER
    from emulator.server import Emulator

    console = Console(width=None if sys.stdout.isatty() else 160)
    started = time.monotonic()
    with Emulator(seed=SEED) as emu:
        os.environ.update(emu.env())
        os.environ.setdefault("ACRGUARD_POLICY_FILE", str(ROOT / "demo" / "policies.yaml"))
        audit_lines = _capture_audit()

        from emulator.events import host_event

        logging.getLogger().setLevel(logging.ERROR)  # azure.functions warns about HTTP auth levels at import
        import function_app

        handler = {f.get_function_name(): f for f in function_app.app.get_functions()}["on_registry_write"]
        on_registry_write = handler.get_user_function()

        def deliver(event: dict[str, Any]) -> None:
            on_registry_write(host_event(event))

        before = {doc["id"]: doc for doc in emu.registries()}
        emu.add_sink(deliver)
        console.print(f"[bold]ARM emulator[/] {emu.arm_url}  policy {os.environ['ACRGUARD_POLICY_FILE']}\n")
        for doc in sorted(before.values(), key=lambda d: d["id"]):
            change = _what_a_person_does(doc)
            console.print(f"[cyan]{DEV_USER.upn}[/] PATCH {doc['name']}: {change}")
            emu.arm_request("PATCH", f"{doc['id']}?api-version={API}", json=change).raise_for_status()
        emu.wait_for_events(len(before), timeout=30)
        emu.drain(timeout=30)
        if emu.sink_errors:
            for error in emu.sink_errors:
                console.print(f"[red]handler error:[/] {error}")
            return 1
        after = {doc["id"]: doc for doc in emu.registries()}
        writes = {rid: emu.counters.writes(rid) for rid in after}

    console.rule("audit trail (acrguard.audit, one JSON line per decision)")
    for line in audit_lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.rule("before -> after")
    console.print(_table(before, after, writes))
    console.print(f"\n{len(audit_lines)} decisions in {time.monotonic() - started:.1f}s, offline.")
    return 0


def _what_a_person_does(doc: dict[str, Any]) -> dict[str, Any]:
    """Someone turns anonymous pull on (where the SKU allows it); elsewhere they retag."""
    if doc["sku"]["name"] in ("Standard", "Premium") and doc["name"] != "contosolocked":
        return {"properties": {"anonymousPullEnabled": True}}
    return {"tags": {**doc.get("tags", {}), "owner": "platform"}}


def _capture_audit() -> list[str]:
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    audit = logging.getLogger("acrguard.audit")
    audit.setLevel(logging.INFO)
    audit.addHandler(Collect())
    audit.propagate = False
    return lines


def _table(before: dict[str, Any], after: dict[str, Any], writes: dict[str, int]) -> Any:
    from rich.table import Table

    table = Table(show_lines=False)
    for column in (
        "registry",
        "sku",
        "tags",
        "anonymous pull",
        "firewall",
        "IP rules",
        "writes: person + ACR Guard",
    ):
        table.add_column(column, no_wrap=True)
    for rid in sorted(before):
        b, a = before[rid], after[rid]

        def arrow(get: Any, b: dict[str, Any] = b, a: dict[str, Any] = a) -> str:
            old, new = get(b), get(a)
            return str(new) if old == new else f"{old} -> [bold green]{new}[/]"

        table.add_row(
            b["name"],
            b["sku"]["name"],
            ",".join(f"{k}={v}" for k, v in (b.get("tags") or {}).items()),
            arrow(lambda d: d["properties"].get("anonymousPullEnabled")),
            arrow(lambda d: (d["properties"].get("networkRuleSet") or {}).get("defaultAction", "-")),
            arrow(lambda d: len((d["properties"].get("networkRuleSet") or {}).get("ipRules", []))),
            f"1 + {writes[rid] - 1}",
        )
    return table


if __name__ == "__main__":
    sys.exit(main())
