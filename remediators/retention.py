"""The retention rule's logic; what it checks and why is in retention.json.

The verdict with the days a registry keeps untagged manifests.
"""

from __future__ import annotations

from typing import Any

from remediators.base import ReportRule
from remediators.fields import Field
from remediators.verdict import Evaluation, RuleConfig, Status

DAYS = Field("properties.policies.retentionPolicy.days")


class Retention(ReportRule):
    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = self.value(registry)
        days = DAYS.value(registry)
        before = {"policies": {"retentionPolicy": {"status": status, "days": days}}}
        if self.field.among([self.wanted]).holds(registry):
            return self.result(
                Status.COMPLIANT, f"untagged manifests are deleted after {days} days", before=before
            )
        if not self.field.is_set(registry):
            return self.result(Status.FLAGGED, f"{self.unset()}: untagged manifests are kept", before=before)
        return self.result(Status.FLAGGED, "untagged manifests are kept forever", before=before)
