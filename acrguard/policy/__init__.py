"""The policy file: ``model`` (what a policy holds and how a registry resolves against it),
``validate`` (strict conversion with key paths), ``text`` (bounded YAML reading), ``schema`` (the
generated policies.schema.json) and ``starter`` (``acrguard init``)."""

from acrguard.policy.model import (
    Policy,
    PolicyDocument,
    Resolution,
    load_policy,
    non_defaults,
    parse_policy,
)
from acrguard.policy.validate import PolicyError

__all__ = [
    "Policy",
    "PolicyDocument",
    "PolicyError",
    "Resolution",
    "load_policy",
    "non_defaults",
    "parse_policy",
]
