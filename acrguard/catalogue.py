"""The rule catalogue: every rule's metadata, and how Azure Policy's and PSRule's ACR checks map to it.

``acrguard rules`` prints it; ``docs/RULES.md`` is generated from it (``python -m
acrguard.catalogue --write``; ``--check`` fails when the file is stale, and a test runs that).
The coverage tables list every Container Registry built-in of Azure Policy and every
``Azure.ACR.*`` rule of PSRule for Azure, each mapped to the ACR Guard rule(s) that cover it or
marked out of scope with the reason, so "why does ACR Guard say nothing about X?" has an answer.
Descriptions are ours; the IDs and rule names are the public identifiers.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from remediators import all_rules

RULES_DOC = Path(__file__).resolve().parents[1] / "docs" / "RULES.md"


@dataclass(frozen=True)
class Control:
    """One check of another tool and what ACR Guard does about it."""

    id: str  # an Azure Policy definition GUID or a PSRule rule name
    what: str  # our own one-line summary
    why_not: str = ""  # when no rule covers it: why it is out of scope
    difference: str = ""  # a documented difference in verdict, if any

    @property
    def rules(self) -> tuple[str, ...]:
        """The ACR Guard rules that cover it: those whose ``azure_policy`` or ``psrule`` name it
        (the rules' JSON files declare the mapping; the table does not restate it)."""
        return tuple(r.name for r in all_rules() if self.id in (*r.azure_policy, *r.psrule))


_DINE = (
    "the built-in accepts only the exact setting it deploys (its category group enabled, the other "
    "listed disabled) sent to {where}; diagnostic_settings accepts any setting that sends the audit "
    "logs to the policy's Log Analytics workspace"
)
_DEFENDER = "image vulnerabilities come from Defender for Cloud assessments, not registry configuration"

AZURE_POLICY: tuple[Control, ...] = (
    Control("42781ec6-6127-4c30-bdfa-fb423a0047d3", "ARM audience tokens disabled (audit)"),
    Control("785596ed-054f-41bc-aaec-7f3d0ba05725", "ARM audience tokens disabled (modify)"),
    Control("dc921057-6b28-4fbe-9b83-f7bec05db6c2", "admin user disabled (audit)"),
    Control("79fdfe03-ffcb-4e55-b4d0-b925b8241759", "admin user disabled (modify)"),
    Control(
        "9f2dea28-e834-476c-99c5-3507b4728395",
        "anonymous pull disabled (audit)",
        difference="Basic has no anonymous pull: ACR Guard reports the SKU unsupported, the policy passes it",
    ),
    Control("cced2946-b08a-44fe-9fd9-e4ed8a779897", "anonymous pull disabled (modify)"),
    Control("5b9159ae-1701-4a6f-9a7a-aa9c8ddd0580", "encrypted with a customer-managed key"),
    Control(
        "524b0254-c285-4903-bee6-bb8126cde579",
        "exports disabled (and public access disabled)",
        difference="the export policy is Premium-only: ACR Guard reports Basic/Standard unsupported, "
        "the policy marks them non-compliant",
    ),
    Control(
        "d0793b48-0edc-4296-a390-4c75d1bdfd71",
        "no unrestricted network access",
        difference="network_rules also requires the policy's allow-list IPs and bypass setting",
    ),
    Control(
        "84497762-32b6-4ab3-80b6-732ea48b85a2",
        "no cache rules",
        difference="cache_rules accepts rules whose source the policy's allowed_sources lists",
    ),
    Control(
        "e9585a95-5b8c-4d03-b193-dc7eb5ac4c32",
        "private DNS zone for registry private endpoints (deploy)",
        why_not="evaluates Microsoft.Network/privateEndpoints, not registries; DNS is the network owners' choice",
    ),
    Control("e8eef0a8-67cf-4eb4-9386-14b0e78733d4", "an approved private endpoint"),
    Control(
        "d85c6833-7d33-4cf5-a915-aaa2de84405f",
        "private endpoints for Premium registries (deploy)",
        why_not="creating an endpoint needs a subnet only the network owners can choose; private_link reports its absence",
    ),
    Control(
        "0fdf0491-d080-4575-b627-ad0e843cba0f",
        "public network access disabled (audit)",
        difference="disabling public access is Premium-only: public_network_access reports Basic/Standard "
        "unsupported, firewall_unavailable flags them",
    ),
    Control("a3701552-92ea-433e-9d17-33b7f1208fc9", "public network access disabled (modify)"),
    Control("bd560fc0-3c69-498a-ae9f-aa8eb7de0e13", "a SKU that supports Private Link"),
    Control(
        "ff05e24e-195c-447e-b322-5e90c9f9f366",
        "repository-scoped tokens disabled (audit)",
        difference="the tokens the policy's allowed list names may stay enabled",
    ),
    Control("a9b426fe-8856-4945-8600-18c5dd1cca2a", "repository-scoped tokens disabled (modify)"),
    Control(
        "696cb1d3-2dcf-4b44-aa7a-caccd18b1b96",
        "no private endpoints from other subscriptions (Mission category)",
        why_not="evaluates privateEndpointConnections children against a list of allowed subscriptions "
        "that ACR Guard's policy has no place for",
    ),
    Control(
        "9ba29e83-863d-4fec-81d0-16dd87067cc3",
        "resource logs to Event Hub (deploy)",
        difference=_DINE.format(where="an Event Hub"),
    ),
    Control(
        "56288eb2-4350-461d-9ece-2bb242269dce",
        "resource logs to Log Analytics (deploy)",
        difference=_DINE.format(where="its workspace"),
    ),
    Control(
        "106cd3bd-50a1-466c-869f-f9c2d310477b",
        "resource logs to Storage (deploy)",
        difference=_DINE.format(where="a storage account"),
    ),
    Control(
        "c4857be7-912a-4c75-87e6-e30292bcdf78",
        "virtual network service endpoint (preview)",
        why_not="ACR's VNet rules are a preview Microsoft recommends replacing with private endpoints (private_link)",
    ),
    Control("9d2b0a20-57d6-474c-9d12-44a4a20999c6", "zone redundant (preview)"),
    Control(
        "090c7b07-b4ed-4561-ad20-e9075f3ccaff", "image vulnerabilities resolved (Defender)", why_not=_DEFENDER
    ),
    Control(
        "5f0f936f-2f01-4bf5-b6be-d423792fa562",
        "image vulnerabilities resolved (Qualys, deprecated by Azure)",
        why_not="deprecated by Azure Policy; " + _DEFENDER,
    ),
)

PSRULE: tuple[Control, ...] = (
    Control("Azure.ACR.AdminUser", "admin user disabled"),
    Control("Azure.ACR.AnonymousAccess", "anonymous pull disabled"),
    Control(
        "Azure.ACR.AuditLogs",
        "login and repository events logged",
        difference="diagnostic_settings also requires the policy's workspace as the destination",
    ),
    Control(
        "Azure.ACR.Logs",
        "the former name of AuditLogs",
        difference="diagnostic_settings also requires the policy's workspace as the destination",
    ),
    Control("Azure.ACR.ContainerScan", "Defender scans images", why_not=_DEFENDER),
    Control("Azure.ACR.ImageHealth", "no vulnerable images", why_not=_DEFENDER),
    Control(
        "Azure.ACR.ContentTrust",
        "Docker Content Trust enabled",
        why_not="deprecated: see Deprecated controls",
    ),
    Control(
        "Azure.ACR.ExportPolicy",
        "exports and public access disabled",
        difference="the export policy is Premium-only: ACR Guard reports Basic/Standard unsupported, PSRule fails them",
    ),
    Control(
        "Azure.ACR.Firewall",
        "public access disabled or firewall denies by default",
        difference="network_rules also requires the policy's allow-list IPs and bypass setting",
    ),
    Control("Azure.ACR.GeoReplica", "a replica in another region"),
    Control(
        "Azure.ACR.ReplicaLocation",
        "replicas only in allowed regions",
        why_not="needs the replications list and an allowed-locations list ACR Guard's policy does not have",
    ),
    Control(
        "Azure.ACR.MinSku",
        "Standard or Premium SKU",
        difference="sku_private_link asks for Premium (Private Link); MinSku also accepts Standard",
    ),
    Control(
        "Azure.ACR.Name",
        "name length and characters",
        why_not="names are fixed at creation and ARM enforces them",
    ),
    Control(
        "Azure.ACR.Naming",
        "organisation naming convention",
        why_not="naming conventions are not security controls",
    ),
    Control(
        "Azure.ACR.Quarantine",
        "quarantine enabled",
        difference="quarantine is reported on Premium only; PSRule checks every SKU",
    ),
    Control("Azure.ACR.Retention", "retention of untagged manifests enabled"),
    Control(
        "Azure.ACR.SoftDelete",
        "soft delete enabled (preview)",
        why_not="a preview that excludes retention and geo-replication; azure-mgmt-containerregistry 15 does not model it",
    ),
    Control(
        "Azure.ACR.Usage",
        "storage under 90% of the SKU's quota",
        why_not="needs the listUsages call; capacity, not security",
    ),
)

#: Controls that are listed and never enforced, with the reason.
DEPRECATED: tuple[tuple[str, str], ...] = (
    (
        "Docker Content Trust (policies.trustPolicy)",
        "ACR deprecated Docker Content Trust; it can no longer be enabled since May 2026. Sign images "
        "with Notary Project signatures instead. ACR Guard never reads or writes trustPolicy.",
    ),
)


def rules() -> list[dict[str, Any]]:
    """Every rule's metadata, in name order (what ``acrguard rules -o json`` prints)."""
    return [
        {
            "name": r.name,
            "title": r.title,
            "fix": r.fix_type(),
            "default": "on" if r.default_enabled else "off",
            "severity": r.severity,
            "skus": [s for s in ("Basic", "Standard", "Premium") if s in r.skus],
            "azure_policy": list(r.azure_policy),
            "psrule": list(r.psrule),
            "rbac_actions": list(r.rbac_actions()),
            "references": list(r.references),
            "notes": r.notes,
            "description": r.description,
        }
        for r in all_rules()
    ]


def problems() -> list[str]:
    """Where the rules' metadata and the coverage tables disagree (a test asserts there are none)."""
    found = []
    for table, key in ((AZURE_POLICY, "azure_policy"), (PSRULE, "psrule")):
        listed = {c.id for c in table}
        found += [f"{c.id} has neither a rule nor a reason" for c in table if not c.rules and not c.why_not]
        for rule in rules():
            for cid in rule[key]:
                if cid not in listed:
                    found.append(f"{rule['name']} names {cid}, which the coverage table does not map to it")
    return found


def _cell(values: list[str] | tuple[str, ...]) -> str:
    return ", ".join(values) if values else "-"


def markdown() -> str:
    """docs/RULES.md, generated."""
    out = [
        "# Rules",
        "",
        "<!-- Generated by `make generate` (or `python -m acrguard.catalogue --write`) from",
        "     remediators/*.json and acrguard/catalogue.py;",
        "     tests/rules/test_catalogue.py fails when this file is stale. -->",
        "",
        "Fix types: **fix** runs by default; **opt-in fix** writes only when the policy enables it; "
        "**report** never writes (a finding with its reason, from the registry's one GET). "
        "A rule about child resources (tokens, cache rules, replications, diagnostic settings) "
        "lists its collection, one call, only where it is enabled.",
        "",
        "| rule | fix | default | severity | SKUs | Azure Policy | PSRule | RBAC actions |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rules():
        out.append(
            f"| `{r['name']}` | {r['fix']} | {r['default']} | {r['severity']} | {_cell(r['skus'])} | "
            f"{_cell([p[:8] for p in r['azure_policy']])} | {_cell(r['psrule'])} | "
            f"{_cell([a.removeprefix('Microsoft.ContainerRegistry/') for a in r['rbac_actions']])} |"
        )
    out += ["", "Notes:", ""]
    out += [f"- `{r['name']}`: {r['notes']}" for r in rules() if r["notes"]]
    out += ["", "## Deprecated controls (listed, never enforced)", ""]
    out += [f"- **{name}**: {reason}" for name, reason in DEPRECATED]
    for heading, table in (
        ("Azure Policy built-ins for Container Registry", AZURE_POLICY),
        ("PSRule for Azure `Azure.ACR.*` rules", PSRULE),
    ):
        out += [
            "",
            f"## Coverage: {heading}",
            "",
            "| control | what | ACR Guard | difference / reason |",
            "|---|---|---|---|",
        ]
        for c in table:
            covered = ", ".join(f"`{r}`" for r in c.rules) if c.rules else "out of scope"
            out.append(f"| `{c.id}` | {c.what} | {covered} | {c.difference or c.why_not or '-'} |")
    out += ["", "## What each rule checks, and why"]
    for r in rules():
        out += ["", f"### `{r['name']}`: {r['title']}", "", r["description"]]
    return "\n".join(out) + "\n"


def table() -> Any:
    """The catalogue as a rich table (``acrguard rules``)."""
    from rich.table import Table

    view = Table(title="ACR Guard rules", show_lines=False)
    for column in ("rule", "fix", "default", "severity", "SKUs", "Azure Policy", "PSRule"):
        view.add_column(column, overflow="fold")
    for r in rules():
        view.add_row(
            r["name"],
            r["fix"],
            r["default"],
            r["severity"],
            _cell(r["skus"]),
            _cell([p[:8] for p in r["azure_policy"]]),
            _cell(r["psrule"]),
        )
    return view


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m acrguard.catalogue", description=__doc__.split("\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help=f"write {RULES_DOC.name}")
    action.add_argument("--check", action="store_true", help=f"exit 1 if {RULES_DOC.name} is stale")
    args = parser.parse_args(argv)
    if args.write:
        RULES_DOC.write_text(markdown(), encoding="utf-8")
        return 0
    if not RULES_DOC.exists() or RULES_DOC.read_text(encoding="utf-8") != markdown():
        sys.stderr.write(f"{RULES_DOC} is stale: run python -m acrguard.catalogue --write\n")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
