"""A registry that ARM is creating, updating or deleting is not written while it is in that state.

The states are the REST spec's ``ProvisioningState`` (Creating, Updating, Deleting, Succeeded,
Failed, Canceled: Azure/azure-rest-api-specs,
specification/containerregistry/resource-manager/Microsoft.ContainerRegistry/Registry/stable/2025-11-01/containerregistry.json
at e10841fe5bd4efff452e04ca5f4a2685161b4a2d, ``definitions.ProvisioningState``; ``modelAsString``,
so compared without regard to case, as ARM and Azure Policy compare enums).

- **Deleting**: never written. The decision is a skip with the reason, from a list page or a
  Resource Graph row as well as from a read (no GET for a listed one: it is going away).
- **Creating / Updating**: someone else's operation is in flight and will replace what we would
  write on top of it. The read is retried (acrguard.azure.arm's retry layer: its backoff and attempts, on
  its clock and within the invocation's deadline) until the state ends, then decided; still in flight when the budget is
  spent, it is raised for redelivery (a TransientArmError), so nothing is lost. ACR Guard does not
  count on the operation's own write event to come back later: a redelivery re-reads either way.

The check belongs to the decision step (acrguard.engine.convergence, before a write is planned),
not to the PATCH path: a state that keeps us from writing is known before there is anything to send.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acrguard.azure.errors import InFlight
from acrguard.azure.resource_ids import READ_ACTION

if TYPE_CHECKING:
    from acrguard.azure.arm import Arm
    from acrguard.azure.resource_ids import RegistryRef

DELETING = "deleting"
IN_FLIGHT = frozenset({"creating", "updating"})


class BeingDeleted(Exception):
    """Raised by the decision step for a registry ARM is deleting: the engine records a skip."""

    def __init__(self, reason: str, state: str) -> None:
        super().__init__(reason)
        self.state = state


def state(registry: Any) -> str | None:
    """The registry's provisioningState as ARM spelled it (SDK model or list/Resource Graph row)."""
    value = getattr(registry, "provisioning_state", None)
    value = getattr(value, "value", value)  # an SDK enum member
    return str(value) if value else None


def deleting_reason(registry: Any) -> str | None:
    """Why a registry ARM is deleting is left alone; None when it is not being deleted."""
    current = state(registry)
    if current is None or current.lower() != DELETING:
        return None
    return f"the registry is being deleted (provisioningState {current}); nothing is written to it"


def check_not_deleting(registry: Any) -> None:
    """Raise :class:`BeingDeleted` for a registry ARM is deleting."""
    if reason := deleting_reason(registry):
        raise BeingDeleted(reason, state(registry) or DELETING)


def in_flight(registry: Any) -> str | None:
    """The state, when ARM is creating or updating the registry; None otherwise."""
    current = state(registry)
    return current if current is not None and current.lower() in IN_FLIGHT else None


def read_when_idle(arm: Arm, ref: RegistryRef) -> Any:
    """The registry once ARM is neither creating nor updating it: read again, under the ARM layer's
    attempts (its backoff and budget), while it is; still in flight, it is raised as a
    TransientArmError whose cause (InFlight) names the state."""
    for attempt in arm.attempts(f"GET {ref}", READ_ACTION, ref):
        with attempt:
            registry = arm.read(ref)
            if busy := in_flight(registry):
                raise InFlight(
                    f"{ref} is in provisioningState {busy} (an operation is in flight); "
                    "not writing to it until that ends",
                    busy,
                )
    return registry
