"""The emulator answers like ARM for a subscription it does not know: 404 ``SubscriptionNotFound``,
also when listing its registries. Real SDK client, real HTTPS."""

from __future__ import annotations

import pytest
from azure.core.exceptions import ResourceNotFoundError
from engine_helpers import DEMO_SEED, SUB_A, rid

SUB_C = "00000000-0000-0000-0000-00000000cccc"
UNKNOWN = "00000000-0000-0000-0000-0000000d0d0d"


def _names(client) -> list[str]:
    return [r.name for r in client.registries.list()]


def test_listing_the_registries_of_an_unknown_subscription_is_subscription_not_found(emu, arm_client):
    """Listing the registries of a subscription nobody added is ARM's SubscriptionNotFound, not an
    empty list."""
    emu.seed(DEMO_SEED)
    with pytest.raises(ResourceNotFoundError) as raised:
        _names(arm_client(UNKNOWN))
    assert raised.value.error.code == "SubscriptionNotFound"
    assert UNKNOWN in raised.value.error.message
    assert emu.requests_for(route="list")[0].status == 404
    with pytest.raises(ResourceNotFoundError):  # by resource group too
        list(arm_client(UNKNOWN).registries.list_by_resource_group("rg-platform"))


def test_known_subscriptions_without_registries_list_empty(emu, arm_client):
    """Added subscriptions, and seeded ones whose registries are all deleted, exist."""
    emu.add_subscription(SUB_C)
    assert _names(arm_client(SUB_C)) == []
    emu.seed(DEMO_SEED)
    for registry in emu.registries():
        if registry["id"].lower().startswith(f"/subscriptions/{SUB_A}"):
            emu.remove_registry(registry["id"])
    assert _names(arm_client(SUB_A)) == []
    assert emu.get_registry(rid("contosoprod")) is None
    emu.reset()
    with pytest.raises(ResourceNotFoundError):  # reset forgets them
        _names(arm_client(SUB_A))
