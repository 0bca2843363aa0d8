"""A SKU that supports Private Link (Premium): the precondition for private endpoints.

Report only: changing the SKU changes the bill, which is a person's decision.
"""

from __future__ import annotations

from remediators.base import ReportRule


class SkuPrivateLink(ReportRule):
    name = "sku_private_link"
    title = "SKU supports Private Link"
    references = ("https://learn.microsoft.com/azure/container-registry/container-registry-private-link",)
    azure_policy = ("bd560fc0-3c69-498a-ae9f-aa8eb7de0e13",)
    psrule = ("Azure.ACR.MinSku",)
    notes = "PSRule's MinSku accepts Standard too; this rule follows Azure Policy (Premium)."

    path = "sku.name"
    wanted = "Premium"
    compliant = "Premium supports Private Link"
    violation = "the {value} SKU cannot have private endpoints; Premium can"
