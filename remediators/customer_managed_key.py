"""Images encrypted at rest with a customer-managed key (CMK) held in the customer's Key Vault.

Report only: CMK can be set only when a registry is created (and needs Premium), so the fix is a
new registry, which a person plans. Azure Policy audits every SKU; so does this rule, and its
reason names the SKU step when there is one.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, plain, sku_name


class CustomerManagedKey(Remediator):
    name = "customer_managed_key"
    title = "Customer-managed key"
    severity = "low"
    default_enabled = False
    fixes = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/tutorial-enable-customer-managed-keys",
    )
    azure_policy = ("5b9159ae-1701-4a6f-9a7a-aa9c8ddd0580",)

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return self.kql_skus() + "not(tostring(properties.encryption.status) =~ 'enabled')"

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        encryption = getattr(registry, "encryption", None)
        status = str(plain(getattr(encryption, "status", None)) or "disabled").lower()
        before = {"encryption": {"status": status}}
        if status == "enabled":
            return self.result(Status.COMPLIANT, "encrypted with a customer-managed key", before=before)
        how = (
            "recreate it on Premium with a key"
            if sku_name(registry) != "Premium"
            else "recreate it with a key"
        )
        return self.result(
            Status.FLAGGED,
            f"encrypted with a Microsoft-managed key; CMK is set only at creation: {how}",
            before=before,
        )
