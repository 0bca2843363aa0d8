"""Registry resource IDs: parsed case-insensitively, printed canonically.

Event Grid and ARM disagree on casing (``resourcegroups`` in event subjects, ``resourceGroups``
in GET responses), so comparison uses :attr:`RegistryRef.key` and never the raw string.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Registry names: 5-50 alphanumerics. Resource groups: 1-90 of letters, digits, '_', '-', '.', '()',
# not ending in '.'. Subscriptions: GUIDs. (ARM naming rules for Microsoft.ContainerRegistry.)
# Everything but the resource group is ASCII, so it is matched under (?a:...): a Unicode
# IGNORECASE match would also take 'ſ' for 's' and the Kelvin sign for 'k' (which lower() then
# turns into another registry's key).
_REGISTRY_ID = re.compile(
    r"^(?a:/subscriptions/)(?P<sub>(?a:[0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12}))"
    r"(?a:/resourcegroups/)(?P<rg>[-\w._()]{0,89}[-\w_()])"
    r"(?a:/providers/microsoft\.containerregistry/registries/)(?P<name>(?a:[a-z0-9]{5,50}))"
    r"(?P<child>(?:/[^/]+/[^/]+)*)/?$",
    re.IGNORECASE,
)
#: The RBAC actions of the registry's own read and write: what every deployment's role grants.
READ_ACTION = "Microsoft.ContainerRegistry/registries/read"
WRITE_ACTION = "Microsoft.ContainerRegistry/registries/write"
PROVIDER_PREFIX = "/providers/microsoft.containerregistry/registries/"


@dataclass(frozen=True)
class RegistryRef:
    """A registry (subscription, resource group, name); child resources resolve to their parent."""

    subscription_id: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, resource_id: str) -> RegistryRef:
        """Parse a registry or registry-child resource ID; ValueError says what is wrong."""
        ref, _ = cls.parse_with_child(resource_id)
        return ref

    @classmethod
    def parse_with_child(cls, resource_id: str) -> tuple[RegistryRef, str | None]:
        if not isinstance(resource_id, str):
            raise ValueError(f"resource ID must be a string, got {type(resource_id).__name__}")
        match = _REGISTRY_ID.match(resource_id.strip())
        if not match:
            raise ValueError(f"{clip(resource_id)!r} is not a container registry resource ID")
        child = match["child"].strip("/") or None
        return cls(match["sub"].lower(), match["rg"], match["name"]), child

    @property
    def resource_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.ContainerRegistry/registries/{self.name}"
        )

    @property
    def key(self) -> str:
        return self.resource_id.lower()

    def __str__(self) -> str:
        return self.resource_id


def clip(value: str, limit: int = 200) -> str:
    """Untrusted text, bounded for a message (IDs and names from events can be any size)."""
    return value if len(value) <= limit else value[:limit] + "..."
