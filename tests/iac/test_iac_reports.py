"""check-iac's outputs: SARIF 2.1.0 valid against the OASIS schema, JUnit, exit codes as ``check``.

The schema is tests/data/iac/sarif-schema-2.1.0.json, from oasis-tcs/sarif-spec
(sarif-2.1/schema/sarif-schema-2.1.0.json at commit e0583813964ec43cea53b6b531b402866095ed1f).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from cli_helpers import flat, invoke
from iac_helpers import ALL_RULES, DATA, write

from acrguard import catalogue

SARIF_SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
TEMPLATE = """{
  "$schema": "https://schema.management.azure.com/schemas/2019-04-01/deploymentTemplate.json#",
  "contentVersion": "1.0.0.0",
  "parameters": {"admin": {"type": "bool"}},
  "resources": [
    {"type": "Microsoft.Storage/storageAccounts", "apiVersion": "2023-01-01", "name": "st", "location": "x"},
    {
      "type": "Microsoft.ContainerRegistry/registries",
      "apiVersion": "2023-07-01",
      "name": "acrshift01",
      "location": "eastus",
      "sku": {"name": "Standard"},
      "properties": {"anonymousPullEnabled": true, "adminUserEnabled": "[parameters('admin')]"}
    }
  ]
}
"""
POLICY = "version: 1\nrules:\n  anonymous_pull: {enabled: true}\n  admin_user: {enabled: true}\n  export_policy: {enabled: true}\n  firewall_unavailable: {enabled: false}\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    return write(tmp_path, "policies.yaml", POLICY), write(tmp_path, "main.json", TEMPLATE)


def test_sarif_is_valid_and_locates_each_finding(files: tuple[Path, Path]) -> None:
    """One result per finding (the anonymous pull drift, the admin user left open), at the file and
    the registry's line, with the catalogue's rule metadata; the SKU's unsupported rule is no result."""
    policy, template = files
    result = invoke("check-iac", "-o", "sarif", str(template), policy=policy)
    assert result.returncode == 3, result.stderr
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SARIF_SCHEMA)
    run = sarif["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r["name"] for r in catalogue.rules()]
    anonymous = next(r for r in rules if r["id"] == "anonymous_pull")
    assert anonymous["properties"]["psrule"] == ["Azure.ACR.AnonymousAccess"]
    assert "9f2dea28-e834-476c-99c5-3507b4728395" in anonymous["help"]["text"]
    found = {(r["ruleId"], r["properties"]["outcome"]) for r in run["results"]}
    assert found == {("anonymous_pull", "drift"), ("admin_user", "unknown")}
    for r in run["results"]:
        assert rules[r["ruleIndex"]]["id"] == r["ruleId"]
        location = r["locations"][0]["physicalLocation"]
        assert location["artifactLocation"]["uri"].endswith("main.json")
        assert location["region"] == {"startLine": 8}  # the registry's "type" line, not the storage account's
    assert run["invocations"][0]["executionSuccessful"] is True


def test_sarif_names_an_unreadable_input(tmp_path: Path, files: tuple[Path, Path]) -> None:
    policy, _ = files
    bad = write(tmp_path, "bad.json", "{")
    result = invoke("check-iac", "-o", "sarif", str(bad), policy=policy)
    assert result.returncode == 1
    sarif = json.loads(result.stdout)
    jsonschema.validate(sarif, SARIF_SCHEMA)
    invocation = sarif["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert invocation["toolExecutionNotifications"][0]["message"]["text"].startswith("not JSON")


def test_junit_has_one_case_per_registry_and_rule(files: tuple[Path, Path]) -> None:
    policy, template = files
    result = invoke("check-iac", "-o", "junit", str(template), policy=policy)
    assert result.returncode == 3
    suites = ET.fromstring(result.stdout)
    cases = suites.findall("./testsuite/testcase")
    assert sorted(c.get("name") for c in cases) == ["admin_user", "anonymous_pull", "export_policy"]
    outcome = {c.get("name"): [child.tag for child in c] for c in cases}
    assert outcome == {"admin_user": ["failure"], "anonymous_pull": ["failure"], "export_policy": ["skipped"]}
    assert suites.get("tests") == "3" and suites.get("failures") == "2" and suites.get("skipped") == "1"


def test_exit_codes_as_check(tmp_path: Path, files: tuple[Path, Path]) -> None:
    """0 when every rule passes, 3 on findings, 1 on an input error, 2 on usage."""
    policy, template = files
    clean = write(
        tmp_path,
        "clean.json",
        TEMPLATE.replace('"anonymousPullEnabled": true', '"anonymousPullEnabled": false'),
    )
    params = write(
        tmp_path,
        "clean.parameters.json",
        {"parameters": {"admin": {"value": False}}},
    )
    assert invoke("check-iac", str(clean), "-p", str(params), policy=policy).returncode == 0
    assert invoke("check-iac", str(template), policy=policy).returncode == 3
    assert invoke("check-iac", str(tmp_path / "missing.json"), policy=policy).returncode == 1
    usage = invoke("check-iac", str(clean), str(template), "-p", str(params), policy=policy)
    assert usage.returncode == 2
    assert "--parameters goes with one template" in flat(usage.stderr)


def test_sarif_and_junit_belong_to_check_iac_only(files: tuple[Path, Path]) -> None:
    """Another command given -o sarif is a usage error, not a table printed instead."""
    policy, _ = files
    result = invoke("validate", "-o", "sarif", policy=policy)
    assert result.returncode == 2
    assert "sarif is written by check-iac only" in flat(result.stderr)


def test_json_document(files: tuple[Path, Path]) -> None:
    policy, template = files
    result = invoke(
        "check-iac",
        "-o",
        "json",
        str(template),
        "-s",
        "00000000-0000-0000-0000-00000000AAAA",
        "-g",
        "rg1",
        policy=policy,
    )
    doc = json.loads(result.stdout)
    assert doc["command"] == "check-iac"
    assert doc["summary"] == {"files": 1, "registries": 1, "findings": 2, "unknown": 1, "skipped": []}
    (registry,) = doc["results"]
    assert registry["registry"] == (
        "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg1/providers/"
        "Microsoft.ContainerRegistry/registries/acrshift01"
    )
    assert registry["line"] == 8
    assert {v["rule"]: v["outcome"] for v in registry["verdicts"]} == {
        "anonymous_pull": "drift",
        "admin_user": "unknown",
        "export_policy": "skipped",
    }
    assert "parameter admin has no value" in next(
        v["reason"] for v in registry["verdicts"] if v["rule"] == "admin_user"
    )


def test_the_all_rules_policy_loads() -> None:
    """The shared helper's policy is valid (the other tests of tests/iac rely on it)."""
    from acrguard.policy import parse_policy

    assert parse_policy(ALL_RULES).rules["network_rules"].enabled
