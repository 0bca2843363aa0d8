"""Repository-scoped access tokens disabled, except the ones the policy names.

A token is a registry-local credential (a password, not an Entra identity): Azure Policy's audit
(ff05e24e) flags every ``registries/tokens`` child whose status is not ``disabled`` and its modify
twin (a9b426fe) sets it. ACR Guard does the same, one long-running PATCH per offending token,
except for the token names in ``allowed`` (a pipeline that still needs one). Opt-in: disabling a
token breaks every client that logs in with it. Every SKU: repository-scoped tokens left preview
for all service tiers (Learn, "Repository-scoped permissions"); only the preview was Premium-only.
"""

from __future__ import annotations

import re
from typing import Any

from msgspec import field

from remediators.base import (
    Children,
    ChildRule,
    ChildWrite,
    Evaluation,
    FieldError,
    RuleConfig,
    Status,
    plain,
)

#: ACR token names: 5 to 50 letters, digits and hyphens.
_TOKEN_NAME = re.compile(r"^[A-Za-z0-9-]{5,50}$")


class RepositoryTokensConfig(RuleConfig):
    allowed: list[str] = field(default_factory=list)  # token names that may stay enabled

    def __post_init__(self) -> None:
        bad = [
            (f"allowed[{i}]", f"{name!r} is not a token name (5-50 letters, digits and hyphens)")
            for i, name in enumerate(self.allowed)
            if not _TOKEN_NAME.match(name)
        ]
        if bad:
            raise FieldError.each(bad)


def token_status(token: Any) -> str:
    """A token's status in lower case; ARM's default (absent) is enabled."""
    status = plain((token.get("properties") or {}).get("status"))
    return str(status).lower() if status is not None else "enabled"


class RepositoryTokens(ChildRule):
    name = "repository_tokens"
    title = "Repository-scoped tokens disabled"
    severity = "medium"
    default_enabled = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/container-registry-token-based-repository-permissions",
    )
    azure_policy = ("ff05e24e-195c-447e-b322-5e90c9f9f366", "a9b426fe-8856-4945-8600-18c5dd1cca2a")
    notes = (
        "Disabling a token breaks every client that logs in with it: list the ones to keep in allowed, "
        "or run the rule in dry-run first. Lists the registry's tokens (one call) when enabled."
    )
    Config = RepositoryTokensConfig
    children = ("tokens",)
    child_actions = (
        "Microsoft.ContainerRegistry/registries/tokens/read",
        "Microsoft.ContainerRegistry/registries/tokens/write",
        # A token PATCH is long-running: its Azure-AsyncOperation status is read under tokens/.
        "Microsoft.ContainerRegistry/registries/tokens/operationStatuses/read",
    )
    event_operations = ("Microsoft.ContainerRegistry/registries/tokens/write",)

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
