"""Images encrypted at rest with a customer-managed key (CMK) held in the customer's Key Vault.

Report only: CMK can be set only when a registry is created (and needs Premium), so the fix is a
new registry, which a person plans. Azure Policy audits every SKU; so does this rule, and its
reason names the SKU step when there is one.
"""

from __future__ import annotations

from typing import Any

from remediators.base import ReportRule, sku_name


class CustomerManagedKey(ReportRule):
    name = "customer_managed_key"
    title = "Customer-managed key"
    references = (
        "https://learn.microsoft.com/azure/container-registry/tutorial-enable-customer-managed-keys",
    )
    azure_policy = ("5b9159ae-1701-4a6f-9a7a-aa9c8ddd0580",)

    path = "properties.encryption.status"
    wanted = "enabled"
    absent = "disabled"
    compliant = "encrypted with a customer-managed key"

    def reason(self, registry: Any, value: Any) -> str:
        how = (
            "recreate it with a key"
            if sku_name(registry) == "Premium"
            else "recreate it on Premium with a key"
        )
        return f"encrypted with a Microsoft-managed key; CMK is set only at creation: {how}"
