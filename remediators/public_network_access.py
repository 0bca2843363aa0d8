"""Public network access off: the registry is reachable through private endpoints only.

Opt-in (default off) and Premium-only (private link is a Premium feature). Turning public access
off on a registry without an approved private endpoint would cut every client off, so that case
is blocked unless the policy sets ``allow_without_private_endpoint: true``.
Azure Policy built-in "Public network access should be disabled for Container registries".
"""

from __future__ import annotations

from typing import Any

from remediators.base import PREMIUM, Evaluation, PropertyRule, RuleConfig, Status, approved_endpoints


class PublicNetworkAccessConfig(RuleConfig):
    allow_without_private_endpoint: bool = False


class PublicNetworkAccess(PropertyRule):
    name = "public_network_access"
    severity = "medium"
    skus = PREMIUM
    default_enabled = False
    references = ("https://learn.microsoft.com/azure/container-registry/container-registry-private-link",)
    azure_policy = ("0fdf0491-d080-4575-b627-ad0e843cba0f", "a3701552-92ea-433e-9d17-33b7f1208fc9")
    psrule = ()
    Config = PublicNetworkAccessConfig

    path = "properties.publicNetworkAccess"
    wanted = "Disabled"
    absent = "Enabled"
    compliant = "public network access is disabled"
    violation = "public network access is enabled"

    def refuse(  # type: ignore[override]
        self, registry: Any, config: PublicNetworkAccessConfig, before: dict[str, Any]
    ) -> Evaluation | None:
        if approved_endpoints(registry) or config.allow_without_private_endpoint:
            return None
        return self.result(
            Status.BLOCKED,
            "public network access is enabled, but the registry has no approved private endpoint: "
            "disabling it would lock every client out (set allow_without_private_endpoint: true to force)",
            before=before,
        )
