"""Anonymous pull lets anyone with network access pull every image without authenticating.

Azure Policy built-in "Container registries should have anonymous authentication disabled";
PSRule Azure.ACR.AnonymousAccess. The property exists on Standard and Premium only.
"""

from __future__ import annotations

from remediators.base import PropertyRule


class AnonymousPull(PropertyRule):
    name = "anonymous_pull"
    severity = "high"
    skus = frozenset({"Standard", "Premium"})
    references = (
        "https://learn.microsoft.com/azure/container-registry/anonymous-pull-access",
        "https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.ACR.AnonymousAccess/",
    )
    azure_policy = ("9f2dea28-e834-476c-99c5-3507b4728395", "cced2946-b08a-44fe-9fd9-e4ed8a779897")
    psrule = ("Azure.ACR.AnonymousAccess",)

    path = "properties.anonymousPullEnabled"
    wanted = False
    compliant = "anonymous pull is disabled"
    violation = "anonymous pull is enabled: anyone who can reach the registry can pull every image"
