"""Contract: a registry's Microsoft.Insights/diagnosticSettings through the unmodified azure-mgmt-monitor.

The diagnostic_settings rule lists a registry's settings and PUTs one that sends the
login and repository events to the policy's Log Analytics workspace. azure-mgmt-monitor 6.x is
the last stable line with ``diagnostic_settings`` (api-version 2021-05-01-preview); 7.0.0 has none.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import ManagedIdentityCredential
from azure.mgmt.monitor import MonitorManagementClient
from azure.mgmt.monitor.models import DiagnosticSettingsResource, LogSettings, MetricSettings

from emulator import RESOURCE_DELETE_SUCCESS, RESOURCE_WRITE_SUCCESS, Emulator, Principal
from emulator.seeding import SeedError

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"
WORKSPACE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-logs/providers/Microsoft.OperationalInsights/workspaces/law"
)
DIAGNOSTIC_WRITE = "Microsoft.Insights/diagnosticSettings/write"


@pytest.fixture
def monitor(emu: Emulator) -> Iterator[MonitorManagementClient]:
    endpoint = os.environ["ACRGUARD_ARM_ENDPOINT"]
    client = MonitorManagementClient(
        ManagedIdentityCredential(), SUB, base_url=endpoint, credential_scopes=[endpoint + "/.default"]
    )
    yield client
    client.close()


def _registry(emu: Emulator, name: str = "diagreg", settings: list | None = None, sku: str = "Basic") -> str:
    children = {"diagnosticSettings": settings or []}
    return emu.add_registry(subscription=SUB, resource_group=RG, name=name, sku=sku, children=children)


def _entry(name: str, **log: str) -> dict[str, Any]:
    """A setting as a seed gives it: one enabled log entry to the workspace."""
    return {"name": name, "properties": {"workspaceId": WORKSPACE, "logs": [{**log, "enabled": True}]}}


def _setting(**overrides: Any) -> DiagnosticSettingsResource:
    fields: dict[str, Any] = {
        "workspace_id": WORKSPACE,
        "logs": [LogSettings(category_group="audit", enabled=True)],
        "metrics": [MetricSettings(category="AllMetrics", enabled=False)],
    }
    return DiagnosticSettingsResource(**{**fields, **overrides})


def test_put_creates_a_setting_lists_it_and_emits_its_write_event(emu: Emulator, monitor) -> None:
    rid = _registry(emu)

    created = monitor.diagnostic_settings.create_or_update(rid, "acrguard", _setting())

    assert created.id == f"{rid}/providers/Microsoft.Insights/diagnosticSettings/acrguard"
    assert created.type == "Microsoft.Insights/diagnosticSettings"
    assert created.workspace_id == WORKSPACE
    assert [(log.category_group, log.enabled) for log in created.logs] == [("audit", True)]
    assert created.system_data.created_by == emu.managed_identity.app_id
    [listed] = list(monitor.diagnostic_settings.list(rid))
    assert listed.as_dict() == created.as_dict()
    assert monitor.diagnostic_settings.get(rid, "ACRGUARD").name == "acrguard"
    [event] = emu.wait_for_events(1)
    setting_uri = rid.replace("/resourceGroups/", "/resourcegroups/") + (
        "/providers/Microsoft.Insights/diagnosticSettings/acrguard"
    )
    assert event["eventType"] == RESOURCE_WRITE_SUCCESS
    assert event["subject"] == event["data"]["resourceUri"] == setting_uri
    assert event["data"]["operationName"] == DIAGNOSTIC_WRITE
    assert event["data"]["resourceProvider"] == "Microsoft.Insights"
    assert emu.counters.writes(created.id) == 1


def test_put_replaces_a_setting_and_keeps_its_creation(emu: Emulator, monitor) -> None:
    rid = _registry(emu, settings=[_entry("existing", category="ContainerRegistryLoginEvents")])
    replaced = monitor.diagnostic_settings.create_or_update(
        rid,
        "existing",
        _setting(logs=[LogSettings(category="ContainerRegistryRepositoryEvents", enabled=True)]),
    )
    assert [log.category for log in replaced.logs] == ["ContainerRegistryRepositoryEvents"]
    assert replaced.system_data.created_by == "dev@contoso.example"
    assert replaced.system_data.last_modified_by == emu.managed_identity.app_id
    assert len(emu.children(rid, "diagnosticSettings")) == 1


@pytest.mark.parametrize(
    ("setting", "named"),
    [
        (
            _setting(
                workspace_id="/subscriptions/x/resourceGroups/y/providers/Microsoft.Storage/storageAccounts/z"
            ),
            "is not a Log Analytics workspace resource ID",
        ),
        (_setting(logs=[LogSettings(category_group="everything", enabled=True)]), "'everything'"),
        (
            _setting(logs=[LogSettings(category="ContainerRegistryPullEvents", enabled=True)]),
            "'ContainerRegistryPullEvents'",
        ),
        (
            _setting(
                logs=[
                    LogSettings(category="ContainerRegistryLoginEvents", category_group="audit", enabled=True)
                ]
            ),
            "exactly one of 'category' or 'categoryGroup'",
        ),
        (_setting(workspace_id=None), "needs a destination"),
        (_setting(metrics=[MetricSettings(category="Storage", enabled=True)]), "'Storage'"),
    ],
)
def test_put_refuses_what_azure_monitor_refuses_naming_it(
    emu: Emulator, monitor, setting: DiagnosticSettingsResource, named: str
) -> None:
    rid = _registry(emu)
    with pytest.raises(HttpResponseError) as refused:
        monitor.diagnostic_settings.create_or_update(rid, "bad", setting)
    assert refused.value.status_code == 400
    assert refused.value.error.code == "BadRequest" and named in refused.value.error.message
    assert emu.children(rid, "diagnosticSettings") == []
    emu.drain()
    assert emu.events == []


def test_at_most_five_settings_per_registry(emu: Emulator, monitor) -> None:
    rid = _registry(emu)

    def to(index: int) -> DiagnosticSettingsResource:
        return _setting(workspace_id=f"{WORKSPACE}{index}")  # one workspace each: no sink is reused

    for index in range(5):
        monitor.diagnostic_settings.create_or_update(rid, f"s{index}", to(index))
    with pytest.raises(HttpResponseError, match="already has 5 diagnostic settings"):
        monitor.diagnostic_settings.create_or_update(rid, "s5", to(5))
    monitor.diagnostic_settings.create_or_update(rid, "s4", to(4))  # replacing one is fine


def test_a_workspace_already_getting_a_category_from_another_setting_is_a_conflict(
    emu: Emulator, monitor
) -> None:
    """Azure Monitor: data sinks can't be reused in different settings on the same category."""
    rid = _registry(emu, settings=[_entry("mine", category="ContainerRegistryLoginEvents")])
    with pytest.raises(HttpResponseError) as conflict:
        monitor.diagnostic_settings.create_or_update(rid, "acrguard", _setting())  # audit: both categories
    assert conflict.value.status_code == 409 and conflict.value.error.code == "Conflict"
    assert "already used in diagnostic setting 'mine' for category 'ContainerRegistryLoginEvents'" in str(
        conflict.value.error.message
    )
    other = WORKSPACE.replace("/law", "/other")
    monitor.diagnostic_settings.create_or_update(rid, "acrguard", _setting(workspace_id=other))
    repository_only = [LogSettings(category="ContainerRegistryRepositoryEvents", enabled=True)]
    monitor.diagnostic_settings.create_or_update(rid, "repo", _setting(logs=repository_only))
    login_only = [LogSettings(category="ContainerRegistryLoginEvents", enabled=True)]
    monitor.diagnostic_settings.create_or_update(rid, "mine", _setting(logs=login_only))  # replaces itself


def test_delete_removes_a_setting_and_emits_its_delete_event(emu: Emulator, monitor) -> None:
    """DiagnosticSettings_Delete answers 200, or 204 when there is no such setting (azure-mgmt-monitor
    6.0.2 accepts exactly those); the delete raises ResourceDeleteSuccess for diagnosticSettings/delete
    (Azure docs: "Azure subscription as an Event Grid source", ResourceDeleteSuccessEventData)."""
    rid = _registry(emu, settings=[_entry("Audit", categoryGroup="audit")])
    reader = Principal.user("reader@contoso.example", "Reader", allowed_actions=frozenset({"*/read"}))
    path = f"{rid}/providers/Microsoft.Insights/diagnosticSettings/audit?api-version=2021-05-01-preview"
    denied = emu.arm_request("DELETE", path, principal=reader)
    assert denied.status_code == 403
    assert "Microsoft.Insights/diagnosticSettings/delete" in denied.json()["error"]["message"]

    assert emu.arm_request("DELETE", path).status_code == 200
    assert emu.children(rid, "diagnosticSettings") == []
    [event] = emu.wait_for_events(1)
    assert event["eventType"] == RESOURCE_DELETE_SUCCESS
    assert event["subject"] == event["data"]["resourceUri"]
    assert event["subject"].endswith("/providers/Microsoft.Insights/diagnosticSettings/Audit")
    assert event["data"]["operationName"] == "Microsoft.Insights/diagnosticSettings/delete"
    assert event["data"]["resourceProvider"] == "Microsoft.Insights"

    assert emu.arm_request("DELETE", path).status_code == 204  # gone already: no second event
    monitor.diagnostic_settings.delete(rid, "audit")  # the SDK accepts the 204 too
    emu.drain()
    assert len(emu.events) == 1


def test_missing_registry_or_setting_is_404(emu: Emulator, monitor) -> None:
    rid = _registry(emu)
    with pytest.raises(ResourceNotFoundError):
        monitor.diagnostic_settings.get(rid, "none")
    absent = rid.replace("diagreg", "absentreg")
    with pytest.raises(ResourceNotFoundError) as parent:
        list(monitor.diagnostic_settings.list(absent))
    assert parent.value.error.code == "ParentResourceNotFound"


def test_api_version_auth_and_rbac(emu: Emulator) -> None:
    rid = _registry(emu)
    path = f"{rid}/providers/Microsoft.Insights/diagnosticSettings"
    wrong = emu.arm_request("GET", f"{path}?api-version=2025-11-01")
    assert wrong.status_code == 400 and "2021-05-01-preview" in wrong.json()["error"]["message"]
    expired = emu.issue_token(lifetime=-10)
    stale = emu.arm_request("GET", f"{path}?api-version=2021-05-01-preview", token=expired)
    assert stale.status_code == 401 and stale.json()["error"]["code"] == "ExpiredAuthenticationToken"
    reader = Principal.user("reader@contoso.example", "Reader", allowed_actions=frozenset({"*/read"}))
    body = {"properties": {"workspaceId": WORKSPACE, "logs": [{"categoryGroup": "allLogs", "enabled": True}]}}
    denied = emu.arm_request("PUT", f"{path}/x?api-version=2021-05-01-preview", principal=reader, json=body)
    assert denied.status_code == 403
    assert "Microsoft.Insights/diagnosticSettings/write" in denied.json()["error"]["message"]
    assert emu.arm_request("PUT", f"{path}/x?api-version=2021-05-01-preview", json=body).status_code == 200


def test_seeded_settings_are_validated(emu: Emulator) -> None:
    with pytest.raises(SeedError, match=r"diagnosticSettings\[0\].*'audits'"):
        _registry(emu, settings=[_entry("s", categoryGroup="audits")])
