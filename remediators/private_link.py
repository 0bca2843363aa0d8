"""At least one approved private endpoint connection, so clients can stay off the internet.

Report only: creating a private endpoint needs a virtual network, a subnet and DNS that only the
network's owners can choose. Private endpoints need Premium; on the lower SKUs the reason says so.
No Resource Graph predicate: "no connection whose status is Approved" is an array count the KQL
subset cannot state exactly, so with this rule enabled a Resource Graph sweep reads every registry.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, approved_endpoints, sku_name


class PrivateLink(Remediator):
    name = "private_link"
    severity = "low"
    default_enabled = False
    fixes = False
    references = ("https://learn.microsoft.com/azure/container-registry/container-registry-private-link",)
    azure_policy = ("e8eef0a8-67cf-4eb4-9386-14b0e78733d4",)

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        approved = len(approved_endpoints(registry))
        before = {"approvedPrivateEndpoints": approved}
        if approved:
            return self.result(Status.COMPLIANT, f"{approved} approved private endpoint(s)", before=before)
        sku = sku_name(registry)
        step = "" if sku == "Premium" else f"; the {sku} SKU has none: upgrade to Premium first"
        return self.result(Status.FLAGGED, f"no approved private endpoint{step}", before=before)
