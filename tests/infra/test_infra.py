"""Offline checks of infra/ (Bicep), azure.yaml and .funcignore.

The Bicep CLI cannot run here (it is a downloaded binary), so these tests stand in for it where they
can: checkov for security posture, pycep for syntax, and a few structural checks (module parameters,
outputs, file references) that a compiler would otherwise catch. The contract tests make sure the
Event Grid filter, the custom role and the app settings say the same thing as the code.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from bicep_eval import Template
from pycep import BicepParser  # pycep-parser, in the dev extra
from repo_paths import ROOT as REPO

from acrguard.contract import RULES, operation_names, role_actions
from acrguard.events import ACCEPTED_OPERATIONS
from bench.common import package_tree

INFRA = REPO / "infra"
MODULES = INFRA / "modules"
CONTRACT_FILE = REPO / "acrguard" / "azure_contract.json"
BICEP_FILES = sorted(INFRA.rglob("*.bicep"))

# Event Grid limits per event subscription: advanced filters, and values across all of them.
MAX_ADVANCED_FILTERS = 25
MAX_FILTER_VALUES = 25


# --------------------------------------------------------------------------------------------------
# helpers


@functools.cache
def _parser() -> Any:
    return BicepParser()


@functools.cache
def bicep(path: Path) -> dict[str, Any]:
    """The pycep JSON of one Bicep file (cached: several tests read the same files)."""
    return _parser().parse(file_path=path)


def contract() -> dict[str, Any]:
    return json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))


def body(entry: dict[str, Any]) -> dict[str, Any]:
    """The object body of a resource or module, unwrapping `if (...)` and `[for ...]` forms."""
    config = entry["config"]
    while isinstance(config, dict) and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def resources_of_type(doc: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    return [r for r in doc.get("resources", {}).values() if r["type"].lower() == rtype.lower()]


def one_resource(path: Path, rtype: str) -> dict[str, Any]:
    found = resources_of_type(bicep(path), rtype)
    assert len(found) == 1, f"{path.name}: expected one {rtype}, found {len(found)}"
    return body(found[0])


def walk(node: Any):
    """Every dict and list in a pycep tree, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def function_calls(doc: dict[str, Any], ftype: str) -> list[dict[str, Any]]:
    return [
        n["function"]["parameters"]
        for n in walk(doc)
        if isinstance(n, dict) and isinstance(n.get("function"), dict) and n["function"].get("type") == ftype
    ]


def contract_key(path: Path, value: Any) -> str | None:
    """Which key of acrguard/azure_contract.json a Bicep expression reads, if any.

    Accepts `<var>.key` where `var loadJsonContent('<path to the contract>')`, and
    `loadJsonContent('<path>', '$.key')`. Anything else (e.g. a literal list) returns None.
    """

    def loads_contract(fn: Any) -> dict[str, Any] | None:
        if not (isinstance(fn, dict) and isinstance(fn.get("function"), dict)):
            return None
        if fn["function"].get("type") != "load_json_content":
            return None
        params = fn["function"]["parameters"]
        target = (path.parent / params["file_path"]).resolve()
        return params if target == CONTRACT_FILE.resolve() else None

    params = loads_contract(value)
    if params and params.get("json_path"):
        return str(params["json_path"]).removeprefix("$.")
    if isinstance(value, dict) and value.get("operator", {}).get("type") == "property_accessor":
        operands = value["operator"]["operands"]
        source, key = operands["operand_1"], operands["operand_2"]
        if isinstance(source, str):  # a variable name
            source = bicep(path).get("variables", {}).get(source, {}).get("value")
        if loads_contract(source) is not None and isinstance(key, str):
            return key
    return None


# --------------------------------------------------------------------------------------------------
# checkov


def test_checkov_reports_no_failed_checks(tmp_path: Path) -> None:
    # Suppressions must be inline (next to the resource, with a reason): no config file may skip
    # checks wholesale.
    for folder in (REPO, INFRA):
        for name in (".checkov.yaml", ".checkov.yml"):
            assert not (folder / name).exists(), f"{folder / name}: suppress inline instead"

    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/bin", "/bin"]),
        "HOME": str(tmp_path),
        "LANG": "C.UTF-8",
        # Keep checkov offline: no platform mapping, no SCA, no update check, private cache.
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
        "CKV_CACHE_DIR": str(tmp_path / "checkov-cache"),
    }
    cmd = [
        sys.executable,
        "-m",
        "checkov.main",
        "-d",
        "infra",
        "--framework",
        "bicep",
        "-o",
        "json",
        "--compact",
        "--skip-download",
        "--skip-results-upload",
    ]
    # A hang guard only, generous: a loaded machine (pytest -n 8 on 2 cores) stretches checkov a lot.
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.stdout.strip(), f"checkov printed nothing (rc={proc.returncode}): {proc.stderr[-2000:]}"
    report = json.loads(proc.stdout)
    report = report[0] if isinstance(report, list) else report
    summary, results = report["summary"], report["results"]

    failed = [f"{c['check_id']} {c['resource']} ({c['file_path']})" for c in results["failed_checks"]]
    assert summary["failed"] == 0, "checkov failures:\n" + "\n".join(failed)
    assert summary["parsing_errors"] == 0, report
    # Not vacuous: the templates were actually scanned.
    assert summary["passed"] > 0, report
    assert summary["resource_count"] > 0, report
    for check in results.get("skipped_checks", []):
        reason = (check.get("check_result") or {}).get("suppress_comment", "")
        assert reason.strip(), f"{check['check_id']} on {check['resource']} is skipped without a reason"


def test_checkov_suppressions_are_inline_and_justified() -> None:
    pattern = re.compile(r"checkov:skip=(\S+?)(?::(.*))?$")
    for path in BICEP_FILES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            match = pattern.search(line)
            if match:
                where = f"{path.relative_to(REPO)}:{number}"
                assert re.fullmatch(r"CKV2?_AZURE_\d+", match.group(1)), f"{where}: one check per line"
                assert line.lstrip().startswith("//"), f"{where}: suppression must be a // comment"
                assert len((match.group(2) or "").strip()) >= 20, f"{where}: give a one-line justification"


# --------------------------------------------------------------------------------------------------
# pycep: syntax and structure


def test_there_are_bicep_files() -> None:
    assert INFRA / "main.bicep" in BICEP_FILES
    assert len(BICEP_FILES) > 1


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_bicep_parses(path: Path) -> None:
    doc = bicep(path)
    assert doc.get("resources") or doc.get("modules"), f"{path.name}: nothing declared"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_every_param_is_described(path: Path) -> None:
    for name, param in bicep(path).get("parameters", {}).items():
        kinds = {d["type"] for d in param.get("decorators", [])}
        assert "description" in kinds, f"{path.name}: param {name} has no @description"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_module_calls_match_module_parameters_and_outputs(path: Path) -> None:
    """What `az bicep build` would reject: a missing/unknown module param or output."""
    doc = bicep(path)
    modules = doc.get("modules", {})
    for symbol, module in modules.items():
        target = (path.parent / module["detail"]["path"]).resolve()
        assert target.is_file(), f"{path.name}: module {symbol} -> {target} does not exist"
        declared = bicep(target).get("parameters", {})
        passed = set(body(module).get("params", {}))
        required = {name for name, p in declared.items() if "default" not in p}
        assert passed <= set(declared), f"{path.name}: {symbol} passes unknown {passed - set(declared)}"
        assert required <= passed, f"{path.name}: {symbol} misses {required - passed}"

    # Every `<module>.outputs.<name>` read here exists in that module.
    for node in walk(doc):
        if not (isinstance(node, dict) and node.get("operator", {}).get("type") == "property_accessor"):
            continue
        operands = node["operator"]["operands"]
        inner = operands["operand_2"]
        # operand_1 is a dict for an indexed symbol (``assignments[i].identity``): not a module.
        if (
            isinstance(operands["operand_1"], str)
            and operands["operand_1"] in modules
            and isinstance(inner, dict)
        ):
            inner_ops = inner.get("operator", {}).get("operands", {})
            if inner_ops.get("operand_1") == "outputs" and isinstance(inner_ops.get("operand_2"), str):
                target = (path.parent / modules[operands["operand_1"]]["detail"]["path"]).resolve()
                outputs = bicep(target).get("outputs", {})
                assert inner_ops["operand_2"] in outputs, (
                    f"{path.name}: {operands['operand_1']}.outputs.{inner_ops['operand_2']} is not an output"
                )


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_loaded_files_exist(path: Path) -> None:
    doc = bicep(path)
    for ftype in ("load_json_content", "load_text_content", "load_yaml_content"):
        for params in function_calls(doc, ftype):
            target = path.parent / params["file_path"]
            assert target.is_file(), f"{path.name}: {ftype}({params['file_path']}) -> missing file"


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda p: str(p.relative_to(INFRA)))
def test_no_keys_or_secrets(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    for needle in ("listKeys", "listSecrets", "listAccountSas", "AccountKey=", "SharedAccessSignature"):
        assert needle not in text, f"{path.name}: {needle} (use identities, not keys)"


# --------------------------------------------------------------------------------------------------
# the contract: Event Grid filter and custom role <-> code


def test_contract_fits_event_grid_limits() -> None:
    data = contract()
    # Deletes pass only for the operations listed (a child's delete a rule watches), never a
    # registry's own: tests/engine/test_child_changes.py.
    assert data["eventTypes"] == [
        "Microsoft.Resources.ResourceWriteSuccess",
        "Microsoft.Resources.ResourceDeleteSuccess",
    ]
    assert "Microsoft.ContainerRegistry/registries/delete" not in operation_names(RULES)
    # Every rule enabled at once: tests/rules/test_least_privilege.py checks each rule set as the Bicep computes it.
    assert 0 < len(operation_names(RULES)) <= MAX_FILTER_VALUES


def test_event_subscription_filter_reads_the_contract() -> None:
    path = MODULES / "eventgrid-subscription.bicep"
    sub = one_resource(path, "Microsoft.EventGrid/systemTopics/eventSubscriptions")["properties"]

    assert sub["destination"]["endpointType"] == "AzureFunction"
    assert sub["destination"]["properties"]["resourceId"] == "${functionAppId}/functions/${functionName}"
    assert bicep(path)["parameters"]["functionName"]["default"] == "on_registry_write"

    filt = sub["filter"]
    assert contract_key(path, filt["includedEventTypes"]) == "eventTypes"
    advanced = filt["advancedFilters"]
    assert len(advanced) <= MAX_ADVANCED_FILTERS
    (operation_filter,) = [f for f in advanced if f["key"] == "data.operationName"]
    assert operation_filter["operatorType"] == "StringIn"
    # base.operationNames plus the enabled rules' (tests/rules/test_least_privilege.py checks every rule set).
    assert Template(path, {"enabledRules": []}).value(operation_filter["values"]) == list(operation_names(()))

    # Nothing is dropped silently: retries, then dead-letter with the topic's own identity.
    assert set(sub["retryPolicy"]) == {"maxDeliveryAttempts", "eventTimeToLiveInMinutes"}
    dead_letter = sub["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"]["type"] == "SystemAssigned"
    assert dead_letter["deadLetterDestination"]["endpointType"] == "StorageBlob"


def test_handler_accepts_exactly_the_filtered_operations() -> None:
    assert set(ACCEPTED_OPERATIONS) == set(operation_names(RULES))


def test_custom_role_reads_the_contract() -> None:
    path = MODULES / "target-subscription.bicep"
    role = one_resource(path, "Microsoft.Authorization/roleDefinitions")["properties"]
    (permission,) = role["permissions"]
    assert Template(path, {"enabledRules": list(RULES)}).value(permission["actions"]) == list(
        role_actions(RULES)
    )
    assert permission["dataActions"] == [] and permission["notActions"] == []
    assert role["type"] == "CustomRole"
    (scope,) = role["assignableScopes"]
    assert scope["function"]["type"] == "subscription" and scope["function"]["property_name"] == "id"
    assert scope["function"]["parameters"]["subscription_id"] is None  # this subscription only

    actions = role_actions(RULES)
    assert {
        "Microsoft.ContainerRegistry/registries/read",
        "Microsoft.ContainerRegistry/registries/write",
    } <= set(actions)
    providers = (
        "Microsoft.ContainerRegistry/registries/",
        "Microsoft.Insights/diagnosticSettings/",  # diagnostic_settings: the registry's own settings
        "Microsoft.OperationalInsights/workspaces/",  # and their destination workspace
    )
    for action in actions:
        assert "*" not in action, f"least privilege: no wildcard actions ({action})"
        assert action.startswith(providers), action

    assignment = one_resource(path, "Microsoft.Authorization/roleAssignments")["properties"]
    assert assignment["principalType"] == "ServicePrincipal"


def test_every_target_subscription_gets_role_topic_and_subscription() -> None:
    main = bicep(INFRA / "main.bicep")
    (target,) = [
        m for m in main["modules"].values() if m["detail"]["path"].endswith("target-subscription.bicep")
    ]
    loop = target["config"]["loop_type"]["detail"]
    assert loop["array_name"] == "targetSubscriptionIds"
    assert body(target)["scope"]["function"]["type"] == "subscription"
    assert "default" in main["parameters"]["targetSubscriptionIds"]

    topic = one_resource(MODULES / "eventgrid-topic.bicep", "Microsoft.EventGrid/systemTopics")
    assert topic["properties"]["topicType"] == "Microsoft.Resources.Subscriptions"
    assert topic["location"] == "global"
    assert topic["identity"]["type"] == "SystemAssigned"


# --------------------------------------------------------------------------------------------------
# app settings and the Function App


def _code_setting_names() -> set[str]:
    from acrguard.settings import SETTINGS

    names = set(SETTINGS)
    sources = [*(REPO / "acrguard").rglob("*.py"), *(REPO / "remediators").rglob("*.py")]
    if (REPO / "function_app.py").is_file():
        sources.append(REPO / "function_app.py")
    for source in sources:
        names |= set(re.findall(r"\bACRGUARD_[A-Z0-9_]*[A-Z0-9]\b", source.read_text(encoding="utf-8")))
    return names


def _app_settings() -> dict[str, Any]:
    site = one_resource(MODULES / "function-app.bicep", "Microsoft.Web/sites")
    return {s["name"]: s["value"] for s in site["properties"]["siteConfig"]["appSettings"]}


def test_every_acrguard_setting_the_code_reads_is_set_in_bicep() -> None:
    names = _code_setting_names()
    assert "ACRGUARD_MODE" in names  # the scan found something
    missing = sorted(names - set(_app_settings()))
    assert not missing, f"set or default these in infra/modules/function-app.bicep: {missing}"


def test_mode_is_dry_run_on_first_deploy() -> None:
    assert _app_settings()["ACRGUARD_MODE"] == "acrguardMode"
    main = bicep(INFRA / "main.bicep")
    assert main["parameters"]["acrguardMode"]["default"] == "dry-run"
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["acrguardMode"]["value"].endswith("=dry-run}")


def test_function_app_uses_identity_not_keys() -> None:
    settings = _app_settings()
    assert "AzureWebJobsStorage" not in settings  # a connection string would carry a key
    assert settings["AzureWebJobsStorage__credential"] == "managedidentity"
    assert settings["AzureWebJobsStorage__clientId"] == "identityClientId"
    assert "AzureWebJobsStorage__accountName" in settings
    assert settings["AZURE_CLIENT_ID"] == "identityClientId"
    assert (
        settings["APPLICATIONINSIGHTS_AUTHENTICATION_STRING"]
        == "ClientId=${identityClientId};Authorization=AAD"
    )
    for forbidden in ("FUNCTIONS_WORKER_RUNTIME", "FUNCTIONS_EXTENSION_VERSION", "WEBSITE_RUN_FROM_PACKAGE"):
        assert forbidden not in settings, f"{forbidden} is rejected on Flex Consumption"


def test_function_app_is_flex_python_311_and_locked_down() -> None:
    path = MODULES / "function-app.bicep"
    plan = one_resource(path, "Microsoft.Web/serverfarms")
    assert plan["sku"] == {"name": "FC1", "tier": "FlexConsumption"}

    site = one_resource(path, "Microsoft.Web/sites")
    props = site["properties"]
    assert site["identity"]["type"] == "UserAssigned"
    tags = site["tags"]["function"]["parameters"]["arg_2"]
    assert tags["'azd-service-name'"] == "api"  # azd finds the deploy target by this tag
    assert props["functionAppConfig"]["runtime"] == {"name": "python", "version": "3.11"}
    storage = props["functionAppConfig"]["deployment"]["storage"]
    assert storage["authentication"]["type"] == "UserAssignedIdentity"
    assert props["httpsOnly"] is True
    assert props["siteConfig"]["minTlsVersion"] == "1.2"
    assert props["siteConfig"]["ftpsState"] == "Disabled"

    policies = {
        body(r)["name"]: body(r)["properties"]["allow"]
        for r in resources_of_type(bicep(path), "Microsoft.Web/sites/basicPublishingCredentialsPolicies")
    }
    assert policies == {"ftp": False, "scm": False}


def test_storage_is_identity_only() -> None:
    path = MODULES / "storage.bicep"
    props = one_resource(path, "Microsoft.Storage/storageAccounts")["properties"]
    assert props["allowSharedKeyAccess"] is False
    assert props["allowBlobPublicAccess"] is False
    assert props["minimumTlsVersion"] == "TLS1_2"
    assert props["supportsHttpsTrafficOnly"] is True
    variables = bicep(path)["variables"]
    assert variables["deadLetterContainerName"]["value"] == "deadletter"


def test_saved_query_is_the_shipped_kql() -> None:
    path = MODULES / "monitoring.bicep"
    search = one_resource(path, "Microsoft.OperationalInsights/workspaces/savedSearches")
    (params,) = function_calls(search, "load_text_content")
    assert (path.parent / params["file_path"]).resolve() == (
        INFRA / "queries" / "changes-last-24h.kql"
    ).resolve()
    kql = (INFRA / "queries" / "changes-last-24h.kql").read_text(encoding="utf-8")
    for needle in ("AppTraces", "ago(24h)", "parse_json(Message)", '"applied"', "registry", "caller"):
        assert needle in kql
    insights = one_resource(path, "Microsoft.Insights/components")["properties"]
    assert insights["DisableLocalAuth"] is True


# --------------------------------------------------------------------------------------------------
# azd and packaging


def test_azure_yaml_declares_the_function_service() -> None:
    project = yaml.safe_load((REPO / "azure.yaml").read_text(encoding="utf-8"))
    assert project["infra"]["path"] == "infra"
    api = project["services"]["api"]
    assert (api["project"], api["language"], api["host"]) == (".", "python", "function")
    for platform in ("posix", "windows"):
        hook = project["hooks"]["postdeploy"][platform]
        assert (REPO / hook["run"]).is_file(), hook["run"]
        hook = api["hooks"]["prepackage"][platform]
        assert (REPO / hook["run"]).is_file(), hook["run"]


#: The app as the package holds it (what .funcignore leaves in).

#: Run in the packaged app's directory: load the app as a cold worker does (index the functions,
#: build the engine from policies.yaml) and report every module compiled from source meanwhile.
_COLD_IMPORT = """
import importlib._bootstrap_external as ext, json, sys
compiled = []
original = ext.SourceLoader.source_to_code
def source_to_code(self, data, path, *args, **kwargs):
    compiled.append(path)
    return original(self, data, path, *args, **kwargs)
ext.SourceLoader.source_to_code = source_to_code
import function_app
from acrguard import runtime
runtime.build_engine()
print(json.dumps(compiled))
"""


def test_prepackage_hook_compiles_nothing_with_another_python(tmp_path: Path) -> None:
    """Bytecode of another version would be ignored by the Function's 3.11: warn, package without."""
    shutil.copy2(REPO / "function_app.py", tmp_path / "function_app.py")
    other = tmp_path / "python3.12"
    other.write_text("#!/bin/sh\nexit 1\n")  # answers "not 3.11" to the hook's version check
    other.chmod(0o755)
    done = subprocess.run(
        ["sh", str(INFRA / "hooks" / "prepackage.sh")],
        cwd=tmp_path,
        env={**os.environ, "PYTHON": str(other)},
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0 and "is not a Python 3.11" in done.stderr
    assert not (tmp_path / "__pycache__").exists()


def test_prepackage_hook_ships_bytecode_that_a_cold_start_uses(tmp_path: Path) -> None:
    """The package is read-only in Azure: modules without shipped bytecode are compiled on every cold start."""
    package_tree(tmp_path, bytecode=False)  # the app's files as azd packages them, no bytecode yet
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": "",
        "ACRGUARD_POLICY_FILE": "policies.yaml",
    }

    def compiled_on_cold_start() -> list[str]:
        done = subprocess.run(
            [sys.executable, "-c", _COLD_IMPORT],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout)

    assert any(path.endswith("policy.py") for path in compiled_on_cold_start()), "control: no bytecode yet"

    subprocess.run(
        ["sh", str(INFRA / "hooks" / "prepackage.sh")],
        cwd=tmp_path,
        env={**env, "PYTHON": sys.executable},
        check=True,
    )
    sources = [
        tmp_path / "function_app.py",
        *(tmp_path / "acrguard").rglob("*.py"),
        *(tmp_path / "remediators").rglob("*.py"),
    ]
    for source in sources:
        pyc = Path(importlib.util.cache_from_source(str(source)))
        flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
        assert flags == 0b11, f"{pyc.name}: not checked-hash bytecode (flags {flags:#b})"
    assert compiled_on_cold_start() == []


def test_parameters_file_matches_main_bicep() -> None:
    declared = bicep(INFRA / "main.bicep")["parameters"]
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert set(parameters) <= set(declared), set(parameters) - set(declared)
    required = {name for name, p in declared.items() if "default" not in p}
    assert required <= set(parameters), required - set(parameters)
    assert parameters["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert parameters["location"]["value"] == "${AZURE_LOCATION}"
    assert parameters["deployEventSubscriptions"]["value"] == "${DEPLOY_EVENT_SUBSCRIPTIONS=false}"


def test_funcignore_keeps_dev_only_folders_out_of_the_package() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in (REPO / ".funcignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for folder in ("tests", "emulator", "bench", "infra", "docs", ".venv*", "node_modules", ".git*"):
        assert folder in entries, f".funcignore must exclude {folder}/"
    for needed in ("acrguard", "remediators", "function_app.py", "host.json", "requirements.txt"):
        assert needed not in entries, f".funcignore must not exclude {needed}"
    # The rules are remediators/<name>.json (a declarative rule has no module) and the contract is JSON.
    for data in ("*.json", "remediators/*.json", "acrguard/*.json"):
        assert data not in entries, f".funcignore must not exclude {data}"
    # The prepackage hook's bytecode must reach the package (read-only in Azure: no cache there).
    for bytecode in ("__pycache__", "*.pyc", "*.py[cod]", "*.py[co]"):
        assert bytecode not in entries, f".funcignore must not exclude {bytecode}"


# --------------------------------------------------------------------------------------------------
# secrets in Key Vault, blob rights per container


def _role_assignments(path: Path) -> dict[str, dict[str, Any]]:
    return {
        symbol: body(r)
        for symbol, r in bicep(path).get("resources", {}).items()
        if r["type"].lower() == "microsoft.authorization/roleassignments"
    }


def test_notify_webhook_url_is_a_key_vault_reference() -> None:
    """The webhook URL (it embeds a token) was a plain app setting, readable by
    anyone who can list the app's settings. It is a Key Vault secret, and the app setting only
    references it; the function app never receives the URL itself."""
    app = bicep(MODULES / "function-app.bicep")
    assert "notifyWebhookUrl" not in app["parameters"]  # the secure value never reaches the site
    text = (MODULES / "function-app.bicep").read_text(encoding="utf-8")
    assert re.search(
        r"name: 'ACRGUARD_NOTIFY_WEBHOOK_URL'\s+value: empty\(notifyWebhookSecretUri\) \? '' : "
        r"'@Microsoft\.KeyVault\(SecretUri=\$\{notifyWebhookSecretUri\}\)'",
        text,
    ), "ACRGUARD_NOTIFY_WEBHOOK_URL must be @Microsoft.KeyVault(SecretUri=...)"
    site = one_resource(MODULES / "function-app.bicep", "Microsoft.Web/sites")
    assert site["properties"]["keyVaultReferenceIdentity"] == "identityId"  # the user-assigned identity

    path = MODULES / "key-vault.bicep"
    vault = one_resource(path, "Microsoft.KeyVault/vaults")["properties"]
    assert vault["enableRbacAuthorization"] is True and vault["enableSoftDelete"] is True
    secrets = resources_of_type(bicep(path), "Microsoft.KeyVault/vaults/secrets")
    assert len(secrets) == 1 and body(secrets[0])["properties"]["value"] == "notifyWebhookUrl"
    (reader,) = _role_assignments(path).values()
    assert reader["scope"] == "webhookSecret"  # this one secret, not the vault
    assert reader["properties"]["principalId"] == "readerPrincipalId"
    assert "4633458b-17de-408a-b874-0445c86b69e6" in path.read_text(encoding="utf-8")  # Secrets User

    main = bicep(INFRA / "main.bicep")
    passed = body(main["modules"]["functionApp"])["params"]
    assert "notifyWebhookUrl" not in passed and "notifyWebhookSecretUri" in passed
    assert body(main["modules"]["keyVault"])["params"]["notifyWebhookUrl"] == "notifyWebhookUrl"


def test_function_identity_has_blob_rights_per_container_never_on_the_account() -> None:
    """The function identity held Blob Data Owner on the whole account, which also
    holds the dead letters. Every blob role is now scoped to one container, and the function identity
    gets none on the dead-letter container (it never reads dead letters: the operator's replay does)."""
    path = MODULES / "storage.bicep"
    containers = {
        symbol: body(r)["name"]
        for symbol, r in bicep(path)["resources"].items()
        if r["type"] == "Microsoft.Storage/storageAccounts/blobServices/containers"
    }
    assignments = _role_assignments(path)
    assert assignments, "no role assignments found"
    for symbol, assignment in assignments.items():
        assert assignment["scope"] in containers, (
            f"{symbol} is scoped to {assignment['scope']}, not a container"
        )
    host = {
        containers[a["scope"]]
        for a in assignments.values()
        if a["properties"]["principalId"] == "hostPrincipalId"
    }
    assert host == {
        "hostLocksContainerName",
        "hostKeysContainerName",
        "deploymentContainerName",
        "leaseContainerName",  # per-registry leases (acrguard/engine/lease.py)
    }
    operator = {
        containers[a["scope"]]
        for a in assignments.values()
        if a["properties"]["principalId"] == "operatorPrincipalId"
    }
    assert operator == {"deadLetterContainerName"}


# --------------------------------------------------------------------------------------------------
# management-group onboarding

MG = INFRA / "management-group.bicep"


def test_management_group_role_is_the_contract_assignable_at_the_group() -> None:
    doc = bicep(MG)
    assert doc["globals"]["scope"]["value"] == "managementGroup"
    role = body(doc["resources"]["remediatorRole"])["properties"]  # the onboarding role: test_infra_grants
    (permission,) = role["permissions"]
    assert Template(MG, {"enabledRules": list(RULES)}).value(permission["actions"]) == list(
        role_actions(RULES)
    )
    assert permission["dataActions"] == [] and permission["notActions"] == []
    (scope,) = role["assignableScopes"]
    assert scope["function"]["type"] == "management_group" and scope["function"]["property_name"] == "id"


def _policy(name: str) -> dict[str, Any]:
    return body(bicep(MG)["resources"][name])["properties"]


def test_management_group_policies_attach_to_an_existing_topic_or_create_one() -> None:
    attach, create = _policy("attachPolicy"), _policy("createPolicy")
    for policy in (attach, create):
        assert policy["policyRule"]["then"]["effect"] == "deployIfNotExists"
        assert policy["policyRule"]["then"]["details"]["roleDefinitionIds"]
    # Attach: every existing subscription system topic gets the event subscription (Azure allows one topic).
    conditions = attach["policyRule"]["if"]["allOf"]
    assert {
        "field": "Microsoft.EventGrid/systemTopics/topicType",
        "equals": "Microsoft.Resources.Subscriptions",
    } in conditions
    assert (
        attach["policyRule"]["then"]["details"]["type"]
        == "Microsoft.EventGrid/systemTopics/eventSubscriptions"
    )
    # Create: only where the subscription has no such topic, so the two never collide.
    details = create["policyRule"]["then"]["details"]
    assert create["policyRule"]["if"] == {"field": "type", "equals": "Microsoft.Resources/subscriptions"}
    assert details["existenceScope"] == "subscription" and details["deploymentScope"] == "subscription"
    assert details["existenceCondition"]["equals"] == "Microsoft.Resources.Subscriptions"


def test_management_group_assigns_both_policies_with_identities_and_remediates_existing() -> None:
    doc = bicep(MG)
    assignment = one_resource(MG, "Microsoft.Authorization/policyAssignments")
    assert assignment["identity"]["type"] == "SystemAssigned"
    remediations = resources_of_type(doc, "Microsoft.PolicyInsights/remediations")
    assert len(remediations) == 1
    assert body(remediations[0])["properties"]["resourceDiscoveryMode"] == "ExistingNonCompliant"
    assert "default" in doc["parameters"]["remediateExisting"]
    # The event subscription deployed in each subscription filters on the contract, like the per-subscription one.
    source = MG.read_text()
    assert "values: operationNames" in source and "contract.eventTypes" in source
    assert "on_registry_write" in source
