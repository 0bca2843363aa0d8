"""The policy as one Resource Graph query: only registries that may violate it come back.

Each rule states a conservative KQL predicate (``Rule.kql_may_violate``): true for every
registry it could find drifted, flagged or blocked. It is the negation of the condition the rule's
check itself uses to answer "nothing to do" (``settled``, remediators/fields.py), read from the same
fields with the same defaults and enum casing, so the query cannot miss what ``plan()`` fixes. The query ORs the predicates of every rule
enabled in the base rules or in any override (an override may enable a rule, or configure it
differently, for some registries: the union covers them all). One rule that cannot say (None)
turns the policy filter off, so a new rule without a predicate is swept everywhere, never missed.

Exact filters only for scope: ``scope.subscriptions`` and ``exempt.registries`` compare resource
IDs case-insensitively, which ``in~`` does exactly. Exemption *tags* are not pushed down: ARG's tag
names are case-sensitive where the policy's are not, so those registries come back and are reported
exempt as before. tests/reliability/test_pushdown.py proves with hypothesis that a registry the query leaves
out is compliant (or skipped) under :func:`acrguard.plan.plan`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import dry_run_everywhere, rules_by_name
from acrguard.run_mode import POLICY_DECIDES, RunMode

if TYPE_CHECKING:
    from acrguard.policy import Policy

REGISTRY_TYPE = "microsoft.containerregistry/registries"
#: The columns Registry.deserialize reads (plus ``id``, which ARG needs to page).
COLUMNS = ("id", "name", "type", "location", "tags", "sku", "identity", "properties")


def policy_predicate(policy: Policy) -> str | None:
    """The KQL predicate selecting registries that may violate ``policy``; None: every registry."""
    return _predicate(policy, writers_under=None)


def write_predicate(policy: Policy, run: RunMode) -> str | None:
    """The predicate selecting registries that a rule may *write* to under ``policy`` ("false":
    nothing can be written; None: every registry may be).

    Only fixing rules that can run in enforce mode count: a rule in dry-run for every registry
    (:func:`acrguard.plan.dry_run_everywhere`) writes nowhere; a dry-run stated only in an
    override still counts (a superset).
    """
    if dry_run_everywhere(policy, run):
        return "false"
    return _predicate(policy, writers_under=run)


def _predicate(policy: Policy, *, writers_under: RunMode | None) -> str | None:
    """Every enabled rule's predicate ORed; with ``writers_under``, only the rules that may write
    under that run mode."""
    parts: list[str] = []
    for name, rule in rules_by_name().items():
        run = writers_under
        if run is not None and (not rule.fixes or dry_run_everywhere(policy, run, name)):
            continue
        for rules in (policy.rules, *policy.override_rules):
            config = rules.get(name)
            if config is None or not config.enabled:
                continue
            predicate = rule.kql_may_violate(config)
            if predicate is None:
                return None
            if predicate not in parts:
                parts.append(predicate)
    return " or ".join(f"({p})" for p in parts) if parts else "false"


def scope_filters(policy: Policy) -> list[str]:
    """Exact scope filters: the policy's subscriptions, the registries it exempts by ID."""
    filters = []
    if policy.subscriptions:
        filters.append(f"subscriptionId in~ ({_strings(s.lower() for s in policy.subscriptions)})")
    # Only exemptions that never end and cover every rule: one with an ``until`` must come back
    # (it may have expired), one for some rules still leaves the others to decide.
    exempt = [e if isinstance(e, str) else e.id for e in policy.doc.exempt.registries if permanent(e)]
    if exempt:
        ids = (RegistryRef.parse(r).resource_id for r in exempt)
        filters.append(f"not(id in~ ({_strings(ids)}))")
    return filters


def permanent(entry: Any) -> bool:
    """An ``exempt.registries`` entry that exempts every rule for good (a bare ID is one)."""
    return isinstance(entry, str) or (entry.until is None and not entry.rules)


def query(policy: Policy) -> str:
    """The whole query for the whole policy."""
    return select(policy, policy_predicate(policy))


def select(policy: Policy, predicate: str | None) -> str:
    """The query for registries in scope matching ``predicate`` (None: all of them)."""
    lines = ["resources", f"| where type =~ '{REGISTRY_TYPE}'"]
    lines += [f"| where {f}" for f in scope_filters(policy)]
    if predicate is not None:
        lines.append(f"| where {predicate}")
    lines.append("| project " + ", ".join(COLUMNS))
    return "\n".join(lines)


def phases(policy: Policy, run: RunMode = POLICY_DECIDES) -> tuple[str | None, str | None]:
    """(fix query, report query): the registries a rule may write to, then every registry that may
    violate the policy. None: the phase has nothing to find. The report query repeats the fix
    phase's registries (KQL's ``not()`` of a null is null, so excluding them in the query could
    drop a registry from both); the sweep skips the IDs it has already decided."""
    writes, everything = write_predicate(policy, run), policy_predicate(policy)
    fix = None if writes == "false" else select(policy, writes)
    covered = writes is None or everything in (writes, "false")
    return fix, None if covered else select(policy, everything)


def _strings(values: object) -> str:
    return ", ".join("'" + str(v).replace("\\", "\\\\").replace("'", "\\'") + "'" for v in values)  # type: ignore[attr-defined]
