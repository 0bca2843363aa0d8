"""The admin user is a shared username/password with push and pull rights on the whole registry.

Opt-in (default off): some teams still depend on it. Azure Policy built-in "Container
registries should have local admin account disabled"; available on every SKU.
"""

from __future__ import annotations

from remediators.base import PropertyRule


class AdminUser(PropertyRule):
    name = "admin_user"
    severity = "medium"
    default_enabled = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/container-registry-authentication#admin-account",
    )
    azure_policy = ("dc921057-6b28-4fbe-9b83-f7bec05db6c2", "79fdfe03-ffcb-4e55-b4d0-b925b8241759")
    psrule = ("Azure.ACR.AdminUser",)

    path = "properties.adminUserEnabled"
    wanted = False
    compliant = "admin user is disabled"
    violation = "admin user is enabled: a shared password grants push and pull on every repository"
