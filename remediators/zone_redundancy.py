"""Zone redundancy: the registry survives the loss of one availability zone.

Report only: ``zoneRedundancy`` is set when a registry (or replica) is created and cannot be
changed afterwards. Azure Policy's preview audit treats an absent property as disabled, as does
this rule.
"""

from __future__ import annotations

from remediators.base import ReportRule


class ZoneRedundancy(ReportRule):
    name = "zone_redundancy"
    references = ("https://learn.microsoft.com/azure/container-registry/zone-redundancy",)
    azure_policy = ("9d2b0a20-57d6-474c-9d12-44a4a20999c6",)

    path = "properties.zoneRedundancy"
    wanted = "Enabled"
    absent = "Disabled"
    compliant = "zone redundant"
    violation = "not zone redundant; it is set only at creation: recreate it"
