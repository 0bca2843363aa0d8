"""The cache_rules rule's logic; what it checks and why is in cache_rules.json.

Which upstream sources a policy allows (fnmatch patterns), judged over the listed cacheRules.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from msgspec import field

from remediators.base import ChildRule
from remediators.verdict import Children, Evaluation, RuleConfig, Status


class CacheRulesConfig(RuleConfig):
    allowed_sources: list[str] = field(default_factory=list)  # upstream repositories (fnmatch patterns)


class CacheRules(ChildRule):
    Config = CacheRulesConfig
    children = ("cacheRules",)

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
