"""Quarantine: pushed images stay unpullable until a scanner marks them verified.

Report only: turning quarantine on without a scanner that releases images stops every pull of a
new image. Premium only (ARM reports no quarantine policy on the other SKUs).
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, policy_status


class Quarantine(Remediator):
    name = "quarantine"
    title = "Quarantine"
    severity = "low"
    skus = frozenset({"Premium"})
    default_enabled = False
    fixes = False
    references = ("https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.ACR.Quarantine/",)
    psrule = ("Azure.ACR.Quarantine",)

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return self.kql_skus() + "not(tostring(properties.policies.quarantinePolicy.status) =~ 'enabled')"

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = policy_status(registry, "quarantine_policy") or "disabled"
        before = {"policies": {"quarantinePolicy": {"status": status}}}
        if status == "enabled":
            return self.result(Status.COMPLIANT, "quarantine is enabled", before=before)
        return self.result(
            Status.FLAGGED,
            "quarantine is disabled: new images are pullable before any scan "
            "(enable it only with a scanner that releases them)",
            before=before,
        )
