"""``check-iac -o sarif``: SARIF 2.1.0 (OASIS), what GitHub code scanning and Azure DevOps read.

One result per finding, at the file and, where the input gives it, the line of the registry's
resource. The rules' metadata is the rule catalogue's (acrguard/catalogue.py): title, description,
references, Azure Policy definitions and PSRule rules. tests/iac validate the output against the
schema (tests/data/iac/sarif-schema-2.1.0.json, from oasis-tcs/sarif-spec).
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import Any

from acrguard import catalogue
from acrguard.iac.check import Report

SCHEMA = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
LEVELS = {"high": "error", "medium": "warning", "low": "note"}


def _uri(file: str) -> str:
    """Relative to the working directory (the repository root in CI), with forward slashes."""
    path = os.path.relpath(file) if os.path.isabs(file) else os.path.normpath(file)
    return path.replace(os.sep, "/")


def _rule(r: dict[str, Any]) -> dict[str, Any]:
    refs = list(r["references"])
    controls = [f"Azure Policy {p}" for p in r["azure_policy"]] + [f"PSRule {p}" for p in r["psrule"]]
    text = r["description"] + ("\n\nReferences: " + ", ".join(refs) if refs else "")
    text += ("\n\nCorresponds to: " + ", ".join(controls)) if controls else ""
    rule: dict[str, Any] = {
        "id": r["name"],
        "name": "".join(part.title() for part in r["name"].split("_")),
        "shortDescription": {"text": r["title"]},
        "fullDescription": {"text": r["description"]},
        "help": {"text": text},
        "defaultConfiguration": {"level": LEVELS.get(r["severity"], "warning")},
        "properties": {
            "severity": r["severity"],
            "fix": r["fix"],
            "skus": r["skus"],
            "azure_policy": r["azure_policy"],
            "psrule": r["psrule"],
            "tags": ["security", "azure-container-registry", *r["psrule"]],
        },
    }
    if refs:
        rule["helpUri"] = refs[0]
    return rule


def document(report: Report) -> dict[str, Any]:
    rules = catalogue.rules()
    index = {r["name"]: i for i, r in enumerate(rules)}
    results = []
    for judged in report.judged:
        found = judged.found
        location: dict[str, Any] = {"artifactLocation": {"uri": _uri(found.file)}}
        if found.line:
            location["region"] = {"startLine": found.line}
        for verdict in judged.findings:
            rule = rules[index[verdict.rule]]
            level = "warning" if verdict.outcome == "unknown" else LEVELS.get(rule["severity"], "warning")
            results.append(
                {
                    "ruleId": verdict.rule,
                    "ruleIndex": index[verdict.rule],
                    "level": level,
                    "message": {"text": f"{found.symbol}: {verdict.outcome}: {verdict.reason}"},
                    "locations": [
                        {
                            "physicalLocation": location,
                            "logicalLocations": [{"name": str(found.symbol), "kind": "resource"}],
                        }
                    ],
                    "properties": {
                        "outcome": verdict.outcome,
                        "registry": judged.resource_id,
                        "mode": verdict.mode,
                    },
                }
            )
    notifications = [
        {"level": "error", "message": {"text": error.message}, "locations": [_file_location(error.file)]}
        for error in report.errors
    ]
    return {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "acrguard",
                        "version": version("acrguard"),
                        "rules": [_rule(r) for r in rules],
                    }
                },
                "invocations": [
                    {"executionSuccessful": not report.errors, "toolExecutionNotifications": notifications}
                ],
                "results": results,
            }
        ],
    }


def _file_location(file: str) -> dict[str, Any]:
    return {"physicalLocation": {"artifactLocation": {"uri": _uri(file)}}}
