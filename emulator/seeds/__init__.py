"""Shipped seeds (``demo.yaml``) and a deterministic generator of large estates for benchmarks."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from ..arm_paths import RegistryRef

DEMO_SEED = Path(__file__).with_name("demo.yaml")

# The allow-list of demo/policies.yaml (public addresses: the validator refuses documentation ranges).
COMPLIANT_IP_RULES = [
    {"action": "Allow", "value": "20.1.2.0/24"},
    {"action": "Allow", "value": "20.9.8.7"},
]


def generate(
    subscriptions: int = 10,
    per_subscription: int = 1000,
    drift_ratio: float = 0.01,
    seed: int = 0,
    *,
    resource_groups_per_subscription: int = 10,
) -> dict[str, Any]:
    """A seed with ``subscriptions * per_subscription`` registries, ``drift_ratio`` of them drifted.

    Deterministic for a given ``seed``. SKU mix 70 % Premium, 20 % Standard, 10 % Basic. Compliant
    Premium registries deny by default with the example allow-list; drifted ones have anonymous
    pull on and/or an open firewall (Standard: anonymous pull on). Drifted registries are never
    Basic (nothing to fix there). ``meta.drifted`` lists their resource IDs.
    """
    if subscriptions < 1 or per_subscription < 1:
        raise ValueError("subscriptions and per_subscription must be >= 1")
    if not 0.0 <= drift_ratio <= 1.0:
        raise ValueError("drift_ratio must be within [0, 1]")
    rng = random.Random(seed)
    plan: list[tuple[str, str, str, str]] = []
    for s in range(subscriptions):
        subscription = f"10000000-0000-0000-0000-{s:012d}"
        for r in range(per_subscription):
            group = f"rg-bench-{r % resource_groups_per_subscription:02d}"
            sku = rng.choices(("Premium", "Standard", "Basic"), weights=(70, 20, 10))[0]
            plan.append((subscription, group, f"bench{s:03d}reg{r:06d}", sku))

    fixable = [i for i, (*_, sku) in enumerate(plan) if sku != "Basic"]
    drift_count = min(len(fixable), round(len(plan) * drift_ratio))
    drifted = set(rng.sample(fixable, drift_count))

    registries: list[dict[str, Any]] = []
    drifted_ids: list[str] = []
    for index, (subscription, group, name, sku) in enumerate(plan):
        properties: dict[str, Any] = {"anonymousPullEnabled": False}
        if sku == "Premium":
            properties["networkRuleSet"] = {"defaultAction": "Deny", "ipRules": COMPLIANT_IP_RULES}
        if index in drifted:
            drifted_ids.append(RegistryRef(subscription, group, name).id)
            kind = rng.choice(("anonymous", "firewall", "both")) if sku == "Premium" else "anonymous"
            if kind in ("anonymous", "both"):
                properties["anonymousPullEnabled"] = True
            if kind in ("firewall", "both"):
                properties["networkRuleSet"] = {"defaultAction": "Allow", "ipRules": []}
        registries.append(
            {
                "subscription": subscription,
                "resource_group": group,
                "name": name,
                "sku": sku,
                "tags": {"env": "bench"},
                "properties": properties,
            }
        )
    return {
        "registries": registries,
        "meta": {
            "generator": "emulator.seeds.generate",
            "seed": seed,
            "subscriptions": [f"10000000-0000-0000-0000-{s:012d}" for s in range(subscriptions)],
            "drifted": drifted_ids,
        },
    }
