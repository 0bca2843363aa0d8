"""PSRule for Azure's own examples: each rule page's compliant registry passes the rule it documents,
and the same template with the setting flipped fails it.

The corpus is tests/data/iac/psrule/: the template example of each ``Azure.ACR.*`` page of
Azure/PSRule.Rules.Azure (docs/en/rules/, the commit is in each file's metadata) for the rules
ACR Guard maps (acrguard/catalogue.py). The Bicep example of each page is stored beside it; Bicep
is checked compiled (acrguard/iac/bicep.py), so those files are asserted to be refused with the
compile step named. Each case runs with a policy enabling only the rule concerned.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from iac_helpers import DATA, WORKSPACE, parameter_file, run_check, write

from acrguard import catalogue
from acrguard.policy import parse_policy

CORPUS = DATA / "psrule"


def registry(doc: dict[str, Any]) -> dict[str, Any]:
    return next(r for r in doc["resources"] if r["type"] == "Microsoft.ContainerRegistry/registries")


def set_property(*path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def flip(doc: dict[str, Any]) -> None:
        target = registry(doc)
        for step in path[:-1]:
            target = target.setdefault(step, {})
        target[path[-1]] = value

    return flip


def replica_at_home(doc: dict[str, Any]) -> None:
    doc["resources"][1]["location"] = "[parameters('location')]"


def logs_disabled(doc: dict[str, Any]) -> None:
    for log in registry(doc)["resources"][0]["properties"]["logs"]:
        log["enabled"] = False


#: page -> (rule, its policy settings, parameter values, the flip, the flipped outcome)
CASES: dict[str, tuple[str, str, dict[str, Any], Callable[[dict[str, Any]], None], str]] = {
    "AdminUser": (
        "admin_user",
        "{}",
        {},
        set_property("properties", "adminUserEnabled", value=True),
        "drift",
    ),
    "AnonymousAccess": (
        "anonymous_pull",
        "{}",
        {},
        set_property("properties", "anonymousPullEnabled", value=True),
        "drift",
    ),
    "ExportPolicy": (
        "export_policy",
        "{}",
        {},
        set_property("properties", "policies", "exportPolicy", "status", value="enabled"),
        "drift",
    ),
    # The page's IP is a placeholder (_PublicIPv4Address_): the test writes an address there, the
    # one the policy allows (network_rules also compares the allow-list: catalogue.PSRULE).
    "Firewall": (
        "network_rules",
        '{allowed_ips: ["20.1.2.3"]}',
        {},
        set_property("properties", "networkRuleSet", "defaultAction", value="Allow"),
        "drift",
    ),
    "Quarantine": (
        "quarantine",
        "{}",
        {},
        set_property("properties", "policies", "quarantinePolicy", "status", value="disabled"),
        "flagged",
    ),
    "Retention": (
        "retention",
        "{}",
        {},
        set_property("properties", "policies", "retentionPolicy", "status", value="disabled"),
        "flagged",
    ),
    "MinSku": ("sku_private_link", "{}", {}, set_property("sku", "name", value="Basic"), "flagged"),
    "GeoReplica": ("geo_replication", "{}", {"acrReplicaLocation": "westeurope"}, replica_at_home, "flagged"),
    "AuditLogs": (
        "diagnostic_settings",
        f"{{workspace_id: {WORKSPACE}}}",
        {"workspaceId": WORKSPACE},
        logs_disabled,
        "drift",
    ),
}


def check_page(
    tmp_path: Path, page: str, doc: dict[str, Any], values: dict[str, Any] | None = None
) -> dict[str, str]:
    rule, config, given, _, _ = CASES[page]
    values = given if values is None else values
    settings = config.rstrip("}").lstrip("{")
    policy = parse_policy(
        f"version: 1\nrules:\n  {rule}: {{enabled: true{', ' if settings else ''}{settings}}}\n"
    )
    text = json.dumps(doc).replace("_PublicIPv4Address_", "20.1.2.3")
    path = write(tmp_path, f"Azure.ACR.{page}.json", text)
    params = write(tmp_path, "p.parameters.json", parameter_file(values)) if values else None
    report = run_check(path, policy, parameters=params)
    assert not report.errors, [str(e) for e in report.errors]
    assert len(report.judged) == 1
    return {v.rule: v.outcome for v in report.judged[0].verdicts}


def load(page: str) -> dict[str, Any]:
    return json.loads((CORPUS / f"Azure.ACR.{page}.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("page", sorted(CASES))
def test_the_page_example_is_compliant_and_its_flip_is_not(tmp_path: Path, page: str) -> None:
    """The page's example passes its rule; the same template with the one setting flipped fails it."""
    rule, _, _, flip, flipped = CASES[page]
    doc = load(page)
    assert check_page(tmp_path, page, doc)[rule] == "compliant"
    flip(doc)
    assert check_page(tmp_path, page, doc)[rule] == flipped


def test_every_mapped_psrule_rule_is_in_the_corpus() -> None:
    """Each PSRule ACR rule that an ACR Guard rule covers has its page's example here, under that rule."""
    mapped = {
        c.id: c.rules for c in catalogue.PSRULE if c.rules and c.id != "Azure.ACR.Logs"
    }  # Logs: AuditLogs' old name
    assert {f"Azure.ACR.{page}" for page in CASES} == set(mapped)
    for page, (rule, *_) in CASES.items():
        assert rule in mapped[f"Azure.ACR.{page}"]
    for page in CASES:
        source = load(page)["metadata"]["source"]
        assert source.startswith(f"Azure/PSRule.Rules.Azure docs/en/rules/Azure.ACR.{page}.md at ")


def test_minsku_documented_difference(tmp_path: Path) -> None:
    """Azure.ACR.MinSku accepts Standard; sku_private_link asks for Premium (catalogue.PSRULE says so)."""
    doc = load("MinSku")
    set_property("sku", "name", value="Standard")(doc)
    assert check_page(tmp_path, "MinSku", doc)["sku_private_link"] == "flagged"
    difference = next(c.difference for c in catalogue.PSRULE if c.id == "Azure.ACR.MinSku")
    assert "also accepts Standard" in difference


def test_auditlogs_documented_difference(tmp_path: Path) -> None:
    """Azure.ACR.AuditLogs accepts any destination; diagnostic_settings wants the policy's workspace."""
    elsewhere = {"workspaceId": WORKSPACE.replace("wsp-audit", "wsp-else")}
    assert check_page(tmp_path, "AuditLogs", load("AuditLogs"), elsewhere)["diagnostic_settings"] == "drift"
    difference = next(c.difference for c in catalogue.PSRULE if c.id == "Azure.ACR.AuditLogs")
    assert "the policy's workspace" in difference


@pytest.mark.parametrize("page", sorted(CASES))
def test_the_page_bicep_example_is_refused_with_the_compile_step(tmp_path: Path, page: str) -> None:
    """The Bicep examples are stored, and check-iac asks for them compiled (acrguard/iac/bicep.py)."""
    bicep = CORPUS / f"Azure.ACR.{page}.bicep"
    assert bicep.read_text(encoding="utf-8").startswith(
        f"// Source: Azure/PSRule.Rules.Azure docs/en/rules/Azure.ACR.{page}.md"
    )
    report = run_check(bicep, parse_policy("version: 1\n"))
    assert [e.message for e in report.errors] == [
        f"Bicep is checked compiled: run `az bicep build --file {bicep} --outfile {bicep.with_suffix('.json')}` "
        f"(or `bicep build`), then check {bicep.with_suffix('.json')}; docs/CLI.md (check-iac) says why"
    ]
