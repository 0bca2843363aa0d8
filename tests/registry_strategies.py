"""Hypothesis strategies shared by the property tests: registry states and valid policies.

A drawn :class:`State` is one registry as ARM's GET returns it (SKU, anonymous pull, admin user,
firewall with valid, broad, private, host-bit, duplicated or malformed rules near ACR's cap of 100,
bypass, provisioning state, public network access, private endpoints, the exemption tag);
:func:`policies` draws a policies.yaml the loader accepts, with the parsed :class:`Policy`.
:func:`decide` is the engine's own decision for a state (acrguard.plan.plan, no copy).
"""

from __future__ import annotations

import copy
import dataclasses
import ipaddress
import json
import random
from typing import Any

from azure.mgmt.containerregistry.models import Registry
from hypothesis import strategies as st

from acrguard.azure.resource_ids import RegistryRef
from acrguard.plan import Plan, plan
from acrguard.policy import Policy, parse_policy
from emulator import registry_document
from remediators import ipranges

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-props"
NAME = "contosoprops"
REF = RegistryRef(SUB, RG, NAME)


# --- strategies: registry states ---------------------------------------------------------------

EXAMPLE_RANGES = ["20.1.2.0/24", "20.9.8.7", "20.9.8.7/32", "20.9.9.10", "20.9.9.0/25"]  # public
BROAD = ["0.0.0.0/0", "1.0.0.0/4", "8.0.0.0/7", "64.0.0.0/3"]
PRIVATE = ["10.1.0.0/16", "192.168.1.1", "172.16.5.0/24", "100.64.0.1", "127.0.0.1"]
HOST_BITS = ["203.0.113.5/24", "198.51.100.9/30"]  # ARM accepts these (strict=False)
MALFORMED = ["not-an-ip", "2001:db8::/32", "300.1.1.1", "1.2.3.4/33", ""]  # ARM never returns these

public_ipv4 = st.integers(0, 2**32 - 1).map(lambda n: str(ipaddress.IPv4Address(n)))
public_cidr = st.tuples(st.integers(0, 2**32 - 1), st.integers(12, 32)).map(
    lambda t: str(ipaddress.IPv4Network((t[0], t[1]), strict=False))
)


def existing_rule(arm_valid: bool) -> st.SearchStrategy[str]:
    choices = [st.sampled_from(EXAMPLE_RANGES), st.sampled_from(BROAD), st.sampled_from(PRIVATE)]
    choices += [st.sampled_from(HOST_BITS), public_ipv4, public_cidr]
    if not arm_valid:
        choices.append(st.sampled_from(MALFORMED))
    return st.one_of(*choices)


@dataclasses.dataclass(frozen=True)
class State:
    sku: str
    anonymous_pull: bool
    admin_user: bool
    default_action: str | None  # None: no networkRuleSet at all
    rules: tuple[str, ...]
    bypass: str | None
    provisioning_state: str
    public_network_access: str
    private_endpoint: str | None  # None, Approved or Pending
    exempt_tag: bool

    def document(self) -> dict[str, Any]:
        """The registry as ARM's GET returns it."""
        doc = registry_document(
            subscription=SUB,
            resource_group=RG,
            name=NAME,
            sku=self.sku,
            tags={"acrguard": "exempt"} if self.exempt_tag else {"env": "test"},
        )
        props = doc["properties"]
        props.update(
            anonymousPullEnabled=self.anonymous_pull,
            adminUserEnabled=self.admin_user,
            provisioningState=self.provisioning_state,
            publicNetworkAccess=self.public_network_access,
        )
        if self.bypass is None:
            props.pop("networkRuleBypassOptions", None)
        else:
            props["networkRuleBypassOptions"] = self.bypass
        if self.default_action is None:
            props.pop("networkRuleSet", None)
        else:
            props["networkRuleSet"] = {
                "defaultAction": self.default_action,
                "ipRules": [{"action": "Allow", "value": v} for v in self.rules],
            }
        if self.private_endpoint:
            props["privateEndpointConnections"] = [
                {
                    "id": f"{REF.resource_id}/privateEndpointConnections/pe1",
                    "name": "pe1",
                    "properties": {"privateLinkServiceConnectionState": {"status": self.private_endpoint}},
                }
            ]
        return doc

    def properties_for_seed(self) -> dict[str, Any]:
        """What the emulator's seed accepts (private endpoints are read-only there)."""
        props = copy.deepcopy(self.document()["properties"])
        props.pop("privateEndpointConnections", None)
        return props


@st.composite
def states(draw: st.DrawFn, arm_valid: bool = False) -> State:
    """Registry states; ``arm_valid`` keeps to what ARM itself would accept and report."""
    sku = draw(st.sampled_from(["Basic", "Standard", "Premium"]))
    premium = sku == "Premium"
    rules: tuple[str, ...] = ()
    if premium:
        rules = tuple(draw(st.lists(existing_rule(arm_valid), max_size=6)))
        if draw(st.integers(0, 7)) == 0:  # near ACR's cap of 100: filler drawn from one seed (fast)
            filler = random.Random(draw(st.integers(0, 2**32))).sample(range(1, 250), 94)
            rules = tuple(f"203.0.{i}.0/24" if i < 113 else f"198.51.{i}.7" for i in filler) + rules
            rules = rules[:100] if arm_valid else rules
    default_action = draw(st.sampled_from(["Allow", "Deny"])) if premium else None
    if premium and not arm_valid and draw(st.integers(0, 9)) == 0:
        default_action, rules = None, ()  # a hand-written document without networkRuleSet
    return State(
        sku=sku,
        anonymous_pull=draw(st.booleans()) and (sku != "Basic" or not arm_valid),
        admin_user=draw(st.booleans()),
        default_action=default_action,
        rules=rules,
        bypass=draw(
            st.sampled_from(["AzureServices", "None", None] if not arm_valid else ["AzureServices", "None"])
        ),
        provisioning_state=draw(st.sampled_from(["Succeeded", "Updating", "Failed"])),
        public_network_access=draw(st.sampled_from(["Enabled", "Disabled"])) if premium else "Enabled",
        private_endpoint=None if arm_valid else draw(st.sampled_from([None, "Approved", "Pending"])),
        exempt_tag=draw(st.integers(0, 9)) == 0,
    )


# --- strategies: valid policies ----------------------------------------------------------------


@st.composite
def allow_lists(draw: st.DrawFn, min_prefix: int) -> list[str]:
    candidates = st.one_of(st.sampled_from(EXAMPLE_RANGES), public_ipv4, public_cidr)
    found: dict[str, str] = {}
    for value in draw(st.lists(candidates, max_size=6)):
        try:
            network = ipranges.parse(value)
        except ipranges.InvalidRange:
            continue
        if ipranges.public_problem(network, min_prefix) is None:
            found.setdefault(ipranges.key(value), value)
    return list(found.values())


@st.composite
def policies(draw: st.DrawFn) -> tuple[Policy, dict[str, Any]]:
    """A valid policy (the loader must accept it) and the document it was written from."""
    min_prefix = draw(st.sampled_from([8, 16, 24]))
    allowed = draw(allow_lists(min_prefix))
    mode = st.sampled_from([None, "dry-run", "enforce"])
    network: dict[str, Any] = {
        "enabled": draw(st.booleans()),
        "allowed_ips": allowed,
        "existing_rules": draw(st.sampled_from(["keep", "replace"])),
        "bypass": draw(st.sampled_from(["AzureServices", "None"])),
        "min_prefix_length": min_prefix,
        "allow_empty": not allowed or draw(st.booleans()),
    }
    rules: dict[str, Any] = {
        "anonymous_pull": {"enabled": draw(st.booleans())},
        "network_rules": network,
        "admin_user": {"enabled": draw(st.booleans())},
        "public_network_access": {
            "enabled": draw(st.booleans()),
            "allow_without_private_endpoint": draw(st.booleans()),
        },
    }
    for rule in rules.values():
        if (rule_mode := draw(mode)) is not None:
            rule["mode"] = rule_mode
    doc: dict[str, Any] = {
        "version": 1,
        "mode": draw(st.sampled_from(["enforce", "dry-run"])),
        "exempt": {"tags": {"acrguard": "exempt"}},
        "rules": rules,
    }
    if draw(st.booleans()):
        doc["overrides"] = [
            {
                "match": {"name": draw(st.sampled_from(["contoso*", "other*"]))},
                "rules": {"anonymous_pull": {"enabled": draw(st.booleans())}},
            }
        ]
    policy = parse_policy(json.dumps(doc), "generated.yaml")  # the operator's mode: RunMode, tests/policy
    return policy, doc


# --- the engine's decision: acrguard.plan.plan itself, no copy ---------------------------------


def decide(policy: Policy, doc: dict[str, Any]) -> Plan:
    """The engine's own decision for this state (acrguard.plan.plan, the function it writes from)."""
    return plan(policy, REF, Registry(copy.deepcopy(doc)))
