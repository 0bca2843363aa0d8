"""The remediators, one module each. Adding a rule means adding one module to this package.

Discovery imports every module here and collects ``Remediator`` subclasses, so the policy schema
(``rules:`` in policies.yaml) and the engine both follow from the modules present.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from remediators.base import Evaluation, Remediator, RuleConfig, Status

__all__ = ["Evaluation", "Remediator", "RuleConfig", "Status", "all_remediators"]


@cache
def all_remediators() -> tuple[Remediator, ...]:
    """Every remediator, instantiated once, in a stable (name) order."""
    found: dict[str, Remediator] = {}
    for module in pkgutil.iter_modules(__path__):
        mod = importlib.import_module(f"{__name__}.{module.name}")
        for obj in vars(mod).values():
            if isinstance(obj, type) and issubclass(obj, Remediator) and obj.__dict__.get("name"):
                if obj.name in found and type(found[obj.name]) is not obj:
                    raise RuntimeError(f"two remediators share the name {obj.name!r}")
                found[obj.name] = obj()
    return tuple(found[name] for name in sorted(found))
