"""docs/DEPLOY.md keeps a deployer unstuck: what it says is derived from, and checked against, infra/.

- Every parameter of infra/main.bicep is in one table generated from the template's descriptions
  (``python -m tests.deploy_params`` rewrites it), and every scalar parameter, the secure webhook URL
  included, can be set with ``azd env set``, as main.parameters.json maps it and the doc shows.
- The management-group deployment's permissions: every resource type infra/management-group.bicep
  (and its modules) writes has its write action named in the doc, under a built-in role that grants it.
- The management-group command takes the values main.bicep outputs from those outputs, not from
  ``<...>`` placeholders.
"""

from __future__ import annotations

import fnmatch
import json
import re
from pathlib import Path
from typing import Any

from deploy_params import (
    BEGIN,
    DEPLOY_DOC,
    END,
    MAIN,
    azd_mappings,
    decorators,
    parameters,
    render,
    substitution,
)
from pycep import BicepParser  # pycep-parser, in the dev extra
from repo_paths import DATA

INFRA = MAIN.parent
MG = INFRA / "management-group.bicep"
ROLES = json.loads((DATA / "azure_roles" / "builtin_roles.json").read_text("utf-8"))
#: Set by azd itself (MicrosoftDocs azure-dev-docs manage-environment-variables.md, "Environment
#: variables provided by azd"), so the doc need not show an ``azd env set`` for them.
AZD_PROVIDED = {"AZURE_ENV_NAME", "AZURE_PRINCIPAL_ID"}
SCALAR_TYPES = {"string", "int", "bool"}


def _doc() -> str:
    return DEPLOY_DOC.read_text(encoding="utf-8")


def _section(heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level (a ``#``
    line inside a fenced block is a shell comment, not a heading)."""
    lines = _doc().splitlines()
    assert heading in lines, f"docs/DEPLOY.md has no section {heading!r}"
    level = len(heading.split(" ", 1)[0])
    body: list[str] = []
    fenced = False
    for line in lines[lines.index(heading) + 1 :]:
        fenced ^= line.lstrip().startswith("```")
        heading_level = len(line) - len(line.lstrip("#"))
        if not fenced and 0 < heading_level <= level and line[heading_level : heading_level + 1] == " ":
            break
        body.append(line)
    return "\n".join(body)


def _shell(text: str) -> str:
    """The fenced ``sh`` blocks of ``text``, continuation lines joined."""
    blocks = "\n".join(re.findall(r"```sh\n(.*?)```", text, flags=re.S))
    return re.sub(r"\\\n\s*", " ", blocks)


def _bicep(path: Path) -> dict[str, Any]:
    return BicepParser().parse(file_path=path)


# --------------------------------------------------------------------------------------------------
# every main.bicep parameter, in one generated table; azd can set each


def test_every_main_bicep_parameter_is_in_the_generated_table() -> None:
    """The table between the markers is exactly what the template's descriptions generate, and it
    lists every parameter: a parameter added, removed or re-described without regenerating fails."""
    text = _doc()
    assert BEGIN in text and END in text, "docs/DEPLOY.md: add the parameter table's markers"
    assert render(text) == text, "docs/DEPLOY.md's parameter table is stale: python -m tests.deploy_params"
    block = text.split(BEGIN, 1)[1].split(END, 1)[0]
    rows = re.findall(r"^\| `(\w+)` \|", block, flags=re.M)
    assert rows == list(parameters()), "one row per main.bicep parameter, in the template's order"
    assert text.count(BEGIN) == 1, "one parameter table"


def test_every_scalar_parameter_the_deployer_sets_maps_to_an_azd_environment_value() -> None:
    """With azd, a parameter reaches the deployment only through main.parameters.json: the secure
    webhook URL and every other string, number or flag maps to an environment value, a default
    written there equals the template's (so azd and az deploy the same thing), and the doc shows
    the ``azd env set`` for each value azd does not set itself."""
    mappings = azd_mappings()
    declared = parameters()
    secure = [name for name, spec in declared.items() if "secure" in decorators(spec)]
    assert "notifyWebhookUrl" in secure  # the scan finds the secure parameter
    unmapped = [
        name
        for name, spec in declared.items()
        if (spec["type"] in SCALAR_TYPES or name in secure) and substitution(mappings.get(name)) is None
    ]
    assert not unmapped, f"map these to ${{NAME}} in infra/main.parameters.json: {unmapped}"
    commands = _shell(_doc())
    for name, value in mappings.items():
        mapped = substitution(value)
        if mapped is None:
            continue
        variable, default = mapped
        template_default = declared[name].get("default")
        if default is not None:
            shown = (
                json.dumps(template_default) if not isinstance(template_default, str) else template_default
            )
            assert default == shown, (
                f"{name}: main.parameters.json defaults to {default!r}, main.bicep to {shown!r}"
            )
        if variable not in AZD_PROVIDED:
            assert re.search(rf"azd env set {variable}\b", commands), (
                f"docs/DEPLOY.md: show `azd env set {variable}`"
            )
    for name in secure:
        assert substitution(mappings[name])[1] is None, (
            f"{name}: a secret has no default in the parameters file"
        )
    for name, spec in declared.items():  # a parameter carrying ACRGUARD_X is set with ACRGUARD_X
        setting = re.match(r"ACRGUARD_[A-Z0-9_]+", decorators(spec).get("description", ""))
        if setting:
            assert substitution(mappings[name])[0] == setting[0], f"{name}: map it to ${{{setting[0]}}}"


# --------------------------------------------------------------------------------------------------
# the management-group deployer's permissions


def _writes(path: Path) -> set[str]:
    """The write actions deploying ``path`` needs: each resource it declares (not ``existing``),
    a deployment for itself and for each module, and the same for each module's file."""
    doc = _bicep(path)
    actions = {"Microsoft.Resources/deployments/write"}
    for resource in doc.get("resources", {}).values():
        if not resource.get("existing"):
            actions.add(f"{resource['type']}/write")
    for module in doc.get("modules", {}).values():
        actions |= _writes(path.parent / module["detail"]["path"])
    return actions


def _grants(role: str, action: str) -> bool:
    return any(fnmatch.fnmatchcase(action.lower(), pattern.lower()) for pattern in ROLES[role])


def test_the_doc_names_every_permission_the_management_group_deployment_needs() -> None:
    """Derived from the template: each resource type management-group.bicep and its modules write
    (role definitions and assignments, policy definitions and assignments, remediations,
    deployments) has its write action in the doc's permissions table, in the row of a built-in
    role that grants it (role actions from Microsoft's built-in role reference), at the group."""
    needed = _writes(MG)
    assert {
        "Microsoft.Authorization/policyDefinitions/write",
        "Microsoft.PolicyInsights/remediations/write",
    } <= needed
    section = _section("### Permissions for the management-group deployment")
    assert "management group" in section
    rows = re.findall(r"^\| \*\*(.+?)\*\* \| (.+?) \|$", section, flags=re.M)
    assert rows, "a table: | **built-in role** | the actions it gives this deployment |"
    named: dict[str, str] = {}
    for role, cell in rows:
        assert role in ROLES, f"{role}: not a built-in role this test knows (tests/data/azure_roles)"
        for action in re.findall(r"`(Microsoft\.[\w./]+)`", cell):
            assert _grants(role, action), f"{role} does not grant {action}"
            named[action.lower()] = role
    missing = sorted(action for action in needed if action.lower() not in named)
    assert not missing, f"docs/DEPLOY.md does not name what the deployment needs: {missing}"


# --------------------------------------------------------------------------------------------------
# the management-group command takes main.bicep's outputs


def _mg_command() -> str:
    commands = _shell(_section("## Onboarding a whole management group"))
    found = [line for line in commands.splitlines() if "az deployment mg create" in line]
    assert len(found) == 1, found
    return found[0]


def _outputs_for_mg_parameters() -> dict[str, str]:
    """management-group.bicep parameter -> the main.bicep output that carries its value: the output
    its description names, or the one that returns the same-named main.bicep parameter as it is."""
    outputs = _bicep(MAIN)["outputs"]
    by_parameter = {body["value"]: name for name, body in outputs.items() if isinstance(body["value"], str)}
    carried: dict[str, str] = {}
    for name, spec in _bicep(MG)["parameters"].items():
        description = decorators(spec).get("description", "")
        named = re.search(r"main\.bicep output `(\w+)`", description)
        if named:
            assert named[1] in outputs, f"{name}: main.bicep has no output {named[1]}"
            carried[name] = named[1]
        elif name in by_parameter:
            carried[name] = by_parameter[name]
    return carried


def test_the_management_group_command_takes_main_bicep_outputs_not_placeholders() -> None:
    """The Function App's and the dead-letter account's resource IDs, the identity, the environment
    name and the region come from main.bicep's outputs (``out NAME``, with azd or az alike): the
    command has no ``<...>`` for any of them, and every required parameter is passed."""
    carried = _outputs_for_mg_parameters()
    assert {"functionAppId", "deadLetterStorageAccountId", "principalId"} <= set(carried), carried
    command = _mg_command()
    value = r"(\"[^\"]*\"|'[^']*'|\S+)"
    passed = dict(re.findall(rf"(?:^|\s)(\w+)={value}", command))
    passed["location"] = re.search(rf"--location {value}", command)[1]
    required = [name for name, spec in _bicep(MG)["parameters"].items() if spec.get("default") is None]
    assert set(required) <= set(passed), set(required) - set(passed)
    placeholders = {name: value for name, value in passed.items() if value.startswith("<")}
    stale = {name: value for name, value in placeholders.items() if name in carried}
    assert not stale, f"use the main.bicep output instead of a placeholder: {stale}"
    for name, output in carried.items():
        if name in passed:
            assert passed[name] == f'"$(out {output})"', f'{name}: pass "$(out {output})", not {passed[name]}'
