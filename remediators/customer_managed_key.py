"""The customer_managed_key rule's logic; what it checks and why is in customer_managed_key.json.

A reason that names the SKU step the CMK fix needs (a new registry, on Premium).
"""

from __future__ import annotations

from typing import Any

from remediators.base import ReportRule, sku_name


class CustomerManagedKey(ReportRule):
    def reason(self, registry: Any, value: Any) -> str:
        how = (
            "recreate it with a key"
            if sku_name(registry) == "Premium"
            else "recreate it on Premium with a key"
        )
        return f"encrypted with a Microsoft-managed key; CMK is set only at creation: {how}"
