"""A local stand-in for the Azure endpoints ACR Guard calls, driven by the unmodified Azure SDK.

- ARM, Microsoft.ContainerRegistry/registries (GET, list, PUT, PATCH, DELETE, async operations)
- a registry's tokens, cache rules, replications and Microsoft.Insights diagnostic settings
- the App Service managed-identity endpoint (what ManagedIdentityCredential uses)
- an Event Grid custom topic's publish endpoint
- ARM write events (ResourceWriteSuccess / ResourceDeleteSuccess) delivered to sinks

See docs/EMULATOR.md. Never imported by the deployed app or the engine.
"""

from .arm_paths import RegistryRef
from .event_delivery import RESOURCE_DELETE_SUCCESS, RESOURCE_WRITE_SUCCESS, Sink, to_cloudevent
from .faults import Fault, exponential_latency
from .identity import DEV_USER, FUNCTION_APP_IDENTITY, Principal
from .lro import LroMode
from .observability import Counters, RequestRecord
from .registry_documents import registry_document
from .seeding import SeedError, load_seed
from .server import UNSET_ENV_VARS, Emulator

__all__ = [
    "DEV_USER",
    "FUNCTION_APP_IDENTITY",
    "RESOURCE_DELETE_SUCCESS",
    "RESOURCE_WRITE_SUCCESS",
    "UNSET_ENV_VARS",
    "Counters",
    "Emulator",
    "Fault",
    "LroMode",
    "Principal",
    "RegistryRef",
    "RequestRecord",
    "SeedError",
    "Sink",
    "exponential_latency",
    "load_seed",
    "registry_document",
    "to_cloudevent",
]
