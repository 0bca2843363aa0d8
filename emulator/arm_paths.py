"""ARM paths and resource IDs for Microsoft.ContainerRegistry/registries, matched case-insensitively.

ARM treats every segment of a resource ID case-insensitively ("resourcegroups" and "resourceGroups",
"MyReg" and "myreg" are the same resource; see the ARM RPC on resource IDs), while the stored
``id`` keeps the casing it was created with. Event Grid subjects use "resourcegroups" in lower case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

PROVIDER = "Microsoft.ContainerRegistry"
REGISTRY_TYPE = f"{PROVIDER}/registries"

_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = r"/resourcegroups/(?P<rg>[^/]+)"
_PROVIDER = r"/providers/microsoft\.containerregistry/registries"
REGISTRY_PATH = re.compile(rf"^{_SUB}{_RG}{_PROVIDER}/(?P<name>[^/]+)/?$", re.IGNORECASE)
OPERATION_PATH = re.compile(
    rf"^{_SUB}{_RG}{_PROVIDER}/(?P<name>[^/]+)/(?P<kind>operationStatuses|operationResults)/(?P<op>[^/]+)/?$",
    re.IGNORECASE,
)
LOCATION_OPERATION_PATH = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/providers/microsoft\.containerregistry/locations/(?P<location>[^/]+)"
    r"/operationResults/(?P<op>[^/]+)/?$",
    re.IGNORECASE,
)
LIST_BY_GROUP_PATH = re.compile(rf"^{_SUB}{_RG}{_PROVIDER}/?$", re.IGNORECASE)
LIST_BY_SUBSCRIPTION_PATH = re.compile(rf"^{_SUB}{_PROVIDER}/?$", re.IGNORECASE)
SUBSCRIPTIONS_PATH = re.compile(r"^/subscriptions/?$", re.IGNORECASE)
SUBSCRIPTION_PATH = re.compile(rf"^{_SUB}/?$", re.IGNORECASE)


def resource_key(resource_id: str) -> str:
    """The case-insensitive identity of a resource ID (for dict keys and comparisons)."""
    return resource_id.strip().rstrip("/").lower()


@dataclass(frozen=True)
class RegistryRef:
    subscription: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, resource_id: str) -> RegistryRef:
        match = REGISTRY_PATH.match(resource_id.strip())
        if not match:
            raise ValueError(f"not a Microsoft.ContainerRegistry/registries resource ID: {resource_id!r}")
        return cls(match["sub"], match["rg"], match["name"])

    def _path(self, groups: str) -> str:
        """The registry's path with the resource-group segment spelled ``groups``."""
        return (
            f"/subscriptions/{self.subscription}/{groups}/{self.resource_group}"
            f"/providers/{REGISTRY_TYPE}/{self.name}"
        )

    @property
    def id(self) -> str:
        """Canonical casing, as ARM returns in ``id``."""
        return self._path("resourceGroups")

    @property
    def event_uri(self) -> str:
        """As Event Grid's subject/resourceUri spells it: lower-case ``resourcegroups``."""
        return self._path("resourcegroups")

    @property
    def key(self) -> str:
        return resource_key(self.id)


class _KeyedByPath:
    """A collection or subscription target: its key (case-insensitive, as ARM matches) is its path's."""

    path: str

    @property
    def key(self) -> str:
        return resource_key(self.path)


@dataclass(frozen=True)
class ListScope(_KeyedByPath):
    """A list call: a whole subscription, or one resource group of it."""

    subscription: str
    resource_group: str | None = None

    @property
    def path(self) -> str:
        group = f"/resourceGroups/{self.resource_group}" if self.resource_group else ""
        return f"/subscriptions/{self.subscription}{group}/providers/{REGISTRY_TYPE}"

    def contains(self, ref: RegistryRef) -> bool:
        if ref.subscription.lower() != self.subscription.lower():
            return False
        return self.resource_group is None or ref.resource_group.lower() == self.resource_group.lower()


@dataclass(frozen=True)
class SubscriptionsTarget(_KeyedByPath):
    """``GET /subscriptions`` (``subscription`` None) or ``GET /subscriptions/{id}``."""

    subscription: str | None = None

    @property
    def path(self) -> str:
        return f"/subscriptions/{self.subscription}" if self.subscription else "/subscriptions"


@dataclass(frozen=True)
class OperationRef:
    registry: RegistryRef
    kind: str
    """``operationStatuses`` (Azure-AsyncOperation) or ``operationResults`` (Location)."""
    operation_id: str


@dataclass(frozen=True)
class LocationOperationRef:
    """Where an asynchronous DELETE's ``Location`` points: the subscription's ACR location, not the
    registry (as recorded in azure-mgmt-containerregistry 10.0.0's test recordings)."""

    subscription: str
    location: str
    operation_id: str

    @property
    def path(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/providers/{PROVIDER}/locations/{self.location}"
            f"/operationResults/{self.operation_id}"
        )

    @property
    def key(self) -> str:
        return resource_key(self.path)


TOKENS, CACHE_RULES, REPLICATIONS, DIAGNOSTIC_SETTINGS = (
    "tokens",
    "cacheRules",
    "replications",
    "diagnosticSettings",
)
CHILD_KINDS = (TOKENS, CACHE_RULES, REPLICATIONS, DIAGNOSTIC_SETTINGS)
"""Child resources of a registry the emulator serves; each is also the route name of its requests."""
DIAGNOSTIC_SETTINGS_SEGMENT = "/providers/Microsoft.Insights/diagnosticSettings"

_CHILD = (
    r"/(?P<kind>tokens|cacheRules|replications)(?:/(?P<child>[^/]+)(?:/operationStatuses/(?P<op>[^/]+))?)?"
)
_DIAGNOSTIC = r"/providers/microsoft\.insights/(?P<diag>diagnosticSettings)(?:/(?P<setting>[^/]+))?"
CHILD_PATH = re.compile(
    rf"^{_SUB}{_RG}{_PROVIDER}/(?P<name>[^/]+)(?:{_CHILD}|{_DIAGNOSTIC})/?$", re.IGNORECASE
)


@dataclass(frozen=True)
class ChildRef:
    """A registry's child collection (``name`` None), one child, or one child's async operation."""

    registry: RegistryRef
    kind: str
    """One of CHILD_KINDS, canonically spelled."""
    name: str | None = None
    operation_id: str | None = None

    @classmethod
    def match(cls, path: str) -> ChildRef | None:
        found = CHILD_PATH.match(path)
        if not found:
            return None
        registry = RegistryRef(found["sub"], found["rg"], found["name"])
        if found["diag"]:
            return cls(registry, DIAGNOSTIC_SETTINGS, found["setting"])
        kind = next(k for k in CHILD_KINDS if k.lower() == found["kind"].lower())
        return cls(registry, kind, found["child"], found["op"])

    @classmethod
    def parse(cls, resource_id: str) -> ChildRef:
        ref = cls.match(resource_id.strip())
        if ref is None or ref.name is None or ref.operation_id is not None:
            raise ValueError(f"not the resource ID of a registry's child resource: {resource_id!r}")
        return ref

    @property
    def segment(self) -> str:
        return DIAGNOSTIC_SETTINGS_SEGMENT if self.kind == DIAGNOSTIC_SETTINGS else f"/{self.kind}"

    @property
    def collection(self) -> str:
        return self.registry.id + self.segment

    @property
    def id(self) -> str:
        """The child's ID (canonical casing), or the collection's path when ``name`` is None."""
        return f"{self.collection}/{self.name}" if self.name else self.collection

    @property
    def event_uri(self) -> str:
        return f"{self.registry.event_uri}{self.segment}/{self.name}"

    @property
    def key(self) -> str:
        return resource_key(self.id)

    @property
    def type(self) -> str:
        if self.kind == DIAGNOSTIC_SETTINGS:
            return "Microsoft.Insights/diagnosticSettings"
        return f"{REGISTRY_TYPE}/{self.kind}"

    @property
    def route(self) -> str:
        return "operation" if self.operation_id else self.kind
