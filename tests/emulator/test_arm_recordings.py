"""The emulator answers as real ARM answered: azure-mgmt-containerregistry's recordings, replayed.

tests/data/arm_recordings.json restates every interaction recorded against Azure in the SDK's
source distribution (73, in 11 recordings): request, status, sync or async, and the response's
field names and JSON types. Each recording is replayed in order against the emulator, through the
real SDK client's pipeline over HTTPS, at an api-version the emulator serves. An interaction
differs when the status, an async header, the error code, or a recorded field (name and type)
does not match; the ones that still differ are declared in the corpus (``emulator_differs``) with
the reason docs/EMULATOR.md ("Against ARM's recordings") explains, so a fix or a regression both
fail here.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError
from azure.core.rest import HttpRequest
from azure.mgmt.containerregistry.models import Registry, Sku
from reliability import adversarial
from repo_paths import DATA, ROOT

from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import plan
from acrguard.policy import load_policy
from emulator import Emulator

CORPUS = json.loads((DATA / "arm_recordings.json").read_text())
SUB = "00000000-0000-0000-0000-00000000aaaa"
JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
LOCATION = re.compile(
    rf"/subscriptions/{SUB}/providers/Microsoft\.ContainerRegistry/locations/[a-z0-9]+/operationResults/[^/?]+\?",
)

#: Interactions the emulator still answers differently, by ``file#n``, and why (the corpus's
#: ``differences``, explained in docs/EMULATOR.md, "Against ARM's recordings").
KNOWN_DIFFERENCES: dict[str, str] = {
    f"{recording['file']}#{recorded['n']}": recorded["emulator_differs"]
    for recording in CORPUS["recordings"]
    for recorded in recording["interactions"]
    if "emulator_differs" in recorded
}


def _type(value: Any) -> str:
    return "null" if value is None else JSON_TYPES[type(value)]


def _field(body: Any, path: str) -> tuple[bool, Any]:
    value = body
    for part in path.split("."):
        if part.endswith("[]"):
            part = part[:-2]
            value = value.get(part) if isinstance(value, dict) else None
            if not isinstance(value, list) or not value:
                return False, None
            value = value[0]
            continue
        if not isinstance(value, dict) or part not in value:
            return False, None
        value = value[part]
    return True, value


def compare(recorded: dict[str, Any], status: int, headers: Any, body: Any) -> list[str]:
    """What differs between one recorded interaction and the emulator's answer."""
    problems = []
    if status != recorded["status"]:
        problems.append(f"status {status}, recorded {recorded['status']}")
    for header in recorded["headers"]:
        if header not in {h.lower() for h in headers}:
            problems.append(f"no {header} header")
    location = headers.get("Location", "")
    if recorded["mode"] == "async" and recorded["method"] == "DELETE" and not LOCATION.search(location):
        problems.append(f"Location {location!r} is not under the location's operationResults")
    if recorded["fields"] is None:
        if body not in (None, b"", ""):
            problems.append("a body where ARM answered none")
        return problems
    if not isinstance(body, dict):
        return [*problems, "no JSON object body"]
    if recorded.get("error_code") and (body.get("error") or {}).get("code") != recorded["error_code"]:
        problems.append(
            f"error code {(body.get('error') or {}).get('code')}, recorded {recorded['error_code']}"
        )
    for path, kind in recorded["fields"].items():
        found, value = _field(body, path)
        if not found:
            problems.append(f"no field {path}")
        elif kind != "null" and _type(value) != kind:
            problems.append(f"{path} is {_type(value)}, recorded {kind}")
    return problems


def _url(emu: Emulator, path: str, registry: str, last: Any) -> str | None:
    if path in ("{Location}", "{Azure-AsyncOperation}"):
        return last.headers.get(path.strip("{}")) if last is not None else None
    group = registry.rsplit("/providers/", 1)[0]
    path = path.replace("{registry}", registry).replace("{resourceGroup}", group)
    path = path.replace("{subscription}", f"/subscriptions/{SUB}")
    return f"{emu.arm_url}{path}?api-version={CORPUS['replay_api_version']}"


def _polls_after(interactions: list[dict[str, Any]], index: int) -> int:
    polls = 0
    for later in interactions[index + 1 :]:
        if later["mode"] != "poll" or later["status"] != 202:
            break
        polls += 1
    return polls


def replay(emu: Emulator, client: Any, recording: dict[str, Any]) -> dict[str, list[str]]:
    """Replay one recording in order; what differs, by ``file#n``."""
    registry = _registry_id(recording)
    differs: dict[str, list[str]] = {}
    last = None
    interactions = recording["interactions"]
    for index, recorded in enumerate(interactions):
        key = f"{recording['file']}#{recorded['n']}"
        if recorded["path"] == "{registry}" and recorded["method"] in ("PUT", "PATCH", "DELETE"):
            if recorded["mode"] == "async":  # as ARM chose: asynchronous, polled as often as recorded
                emu.set_lro(
                    "async", polls=_polls_after(interactions, index), retry_after=0, resource_id=registry
                )
            else:
                emu.set_lro("sync", resource_id=registry)
        url = _url(emu, recorded["path"], registry, last)
        if url is None:
            differs[key] = [f"no {recorded['path']} header to follow"]
            continue
        response = client.send_request(HttpRequest(recorded["method"], url, json=recorded.get("body")))
        text = response.text()
        body = json.loads(text) if text else None
        problems = compare(recorded, response.status_code, response.headers, body)
        if problems:
            differs[key] = problems
        if response.status_code < 400:
            last = response
    return differs


def _registry_id(recording: dict[str, Any]) -> str:
    stem = recording["file"].split(".")[1].removeprefix("test_")
    group = f"replay_{recording['file'].split('.')[0][-20:]}_{stem}"
    name = re.sub(r"[^a-z0-9]", "", f"r{stem}{recording['file'].split('.')[0][-10:]}".lower())[:50]
    return (
        f"/subscriptions/{SUB}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"
    )


def test_every_recorded_interaction_replays_as_arm_answered_or_is_a_declared_difference(
    emu: Emulator, arm_client
) -> None:
    """Replays all 73 recorded interactions: each answers as ARM did (status, sync/async, async
    headers, error code, the recorded fields and their types) or is one of the declared differences."""
    client = arm_client(SUB)
    differs: dict[str, list[str]] = {}
    for recording in CORPUS["recordings"]:
        differs.update(replay(emu, client, recording))
    total = sum(len(r["interactions"]) for r in CORPUS["recordings"])
    reasons = Counter(KNOWN_DIFFERENCES.get(key, "undeclared") for key in differs)
    print(f"replayed {total} recorded interactions; {len(differs)} differ: {dict(reasons)}")
    assert differs.keys() == KNOWN_DIFFERENCES.keys(), json.dumps(
        {k: v for k, v in differs.items() if k not in KNOWN_DIFFERENCES}, indent=1
    )


def test_an_async_delete_answers_202_with_the_deleting_registry_and_a_location_polled_to_200(
    emu: Emulator, arm_client
) -> None:
    """As recorded (test_mgmt_containerregistry_2018_02_01_preview.test_replication.yaml#16-17):
    the DELETE answers 202 with the registry in provisioningState Deleting and a Location under
    /subscriptions/{s}/providers/Microsoft.ContainerRegistry/locations/{location}/operationResults/;
    a GET of the registry meanwhile says Deleting; the final poll answers 200 with no body."""
    rid = emu.add_registry(subscription=SUB, resource_group="rg-gone", name="goingaway", location="eastus")
    emu.set_lro("async", polls=1, retry_after=0, resource_id=rid)
    client = arm_client(SUB)
    url = f"{emu.arm_url}{rid}?api-version=2019-05-01"

    deleting = client.send_request(HttpRequest("DELETE", url))
    assert deleting.status_code == 202 and deleting.json()["properties"]["provisioningState"] == "Deleting"
    assert deleting.json()["id"] == rid and "Azure-AsyncOperation" not in deleting.headers
    location = deleting.headers["Location"]
    assert LOCATION.search(location) and "/locations/eastus/operationResults/registries-" in location
    assert (
        client.send_request(HttpRequest("GET", url)).json()["properties"]["provisioningState"] == "Deleting"
    )
    running = client.send_request(HttpRequest("GET", location))
    done = client.send_request(HttpRequest("GET", location))
    assert (running.status_code, done.status_code, done.text()) == (202, 200, "")
    assert emu.get_registry(rid) is None


def test_a_token_operation_status_is_the_status_only(emu: Emulator, arm_client) -> None:
    """ACR's operation status body is {"status": ...} and nothing else (the recorded replication
    status, test_mgmt_containerregistry_2018_02_01_preview.test_replication.yaml#3)."""
    rid = emu.add_registry(
        subscription=SUB, resource_group="rg-tok", name="tokstatus", children={"tokens": [{"name": "ci"}]}
    )
    emu.set_lro("async", polls=1, resource_id=rid)
    client = arm_client(SUB)
    patch = HttpRequest(
        "PATCH",
        f"{emu.arm_url}{rid}/tokens/ci?api-version=2025-11-01",
        json={"properties": {"status": "disabled"}},
    )
    status_url = client.send_request(patch).headers["Azure-AsyncOperation"]
    bodies = [client.send_request(HttpRequest("GET", status_url)).json() for _ in range(2)]
    assert bodies == [{"status": "InProgress"}, {"status": "Succeeded"}]


def test_a_classic_create_is_refused_with_classic_sku_deprecated_and_status_failed(emu: Emulator, arm_client):
    """As recorded (test_mgmt_containerregistry.test_classic_registry.yaml#2): 400
    ClassicSkuDeprecated, and ACR's error body carries a top-level "status": "Failed"."""
    client = arm_client(SUB)
    with pytest.raises(HttpResponseError) as refused:
        client.registries.begin_create(
            "rg-classic", "oldstyle", Registry(location="westus", sku=Sku(name="Classic"))
        )
    assert refused.value.status_code == 400 and refused.value.error.code == "ClassicSkuDeprecated"
    assert refused.value.response.json()["status"] == "Failed"
    missing = client.send_request(
        HttpRequest(
            "GET",
            f"{emu.arm_url}/subscriptions/{SUB}/resourceGroups/rg-classic/providers/"
            "Microsoft.ContainerRegistry/registries/oldstyle?api-version=2025-11-01",
        )
    )
    assert missing.status_code == 404 and "status" not in missing.json()  # ARM's own error: no status


def test_a_second_registry_with_a_login_server_already_taken_is_409_already_in_use(emu: Emulator, arm_client):
    """Registry names are DNS labels of <name>.azurecr.io, unique across Azure: a create of the same
    name in another resource group or subscription is 409 AlreadyInUse (code and message as
    Azure/azure-cli#13951 and MicrosoftDocs/azure-dev-docs#1303 quote them); replacing the registry
    itself is still a 200."""
    other = "00000000-0000-0000-0000-00000000bbbb"
    emu.add_registry(subscription=other, resource_group="rg-first", name="taken")
    client = arm_client(SUB)
    with pytest.raises(HttpResponseError) as refused:
        client.registries.begin_create(
            "rg-second", "TAKEN", Registry(location="westeurope", sku=Sku(name="Basic"))
        )
    assert refused.value.status_code == 409 and refused.value.error.code == "AlreadyInUse"
    assert "taken.azurecr.io is already in use" in refused.value.error.message
    assert (
        emu.get_registry(
            f"/subscriptions/{SUB}/resourceGroups/rg-second/providers/"
            "Microsoft.ContainerRegistry/registries/TAKEN"
        )
        is None
    )
    replaced = (
        arm_client(other)
        .registries.begin_create(
            "rg-first", "taken", Registry(location="westeurope", sku=Sku(name="Premium"))
        )
        .result()
    )
    assert replaced.sku.name == "Premium"
    adversarial(
        5,
        "create a registry whose name (login server) another subscription already holds; a Classic SKU create",
        "409 AlreadyInUse / 400 ClassicSkuDeprecated with status Failed, nothing stored (before: 201, a second registry with the same login server)",
        round=4,
    )


# ---------------------------------------------------------------- plan() over the recorded bodies
SHIPPED = load_policy(ROOT / "policies.yaml")
BODIES = CORPUS["registry_bodies"]
REPLAY_ID = (
    f"/subscriptions/{SUB}/resourceGroups/rg-replay/providers/Microsoft.ContainerRegistry/registries/recorded"
)


def _decide(body: dict[str, Any], policy: Any = None) -> Any:
    doc = {
        "id": REPLAY_ID,
        "name": "recorded",
        "type": "Microsoft.ContainerRegistry/registries",
        "location": body["location"],
        "sku": {"name": body["sku"], "tier": body["sku"]},
        "tags": {},
        "properties": copy.deepcopy(body["properties"]),
    }
    return plan(policy or SHIPPED, RegistryRef.parse(REPLAY_ID), Registry(doc))


def _outcomes(body: dict[str, Any], policy: Any = None) -> dict[str, str]:
    return {d.rule: d.outcome for d in _decide(body, policy).decisions}


SETTLED = [b for b in BODIES if b["properties"]["provisioningState"] == "Succeeded"]


@pytest.mark.parametrize("body", SETTLED, ids=[b["source"] for b in SETTLED])
def test_a_recorded_premium_registry_is_compliant_under_the_shipped_policy(body):
    """By the REST spec: every recorded registry is Premium, without anonymousPullEnabled (default
    false) and without publicNetworkAccess (default Enabled). The shipped policy (the firewall rule
    off until a deployer gives an allow-list) finds anonymous pull compliant, and firewall_unavailable
    compliant (Premium has a firewall)."""
    assert _outcomes(body) == {"anonymous_pull": "compliant", "firewall_unavailable": "compliant"}


@pytest.mark.parametrize("body", SETTLED, ids=[b["source"] for b in SETTLED])
def test_a_recorded_premium_registry_open_to_the_internet_gets_the_firewall_under_an_allow_list(body):
    """The same bodies under the demo's policy (the firewall rule on, with an allow-list): each has
    networkRuleSet Allow and no IP rule, so network_rules plans Deny plus the allow-list."""
    from acrguard.policy import load_policy

    outcomes = _outcomes(body, load_policy(ROOT / "demo" / "policies.yaml"))
    assert outcomes["network_rules"] == "planned" and outcomes["firewall_unavailable"] == "compliant"


@pytest.mark.parametrize("body", SETTLED, ids=[b["source"] for b in SETTLED])
def test_a_recorded_registry_without_anonymous_pull_enabled_is_compliant_for_anonymous_pull(body):
    """The recordings predate anonymousPullEnabled; the REST spec's default is false, so
    anonymous_pull is compliant and plans no write of it."""
    assert "anonymousPullEnabled" not in body["properties"]
    decided = _decide(body)
    assert {d.rule: d.outcome for d in decided.decisions}["anonymous_pull"] == "compliant"
    assert "anonymous_pull_enabled" not in (decided.params().as_dict() if decided.params() else {})


DELETING = [b for b in BODIES if b["properties"]["provisioningState"] == "Deleting"]


@pytest.mark.parametrize("body", DELETING, ids=[b["source"] for b in DELETING])
def test_the_recorded_deleting_registry_is_never_written(body):
    """The DELETE's 202 body (provisioningState Deleting) is never written: the decision step
    (acrguard.engine.provisioning, before any write is planned) turns it into a skip with the reason."""
    from acrguard.engine import provisioning

    doc = {**body, "id": REPLAY_ID, "name": "recorded", "type": "Microsoft.ContainerRegistry/registries"}
    doc["sku"] = {"name": body["sku"], "tier": body["sku"]}
    with pytest.raises(provisioning.BeingDeleted, match=r"(?i)deleting"):
        provisioning.check_not_deleting(Registry(doc))


def test_the_geo_replication_verdict_does_not_depend_on_the_replication_list_order():
    """ARM listed the home region's replica last (test_mgmt_containerregistry_2018_02_01_preview.
    test_replication.yaml#5) and promises no order: the verdict and its reason are the same for
    the list in any order."""
    from acrguard.policy import parse_policy

    policy = parse_policy("version: 1\nmode: enforce\nrules: {geo_replication: {enabled: true}}", "geo.yaml")
    doc = {
        "id": REPLAY_ID,
        "name": "recorded",
        "type": "Microsoft.ContainerRegistry/registries",
        "location": "eastus",
        "sku": {"name": "Premium", "tier": "Premium"},
        "properties": {"provisioningState": "Succeeded"},
    }
    listed = [{"name": n, "location": n} for n in ("southcentralus", "eastus", "westeurope")]
    verdicts = {
        tuple(
            (d.rule, d.outcome, d.evaluation.reason)
            for d in plan(
                policy, RegistryRef.parse(REPLAY_ID), Registry(doc), {"replications": order}
            ).decisions
        )
        for order in (listed, listed[::-1], listed[1:] + listed[:1])
    }
    [verdict] = verdicts
    assert ("geo_replication", "compliant", "replicated to southcentralus, westeurope") in verdict
