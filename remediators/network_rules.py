"""The network_rules rule's logic; what it checks and why is in network_rules.json.

The allow-list's validation, the Resource Graph predicate, and the merge or replacement of the IP
rules.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated, Any, Literal

from msgspec import Meta, field

from remediators import ipranges
from remediators.base import PUBLIC_NETWORK_ACCESS, Rule, public_access
from remediators.fields import AllOf, AnyOf, Condition, Exactly, Field, kusto_text, raw
from remediators.verdict import Evaluation, FieldError, RuleConfig, Status


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


DEFAULT_ACTION = Field("properties.networkRuleSet.defaultAction")
IP_RULES = "properties.networkRuleSet.ipRules"
BYPASS = Field("properties.networkRuleBypassOptions")
TASKS = Field("properties.networkRuleBypassAllowedForTasks")


@lru_cache(maxsize=64)
def _canonical(values: tuple[str, ...]) -> tuple[str, ...]:
    """The allow-list as sent (parsed once per policy, not once per registry evaluated)."""
    return tuple(ipranges.canonical_entry(v) for v in values)


def existing_rules(registry: Any) -> list[str]:
    """The registry's IP rules' values as ARM reports them (an element without one reads as "")."""
    rules = raw(registry, IP_RULES)
    return [kusto_text(raw(r, "value")) for r in rules] if isinstance(rules, list) else []


def shown(field: Field, registry: Any) -> str:
    """The value for a reason: as the document holds it, or that it is not set and ARM's default."""
    if field.is_set(registry):
        return kusto_text(raw(registry, field.path))
    return f"not set (ARM's default: {kusto_text(field.default)})"


class NetworkRules(Rule):
    Config = NetworkRulesConfig

    def settled(self, config: NetworkRulesConfig) -> Condition:  # type: ignore[override]
        """Public access disabled, or Deny with exactly the allow-list (canonical, in policy order)
        and the policy's bypasses: compliant under both ``keep`` and ``replace``. Any other spelling
        or order of the list is judged by ``check`` (a superset for Resource Graph, never a miss)."""
        firewall: list[Condition] = [
            DEFAULT_ACTION.among(["Deny"]),
            BYPASS.among([config.bypass]),
            Exactly(IP_RULES, "value", _canonical(tuple(config.allowed_ips))),
        ]
        if config.bypass_for_tasks is not None:
            firewall.append(TASKS.among([config.bypass_for_tasks]))
        return AnyOf((PUBLIC_NETWORK_ACCESS.among(["Disabled"]), AllOf(tuple(firewall))))

    def check(self, registry: Any, config: NetworkRulesConfig) -> Evaluation:  # type: ignore[override]
        action = DEFAULT_ACTION.canonical(registry, ("Allow", "Deny"))
        existing = existing_rules(registry)
        bypass = BYPASS.canonical(registry, ("AzureServices", "None"))
        before: dict[str, Any] = {
            "networkRuleSet": {
                "defaultAction": action,
                "ipRules": [{"action": "Allow", "value": v} for v in existing],
            },
            "networkRuleBypassOptions": bypass,
        }
        tasks = TASKS.canonical(registry, (True, False))
        if config.bypass_for_tasks is not None:
            before["networkRuleBypassAllowedForTasks"] = tasks
        if public_access(registry) == "Disabled":
            return self.result(
                Status.COMPLIANT,
                "public network access is disabled, which is stricter than a firewall",
                before={**before, "publicNetworkAccess": "Disabled"},
            )
        if self.settled(config).holds(registry):
            return self.result(
                Status.COMPLIANT, "firewall denies by default with the allowed IPs", before=before
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
        tasks_differ = config.bypass_for_tasks is not None and tasks is not config.bypass_for_tasks
        if tasks_differ:
            change["network_rule_bypass_allowed_for_tasks"] = config.bypass_for_tasks
            after["networkRuleBypassAllowedForTasks"] = config.bypass_for_tasks

        if change:
            what = []
            if action != "Deny":
                what.append(
                    f"default action is {shown(DEFAULT_ACTION, registry)}: every address on the internet "
                    "can reach the registry"
                )
            added, removed = len(want - have), len(have - want)
            if added or removed:
                what.append(f"allow-list differs from policy (+{added} / -{removed} rules)")
            if bypass != config.bypass:
                what.append(
                    f"trusted-services bypass is {shown(BYPASS, registry)}, policy wants {config.bypass}"
                )
            if tasks_differ:
                wanted = kusto_text(config.bypass_for_tasks)
                what.append(f"ACR Tasks bypass is {shown(TASKS, registry)}, policy wants {wanted}")
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
