"""Quarantine: pushed images stay unpullable until a scanner marks them verified.

Report only: turning quarantine on without a scanner that releases images stops every pull of a
new image. Premium only (ARM reports no quarantine policy on the other SKUs).
"""

from __future__ import annotations

from remediators.base import PREMIUM, ReportRule


class Quarantine(ReportRule):
    name = "quarantine"
    skus = PREMIUM
    references = ("https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.ACR.Quarantine/",)
    psrule = ("Azure.ACR.Quarantine",)

    path = "properties.policies.quarantinePolicy.status"
    wanted = "enabled"
    absent = "disabled"
    compliant = "quarantine is enabled"
    violation = (
        "quarantine is disabled: new images are pullable before any scan "
        "(enable it only with a scanner that releases them)"
    )
