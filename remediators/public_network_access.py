"""The public_network_access rule's logic; what it checks and why is in public_network_access.json.

Blocks the fix on a registry without an approved private endpoint (unless the policy forces it).
"""

from __future__ import annotations

from typing import Any

from remediators.base import PropertyRule, approved_endpoints
from remediators.verdict import Evaluation, RuleConfig, Status


class PublicNetworkAccessConfig(RuleConfig):
    allow_without_private_endpoint: bool = False


class PublicNetworkAccess(PropertyRule):
    Config = PublicNetworkAccessConfig

    def refuse(  # type: ignore[override]
        self, registry: Any, config: PublicNetworkAccessConfig, before: dict[str, Any]
    ) -> Evaluation | None:
        if approved_endpoints(registry) or config.allow_without_private_endpoint:
            return None
        state = "public network access is enabled" if self.field.is_set(registry) else self.unset()
        return self.result(
            Status.BLOCKED,
            f"{state}, but the registry has no approved private endpoint: disabling it would lock "
            "every client out (set allow_without_private_endpoint: true to force)",
            before=before,
        )
