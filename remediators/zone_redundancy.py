"""Zone redundancy: the registry survives the loss of one availability zone.

Report only: ``zoneRedundancy`` is set when a registry (or replica) is created and cannot be
changed afterwards. Azure Policy's preview audit treats an absent property as disabled, as does
this rule.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status, plain


class ZoneRedundancy(Remediator):
    name = "zone_redundancy"
    title = "Zone redundancy"
    severity = "low"
    default_enabled = False
    fixes = False
    references = ("https://learn.microsoft.com/azure/container-registry/zone-redundancy",)
    azure_policy = ("9d2b0a20-57d6-474c-9d12-44a4a20999c6",)

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return self.kql_skus() + "not(tostring(properties.zoneRedundancy) =~ 'Enabled')"

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        value = str(plain(registry.zone_redundancy) or "Disabled")
        before = {"zoneRedundancy": value}
        if value.lower() == "enabled":
            return self.result(Status.COMPLIANT, "zone redundant", before=before)
        return self.result(
            Status.FLAGGED, "not zone redundant; it is set only at creation: recreate it", before=before
        )
