"""The Azure contract shared with infra/: handled events, operations and RBAC actions, per rule.

``azure_contract.json`` holds a ``base`` (what every deployment needs) and one entry per rule, the
rule's own (its JSON file; acrguard/generate.py writes the contract). A deployment grants, and
listens for, the base plus the entries of the rules its policy enables: infra/ computes the same
union from its ``enabledRules`` parameter, which ``python -m acrguard.contract --enabled-rules
policies.yaml`` prints for a policy file.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from acrguard.policy import Policy

CONTRACT_FILE = Path(__file__).with_name("azure_contract.json")
CONTRACT: dict[str, Any] = json.loads(CONTRACT_FILE.read_text(encoding="utf-8"))
#: Every rule the contract knows, in order (the ``@allowed`` values of infra/'s ``enabledRules``).
RULES: tuple[str, ...] = tuple(CONTRACT["rules"])


def _union(key: str, rule_names: Iterable[str]) -> tuple[str, ...]:
    """``base[key]`` then each named rule's ``key`` entries, first occurrence kept (Bicep's union)."""
    names = list(rule_names)
    unknown = sorted(set(names) - set(RULES))
    if unknown:
        raise ValueError(
            f"rule(s) {', '.join(unknown)} not in {CONTRACT_FILE.name}; known rules: {', '.join(RULES)}"
        )
    merged = [*CONTRACT["base"][key], *(v for name in names for v in CONTRACT["rules"][name][key])]
    return tuple(dict.fromkeys(merged))


def role_actions(rule_names: Iterable[str]) -> tuple[str, ...]:
    """The custom role's actions for a deployment that enables ``rule_names``: base plus theirs."""
    return _union("roleActions", rule_names)


def operation_names(rule_names: Iterable[str]) -> tuple[str, ...]:
    """The Event Grid ``data.operationName`` values for ``rule_names``: base plus theirs."""
    return _union("operationNames", rule_names)


def workspace_actions(rule_names: Iterable[str]) -> tuple[str, ...]:
    """Actions granted on each destination Log Analytics workspace, never on the subscription:
    the enabled rules' ``workspaceActions`` (infra/modules/workspace-access.bicep)."""
    names = list(rule_names)
    _union("roleActions", names)  # the same unknown-rule error
    merged = [v for name in names for v in CONTRACT["rules"][name].get("workspaceActions", [])]
    return tuple(dict.fromkeys(merged))


def diagnostic_workspaces(policy: Policy) -> tuple[str, ...]:
    """The workspaces the diagnostic-settings rule sends to, in its base config or any override
    that enables it (infra/'s ``diagnosticWorkspaceIds``; sorted, each once)."""
    mappings = (policy.rules, *policy.override_rules)
    found = {
        str(cfg.workspace_id)
        for rules in mappings
        for name, cfg in rules.items()
        if name == "diagnostic_settings" and cfg.enabled and getattr(cfg, "workspace_id", None)
    }
    return tuple(sorted(found, key=str.lower))


def rules_enabled(policy: Policy) -> tuple[str, ...]:
    """Rules the policy enables anywhere: in its base rules or in any override (sorted).

    A rule enabled for one registry only still needs its permissions in the whole role.
    """
    mappings = (policy.rules, *policy.override_rules)
    return tuple(sorted({name for rules in mappings for name, cfg in rules.items() if cfg.enabled}))


def main(argv: Sequence[str] | None = None) -> int:
    """Print an infra/ parameter (a JSON array) derived from a policy file."""
    parser = argparse.ArgumentParser(
        prog="python -m acrguard.contract",
        description="Print the infra/ parameter enabledRules, or diagnosticWorkspaceIds, for a policy, as a JSON array.",
    )
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--enabled-rules", metavar="POLICY", help="the rules the policy enables")
    which.add_argument(
        "--diagnostic-workspaces", metavar="POLICY", help="the workspaces diagnostic_settings sends to"
    )
    args = parser.parse_args(argv)

    from acrguard.policy import PolicyError, load_policy  # the policy model imports every rule

    try:
        policy = load_policy(args.enabled_rules or args.diagnostic_workspaces)
    except (PolicyError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    values = rules_enabled(policy) if args.enabled_rules else diagnostic_workspaces(policy)
    print(json.dumps(list(values)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
