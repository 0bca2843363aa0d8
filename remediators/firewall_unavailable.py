"""The firewall_unavailable rule's logic; what it checks and why is in firewall_unavailable.json.

A Basic or Standard registry open to the internet is flagged; Premium passes.
"""

from __future__ import annotations

from typing import Any

from remediators.base import PUBLIC_NETWORK_ACCESS, SKU, Rule, public_access, sku_name
from remediators.fields import AnyOf, Condition
from remediators.verdict import Evaluation, RuleConfig, Status


class FirewallUnavailable(Rule):
    def settled(self, config: RuleConfig) -> Condition | None:
        return AnyOf((SKU.among(["Premium"]), PUBLIC_NETWORK_ACCESS.among(["Disabled"])))

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
