"""The repository_tokens rule's logic; what it checks and why is in repository_tokens.json.

The allowed token names, and one PATCH per enabled token the policy does not allow.
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import field

from remediators.base import ChildRule, plain
from remediators.verdict import Children, ChildWrite, Evaluation, FieldError, RuleConfig, Status

#: ACR token names: 5 to 50 letters, digits and hyphens.
_TOKEN_NAME = re.compile(r"[A-Za-z0-9-]{5,50}")


class RepositoryTokensConfig(RuleConfig):
    allowed: list[str] = field(default_factory=list)  # token names that may stay enabled

    def __post_init__(self) -> None:
        bad = [
            (f"allowed[{i}]", f"{name!r} is not a token name (5-50 letters, digits and hyphens)")
            for i, name in enumerate(self.allowed)
            if not _TOKEN_NAME.fullmatch(name)  # not match(): "$" also matches before a final "\n"
        ]
        if bad:
            raise FieldError.each(bad)


def token_status(token: Any) -> str:
    """A token's status in lower case; ARM's default (absent) is enabled."""
    status = plain((token.get("properties") or {}).get("status"))
    return str(status).lower() if status is not None else "enabled"


class RepositoryTokens(ChildRule):
    Config = RepositoryTokensConfig
    children = ("tokens",)

    def check_children(self, registry: Any, config: RuleConfig, children: Children) -> Evaluation:
        assert isinstance(config, RepositoryTokensConfig)
        allowed = {name.lower() for name in config.allowed}
        tokens = {str(t.get("name")): token_status(t) for t in children["tokens"]}
        before = {"tokens": tokens}
        enabled = sorted(name for name, status in tokens.items() if status != "disabled")
        offending = [name for name in enabled if name.lower() not in allowed]
        if not offending:
            kept = [name for name in enabled if name.lower() in allowed]
            reason = (
                f"only allowed tokens are enabled: {', '.join(kept)}"
                if kept
                else ("no repository-scoped token is enabled")
            )
            return self.result(Status.COMPLIANT, reason, before=before)
        return self.result(
            Status.DRIFT,
            f"{len(offending)} repository-scoped token(s) enabled and not allowed: {', '.join(offending)}",
            before=before,
            after={"tokens": dict.fromkeys(offending, "disabled")},
            writes=tuple(
                ChildWrite("tokens", name, {"properties": {"status": "disabled"}}) for name in offending
            ),
        )
