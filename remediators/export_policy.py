"""The export_policy rule's logic; what it checks and why is in export_policy.json.

Exports are disabled only once public network access is; before that, flagged.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, policy_status, public_access


class ExportPolicy(Remediator):
    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return self.kql_skus() + (
            "(not(tostring(properties.policies.exportPolicy.status) =~ 'disabled')"
            " or tostring(properties.publicNetworkAccess) != 'Disabled')"
        )

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = policy_status(registry, "export_policy") or "enabled"
        access = public_access(registry)
        before = {"policies": {"exportPolicy": {"status": status}}, "publicNetworkAccess": access}
        if access != "Disabled":
            what = "exports are enabled" if status != "disabled" else "exports are disabled"
            return self.result(
                Status.FLAGGED,
                f"{what}, but public network access is enabled: ARM disables exports only once public "
                "access is disabled (enable the public_network_access rule, or disable it yourself)",
                before=before,
            )
        if status == "disabled":
            return self.result(
                Status.COMPLIANT, "exports and public network access are disabled", before=before
            )
        wanted = {"exportPolicy": {"status": "disabled"}}
        return self.result(
            Status.DRIFT,
            "exports are enabled: az acr import and acr transfer can copy images out of the registry",
            before=before,
            after={"policies": wanted},
            change={"policies": wanted},
        )
