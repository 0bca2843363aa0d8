"""A retention policy deletes untagged manifests after some days, so storage does not grow forever.

Report only: deleting manifests is irreversible and some pipelines pull by digest, so whether
(and after how many days) is a person's decision. Premium only.
"""

from __future__ import annotations

from typing import Any

from remediators.base import PREMIUM, Evaluation, ReportRule, RuleConfig, Status


class Retention(ReportRule):
    name = "retention"
    title = "Retention of untagged manifests"
    skus = PREMIUM
    references = (
        "https://learn.microsoft.com/azure/container-registry/container-registry-retention-policy",
        "https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.ACR.Retention/",
    )
    psrule = ("Azure.ACR.Retention",)

    path = "properties.policies.retentionPolicy.status"
    wanted = "enabled"
    absent = "disabled"

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = self.value(registry)
        days = getattr(getattr(registry.policies, "retention_policy", None), "days", None)
        before = {"policies": {"retentionPolicy": {"status": status, "days": days}}}
        if status == "enabled":
            return self.result(
                Status.COMPLIANT, f"untagged manifests are deleted after {days} days", before=before
            )
        return self.result(Status.FLAGGED, "untagged manifests are kept forever", before=before)
