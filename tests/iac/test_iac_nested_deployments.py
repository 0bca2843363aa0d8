"""Bicep modules compile to nested deployments: their registries are judged with the module's
parameters as the outer template passes them (``expressionEvaluationOptions.scope: inner``, what
Bicep writes), or with the outer template's own parameters (the JSON default, ``outer``). A linked
template (``templateLink``) is not in the file: it is a logged skip. A languageVersion 2.0
``existing`` registry is a reference, not a deployment, and is not judged.
"""

from __future__ import annotations

import json
from pathlib import Path

from iac_helpers import outcomes, parameter_file, registry, run_check, template, write

from acrguard.policy import parse_policy

POLICY = parse_policy("version: 1\nrules:\n  firewall_unavailable: {enabled: false}\n")
INNER_REGISTRY = registry(properties={"anonymousPullEnabled": "[parameters('public')]"})


def module(scope: str, parameters: dict, inner: dict) -> dict:
    return {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "registry-module",
        "properties": {
            "expressionEvaluationOptions": {"scope": scope},
            "mode": "Incremental",
            "parameters": parameters,
            "template": inner,
        },
    }


def test_a_module_gets_the_parameters_the_outer_template_passes(tmp_path: Path) -> None:
    inner = template(INNER_REGISTRY, parameters={"name": {"type": "string"}, "public": {"type": "bool"}})
    outer = template(
        module(
            "inner", {"name": {"value": "[toLower(parameters('prefix'))]"}, "public": {"value": True}}, inner
        ),
        parameters={"prefix": {"type": "string"}},
    )
    path = write(tmp_path, "main.json", outer)
    params = write(tmp_path, "main.parameters.json", parameter_file({"prefix": "AcrShop01"}))
    report = run_check(path, POLICY, parameters=params)
    assert outcomes(report) == {"anonymous_pull": "drift"}
    found = report.judged[0].found
    assert found.symbol == "acrshop01"
    text = path.read_text(encoding="utf-8").splitlines()
    assert '"Microsoft.ContainerRegistry/registries"' in text[found.line - 1]


def test_an_outer_scoped_nested_template_reads_the_outer_parameters(tmp_path: Path) -> None:
    inner = {
        "resources": [{**INNER_REGISTRY, "properties": {"anonymousPullEnabled": "[parameters('public')]"}}]
    }
    outer = template(
        module("outer", {}, inner), parameters={"name": {"type": "string"}, "public": {"type": "bool"}}
    )
    path = write(tmp_path, "main.json", outer)
    params = write(tmp_path, "main.parameters.json", parameter_file({"name": "acrshop01", "public": False}))
    assert outcomes(run_check(path, POLICY, parameters=params)) == {"anonymous_pull": "compliant"}


def test_a_module_parameter_left_open_is_unknown(tmp_path: Path) -> None:
    inner = template(INNER_REGISTRY, parameters={"name": {"type": "string"}, "public": {"type": "bool"}})
    outer = template(
        module(
            "inner", {"name": {"value": "acrshop01"}, "public": {"value": "[parameters('public')]"}}, inner
        ),
        parameters={"public": {"type": "bool"}},
    )
    report = run_check(write(tmp_path, "main.json", outer), POLICY)
    assert outcomes(report) == {"anonymous_pull": "unknown"}


def test_a_linked_template_is_a_logged_skip(tmp_path: Path) -> None:
    linked = {
        "type": "Microsoft.Resources/deployments",
        "apiVersion": "2022-09-01",
        "name": "linked",
        "properties": {"mode": "Incremental", "templateLink": {"uri": "https://example.invalid/t.json"}},
    }
    path = write(tmp_path, "main.json", template(linked))
    report = run_check(path, POLICY)
    assert report.judged == [] and not report.errors
    assert report.skipped == [
        f"{path}: resources[0]: a linked deployment (templateLink) is not read; check its template on its own"
    ]


def test_an_existing_registry_is_not_judged(tmp_path: Path) -> None:
    """languageVersion 2.0 symbolic resources: ``existing: true`` only refers to a registry."""
    doc = template()
    doc["languageVersion"] = "2.0"
    doc["resources"] = {
        "shared": {**INNER_REGISTRY, "name": "acrshared01", "existing": True, "properties": {}},
        "mine": {**INNER_REGISTRY, "name": "acrmine0001", "properties": {"anonymousPullEnabled": True}},
    }
    path = write(tmp_path, "main.json", json.dumps(doc, indent=2))
    report = run_check(path, POLICY)
    assert [j.found.symbol for j in report.judged] == ["acrmine0001"]
    assert outcomes(report) == {"anonymous_pull": "drift"}
    found = report.judged[0].found
    text = path.read_text(encoding="utf-8").splitlines()
    assert '"mine": {' in text[found.line - 2] and "ContainerRegistry/registries" in text[found.line - 1]
