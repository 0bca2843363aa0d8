"""The remediators, one module each. Adding a rule means adding one module to this package.

A rule module is named after its rule (``anonymous_pull.py`` defines the rule ``anonymous_pull``)
and defines exactly that one ``Remediator``; the helper modules (``base``, ``ipranges``) define
none. Discovery checks both, so a helper is never taken for a rule and a misnamed rule fails at
import, not silently. The policy schema (``rules:``) and the engine follow from the modules present.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from remediators.base import Evaluation, Remediator, RuleConfig, Status

__all__ = ["Evaluation", "Remediator", "RuleConfig", "Status", "all_remediators"]


#: Modules that hold shared code, not rules.
HELPERS = frozenset({"base", "ipranges"})


@cache
def all_remediators() -> tuple[Remediator, ...]:
    """Every remediator, instantiated once, in a stable (name) order."""
    found: list[Remediator] = []
    for module in pkgutil.iter_modules(__path__):
        if module.name in HELPERS or module.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{module.name}")
        rules = [
            obj
            for obj in vars(mod).values()
            if isinstance(obj, type)
            and issubclass(obj, Remediator)
            and obj.__module__ == mod.__name__
            and obj.__dict__.get("name")
        ]
        if [r.name for r in rules] != [module.name]:
            raise RuntimeError(
                f"remediators/{module.name}.py must define exactly one rule named {module.name!r}, "
                f"found {[r.name for r in rules]}"
            )
        found.append(rules[0]())
    return tuple(sorted(found, key=lambda r: r.name))
