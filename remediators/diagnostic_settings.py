"""The diagnostic_settings rule's logic; what it checks and why is in diagnostic_settings.json.

Whether a setting sends the audit logs to the workspace, the two cases ARM would refuse, and the
setting written.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from remediators.base import ChildRule
from remediators.verdict import Children, ChildWrite, Evaluation, FieldError, RuleConfig, Status

SETTING_NAME = "acrguard"
MAX_SETTINGS = 5  # ARM's limit of diagnostic settings per resource
AUDIT_CATEGORIES = frozenset({"containerregistryloginevents", "containerregistryrepositoryevents"})
_WORKSPACE_ID = re.compile(
    r"^/subscriptions/[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}/resourcegroups/[-\w._()]{1,90}"
    r"/providers/microsoft\.operationalinsights/workspaces/[A-Za-z0-9][A-Za-z0-9-]{2,61}[A-Za-z0-9]$",
    re.IGNORECASE,
)
_EXAMPLE = (
    "/subscriptions/<id>/resourceGroups/<group>/providers/Microsoft.OperationalInsights/workspaces/<name>"
)


class DiagnosticSettingsConfig(RuleConfig):
    workspace_id: str | None = None  # the Log Analytics workspace's resource ID
    category_group: Literal["audit", "allLogs"] = "audit"

    def __post_init__(self) -> None:
        if self.workspace_id is None:
            if self.enabled:
                raise FieldError(
                    "workspace_id",
                    f"required when diagnostic_settings is enabled: a Log Analytics workspace's resource ID ({_EXAMPLE})",
                )
        elif not _WORKSPACE_ID.match(self.workspace_id):
            raise FieldError(
                "workspace_id",
                f"{self.workspace_id[:200]!r} is not a Log Analytics workspace resource ID; expected {_EXAMPLE}",
            )


def _enabled_logs(setting: Any) -> tuple[set[str], set[str]]:
    """The enabled category groups and categories of a setting, in lower case."""
    groups, categories = set(), set()
    for log in (setting.get("properties") or {}).get("logs") or []:
        if not log.get("enabled"):
            continue
        if log.get("categoryGroup"):
            groups.add(str(log["categoryGroup"]).lower())
        if log.get("category"):
            categories.add(str(log["category"]).lower())
    return groups, categories


def sends_audit_logs(setting: Any) -> bool:
    groups, categories = _enabled_logs(setting)
    return bool(groups & {"audit", "alllogs"}) or categories >= AUDIT_CATEGORIES


def _same_id(a: Any, b: str) -> bool:
    return isinstance(a, str) and a.rstrip("/").lower() == b.rstrip("/").lower()


class DiagnosticSettings(ChildRule):
    Config = DiagnosticSettingsConfig
    children = ("diagnosticSettings",)

    def check_children(self, registry: Any, config: RuleConfig, children: Children) -> Evaluation:
        assert isinstance(config, DiagnosticSettingsConfig) and config.workspace_id
        workspace = config.workspace_id
        settings = list(children["diagnosticSettings"])
        before = {
            "diagnosticSettings": {
                str(s.get("name")): {
                    "workspaceId": (s.get("properties") or {}).get("workspaceId"),
                    "logs": sorted(set.union(*_enabled_logs(s))),
                }
                for s in settings
            }
        }
        to_workspace = [
            s for s in settings if _same_id((s.get("properties") or {}).get("workspaceId"), workspace)
        ]
        if any(sends_audit_logs(s) for s in to_workspace):
            return self.result(Status.COMPLIANT, "the audit logs go to the policy's workspace", before=before)
        others = [
            s for s in to_workspace if str(s.get("name")).lower() != SETTING_NAME and any(_enabled_logs(s))
        ]
        if others:
            return self.result(
                Status.BLOCKED,
                f"diagnostic setting {others[0].get('name')} already sends some logs to the workspace but "
                "not the audit logs; ARM sends a category to a workspace once, so add the audit category "
                "group to that setting",
                before=before,
            )
        ours = any(str(s.get("name")).lower() == SETTING_NAME for s in settings)
        if not ours and len(settings) >= MAX_SETTINGS:
            return self.result(
                Status.BLOCKED,
                f"the registry has {len(settings)} diagnostic settings, ARM's limit: remove one, or send "
                "the audit logs to the workspace from one of them",
                before=before,
            )
        logs = [
            {"categoryGroup": group, "enabled": group == config.category_group}
            for group in ("audit", "allLogs")
        ]
        body = {"properties": {"workspaceId": workspace, "logs": logs, "metrics": []}}
        return self.result(
            Status.DRIFT,
            "no diagnostic setting sends the registry's login and repository events to the policy's workspace",
            before=before,
            after={
                "diagnosticSettings": {
                    SETTING_NAME: {"workspaceId": workspace, "logs": [config.category_group]}
                }
            },
            writes=(ChildWrite("diagnosticSettings", SETTING_NAME, body),),
        )
