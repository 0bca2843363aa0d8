"""The private_link rule's logic; what it checks and why is in private_link.json.

Counts the approved private endpoint connections; the reason names the SKU step.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Rule, approved_endpoints, sku_name
from remediators.verdict import Evaluation, RuleConfig, Status


class PrivateLink(Rule):
    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        approved = len(approved_endpoints(registry))
        before = {"approvedPrivateEndpoints": approved}
        if approved:
            return self.result(Status.COMPLIANT, f"{approved} approved private endpoint(s)", before=before)
        sku = sku_name(registry)
        step = "" if sku == "Premium" else f"; the {sku} SKU has none: upgrade to Premium first"
        return self.result(Status.FLAGGED, f"no approved private endpoint{step}", before=before)
