"""The network_rules rule's logic; what it checks and why is in network_rules.json.

The allow-list's validation, the Resource Graph predicate, and the merge or replacement of the IP
rules.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from msgspec import Meta, field

from remediators import ipranges
from remediators.base import Evaluation, FieldError, Remediator, RuleConfig, Status, plain


class NetworkRulesConfig(RuleConfig):
    default_action: Literal["Deny"] = "Deny"
    # Shorter prefixes count as "open to (nearly) everyone".
    min_prefix_length: Annotated[int, Meta(ge=1, le=32)] = 8
    allowed_ips: list[str] = field(default_factory=list)
    existing_rules: Literal["keep", "replace"] = "keep"
    # Trusted Azure services (Defender for Containers scanning, ACR Tasks) reach a firewalled
    # registry only through this bypass, so AzureServices is the default.
    bypass: Literal["AzureServices", "None"] = "AzureServices"
    allow_empty: bool = False  # Deny with no allowed IP locks everyone out of the public endpoint
    # networkRuleBypassAllowedForTasks: since June 2025 ACR Tasks that use a system-assigned identity
    # reach a firewalled registry only with it true. None leaves the registry's value alone.
    bypass_for_tasks: bool | None = None

    def __post_init__(self) -> None:
        errors = _range_problems(tuple(self.allowed_ips), self.min_prefix_length)
        if errors:
            raise FieldError.each(errors)
        if self.enabled and not self.allowed_ips and not self.allow_empty:
            raise ValueError(
                "default_action Deny with an empty allowed_ips would lock every client out; "
                "list the allowed IPs, or set allow_empty: true if that is intended"
            )


@lru_cache(maxsize=64)
def _range_problems(values: tuple[str, ...], min_prefix: int) -> tuple[tuple[str, str], ...]:
    """Every entry that ACR would refuse or that would open the registry too widely, by key path.

    Cached: every override's merged rules carry the base allow-list again, so a policy with many
    overrides would otherwise check the same 200 entries once per override (23 s for 1,000).
    """
    seen: dict[str, str] = {}
    errors = []
    for index, value in enumerate(values):
        where = f"allowed_ips[{index}]"
        try:
            network = ipranges.parse(value)
        except ipranges.InvalidRange as exc:
            errors.append((where, str(exc)))
            continue
        problem = ipranges.public_problem(network, min_prefix)
        if problem:
            errors.append((where, problem))
        if str(network) in seen:
            errors.append((where, f"{ipranges.shown(value)} duplicates {ipranges.shown(seen[str(network)])}"))
        seen.setdefault(str(network), value)
    if len(values) > ipranges.MAX_IP_RULES:
        limit = f"{len(values)} entries exceed ACR's limit of {ipranges.MAX_IP_RULES} IP rules"
        errors.append(("allowed_ips", limit))
    return tuple(errors)


class NetworkRules(Remediator):
    Config = NetworkRulesConfig

    def kql_may_violate(self, config: NetworkRulesConfig) -> str | None:  # type: ignore[override]
        """Open, or not exactly the policy's list: a registry whose rules are exactly the allow-list
        (in ARM's JSON, in policy order) with Deny and the policy's bypass is compliant under both
        ``keep`` and ``replace``; any other spelling or order is swept (a superset, never a miss)."""
        import json

        rules = [{"action": "Allow", "value": ipranges.canonical_entry(v)} for v in config.allowed_ips]
        listed = json.dumps(rules, separators=(",", ":")).replace("\\", "\\\\").replace("'", "\\'")
        return (
            f"{self.kql_skus()}tostring(properties.publicNetworkAccess) != 'Disabled' and ("
            "tostring(properties.networkRuleSet.defaultAction) != 'Deny'"
            f" or tostring(properties.networkRuleBypassOptions) != '{config.bypass}'"
            f" or tostring(properties.networkRuleSet.ipRules) != '{listed}')"
        )

    def check(self, registry: Any, config: NetworkRulesConfig) -> Evaluation:  # type: ignore[override]
        rule_set = registry.network_rule_set
        action = plain(rule_set.default_action) if rule_set is not None else "Allow"
        existing = [plain(r.ip_address_or_range) for r in (rule_set.ip_rules or [])] if rule_set else []
        bypass = plain(registry.network_rule_bypass_options) or "AzureServices"
        before: dict[str, Any] = {
            "networkRuleSet": {
                "defaultAction": action,
                "ipRules": [{"action": "Allow", "value": v} for v in existing],
            },
            "networkRuleBypassOptions": bypass,
        }
        tasks = bool(registry.network_rule_bypass_allowed_for_tasks)
        if config.bypass_for_tasks is not None:
            before["networkRuleBypassAllowedForTasks"] = tasks
        if plain(registry.public_network_access) == "Disabled":
            return self.result(
                Status.COMPLIANT,
                "public network access is disabled, which is stricter than a firewall",
                before={**before, "publicNetworkAccess": "Disabled"},
            )

        desired = self._desired_rules(existing, config)
        broad = [v for v in desired if ipranges.is_broad(v, config.min_prefix_length)]
        notes = tuple(
            f"IP rule {v} opens the registry to a huge part of the internet; remove it "
            "(or use existing_rules: replace)"
            for v in broad
        )
        if len(desired) > ipranges.MAX_IP_RULES:
            return self.result(
                Status.BLOCKED,
                f"merging the allow-list would give {len(desired)} IP rules, over ACR's limit of "
                f"{ipranges.MAX_IP_RULES}; consolidate the registry's rules or use existing_rules: replace",
                before=before,
                notes=notes,
            )

        change: dict[str, Any] = {}
        after: dict[str, Any] = {}
        have, want = {ipranges.key(v) for v in existing}, {ipranges.key(v) for v in desired}
        if action != "Deny" or sorted(map(ipranges.key, existing)) != sorted(map(ipranges.key, desired)):
            # networkRuleSet is replaced as a whole by PATCH, so the full desired list is sent.
            from azure.mgmt.containerregistry.models import IPRule, NetworkRuleSet

            change["network_rule_set"] = NetworkRuleSet(
                default_action="Deny",
                ip_rules=[IPRule(action="Allow", ip_address_or_range=v) for v in desired],
            )
            after["networkRuleSet"] = {
                "defaultAction": "Deny",
                "ipRules": [{"action": "Allow", "value": v} for v in desired],
            }
        if bypass != config.bypass:
            change["network_rule_bypass_options"] = config.bypass
            after["networkRuleBypassOptions"] = config.bypass
        tasks_differ = config.bypass_for_tasks is not None and tasks != config.bypass_for_tasks
        if tasks_differ:
            change["network_rule_bypass_allowed_for_tasks"] = config.bypass_for_tasks
            after["networkRuleBypassAllowedForTasks"] = config.bypass_for_tasks

        if change:
            what = []
            if action != "Deny":
                what.append(
                    f"default action is {action}: every address on the internet can reach the registry"
                )
            added, removed = len(want - have), len(have - want)
            if added or removed:
                what.append(f"allow-list differs from policy (+{added} / -{removed} rules)")
            if bypass != config.bypass:
                what.append(f"trusted-services bypass is {bypass}, policy wants {config.bypass}")
            if tasks_differ:
                what.append(f"ACR Tasks bypass is {tasks}, policy wants {config.bypass_for_tasks}")
            return self.result(
                Status.DRIFT, "; ".join(what), before=before, after=after, change=change, notes=notes
            )
        if notes:
            return self.result(Status.FLAGGED, "; ".join(notes), before=before, notes=notes)
        return self.result(Status.COMPLIANT, "firewall denies by default with the allowed IPs", before=before)

    @staticmethod
    def _desired_rules(existing: list[str], config: NetworkRulesConfig) -> list[str]:
        """Existing rules first (order preserved, so 'keep' never reshuffles), then the missing ones.

        Canonical throughout: '192.0.2.10/32' from ARM is sent as '192.0.2.10' (the same rule).
        """
        base = [ipranges.canonical_entry(v) for v in existing] if config.existing_rules == "keep" else []
        have = {ipranges.key(v) for v in base}
        for value in config.allowed_ips:
            if ipranges.key(value) not in have:
                base.append(ipranges.canonical_entry(value))
                have.add(ipranges.key(value))
        return base
