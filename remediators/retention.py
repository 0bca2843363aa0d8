"""The retention rule's logic; what it checks and why is in retention.json.

The verdict with the days a registry keeps untagged manifests.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, ReportRule, RuleConfig, Status


class Retention(ReportRule):
    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = self.value(registry)
        days = getattr(getattr(registry.policies, "retention_policy", None), "days", None)
        before = {"policies": {"retentionPolicy": {"status": status, "days": days}}}
        if status == "enabled":
            return self.result(
                Status.COMPLIANT, f"untagged manifests are deleted after {days} days", before=before
            )
        return self.result(Status.FLAGGED, "untagged manifests are kept forever", before=before)
