"""A SKU that supports Private Link (Premium): the precondition for private endpoints.

Report only: changing the SKU changes the bill, which is a person's decision.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, sku_name


class SkuPrivateLink(Remediator):
    name = "sku_private_link"
    title = "SKU supports Private Link"
    severity = "low"
    default_enabled = False
    fixes = False
    references = ("https://learn.microsoft.com/azure/container-registry/container-registry-private-link",)
    azure_policy = ("bd560fc0-3c69-498a-ae9f-aa8eb7de0e13",)
    psrule = ("Azure.ACR.MinSku",)
    notes = "PSRule's MinSku accepts Standard too; this rule follows Azure Policy (Premium)."

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return "not(tostring(sku.name) =~ 'Premium')"

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        sku = sku_name(registry)
        before = {"sku": {"name": sku}}
        if sku == "Premium":
            return self.result(Status.COMPLIANT, "Premium supports Private Link", before=before)
        return self.result(
            Status.FLAGGED, f"the {sku} SKU cannot have private endpoints; Premium can", before=before
        )
