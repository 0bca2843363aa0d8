"""Microsoft.Resources subscriptions: ``GET /subscriptions`` and ``GET /subscriptions/{id}``.

ACR Guard lists the subscriptions its identity can reach when the policy names none (ARM
"Subscriptions - List": every subscription where the caller holds a role assignment). Here the
visible subscriptions are those holding a registry plus those added explicitly (to have an empty
or a Disabled one). Documents follow api-version 2022-12-01; the list is paged like registries.

A subscription is *known* once added, or once a seed put a registry in it (it stays known when its
last registry is deleted). ARM answers 404 ``SubscriptionNotFound`` for any other one, also when
listing its registries: :meth:`SubscriptionDirectory.require`.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any, Literal

from .arm_registries import decode_skip_token, encode_skip_token
from .http_types import ArmError, Request, Response
from .identity import DEFAULT_TENANT_ID

SUBSCRIPTIONS_API_VERSIONS = ("2022-12-01", "2021-01-01", "2020-01-01", "2019-11-01", "2016-06-01")
SUBSCRIPTION_READ = "Microsoft.Resources/subscriptions/read"
SubscriptionState = Literal["Enabled", "Disabled", "Warned", "PastDue", "Deleted"]


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    display_name: str | None = None
    state: SubscriptionState = "Enabled"
    tenant_id: str = DEFAULT_TENANT_ID

    def document(self) -> dict[str, Any]:
        return {
            "id": f"/subscriptions/{self.subscription_id}",
            "authorizationSource": "RoleBased",
            "managedByTenants": [],
            "subscriptionId": self.subscription_id,
            "tenantId": self.tenant_id,
            "displayName": self.display_name or f"Subscription {self.subscription_id[-4:]}",
            "state": self.state,
            "subscriptionPolicies": {
                "locationPlacementId": "Public_2014-09-01",
                "quotaId": "PayAsYouGo_2014-09-01",
                "spendingLimit": "Off",
            },
        }


class SubscriptionDirectory:
    def __init__(self) -> None:
        self._explicit: dict[str, Subscription] = {}
        self._seeded: dict[str, str] = {}  # lower-cased -> as seeded, in seeding order
        self._lock = threading.Lock()

    def add(self, subscription: Subscription) -> Subscription:
        with self._lock:
            self._explicit[subscription.subscription_id.lower()] = subscription
        return subscription

    def clear(self) -> None:
        with self._lock:
            self._explicit.clear()
            self._seeded.clear()

    def remember(self, subscription_ids: list[str]) -> None:
        """Subscriptions a seed put registries in: they exist even once those are deleted."""
        with self._lock:
            for subscription_id in subscription_ids:
                self._seeded.setdefault(subscription_id.lower(), subscription_id)

    def require(self, subscription_id: str, registry_subscriptions: list[str]) -> None:
        """ARM's 404 ``SubscriptionNotFound`` for a subscription this directory does not know."""
        key = subscription_id.lower()
        with self._lock:
            known = key in self._explicit or key in self._seeded
        if not known and key not in {s.lower() for s in registry_subscriptions}:
            raise _not_found(subscription_id)

    def visible(self, registry_subscriptions: list[str]) -> list[Subscription]:
        """Explicit subscriptions first (in the order added), then those implied by registries, then
        seeded ones whose registries are all gone."""
        with self._lock:
            found = dict(self._explicit)
            seeded = list(self._seeded.values())
        for subscription_id in [*registry_subscriptions, *seeded]:
            found.setdefault(subscription_id.lower(), Subscription(subscription_id))
        return list(found.values())

    def handle(
        self, request: Request, subscription_id: str | None, registry_subscriptions: list[str], page_size: int
    ) -> Response:
        visible = self.visible(registry_subscriptions)
        if subscription_id is not None:
            for subscription in visible:
                if subscription.subscription_id.lower() == subscription_id.lower():
                    return Response.json(200, subscription.document())
            raise _not_found(subscription_id)
        offset = decode_skip_token(request.param("$skipToken"))
        page = visible[offset : offset + page_size]
        payload: dict[str, Any] = {
            "value": [subscription.document() for subscription in page],
            "count": {"type": "Total", "value": len(visible)},
        }
        if offset + len(page) < len(visible):
            payload["nextLink"] = (
                f"{request.origin}/subscriptions?api-version={request.param('api-version')}"
                f"&%24skipToken={encode_skip_token(offset + len(page))}"
            )
        return Response.json(200, payload)


def _not_found(subscription_id: str) -> ArmError:
    return ArmError(404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found.")
