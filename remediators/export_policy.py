"""The export_policy rule's logic; what it checks and why is in export_policy.json.

Exports are disabled only once public network access is; before that, flagged.
"""

from __future__ import annotations

from typing import Any

from remediators.base import PUBLIC_NETWORK_ACCESS, Rule, policy_status, public_access
from remediators.fields import AllOf, Condition, Field
from remediators.verdict import Evaluation, RuleConfig, Status

EXPORT_STATUS = Field("properties.policies.exportPolicy.status")


class ExportPolicy(Rule):
    def settled(self, config: RuleConfig) -> Condition | None:
        return AllOf((EXPORT_STATUS.among(["disabled"]), PUBLIC_NETWORK_ACCESS.among(["Disabled"])))

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = policy_status(registry, "exportPolicy")
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
        if self.settled(config).holds(registry):  # type: ignore[union-attr]
            return self.result(
                Status.COMPLIANT, "exports and public network access are disabled", before=before
            )
        wanted = {"exportPolicy": {"status": "disabled"}}
        return self.result(
            Status.DRIFT,
            f"exports are {status}: az acr import and acr transfer can copy images out of the registry",
            before=before,
            after={"policies": wanted},
            change={"policies": wanted},
        )
