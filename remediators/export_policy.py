"""Exports off: images leave the registry only through the data plane (``docker pull``).

With ``policies.exportPolicy`` enabled, ``az acr import`` into another registry and ``acr
transfer`` copy artifacts out. ARM refuses to disable exports while public network access is
enabled, so this rule writes only once public access is already disabled (for instance by the
``public_network_access`` rule: its write comes back as an event, and the next pass fixes exports);
before that it is flagged with that reason. Azure Policy's audit asks for both, as this rule does.
Premium only (the export policy is a Premium feature).
"""

from __future__ import annotations

from typing import Any

from remediators.base import PREMIUM, Evaluation, Remediator, RuleConfig, Status, policy_status, public_access


class ExportPolicy(Remediator):
    name = "export_policy"
    severity = "medium"
    skus = PREMIUM
    default_enabled = False
    references = (
        "https://learn.microsoft.com/azure/container-registry/data-loss-prevention",
        "https://azure.github.io/PSRule.Rules.Azure/en/rules/Azure.ACR.ExportPolicy/",
    )
    azure_policy = ("524b0254-c285-4903-bee6-bb8126cde579",)
    psrule = ("Azure.ACR.ExportPolicy",)
    notes = (
        "Needs publicNetworkAccess Disabled first; blocks az acr import from this registry and acr transfer."
    )

    def kql_may_violate(self, config: RuleConfig) -> str | None:
        return self.kql_skus() + (
            "(not(tostring(properties.policies.exportPolicy.status) =~ 'disabled')"
            " or tostring(properties.publicNetworkAccess) != 'Disabled')"
        )

    def check(self, registry: Any, config: RuleConfig) -> Evaluation:
        status = policy_status(registry, "export_policy") or "enabled"
        access = public_access(registry)
        before = {"policies": {"exportPolicy": {"status": status}}, "publicNetworkAccess": access}
        if access != "Disabled":
            what = "exports are enabled" if status != "disabled" else "exports are disabled"
            return self.result(
                Status.FLAGGED,
                f"{what}, but public network access is enabled: ARM disables exports only once public "
                "access is disabled (enable the public_network_access rule, or disable it yourself)",
                before=before,
            )
        if status == "disabled":
            return self.result(
                Status.COMPLIANT, "exports and public network access are disabled", before=before
            )
        wanted = {"exportPolicy": {"status": "disabled"}}
        return self.result(
            Status.DRIFT,
            "exports are enabled: az acr import and acr transfer can copy images out of the registry",
            before=before,
            after={"policies": wanted},
            change={"policies": wanted},
        )
