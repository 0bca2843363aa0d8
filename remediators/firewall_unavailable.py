"""A Basic or Standard registry with public access is open to the whole internet, unfixably.

Firewall rules and disabling public access are Premium features, so on the lower SKUs no write of
ours (or anyone's) can restrict who reaches the registry: Azure Policy's "unrestricted network
access" and "public network access" audits mark it non-compliant, and until now ACR Guard only
said "skipped". Reported, naming the fix a person can make: upgrade to Premium, then let
``network_rules`` (or ``public_network_access``) close it. A Premium registry passes: it has a
firewall, and ``network_rules`` judges it (a "compliant" record, not a "skipped" on every event).
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, public_access, sku_name


class FirewallUnavailable(Remediator):
    name = "firewall_unavailable"
    title = "No firewall on this SKU"
    severity = "medium"
    fixes = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/container-registry-access-selected-networks",
        "https://learn.microsoft.com/azure/container-registry/container-registry-skus",
    )
    azure_policy = ("d0793b48-0edc-4296-a390-4c75d1bdfd71", "0fdf0491-d080-4575-b627-ad0e843cba0f")
    psrule = ()
    notes = "Changing the SKU changes the bill, so it is never done automatically."

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return (
            "not(tostring(sku.name) =~ 'Premium') and tostring(properties.publicNetworkAccess) != 'Disabled'"
        )

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        access = public_access(registry)
        sku = sku_name(registry)
        before = {"publicNetworkAccess": access}
        if sku == "Premium":
            return self.result(
                Status.COMPLIANT, "the Premium SKU has a firewall: network_rules covers it", before=before
            )
        if access == "Disabled":
            return self.result(Status.COMPLIANT, "public network access is disabled", before=before)
        return self.result(
            Status.FLAGGED,
            f"the {sku} SKU has no firewall: every address on the internet can reach the registry; "
            "upgrade it to Premium to restrict access (then network_rules can fix it)",
            before=before,
        )
