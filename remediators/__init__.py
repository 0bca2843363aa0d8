"""The rules, one ``<name>.json`` each. Adding a rule means adding its JSON file to this package.

``<name>.json`` holds the rule's metadata and why it exists (remediators/spec.py validates it). A
rule that asks one property for one value declares that check in the JSON (a ``property`` or
``report`` block) and needs no code; a rule with logic adds ``<name>.py`` beside it, defining
exactly one ``Rule`` (its logic and its ``Config``). The helper modules (``base``,
``ipranges``, ``spec``) define none. Discovery checks all three ways of getting it wrong: a
``.py`` without its ``.json``, a module with no rule or two, a JSON named after a helper. The JSON
also holds what the rule needs from Azure (its RBAC actions, the Event Grid operations it reacts
to): the Azure contract infra/ reads is generated from it (``make generate``). The policy schema
(``rules:``) and the engine follow from the files present. Nothing here imports ``acrguard``: the
rules are below the service that runs them.
"""

from __future__ import annotations

import importlib
import os
import types
from functools import cache
from pathlib import Path

from remediators.base import PropertyRule, ReportRule, Rule, sku_name
from remediators.spec import HELPERS, RuleSpec, RuleSpecError
from remediators.spec import load as load_spec
from remediators.verdict import Children, ChildWrite, Evaluation, FieldError, Mode, RuleConfig, Status

#: What the service uses of the rules: it imports these from here, never from the modules.
__all__ = [
    "ChildWrite",
    "Children",
    "Evaluation",
    "FieldError",
    "Mode",
    "Rule",
    "RuleConfig",
    "Status",
    "all_rules",
    "discover",
    "sku_name",
]


@cache
def all_rules() -> tuple[Rule, ...]:
    """Every rule, instantiated once, in a stable (name) order."""
    return discover(__name__, Path(__path__[0]))


def discover(package: str, directory: Path) -> tuple[Rule, ...]:
    """The rules of ``package`` (files in ``directory``): one per ``<name>.json``, in name order."""
    files = set(os.listdir(directory))
    for file in sorted(files):
        stem, _, ext = file.partition(".")
        if ext == "py" and stem not in HELPERS and not stem.startswith("_") and f"{stem}.json" not in files:
            raise RuleSpecError(
                f"{directory.name}/{file} has no {stem}.json: a rule module needs its metadata file "
                f"(a helper module is one of {', '.join(sorted(HELPERS))})"
            )
    found = []
    for file in sorted(files):
        name, _, ext = file.partition(".")
        if ext != "json":
            continue
        if name in HELPERS:
            raise RuleSpecError(f"{directory.name}/{file}: {name} is a helper module, not a rule")
        where = f"{directory.name}/{name}"
        if f"{name}.py" in files:  # the module's class reads its JSON when it is created
            rule = _module_rule(package, name, where)
        else:
            rule = _declared_rule(name, load_spec(name, directory), where)
        found.append(rule())
    return tuple(found)


def _module_rule(package: str, name: str, where: str) -> type[Rule]:
    """The one rule class ``<name>.py`` defines (it got its metadata from ``<name>.json``)."""
    module = importlib.import_module(f"{package}.{name}")
    rules = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type) and issubclass(obj, Rule) and obj.__module__ == module.__name__
    ]
    if len(rules) != 1:
        raise RuleSpecError(
            f"{where}.py must define exactly one rule (a Rule subclass), found {[r.__name__ for r in rules]}"
        )
    return rules[0]


def _declared_rule(name: str, spec: RuleSpec, where: str) -> type[Rule]:
    """A JSON-only rule's class: PropertyRule (or ReportRule) with the JSON's check."""
    check = spec.declared()
    if check is None or not (check.compliant and check.violation):
        raise RuleSpecError(
            f"{where}.json: a rule without {name}.py needs a property or report block "
            "with path, wanted, compliant and violation"
        )
    base = ReportRule if spec.report is not None else PropertyRule
    class_name = "".join(part.capitalize() for part in name.split("_"))
    return types.new_class(
        class_name, (base,), {"spec": spec, "rule": name}, lambda ns: ns.update(__module__=__name__)
    )
