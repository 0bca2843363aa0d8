"""Entra ID tokens issued for ARM (audience management.azure.com) should not open the registry.

With ``policies.azureADAuthenticationAsArmPolicy`` enabled, any ARM token of a principal with pull
rights authenticates to the registry; disabled, only tokens meant for ACR do. Azure Policy treats
an absent property as enabled (so does ARM), and so does this rule. Opt-in: App Service and some
older tools still pull with ARM-audience tokens, and they stop working when it is disabled.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, policy_status


class ArmAudienceTokens(Remediator):
    name = "arm_audience_tokens"
    title = "ARM audience tokens"
    severity = "medium"
    default_enabled = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/container-registry-disable-authentication-as-arm",
    )
    azure_policy = ("42781ec6-6127-4c30-bdfa-fb423a0047d3", "785596ed-054f-41bc-aaec-7f3d0ba05725")
    notes = (
        "Breaks clients that pull with ARM-audience tokens (App Service's older pull path, some CI tools)."
    )

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return (
            self.kql_skus()
            + "not(tostring(properties.policies.azureADAuthenticationAsArmPolicy.status) =~ 'disabled')"
        )

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = policy_status(registry, "azure_ad_authentication_as_arm_policy") or "enabled"
        before = {"policies": {"azureADAuthenticationAsArmPolicy": {"status": status}}}
        if status == "disabled":
            return self.result(Status.COMPLIANT, "ARM audience tokens are not accepted", before=before)
        wanted = {"azureADAuthenticationAsArmPolicy": {"status": "disabled"}}
        return self.result(
            Status.DRIFT,
            "the registry accepts Entra ID tokens issued for ARM, not only tokens meant for ACR",
            before=before,
            after={"policies": wanted},
            change={"policies": wanted},
        )
