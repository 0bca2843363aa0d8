"""``make demo``: people change registries; ACR Guard, through its real Function, puts them back.

1. Start the emulator (HTTPS ARM + managed identity) seeded with emulator/seeds/demo.yaml.
2. Point the app at it the way Azure would: environment only (IDENTITY_ENDPOINT, ACRGUARD_*...).
3. Every write the emulator accepts emits an ARM ``ResourceWriteSuccess`` event, delivered to the
   real ``on_registry_write`` function object, including the events for ACR Guard's own writes.
4. A person (dev@contoso.example, with their own token) makes a change on each registry. Before
   that, the same change written in a template is stopped before deployment (``check-iac``).
5. Tell each delivery in a few lines (who wrote which registry, what each rule did, how long it
   took), then a before/after table. ``-v`` prints the audit trail's JSON lines instead of the story.
   No Azure account, no network beyond loopback.
6. Break glass (demo/break_glass.py): the person exempts a registry for 2 h and opens it again; on
   simulated time 2 h later the exemption has expired and the guard closes it again.
7. ``acrguard history`` shows that registry's story (drift fixed, exempted, re-opened, expired,
   fixed again) from the audit file the demo points ACRGUARD_AUDIT_FILE at (a temporary file).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT / "emulator" / "seeds" / "demo.yaml"
API = "2025-11-01"


def main(argv: list[str] | None = None) -> int:
    from rich.console import Console

    from demo import break_glass

    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__.split("\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="print the audit trail's JSON lines")
    verbose = parser.parse_args(argv).verbose

    from emulator.identity import DEV_USER
    from emulator.server import Emulator

    console = Console(width=None if sys.stdout.isatty() else 160)
    started = time.monotonic()
    _before_deployment(console, Path(os.environ.get("ACRGUARD_POLICY_FILE", ROOT / "demo" / "policies.yaml")))
    trail = tempfile.TemporaryDirectory(prefix="acrguard-demo-")
    with trail, Emulator(seed=SEED) as emu:
        os.environ.update(emu.env())
        os.environ["ACRGUARD_AUDIT_FILE"] = str(Path(trail.name) / "audit.jsonl")  # what history reads
        os.environ.setdefault("ACRGUARD_POLICY_FILE", str(ROOT / "demo" / "policies.yaml"))
        audit_lines = _capture_audit()

        from emulator.event_delivery import host_event

        logging.getLogger().setLevel(logging.ERROR)  # azure.functions warns about HTTP auth levels at import
        import function_app

        handler_of = {f.get_function_name(): f for f in function_app.app.get_functions()}.get
        on_registry_write = handler_of("on_registry_write").get_user_function()

        def deliver(event: dict[str, Any]) -> None:
            on_registry_write(host_event(event))

        before = {doc["id"]: doc for doc in emu.registries()}
        emu.add_sink(deliver)
        console.print(f"[bold]ARM emulator[/] {emu.arm_url}  policy {os.environ['ACRGUARD_POLICY_FILE']}\n")
        changes: dict[str, str] = {}
        for doc in sorted(before.values(), key=lambda d: d["id"]):
            change = _what_a_person_does(doc)
            changes[doc["name"]] = _said(change)
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
        audit_lines, later = list(audit_lines), audit_lines  # the break-glass story's lines come after
        glass = break_glass.story(emu, handler_of("reconcile").get_user_function(), later)
        told = break_glass.history(
            next(d["id"] for d in before.values() if d["name"] == break_glass.REGISTRY)
        )

    if verbose:
        console.rule("audit trail (acrguard.audit, one JSON line per decision)")
        story = audit_lines
    else:
        console.rule("what ACR Guard did, per delivery (-v: the audit trail's JSON lines)")
        story = _story(audit_lines, changes)
    for line in story:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.rule("before -> after")
    console.print(_table(before, after, writes))
    console.rule("break glass: an exemption that ends by itself")
    for line in glass:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.rule(f"the history of {break_glass.REGISTRY}, newest first (from the audit file)")
    for line in told:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(f"\n{len(audit_lines)} decisions in {time.monotonic() - started:.1f}s, offline.")
    return 0


def _before_deployment(console: Any, policy_file: Path) -> None:
    """Shift left: contosoprod's template turning anonymous pull on, judged by ``acrguard check-iac``
    with the same policy before anything is deployed (a pull request stops here, exit 3)."""
    import json
    import tempfile

    from acrguard.iac.check import check, context
    from acrguard.policy import load_policy

    template = {
        "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
        "contentVersion": "1.0.0.0",
        "parameters": {"publicPulls": {"type": "bool", "defaultValue": True}},
        "resources": [
            {
                "type": "Microsoft.ContainerRegistry/registries",
                "apiVersion": API,
                "name": "contosoprod",
                "location": "westeurope",
                "sku": {"name": "Premium"},
                "properties": {"anonymousPullEnabled": "[parameters('publicPulls')]"},
            }
        ],
    }
    console.rule("before deployment: acrguard check-iac, the same policy on a template")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "contosoprod.json"
        path.write_text(json.dumps(template, indent=2), encoding="utf-8")
        where = context("00000000-0000-0000-0000-00000000aaaa", "rg-platform", "westeurope")
        report = check([path], None, load_policy(policy_file), where)
    for judged in report.judged:
        for verdict in judged.findings:
            console.print(
                f"template contosoprod.json:{judged.found.line}: {verdict.rule} {verdict.outcome}: {verdict.reason}",
                markup=False,
                highlight=False,
            )
    code = 3 if any(j.findings for j in report.judged) else 0
    console.print(
        f"check-iac exits {code}: the pull request stops here. Below, the same change made by hand on"
    )
    console.print("the live registry is fixed at run time.\n")


def _what_a_person_does(doc: dict[str, Any]) -> dict[str, Any]:
    """Someone turns anonymous pull on (where the SKU allows it); elsewhere they retag."""
    if doc["sku"]["name"] in ("Standard", "Premium") and doc["name"] != "contosolocked":
        return {"properties": {"anonymousPullEnabled": True}}
    return {"tags": {**doc.get("tags", {}), "owner": "platform"}}


def _said(change: dict[str, Any]) -> str:
    """A person's PATCH body in words: ``anonymousPullEnabled: true``, ``tags: env=dev, owner=...``."""
    import json

    said = [f"{k}: {json.dumps(v)}" for k, v in change.get("properties", {}).items()]
    if "tags" in change:
        said.append("tags: " + ", ".join(f"{k}={v}" for k, v in change["tags"].items()))
    return "; ".join(said)


def _story(audit_lines: list[str], changes: dict[str, str]) -> list[str]:
    """The audit trail in words, one block per delivery: who wrote the registry (and what they
    changed, or that it was ACR Guard's own write) and how long ACR Guard took, then a line per rule that acted or found something (what it changed, or why it
    did not), and the rules that had nothing to do on one line."""
    import msgspec

    from acrguard.audit import AuditRecord
    from acrguard.notify.formats import caller_text, change_text, plain_lit, registry_parts
    from emulator.identity import DEV_USER, FUNCTION_APP_IDENTITY

    deliveries: dict[str | None, list[AuditRecord]] = {}
    for line in audit_lines:
        record = msgspec.json.decode(line, type=AuditRecord)
        deliveries.setdefault(record.event_id, []).append(record)
    lines = []
    for records in deliveries.values():
        first = records[0]
        name = registry_parts(first)[0]
        took = max((r.duration_ms or 0.0) for r in records)
        if first.caller.get("object_id") == FUNCTION_APP_IDENTITY.object_id:
            what = "ACR Guard's own write (its managed identity)"
        elif first.caller.get("upn") == DEV_USER.upn and name in changes:
            what = f"{caller_text(first, plain_lit)} set {changes[name]}"
        else:
            what = f"written by {caller_text(first, plain_lit)}"
        lines.append(f"{name}: {what}; ACR Guard took {took:.1f} ms")
        quiet: list[str] = []
        for r in records:
            if r.outcome in ("compliant", "skipped"):
                quiet.append(r.rule or "?")
            elif r.outcome in ("applied", "planned"):
                lines.append(f"  {r.outcome:<9} {r.rule}: {change_text(r, plain_lit)} ({r.mode})")
            else:
                lines.append(f"  {r.outcome:<9} {r.rule}: {plain_lit(r.reason, 160)}")
        if quiet:
            lines.append(f"  {'no change':<9} {', '.join(quiet)}")
    return lines


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
