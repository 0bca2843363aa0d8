"""Public network access off: the registry is reachable through private endpoints only.

Opt-in (default off) and Premium-only (private link is a Premium feature). Turning public access
off on a registry without an approved private endpoint would cut every client off, so that case
is blocked unless the policy sets ``allow_without_private_endpoint: true``.
Azure Policy built-in "Public network access should be disabled for Container registries".
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, plain


class PublicNetworkAccessConfig(RuleConfig):
    allow_without_private_endpoint: bool = False


class PublicNetworkAccess(Remediator):
    name = "public_network_access"
    title = "Public network access"
    severity = "medium"
    skus = frozenset({"Premium"})
    default_enabled = False
    references = ("https://learn.microsoft.com/azure/container-registry/container-registry-private-link",)
    azure_policy = ("0fdf0491-d080-4575-b627-ad0e843cba0f", "a3701552-92ea-433e-9d17-33b7f1208fc9")
    psrule = ()
    Config = PublicNetworkAccessConfig

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return self.kql_skus() + "tostring(properties.publicNetworkAccess) != 'Disabled'"

    def check(self, registry: Any, config: PublicNetworkAccessConfig) -> Evaluation:  # type: ignore[override]
        access = plain(registry.public_network_access) or "Enabled"
        before = {"publicNetworkAccess": access}
        if access == "Disabled":
            return self.result(Status.COMPLIANT, "public network access is disabled", before=before)
        approved = [
            c
            for c in registry.private_endpoint_connections or []
            if plain(getattr(getattr(c, "private_link_service_connection_state", None), "status", None))
            == "Approved"
        ]
        if not approved and not config.allow_without_private_endpoint:
            return self.result(
                Status.BLOCKED,
                "public network access is enabled, but the registry has no approved private endpoint: "
                "disabling it would lock every client out (set allow_without_private_endpoint: true to force)",
                before=before,
            )
        return self.result(
            Status.DRIFT,
            "public network access is enabled",
            before=before,
            after={"publicNetworkAccess": "Disabled"},
            change={"public_network_access": "Disabled"},
        )
