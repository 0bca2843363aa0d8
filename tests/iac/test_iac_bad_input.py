"""check-iac on input it cannot judge: a clear error or a logged skip, never a crash or a silent pass.

Each case goes through the command itself (exit code, stderr line, the JSON document's errors).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_helpers import invoke
from iac_helpers import ALL_RULES, parameter_file, registry, template, write

REGISTRY = registry(properties={"adminUserEnabled": "[variables('admin')]"})


@pytest.fixture
def policy(tmp_path: Path) -> Path:
    return write(tmp_path, "policies.yaml", ALL_RULES)


def check_iac(policy: Path, *args: str) -> tuple[int, dict, str]:
    result = invoke("check-iac", "-o", "json", *args, policy=policy)
    return result.returncode, json.loads(result.stdout), result.stderr


def test_a_file_that_is_not_json(tmp_path: Path, policy: Path) -> None:
    """A file that is not JSON: exit 1, the file and the parser's line and column named."""
    bad = write(tmp_path, "broken.json", '{"resources": [\n  {"type": ]\n}')
    code, doc, stderr = check_iac(policy, str(bad))
    assert code == 1
    assert doc["errors"] == [{"input": str(bad), "message": "not JSON: Expecting value at line 2 column 12"}]
    assert f"acrguard: error: {bad}: not JSON" in stderr


def test_a_template_with_no_registry_is_a_logged_skip(tmp_path: Path, policy: Path) -> None:
    """A template deploying no registry: nothing judged, exit 0, and the skip is logged and listed."""
    storage = {
        "type": "Microsoft.Storage/storageAccounts",
        "apiVersion": "2023-01-01",
        "name": "st",
        "location": "x",
    }
    path = write(tmp_path, "storage.json", template(storage))
    code, doc, stderr = check_iac(policy, str(path))
    assert code == 0
    assert doc["summary"]["registries"] == 0
    reason = f"{path}: no Microsoft.ContainerRegistry/registries resource"
    assert doc["summary"]["skipped"] == [reason]
    assert f"WARNING acrguard.iac.check: skipped {reason}" in stderr


def test_a_parameter_file_that_does_not_match(tmp_path: Path, policy: Path) -> None:
    """A parameter file setting parameters the template does not declare (another template's): exit
    1 naming them and the declared ones; no verdict is given on a guess."""
    path = write(
        tmp_path,
        "t.json",
        template(REGISTRY, parameters={"name": {"type": "string"}}, variables={"admin": False}),
    )
    params = write(
        tmp_path, "other.parameters.json", parameter_file({"registryName": "acr1", "sku": "Basic"})
    )
    code, doc, _ = check_iac(policy, str(path), "--parameters", str(params))
    assert code == 1
    message = doc["errors"][0]["message"]
    assert "sets registryName, sku, which the template does not declare (it declares: name)" in message
    assert doc["results"] == []


def test_a_parameter_value_of_the_wrong_type(tmp_path: Path, policy: Path) -> None:
    """A parameter file giving a string to a bool parameter: the deployment would be refused, so is this."""
    registry = {**REGISTRY, "properties": {"adminUserEnabled": "[parameters('admin')]"}}
    path = write(
        tmp_path,
        "t.json",
        template(registry, parameters={"name": {"type": "string"}, "admin": {"type": "bool"}}),
    )
    params = write(tmp_path, "t.parameters.json", parameter_file({"name": "acr12345", "admin": "no"}))
    code, doc, _ = check_iac(policy, str(path), "--parameters", str(params))
    assert code == 1
    assert (
        doc["errors"][0]["message"] == 'parameter admin is of type bool, the parameter file\'s value is "no"'
    )


def test_a_file_that_is_not_a_parameter_file(tmp_path: Path, policy: Path) -> None:
    path = write(
        tmp_path,
        "t.json",
        template(REGISTRY, parameters={"name": {"type": "string"}}, variables={"admin": False}),
    )
    params = write(tmp_path, "p.json", {"name": "acr1"})
    code, doc, _ = check_iac(policy, str(path), "--parameters", str(params))
    assert code == 1
    assert "not a deployment parameter file" in doc["errors"][0]["message"]


def test_a_circular_variable(tmp_path: Path, policy: Path) -> None:
    """Variables that refer to each other in a cycle: exit 1 naming the cycle, not a RecursionError."""
    variables = {"admin": "[variables('b')]", "b": "[not(variables('c'))]", "c": "[variables('admin')]"}
    path = write(
        tmp_path, "t.json", template(REGISTRY, parameters={"name": {"type": "string"}}, variables=variables)
    )
    code, doc, _ = check_iac(policy, str(path))
    assert code == 1
    assert doc["errors"][0]["message"] == "variable admin refers to itself: admin -> b -> c -> admin"


def test_a_plan_from_another_provider_is_a_logged_skip(tmp_path: Path, policy: Path) -> None:
    """A Terraform plan with only AWS resources: nothing judged, the providers named, exit 0."""
    plan = {
        "format_version": "1.2",
        "resource_changes": [
            {
                "address": "aws_ecr_repository.repo",
                "mode": "managed",
                "type": "aws_ecr_repository",
                "name": "repo",
                "provider_name": "registry.terraform.io/hashicorp/aws",
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": {"name": "repo"},
                    "after_unknown": {},
                },
            }
        ],
    }
    path = write(tmp_path, "aws.json", plan)
    code, doc, _ = check_iac(policy, str(path))
    assert code == 0
    assert doc["summary"]["skipped"] == [
        f"{path}: no azurerm resources (providers: registry.terraform.io/hashicorp/aws)"
    ]


def test_json_that_is_neither_a_template_nor_a_plan(tmp_path: Path, policy: Path) -> None:
    path = write(tmp_path, "package.json", {"name": "x", "version": "1.0.0"})
    code, doc, _ = check_iac(policy, str(path))
    assert code == 1
    assert "neither an ARM template" in doc["errors"][0]["message"]


def test_an_expression_that_does_not_parse(tmp_path: Path, policy: Path) -> None:
    """A broken expression: exit 1 with where it is in the template."""
    registry = {**REGISTRY, "properties": {"adminUserEnabled": "[not(parameters('name')]"}}
    path = write(tmp_path, "t.json", template(registry, parameters={"name": {"type": "string"}}))
    code, doc, _ = check_iac(policy, str(path))
    assert code == 1
    assert doc["errors"][0]["message"].startswith("resources[0].properties: expected")


def test_a_bicep_file_names_the_compile_step(tmp_path: Path, policy: Path) -> None:
    path = write(
        tmp_path, "main.bicep", "resource r 'Microsoft.ContainerRegistry/registries@2023-07-01' = {}\n"
    )
    code, doc, _ = check_iac(policy, str(path))
    assert code == 1
    assert f"az bicep build --file {path}" in doc["errors"][0]["message"]


def test_one_bad_input_does_not_hide_the_others(tmp_path: Path, policy: Path) -> None:
    """A broken file next to a good one: the good one is still judged, and the exit code is 1."""
    bad = write(tmp_path, "bad.json", "not json")
    good = write(
        tmp_path,
        "good.json",
        template({**REGISTRY, "name": "acrgood01", "properties": {"adminUserEnabled": True}}),
    )
    code, doc, _ = check_iac(policy, str(bad), str(good))
    assert code == 1
    assert [r["file"] for r in doc["results"]] == [str(good)]
    verdicts = {v["rule"]: v["outcome"] for v in doc["results"][0]["verdicts"]}
    assert verdicts["admin_user"] == "drift"


def test_skip_other_skips_json_that_is_not_infrastructure(tmp_path: Path, policy: Path) -> None:
    """With --skip-other (the pre-commit hook's), package.json and a parameter file are logged skips;
    a file that is not JSON at all is still an error."""
    other = write(tmp_path, "package.json", {"name": "x"})
    params = write(tmp_path, "p.json", parameter_file({"a": 1}))
    code, doc, _ = check_iac(policy, "--skip-other", str(other), str(params))
    assert code == 0
    assert [s.split(":")[0] for s in doc["summary"]["skipped"]] == [str(other), str(params)]
    broken = write(tmp_path, "broken.json", "{")
    assert check_iac(policy, "--skip-other", str(broken))[0] == 1


def test_parameter_defaults_that_refer_to_each_other(tmp_path: Path, policy: Path) -> None:
    """Two parameters whose defaults read each other: an error naming the cycle, not a crash."""
    parameters = {
        "name": {"type": "string", "defaultValue": "[parameters('other')]"},
        "other": {"type": "string", "defaultValue": "[concat(parameters('name'), 'x')]"},
    }
    path = write(tmp_path, "t.json", template({**REGISTRY, "properties": {}}, parameters=parameters))
    code, doc, _ = check_iac(policy, str(path))
    assert code == 1
    assert doc["errors"][0]["message"] == "parameter name refers to itself: name -> other -> name"


def test_an_expression_nested_beyond_reason(tmp_path: Path, policy: Path) -> None:
    """Thousands of nested calls: an error, not a RecursionError."""
    deep = "[" + "not(" * 3000 + "true()" + ")" * 3000 + "]"
    path = write(
        tmp_path,
        "t.json",
        template({**REGISTRY, "name": "acrdeep01", "properties": {"adminUserEnabled": deep}}),
    )
    code, doc, _ = check_iac(policy, str(path))
    assert code == 1
    assert "nested too deeply" in doc["errors"][0]["message"]
