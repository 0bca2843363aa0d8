"""Artifact cache rules: a registry that pulls images from an upstream registry on demand.

Azure Policy 84497762 flags every ``registries/cacheRules`` child: a cache rule makes the registry
serve whatever the upstream repository publishes. Report only (deleting a cache rule breaks the
pulls that rely on it); ``allowed_sources`` lists the upstream repositories a policy accepts
(``docker.io/library/nginx``, or a pattern such as ``mcr.microsoft.com/*``). Every SKU has them.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from msgspec import field

from remediators.base import Children, ChildRule, Evaluation, RuleConfig, Status


class CacheRulesConfig(RuleConfig):
    allowed_sources: list[str] = field(default_factory=list)  # upstream repositories (fnmatch patterns)


class CacheRules(ChildRule):
    name = "cache_rules"
    title = "No cache rules from unapproved upstreams"
    severity = "low"
    default_enabled = False
    fixes = False
    references = ("https://learn.microsoft.com/azure/container-registry/container-registry-artifact-cache",)
    azure_policy = ("84497762-32b6-4ab3-80b6-732ea48b85a2",)
    notes = "Lists the registry's cache rules (one call) when enabled."
    Config = CacheRulesConfig
    children = ("cacheRules",)
    child_actions = ("Microsoft.ContainerRegistry/registries/cacheRules/read",)
    event_operations = ("Microsoft.ContainerRegistry/registries/cacheRules/write",)

    def check_children(self, registry: Any, config: RuleConfig, children: Children) -> Evaluation:
        assert isinstance(config, CacheRulesConfig)
        patterns = [p.lower() for p in config.allowed_sources]
        sources = {
            str(rule.get("name")): str((rule.get("properties") or {}).get("sourceRepository") or "")
            for rule in children["cacheRules"]
        }
        before = {"cacheRules": sources}
        unapproved = sorted(
            name
            for name, source in sources.items()
            if not any(fnmatchcase(source.lower(), p) for p in patterns)
        )
        if not unapproved:
            reason = "every cache rule pulls from an allowed source" if sources else "no cache rules"
            return self.result(Status.COMPLIANT, reason, before=before)
        listed = ", ".join(f"{name} ({sources[name] or 'no source'})" for name in unapproved)
        return self.result(
            Status.FLAGGED,
            f"cache rules pull from upstream repositories the policy does not allow: {listed}; "
            "add the source to allowed_sources or delete the rule",
            before=before,
        )
