"""The geo_replication rule's logic; what it checks and why is in geo_replication.json.

A replica counts only in a region other than the home one (spellings normalised).
"""

from __future__ import annotations

from typing import Any

from remediators.base import ChildRule
from remediators.verdict import Children, Evaluation, RuleConfig, Status


def region(name: Any) -> str:
    """``West Europe`` and ``westeurope`` are one region."""
    return str(name or "").replace(" ", "").lower()


class GeoReplication(ChildRule):
    children = ("replications",)

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
