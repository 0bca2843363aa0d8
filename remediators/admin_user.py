"""The admin user is a shared username/password with push and pull rights on the whole registry.

Opt-in (default off): some teams still depend on it. Azure Policy built-in "Container
registries should have local admin account disabled"; available on every SKU.
"""

from __future__ import annotations

from typing import Any

from remediators.base import Evaluation, Remediator, RuleConfig, Status


class AdminUser(Remediator):
    name = "admin_user"
    title = "Admin user"
    severity = "medium"
    default_enabled = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/container-registry-authentication#admin-account",
    )

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        enabled = bool(registry.admin_user_enabled)
        before = {"adminUserEnabled": enabled}
        if not enabled:
            return self.result(Status.COMPLIANT, "admin user is disabled", before=before)
        return self.result(
            Status.DRIFT,
            "admin user is enabled: a shared password grants push and pull on every repository",
            before=before,
            after={"adminUserEnabled": False},
            change={"admin_user_enabled": False},
        )
