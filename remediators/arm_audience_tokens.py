"""Entra ID tokens issued for ARM (audience management.azure.com) should not open the registry.

With ``policies.azureADAuthenticationAsArmPolicy`` enabled, any ARM token of a principal with pull
rights authenticates to the registry; disabled, only tokens meant for ACR do. Azure Policy treats
an absent property as enabled (so does ARM), and so does this rule. Opt-in: App Service and some
older tools still pull with ARM-audience tokens, and they stop working when it is disabled.
"""

from __future__ import annotations

from remediators.base import PropertyRule


class ArmAudienceTokens(PropertyRule):
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

    path = "properties.policies.azureADAuthenticationAsArmPolicy.status"
    wanted = "disabled"
    absent = "enabled"
    compliant = "ARM audience tokens are not accepted"
    violation = "the registry accepts Entra ID tokens issued for ARM, not only tokens meant for ACR"
