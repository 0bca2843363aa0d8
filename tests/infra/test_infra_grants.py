"""What infra/ grants and configures, evaluated from the templates (tests/bicep_eval.py), not read as text.

- The management-group onboarding's ``create`` policy deploys with a custom role of exactly the
  actions its deployment performs, never built-in Contributor over the whole group.
- Its event subscriptions dead-letter with the system topic's identity (the storage account has
  shared keys off), the identity gets Storage Blob Data Contributor on the dead-letter container
  only, and the ``attach`` policy finds a repointed event subscription non-compliant.
- The diagnostic-settings rule's workspace actions are granted on the configured workspace only.
- Every ``ACRGUARD_*`` setting the code reads reaches the Function App from main.bicep, or
  docs/DEPLOY.md says why the template fixes it.

Outside facts (action names, roles, aliases) name their source next to the data.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

from bicep_eval import Template, parse
from policy_eval import evaluate
from reliability import adversarial
from repo_paths import ROOT as REPO

from acrguard.contract import CONTRACT, RULES, role_actions
from acrguard.settings import SETTINGS

INFRA = REPO / "infra"
MODULES = INFRA / "modules"
MAIN = INFRA / "main.bicep"
MG = INFRA / "management-group.bicep"
APP = MODULES / "function-app.bicep"
DEPLOY_DOC = REPO / "docs" / "DEPLOY.md"

SUB, OTHER_SUB = "00000000-0000-0000-0000-00000000000a", "00000000-0000-0000-0000-00000000000b"
FUNCTION_APP = (
    f"/subscriptions/{SUB}/resourceGroups/rg-acrguard-prod/providers/Microsoft.Web/sites/func-acrguard"
)
DEAD_LETTER_ACCOUNT = f"/subscriptions/{SUB}/resourceGroups/rg-acrguard-prod/providers/Microsoft.Storage/storageAccounts/stacrguard"
WORKSPACE = f"/subscriptions/{OTHER_SUB}/resourceGroups/rg-monitor/providers/Microsoft.OperationalInsights/workspaces/law-sec"

#: Built-in role IDs (MicrosoftDocs/azure-docs articles/role-based-access-control/built-in-roles.md).
CONTRIBUTOR = "b24988ac-6180-48a3-a0d2-d84d3f2d1e3b"
OWNER = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
#: The role Event Grid's identity needs to write to Blob storage: MicrosoftDocs/azure-docs
#: articles/event-grid/add-identity-roles.md @ 0e4a2274 ("Azure Blob storage | Storage Blob Data
#: Contributor"); there is no narrower built-in "sender" role for blobs.
BLOB_DATA_CONTRIBUTOR = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"

#: Role-based access control names a resource group under its subscription. Action names:
#: MicrosoftDocs/azure-docs articles/role-based-access-control/permissions/
#: management-and-governance.md and integration.md @ 03e5750a (Microsoft.Resources, Microsoft.EventGrid).
RBAC_TYPE = {"Microsoft.Resources/resourceGroups": "Microsoft.Resources/subscriptions/resourceGroups"}
#: Beyond reading and writing what it deploys, the ``create`` deployment needs: Azure Policy reads
#: back the deployment's operation statuses; Event Grid checks eventSubscriptions/write on the source
#: (the subscription) before a system topic's event subscription is created (articles/event-grid/
#: security-authorization.md, "Permissions for event subscriptions").
CREATE_POLICY_EXTRA_ACTIONS = {
    "Microsoft.Resources/deployments/operationstatuses/read",
    "Microsoft.EventGrid/eventSubscriptions/write",
}


def _resources(path: Path, rtype: str) -> dict[str, dict[str, Any]]:
    return {
        symbol: r
        for symbol, r in parse(path).get("resources", {}).items()
        if r["type"].lower() == rtype.lower()
    }


def _body(entry: dict[str, Any]) -> dict[str, Any]:
    config = entry["config"]
    while isinstance(config, dict) and ("loop_type" in config or "condition" in config):
        config = config["config"]
    return config


def _mg(**params: Any) -> Template:
    return Template(
        MG,
        {
            "environmentName": "prod",
            "principalId": "11111111-1111-1111-1111-111111111111",
            "functionAppId": FUNCTION_APP,
            "deadLetterStorageAccountId": DEAD_LETTER_ACCOUNT,
            "deadLetterContainerName": "deadletter",
            "resourceGroupName": "rg-acrguard-events",
            "location": "westeurope",
            "remediateExisting": True,
            "enabledRules": list(RULES),
            "diagnosticWorkspaceIds": [],
            **params,
        },
    )


def _policy(symbol: str) -> dict[str, Any]:
    return _mg().value(_body(parse(MG)["resources"][symbol])["properties"])


def _deployed(template: dict[str, Any], rtype: str) -> list[dict[str, Any]]:
    """Every resource of ``rtype`` in an ARM template, nested deployments' templates included."""
    found = []
    for resource in template.get("resources", []):
        if resource["type"].lower() == rtype.lower():
            found.append(resource)
        inner = resource.get("properties", {}).get("template")
        if resource["type"] == "Microsoft.Resources/deployments" and inner:
            found += _deployed(inner, rtype)
    return found


def _written(template: dict[str, Any], where: tuple[str, str] | None = None) -> set[tuple[str, Any]]:
    """(type, where) of every resource an ARM template writes: ``where`` is None in the
    deployment's own subscription, else the (subscription, resource group) a nested deployment
    targets in another subscription."""
    found = set()
    for resource in template.get("resources", []):
        here = where
        if resource.get("subscriptionId"):
            here = (resource["subscriptionId"], resource["resourceGroup"])
        found.add((resource["type"], here))
        if resource["type"] == "Microsoft.Resources/deployments":
            found |= _written(resource["properties"]["template"], here)
    return found


# --------------------------------------------------------------------------------------------------
# the create policy's identity: a custom role, not Contributor


def test_create_policy_deploys_with_exactly_its_actions_not_contributor_over_the_group() -> None:
    """The ``create`` policy's deployment creates a resource group, deployments, a system topic and
    its event subscription: its identity holds a custom role of exactly those actions, assignable at
    the group and generated from the contract, and no policy identity holds Contributor or Owner."""
    source = MG.read_text(encoding="utf-8")
    assert CONTRIBUTOR not in source and OWNER not in source, "no built-in Contributor/Owner for a policy"

    roles = _resources(MG, "Microsoft.Authorization/roleDefinitions")
    (create_role,) = [s for s, r in roles.items() if "onboarding" in json.dumps(r).lower()]
    props = _mg().value(_body(roles[create_role])["properties"])
    (permission,) = props["permissions"]
    # Exactly: read and write each resource type the policy's deployment writes in the subscription,
    # and the two actions named above; generated from the contract.
    template = _policy("createPolicy")["policyRule"]["then"]["details"]["deployment"]["properties"][
        "template"
    ]
    written = _written(template)
    in_subscription = {rtype for rtype, where in written if where is None}
    expected = {f"{RBAC_TYPE.get(t, t)}/{verb}" for t in in_subscription for verb in ("read", "write")}
    assert set(permission["actions"]) == expected | CREATE_POLICY_EXTRA_ACTIONS
    assert len(permission["actions"]) == len(expected | CREATE_POLICY_EXTRA_ACTIONS)
    assert permission["actions"] == CONTRACT["onboarding"]["createActions"]
    assert permission["notActions"] == permission["dataActions"] == []
    assert props["assignableScopes"] == ["<management_group().id>"]

    # The policy declares that role, and the assignment's identity is given exactly it at the group.
    create = _policy("createPolicy")
    assert create["policyRule"]["then"]["details"]["roleDefinitionIds"] == [f"<{create_role}.id>"]
    assignment = parse(MG)["resources"]["assignmentRoles"]
    assert assignment["config"]["loop_type"]["detail"]["array_name"] == "policies"
    granted = {
        item["key"]: Template(MG, _mg().params, {"item": item}).value(
            _body(assignment)["properties"]["roleDefinitionId"]
        )
        for item in _mg().variable("policies")
    }
    assert granted["create"] == f"<{create_role}.id>"  # one assignment per policy, of its own role
    assert granted["attach"].endswith("1e241071-0855-49ea-94dc-649edcd759de")  # EventGrid Contributor

    # Every resource the create deployment writes is covered: in the subscription by this role (above),
    # in the dead-letter account's resource group by the dead-letter grants (tested below).
    assert in_subscription == {
        "Microsoft.Resources/resourceGroups",
        "Microsoft.Resources/deployments",
        "Microsoft.EventGrid/systemTopics",
        "Microsoft.EventGrid/systemTopics/eventSubscriptions",
    }
    assert {where for _, where in written} == {None, (SUB, "rg-acrguard-prod")}  # and nowhere else
    assert {rtype for rtype, where in written if where} == {
        "Microsoft.Resources/deployments",
        "Microsoft.Authorization/roleAssignments",
    }
    adversarial(
        6,
        "the create policy's identity held built-in Contributor over the whole management group",
        f"a custom role of exactly {len(permission['actions'])} actions (deployments, resource groups, "
        "system topics, event subscriptions), assignable at the group; no Contributor or Owner",
        round=3,
    )


# --------------------------------------------------------------------------------------------------
# dead letters after management-group onboarding


def test_onboarded_event_subscriptions_dead_letter_with_the_topic_identity_to_the_container_only() -> None:
    """The storage account has shared keys off, so a dead-letter destination without an identity
    fails and undeliverable events are dropped. Both policies deploy the event subscription with
    ``deadLetterWithResourceIdentity`` (the topic's system identity), give the topic that identity,
    and grant it Storage Blob Data Contributor on the ``deadletter`` container only, before the
    event subscription exists."""
    properties = _mg().variable("eventSubscriptionProperties")
    assert "deadLetterDestination" not in properties, "a key-less account: dead-lettering needs an identity"
    dead_letter = properties["deadLetterWithResourceIdentity"]
    assert dead_letter["identity"] == {"type": "SystemAssigned"}
    assert dead_letter["deadLetterDestination"] == {
        "endpointType": "StorageBlob",
        "properties": {"resourceId": DEAD_LETTER_ACCOUNT, "blobContainerName": "deadletter"},
    }

    for symbol in ("attachPolicy", "createPolicy"):
        template = _policy(symbol)["policyRule"]["then"]["details"]["deployment"]["properties"]["template"]
        (topic,) = _deployed(template, "Microsoft.EventGrid/systemTopics")
        assert "SystemAssigned" in json.dumps(topic["identity"]), symbol
        (subscription,) = _deployed(template, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
        assert subscription["properties"] == properties, symbol
        (grant,) = _deployed(template, "Microsoft.Authorization/roleAssignments")
        assert (
            grant["scope"]
            == "Microsoft.Storage/storageAccounts/stacrguard/blobServices/default/containers/deadletter"
        )
        assert BLOB_DATA_CONTRIBUTOR in grant["properties"]["roleDefinitionId"], symbol
        assert grant["properties"]["principalType"] == "ServicePrincipal"
        # the grant runs in the dead-letter account's resource group, for the topic's own identity
        (access,) = [
            d
            for d in _deployed(template, "Microsoft.Resources/deployments")
            if grant in d["properties"]["template"]["resources"]
        ]
        assert (access["subscriptionId"], access["resourceGroup"]) == (SUB, "rg-acrguard-prod"), symbol
        principal = access["properties"]["parameters"]["principalId"]["value"]
        assert "reference(" in principal and "identity.principalId" in principal, symbol
        # and before the event subscription: its first failed delivery may already dead-letter
        assert any(access["name"] in dep for dep in subscription["dependsOn"]), symbol

    # The policies' identities may create exactly that grant: roleAssignments/write on the
    # container only, constrained to Storage Blob Data Contributor for service principals
    # (condition format: MicrosoftDocs/azure-docs articles/role-based-access-control/
    # delegate-role-assignments-examples.md @ 3b9d7e48), and deployments in that resource group.
    module = _body(parse(MG)["modules"]["deadLetterGrants"])
    assert _mg().value(module["scope"]) == {"subscriptionId": SUB, "resourceGroup": "rg-acrguard-prod"}
    grants = MODULES / "deadletter-grants.bicep"
    params = {k: _mg().value(v) for k, v in module["params"].items()}
    assert (params["storageAccountName"], params["containerName"]) == ("stacrguard", "deadletter")
    assert params["principalIds"] == [
        "<assignments[0].identity.principalId>",
        "<assignments[1].identity.principalId>",
    ]  # both policies' identities
    template = Template(
        grants, {**params, "environmentName": "prod", "principalIds": ["p-attach", "p-create"]}
    )
    roles = {
        symbol: template.value(_body(r)["properties"])
        for symbol, r in _resources(grants, "Microsoft.Authorization/roleDefinitions").items()
    }
    assert {symbol: role["permissions"][0]["actions"] for symbol, role in roles.items()} == {
        "deployRole": CONTRACT["onboarding"]["deadLetterDeployActions"],
        "grantRole": ["Microsoft.Authorization/roleAssignments/write"],
    }
    assert set(CONTRACT["onboarding"]["deadLetterDeployActions"]) == {
        "Microsoft.Resources/deployments/read",
        "Microsoft.Resources/deployments/write",
        "Microsoft.Resources/deployments/operationstatuses/read",
    }
    assert all(role["assignableScopes"] == ["<resource_group().id>"] for role in roles.values())
    assignments = {s: r for s, r in _resources(grants, "Microsoft.Authorization/roleAssignments").items()}
    assert {s: r["config"]["loop_type"]["detail"]["array_name"] for s, r in assignments.items()} == {
        "deployAssignments": "principalIds",
        "grantAssignments": "principalIds",
    }
    deploy, grant_assignment = _body(assignments["deployAssignments"]), _body(assignments["grantAssignments"])
    assert "scope" not in deploy  # the resource group: the nested deployment runs there
    assert template.value(deploy["properties"]["roleDefinitionId"]) == "<deployRole.id>"
    (container,) = _resources(grants, "Microsoft.Storage/storageAccounts/blobServices/containers")
    assert grant_assignment["scope"] == container  # the container, never the account or the group
    assert template.value(grant_assignment["properties"]["roleDefinitionId"]) == "<grantRole.id>"
    condition = template.value(grant_assignment["properties"]["condition"])
    assert condition == (
        "((!(ActionMatches{'Microsoft.Authorization/roleAssignments/write'})) OR "
        "(@Request[Microsoft.Authorization/roleAssignments:RoleDefinitionId] ForAnyOfAnyValues:GuidEquals "
        f"{{{BLOB_DATA_CONTRIBUTOR}}} AND @Request[Microsoft.Authorization/roleAssignments:PrincipalType] "
        "ForAnyOfAnyValues:StringEqualsIgnoreCase {'ServicePrincipal'}))"
    )
    assert grant_assignment["properties"]["conditionVersion"] == "2.0"
    adversarial(
        7,
        "an undeliverable event after management-group onboarding (key-less dead-letter account)",
        "dead-lettered with the topic's own identity: Storage Blob Data Contributor on `deadletter` "
        "only, granted before the event subscription exists, by a role constrained to that role",
        round=3,
    )


#: Event Grid's aliases: the destination's discriminator is part of the path
#: (``destination.<EndpointType>.<property>``, MicrosoftDocs/azure-docs articles/event-grid/
#: custom-azure-policies-for-security-control.md); filter and labels aliases as Azure lists them
#: (maciejporebski/azure-policy-aliases aliases/Microsoft.EventGrid/systemTopics.md @ 1b4f422c).
ALIAS_PREFIX = "Microsoft.EventGrid/systemTopics/eventSubscriptions/"


def _alias_view(properties: dict[str, Any]) -> dict[str, Any]:
    """An event subscription as Azure Policy's aliases see it: ``destination.AzureFunction.resourceId``."""
    view = copy.deepcopy(properties)
    destination = view.get("destination", {})
    if "endpointType" in destination:
        destination[destination["endpointType"]] = destination.pop("properties", {})
    return {"properties": view}


def _relative(condition: Any) -> Any:
    """The condition with its aliases relative to the event subscription type (tests/policy_eval.py)."""
    if isinstance(condition, dict):
        return {
            k: (v.removeprefix(ALIAS_PREFIX) if k == "field" and isinstance(v, str) else _relative(v))
            for k, v in condition.items()
        }
    if isinstance(condition, list):
        return [_relative(v) for v in condition]
    return condition


def test_attach_policy_finds_a_repointed_event_subscription_non_compliant() -> None:
    """deployIfNotExists without an existenceCondition is satisfied by any event subscription of
    that name: one repointed to another endpoint, or with its filter or dead-lettering changed,
    stayed "compliant" and was never fixed. The existence condition checks the destination, the
    filter and dead-lettering against what the policy deploys."""
    details = _policy("attachPolicy")["policyRule"]["then"]["details"]
    condition = _relative(details["existenceCondition"])
    for leaf in re.findall(r'"field": "([^"]+)"', json.dumps(details["existenceCondition"])):
        assert leaf.startswith(ALIAS_PREFIX), leaf
    template = details["deployment"]["properties"]["template"]
    (deployed,) = _deployed(template, "Microsoft.EventGrid/systemTopics/eventSubscriptions")
    compliant = deployed["properties"]
    assert evaluate(condition, _alias_view(compliant)), "what the policy deploys must satisfy it"

    def changed(edit) -> dict[str, Any]:
        doc = copy.deepcopy(compliant)
        edit(doc)
        return _alias_view(doc)

    other_function = f"{FUNCTION_APP.replace('func-acrguard', 'func-attacker')}/functions/on_registry_write"
    repointed = {
        "another function": lambda d: d["destination"]["properties"].update(resourceId=other_function),
        "a webhook": lambda d: d.update(
            destination={"endpointType": "WebHook", "properties": {"endpointUrl": "https://example.net/x"}}
        ),
        "other event types": lambda d: d["filter"].update(
            includedEventTypes=["Microsoft.Resources.ResourceDeleteSuccess"]
        ),
        "an extra event type": lambda d: d["filter"]["includedEventTypes"].append(
            "Microsoft.Resources.ResourceActionSuccess"
        ),
        "the operation filter removed": lambda d: d["filter"].update(
            advancedFilters=d["filter"]["advancedFilters"][1:]
        ),
        "an advanced filter added": lambda d: d["filter"]["advancedFilters"].append(
            {"operatorType": "StringNotContains", "key": "subject", "values": ["/registries/prod"]}
        ),
        "the filter's operations edited (fingerprint label gone)": lambda d: d.update(labels=[]),
        "dead-lettering without an identity": lambda d: d.update(
            deadLetterDestination=d.pop("deadLetterWithResourceIdentity")["deadLetterDestination"]
        ),
    }
    for case, edit in repointed.items():
        assert not evaluate(condition, changed(edit)), f"{case}: still compliant"
    adversarial(
        7,
        "an onboarded event subscription repointed (destination, event types, filters, dead-lettering)",
        f"non-compliant in all {len(repointed)} variations, so Azure Policy redeploys it",
        round=3,
    )


# --------------------------------------------------------------------------------------------------
# diagnostic settings: the workspace actions on the workspace only


def test_workspace_actions_are_granted_on_the_configured_workspace_only() -> None:
    """``sharedKeys/action`` returns a workspace's keys: granted in the subscription-wide role, the
    function could read the keys of every workspace in scope. The role carries none of the
    workspace's actions; a role assignment scoped to each configured workspace does, in whatever
    subscription and resource group the workspace lives."""
    for path in (MODULES / "target-subscription.bicep", MG):
        (role,) = [
            _body(r)
            for s, r in _resources(path, "Microsoft.Authorization/roleDefinitions").items()
            if s == "remediatorRole"
        ]
        actions = Template(path, {"enabledRules": list(RULES)}).value(
            role["properties"]["permissions"][0]["actions"]
        )
        assert not [a for a in actions if a.startswith("Microsoft.OperationalInsights/")], path.name
    assert not [a for a in role_actions(RULES) if "OperationalInsights" in a]
    workspace_actions = set(CONTRACT["rules"]["diagnostic_settings"]["workspaceActions"])
    assert workspace_actions == {
        "Microsoft.OperationalInsights/workspaces/read",
        "Microsoft.OperationalInsights/workspaces/sharedKeys/action",
    }

    main = parse(MAIN)
    assert main["parameters"]["diagnosticWorkspaceIds"]["default"] == []
    for path, template in (
        (MAIN, Template(MAIN, {"diagnosticWorkspaceIds": [WORKSPACE], "environmentName": "prod"})),
        (MG, _mg(diagnosticWorkspaceIds=[WORKSPACE])),
    ):
        (module,) = [
            m
            for m in parse(path)["modules"].values()
            if m["detail"]["path"].endswith("workspace-access.bicep")
        ]
        assert module["config"]["loop_type"]["detail"]["array_name"] == "diagnosticWorkspaceIds"
        item = module["config"]["loop_type"]["detail"]["item_name"]
        each = Template(path, template.params, {item: WORKSPACE})
        config = _body(module)
        assert each.value(config["scope"]) == {"subscriptionId": OTHER_SUB, "resourceGroup": "rg-monitor"}
        params = {k: each.value(v) for k, v in config["params"].items()}
        assert params["workspaceName"] == "law-sec", path.name

    access = MODULES / "workspace-access.bicep"
    module_template = Template(
        access, {"workspaceName": "law-sec", "principalId": "p", "environmentName": "prod"}
    )
    (role,) = [_body(r) for r in _resources(access, "Microsoft.Authorization/roleDefinitions").values()]
    assert set(module_template.value(role["properties"]["permissions"][0]["actions"])) == workspace_actions
    (assignment,) = [_body(r) for r in _resources(access, "Microsoft.Authorization/roleAssignments").values()]
    (workspace_symbol,) = _resources(access, "Microsoft.OperationalInsights/workspaces")
    assert assignment["scope"] == workspace_symbol  # the workspace itself, not its group or subscription
    assert parse(access)["resources"][workspace_symbol]["config"]["name"] == "workspaceName"
    adversarial(
        12,
        "diagnostic_settings granted workspaces/sharedKeys/action on every workspace in scope",
        "granted on each configured workspace only (a role assignment scoped to it, in any "
        "subscription); the subscription role has no workspace action",
        round=3,
    )


# --------------------------------------------------------------------------------------------------
# every ACRGUARD_* setting reaches the app from main.bicep


def _fixed_settings() -> dict[str, str]:
    """docs/DEPLOY.md's table of settings the template fixes: name -> the reason."""
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    section = text.partition("### Settings the template fixes")[2].split("\n## ", 1)[0]
    return dict(re.findall(r"^\| `(ACRGUARD_[A-Z0-9_]+)` \| (.+?) \|$", section, flags=re.M))


def _main_param(name: str) -> str | None:
    """The main.bicep parameter documented as setting ``name`` (its description starts with it)."""
    for param, spec in parse(MAIN)["parameters"].items():
        for decorator in spec.get("decorators", []):
            if decorator["type"] == "description" and re.match(rf"{name}\b", decorator["argument"]):
                return param
    return None


def _probe(param: dict[str, Any], setting) -> Any:
    """A value for ``param`` other than its default that the setting accepts."""
    kinds = {d["type"]: d.get("argument") for d in param.get("decorators", [])}
    default = param.get("default")
    if "allowed" in kinds:
        return next(v for v in kinds["allowed"] if v not in (default, ""))
    if param["type"] == "bool":
        return not default
    if param["type"] == "int":
        return default + 1 if default + 1 <= kinds.get("maxValue", default + 1) else default - 1
    for candidate in (
        "https://probe.example.com",
        f"{float(default) + 1:g}" if re.fullmatch(r"[\d.]+", str(default)) else "",
        "0 */7 * * * *",
    ):
        try:
            if candidate and candidate != default:
                setting.parse(candidate)
                return candidate
        except ValueError:
            continue
    raise AssertionError(f"no probe value for {param}")


def _main_defaults() -> dict[str, Any]:
    given = {"environmentName": "prod", "location": "westeurope", "enabledRules": ["anonymous_pull"]}
    params = dict(given)
    for name, spec in parse(MAIN)["parameters"].items():
        if name not in given and "default" in spec:
            params[name] = Template(MAIN, params).value(spec["default"])
    return params


def _app_setting(main_params: dict[str, Any], name: str) -> Any:
    module = _body(parse(MAIN)["modules"]["functionApp"])
    main = Template(MAIN, main_params)
    app_params = {k: main.value(v) for k, v in module["params"].items()}
    (site,) = _resources(APP, "Microsoft.Web/sites").values()
    settings = {s["name"]: s["value"] for s in _body(site)["properties"]["siteConfig"]["appSettings"]}
    assert name in settings, f"{name} is not set in {APP.name}"
    return Template(APP, app_params).value(settings[name])


def test_every_setting_the_code_reads_is_settable_from_main_bicep_or_documented_as_fixed() -> None:
    """A setting the template hard-codes cannot be changed for good: a hand-set app setting is
    reset by the next provision (the onboarding doc promised ``ACRGUARD_RECONCILE_SOURCE=arg``, the
    template said ``list``). Each setting of acrguard/settings.py is a main.bicep parameter whose
    value reaches the app setting, or docs/DEPLOY.md says why the template fixes it."""
    fixed = _fixed_settings()
    defaults = _main_defaults()
    settable = []
    for name, setting in SETTINGS.items():
        param = _main_param(name)
        if name in fixed:
            assert param is None, f"{name}: documented as fixed but main.bicep has {param}"
            assert len(fixed[name].strip()) >= 20, f"{name}: say why the template fixes it"
            continue
        assert param is not None, (
            f"{name}: add a main.bicep parameter (its @description starting with {name}) passed to "
            f"{APP.name}, or list it under 'Settings the template fixes' in docs/DEPLOY.md with the reason"
        )
        spec = parse(MAIN)["parameters"][param]
        probe = _probe(spec, setting)
        value = _app_setting({**defaults, param: probe}, name)
        if any(d["type"] == "secure" for d in spec.get("decorators", [])):
            # a secret reaches the app as a Key Vault reference to the secret holding it
            assert value.startswith("@Microsoft.KeyVault(SecretUri="), (name, value)
            assert _body(parse(MAIN)["modules"]["keyVault"])["params"][param] == param
        else:
            shown = str(probe).lower() if isinstance(probe, bool) else str(probe)
            assert value == shown, f"{name}: main.bicep {param}={probe!r} reached the app as {value!r}"
            setting.parse(value)  # and the app accepts what the template hands it
        settable.append(name)
    assert settable and set(settable) | set(fixed) == set(SETTINGS)
    assert not set(fixed) - set(SETTINGS), (
        f"DEPLOY.md lists settings the code no longer has: {set(fixed) - set(SETTINGS)}"
    )
    adversarial(
        7,
        "a setting the docs promise (ACRGUARD_RECONCILE_SOURCE=arg) hard-coded by the template, "
        "a hand-set value reset by the next provision",
        f"{len(settable)} of {len(SETTINGS)} settings reach the app from main.bicep parameters; "
        f"{len(fixed)} are fixed by the template, each with its reason in docs/DEPLOY.md",
        round=4,
    )


def test_management_group_onboarding_sets_the_reconcile_source_to_resource_graph() -> None:
    """Onboarding a management group lists no subscriptions in policies.yaml: the timer finds the
    registries through Resource Graph only if the deployment sets ``arg``, which the onboarding
    steps do (azd and az alike), and which the parameter carries to the app."""
    assert _app_setting({**_main_defaults(), "reconcileSource": "arg"}, "ACRGUARD_RECONCILE_SOURCE") == "arg"
    assert _app_setting(_main_defaults(), "ACRGUARD_RECONCILE_SOURCE") == "list"
    parameters = json.loads((INFRA / "main.parameters.json").read_text(encoding="utf-8"))["parameters"]
    assert parameters["reconcileSource"]["value"] == "${ACRGUARD_RECONCILE_SOURCE=list}"
    text = DEPLOY_DOC.read_text(encoding="utf-8")
    section = text.split("## Onboarding a whole management group", 1)[1].split("\n## ", 1)[0]
    commands = "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.S))
    assert "azd env set ACRGUARD_RECONCILE_SOURCE arg" in commands
    assert "reconcileSource=arg" in commands


def test_contract_prints_the_workspaces_the_policy_sends_diagnostic_settings_to(tmp_path, capsys) -> None:
    """``diagnosticWorkspaceIds`` comes from the policy, as ``enabledRules`` does: the workspace of
    the base rule and of every override that enables the rule, each once; none when it is off."""
    from acrguard.contract import main

    other = WORKSPACE.replace("law-sec", "law-dev")
    policy = tmp_path / "policies.yaml"
    policy.write_text(
        "version: 1\n"
        f"rules: {{diagnostic_settings: {{enabled: true, workspace_id: '{WORKSPACE}'}}}}\n"
        "overrides:\n"
        "  - match: {name: 'dev*'}\n"
        f"    rules: {{diagnostic_settings: {{enabled: true, workspace_id: '{other}'}}}}\n"
        "  - match: {name: 'tmp*'}\n"
        f"    rules: {{diagnostic_settings: {{enabled: true, workspace_id: '{WORKSPACE}'}}}}\n",
        encoding="utf-8",
    )
    assert main(["--diagnostic-workspaces", str(policy)]) == 0
    assert json.loads(capsys.readouterr().out) == sorted([WORKSPACE, other], key=str.lower)
    off = tmp_path / "off.yaml"
    off.write_text("version: 1\n", encoding="utf-8")
    assert main(["--diagnostic-workspaces", str(off)]) == 0
    assert json.loads(capsys.readouterr().out) == []
