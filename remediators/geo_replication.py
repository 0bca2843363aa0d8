"""Geo-replication: a Premium registry with a replica outside its home region.

PSRule Azure.ACR.GeoReplica: a regional outage otherwise stops every pull. Report only (a replica
is billed like another registry). Premium only: replicas are a Premium feature. ARM lists the home
region as a replication too, so only a replica in another region counts.
"""

from __future__ import annotations

from typing import Any

from remediators.base import PREMIUM, Children, ChildRule, Evaluation, RuleConfig, Status


def region(name: Any) -> str:
    """``West Europe`` and ``westeurope`` are one region."""
    return str(name or "").replace(" ", "").lower()


class GeoReplication(ChildRule):
    name = "geo_replication"
    title = "Replica in another region"
    severity = "low"
    skus = PREMIUM
    default_enabled = False
    fixes = False
    references = ("https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.ACR.GeoReplica/",)
    psrule = ("Azure.ACR.GeoReplica",)
    notes = (
        "A replica costs as much as another Premium registry. Lists the replications (one call) when enabled."
    )
    children = ("replications",)
    child_actions = ("Microsoft.ContainerRegistry/registries/replications/read",)
    event_operations = ("Microsoft.ContainerRegistry/registries/replications/write",)

    def check_children(self, registry: Any, config: RuleConfig, children: Children) -> Evaluation:
        home = region(getattr(registry, "location", None))
        elsewhere = sorted({region(r.get("location")) for r in children["replications"]} - {home, ""})
        before = {"location": home, "replications": elsewhere}
        if elsewhere:
            return self.result(Status.COMPLIANT, f"replicated to {', '.join(elsewhere)}", before=before)
        return self.result(
            Status.FLAGGED,
            f"no replica outside the home region {home or '(unknown)'}: a regional outage stops every pull",
            before=before,
        )
