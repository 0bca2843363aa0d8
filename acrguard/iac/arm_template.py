"""ARM template JSON (what ``az bicep build`` writes) and its deployment parameter file.

Finds every ``Microsoft.ContainerRegistry/registries`` resource (top level, nested ``resources``,
or the symbolic-name ``resources`` object of languageVersion 2.0) and the child resources the rules
read (tokens, cache rules, replications, diagnostic settings as extension resources), evaluates
their expressions (acrguard/iac/expressions.py) with the parameter file's values, the parameters'
defaults and the variables, and builds the registry document ARM would return once deployed.

What the template leaves open stays :class:`~acrguard.iac.model.Unknown`. Nested deployments (Bicep
modules) are read with the parameters the outer template passes; a linked template is skipped, with why.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from acrguard.iac.expressions import ExpressionError, Scope, evaluate
from acrguard.iac.model import CHILD_TYPES, REGISTRY_TYPE, Found, IacError, Maybe, Unknown

PARAMETER_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "securestring": (str,),
    "int": (int,),
    "bool": (bool,),
    "object": (dict,),
    "secureobject": (dict,),
    "array": (list,),
}
_REGISTRY_TYPE_TEXT = re.compile(r'"type"\s*:\s*"Microsoft\.ContainerRegistry/registries"', re.IGNORECASE)


def is_template(doc: Any) -> bool:
    schema = str(doc.get("$schema", "")) if isinstance(doc, dict) else ""
    return isinstance(doc, dict) and ("deploymentTemplate" in schema or ("resources" in doc and not schema))


def is_parameter_file(doc: Any) -> bool:
    return isinstance(doc, dict) and "deploymentParameters" in str(doc.get("$schema", ""))


def read_parameters(path: Path, text: str) -> dict[str, Any]:
    """The values of a deployment parameter file, by name: IacError for anything else."""
    file = str(path)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IacError(file, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("parameters"), dict):
        raise IacError(
            file, 'not a deployment parameter file: expected {"parameters": {"<name>": {"value": ...}}}'
        )
    values: dict[str, Any] = {}
    for name, entry in doc["parameters"].items():
        if not isinstance(entry, dict) or not ({"value", "reference"} & set(entry)):
            raise IacError(file, f'parameters.{name}: expected {{"value": ...}} or {{"reference": ...}}')
        values[name] = (
            entry["value"] if "value" in entry else Unknown(f"parameter {name} is a Key Vault reference")
        )
    return values


class _Template:
    """One template's parameters and variables, evaluated on demand (a variable once, cycles refused)."""

    def __init__(
        self, file: str, doc: dict[str, Any], given: dict[str, Any], context: dict[str, Any]
    ) -> None:
        self.file = file
        self.doc = doc
        self.params = {k.lower(): (k, v) for k, v in _section(file, doc, "parameters").items()}
        self.vars = {k.lower(): (k, v) for k, v in _section(file, doc, "variables").items()}
        self.var_values: dict[str, Any] = {}
        self.evaluating: list[str] = []
        self.evaluating_params: list[str] = []
        self.param_values: dict[str, Any] = {}
        unknown_names = [n for n in given if n.lower() not in self.params]
        if unknown_names:
            declared = ", ".join(name for name, _ in self.params.values()) or "none"
            raise IacError(
                file,
                f"the parameter file sets {', '.join(unknown_names)}, which the template does not declare "
                f"(it declares: {declared}); is it the parameter file of another template?",
            )
        self.given = {n.lower(): v for n, v in given.items()}
        sub, group, location = context["subscription"], context["resource_group"], context["location"]
        rg_id = (
            Unknown("the resource group's ID (give --subscription and --resource-group)")
            if isinstance(sub, Unknown) or isinstance(group, Unknown)
            else f"/subscriptions/{sub}/resourceGroups/{group}"
        )
        self.scope = Scope(
            self.parameter,
            self.variable,
            {"id": rg_id, "name": group, "location": location, "type": "Microsoft.Resources/resourceGroups"},
            {"subscriptionId": sub, "id": sub if isinstance(sub, Unknown) else f"/subscriptions/{sub}"},
        )

    def _once(
        self,
        kind: str,
        name: str,
        declared_in: dict[str, tuple[str, Any]],
        values: dict[str, Any],
        evaluating: list[str],
        compute: Callable[[str, Any], Any],
    ) -> Any:
        """``parameters(name)`` or ``variables(name)``: declared, computed once, a cycle refused."""
        key = name.lower()
        if key not in declared_in:
            raise ExpressionError(f"{kind}s('{name}'): the template declares no such {kind}")
        if key in values:
            return values[key]
        declared, spec = declared_in[key]
        if key in evaluating:
            cycle = [declared_in[k][0] for k in evaluating[evaluating.index(key) :]] + [declared]
            raise IacError(self.file, f"{kind} {declared} refers to itself: {' -> '.join(cycle)}")
        evaluating.append(key)
        try:
            value = compute(declared, spec)
        finally:
            evaluating.pop()
        values[key] = value
        return value

    def parameter(self, name: str) -> Any:
        return self._once(
            "parameter", name, self.params, self.param_values, self.evaluating_params, self._parameter_value
        )

    def _parameter_value(self, declared: str, spec: Any) -> Any:
        key = declared.lower()
        spec = spec if isinstance(spec, dict) else {}
        if key in self.given:
            value = self.given[key]
        elif "defaultValue" in spec:
            value = self.evaluate(spec["defaultValue"], f"parameters.{declared}.defaultValue")
        else:
            value = Unknown(f"parameter {declared} has no value (give it in the --parameters file)")
        if not isinstance(value, Unknown):
            self.check_parameter(declared, spec, value, given=key in self.given)
        return value

    def check_parameter(self, name: str, spec: dict[str, Any], value: Any, given: bool) -> None:
        where = "the parameter file's value" if given else "its default"
        kind = str(spec.get("type", "")).lower()
        wanted = PARAMETER_TYPES.get(kind)
        if (wanted and not isinstance(value, wanted)) or (kind == "int" and isinstance(value, bool)):
            raise IacError(
                self.file,
                f"parameter {name} is of type {spec.get('type')}, {where} is {json.dumps(value)[:60]}",
            )
        allowed = spec.get("allowedValues")
        if isinstance(allowed, list) and value not in allowed:
            raise IacError(
                self.file, f"parameter {name}: {where} {json.dumps(value)[:60]} is not one of {allowed}"
            )

    def variable(self, name: str) -> Any:
        return self._once(
            "variable",
            name,
            self.vars,
            self.var_values,
            self.evaluating,
            lambda declared, spec: self.evaluate(spec, f"variables.{declared}"),
        )

    def evaluate(self, value: Any, where: str) -> Any:
        try:
            if isinstance(value, dict) and "copy" in value and where.startswith("variables."):
                return Unknown(f"{where} is built with copy")
            return evaluate(value, self.scope)
        except ExpressionError as exc:
            raise IacError(self.file, f"{where}: {exc}") from None


def _section(file: str, doc: dict[str, Any], key: str) -> dict[str, Any]:
    section = doc.get(key, {})
    if not isinstance(section, dict):
        raise IacError(file, f"{key}: expected an object, got {type(section).__name__}")
    return section


def _resources(file: str, value: Any, where: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(value, dict):  # languageVersion 2.0: symbolic names
        items = [(f"{where}.{name}", r) for name, r in value.items()]
    elif isinstance(value, list):
        items = [(f"{where}[{i}]", r) for i, r in enumerate(value)]
    else:
        raise IacError(file, f"{where}: expected an array (or an object of symbolic names)")
    for path, resource in items:
        if not isinstance(resource, dict) or not isinstance(resource.get("type"), str):
            raise IacError(file, f"{path}: a resource needs a type")
        yield path, resource


def read_template(
    path: Path, text: str, doc: dict[str, Any], given: dict[str, Any], context: dict[str, Any]
) -> tuple[list[Found], list[str]]:
    """The registries the template deploys (its nested deployments' too), and what was not read, with why."""
    file = str(path)
    lines = [text.count("\n", 0, m.start()) + 1 for m in _REGISTRY_TYPE_TEXT.finditer(text)]
    seen = [0]  # registry resources met, in the text's order: the index of the next one's line
    registries: list[Found] = []
    children: list[
        tuple[_Template, str, Any, dict[str, Any], str]
    ] = []  # collection, parent name, child, where
    skipped: list[str] = []
    endpoints: list[tuple[_Template, dict[str, Any], str]] = []

    def walk(template: _Template, resources: Any, where: str, parent: tuple[str, Any] | None) -> None:
        for at, resource in _resources(file, resources, where):
            kind = resource["type"]
            full = f"{parent[0]}/{kind}" if parent and "/" not in kind else kind  # nested: relative type
            lowered = full.lower()
            line = None
            if lowered == REGISTRY_TYPE:
                line = lines[seen[0]] if seen[0] < len(lines) else None
                seen[0] += 1
            if resource.get("existing") is True:  # languageVersion 2.0: a reference, not deployed here
                continue
            condition = template.evaluate(resource.get("condition", True), f"{at}.condition")
            if condition is False:
                continue
            if lowered == REGISTRY_TYPE:
                found = _registry(template, resource, at, line)
                if isinstance(condition, Unknown):
                    found.notes.append(f"deployed only if its condition holds ({condition.why})")
                if "copy" in resource:
                    found.notes.append("deployed in a copy loop: judged once, copyIndex() unknown")
                registries.append(found)
                if "resources" in resource:
                    walk(template, resource["resources"], f"{at}.resources", (full, found.ref["name"]))
            elif lowered in CHILD_TYPES or lowered.endswith("/providers/diagnosticsettings"):
                collection = CHILD_TYPES.get(lowered, "diagnosticSettings")
                children.append((template, collection, parent[1] if parent else None, resource, at))
            elif lowered == "microsoft.network/privateendpoints":
                endpoints.append((template, resource, at))
            elif lowered == "microsoft.resources/deployments":
                inner = _nested(template, resource, at)
                if isinstance(inner, str):
                    skipped.append(f"{file}: {at}: {inner}")
                else:
                    walk(inner, inner.doc.get("resources", []), f"{at}.properties.template.resources", None)
            elif "resources" in resource:
                walk(template, resource["resources"], f"{at}.resources", (full, None))

    top = _Template(file, doc, given, context)
    walk(top, doc.get("resources", []), "resources", None)
    for template, collection, parent, resource, at in children:
        _attach(template, registries, collection, parent, resource, at)
    for template, resource, at in endpoints:
        _connect(template, registries, resource, at)
    return registries, skipped


def _nested(outer: _Template, resource: dict[str, Any], at: str) -> _Template | str:
    """A nested deployment's template (what Bicep compiles a module to), with its parameters
    evaluated in the outer template and its own resource group; or why it is not read."""
    properties = resource.get("properties")
    if not isinstance(properties, dict) or not isinstance(properties.get("template"), dict):
        return "a linked deployment (templateLink) is not read; check its template on its own"
    scope = str(((properties.get("expressionEvaluationOptions") or {}).get("scope")) or "outer").lower()
    context = {
        "subscription": outer.evaluate(resource.get("subscriptionId"), f"{at}.subscriptionId")
        if "subscriptionId" in resource
        else outer.scope.subscription["subscriptionId"],
        "resource_group": outer.evaluate(resource.get("resourceGroup"), f"{at}.resourceGroup")
        if "resourceGroup" in resource
        else outer.scope.resource_group["name"],
        "location": outer.scope.resource_group["location"],
    }
    if scope != "inner":  # the nested template reads the outer one's parameters and variables
        nested = _Template(
            outer.file, {**outer.doc, "resources": properties["template"].get("resources", [])}, {}, context
        )
        nested.param_values, nested.var_values = outer.param_values, outer.var_values
        nested.given = outer.given
        return nested
    given: dict[str, Any] = {}
    for name, entry in (properties.get("parameters") or {}).items():
        if isinstance(entry, dict) and "value" in entry:
            given[name] = outer.evaluate(entry["value"], f"{at}.properties.parameters.{name}")
        else:
            given[name] = Unknown(f"module parameter {name} is a Key Vault reference")
    return _Template(outer.file, properties["template"], given, context)


def _registry(template: _Template, resource: dict[str, Any], at: str, line: int | None) -> Found:
    name = template.evaluate(resource.get("name"), f"{at}.name")
    document: dict[str, Any] = {"name": name, "type": "Microsoft.ContainerRegistry/registries"}
    for key in ("location", "tags", "sku", "identity", "properties"):
        if key in resource:
            document[key] = template.evaluate(resource[key], f"{at}.{key}")
    if isinstance(document.get("properties"), dict):  # read-only: ARM lists the endpoints' connections
        document["properties"].pop("privateEndpointConnections", None)
    sub = template.scope.subscription["subscriptionId"]
    group = template.scope.resource_group["name"]
    if not any(isinstance(v, Unknown) for v in (sub, group, name)):
        document["id"] = (
            f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"
        )
    symbol = (
        name
        if isinstance(name, str)
        else resource.get("name")
        if isinstance(resource.get("name"), str)
        else at
    )
    ref = {"subscription": sub, "resource_group": group, "name": name}
    return Found(template.file, line, str(symbol), ref, document)


def _attach(
    template: _Template,
    registries: list[Found],
    collection: str,
    parent: Any,
    resource: dict[str, Any],
    at: str,
) -> None:
    """Add one child resource to the registry it belongs to (its name's first segment, its
    parent resource, or the registry its ``scope`` names)."""
    name = template.evaluate(resource.get("name"), f"{at}.name")
    if parent is None:
        scope = template.evaluate(resource.get("scope"), f"{at}.scope") if "scope" in resource else None
        if isinstance(scope, str):
            match = re.search(r"microsoft\.containerregistry/registries/([^/]+)", scope, re.IGNORECASE)
            if not match:
                return  # a diagnostic setting of another kind of resource
            parent = match[1]
        elif isinstance(scope, Unknown):
            parent = scope
        elif isinstance(name, str) and "/" in name:
            parent = name.split("/")[0]
        else:
            parent = Unknown(f"{at}: which registry it belongs to")
    if isinstance(name, str):
        name = name.split("/")[-1]
    child = {
        "name": name,
        **{
            k: template.evaluate(resource[k], f"{at}.{k}")
            for k in ("location", "properties")
            if k in resource
        },
    }
    matches = [r for r in registries if _same_name(r.ref["name"], parent)]
    if not matches and isinstance(parent, str):  # a registry whose name is open may be the one named
        open_names = [r for r in registries if isinstance(r.ref["name"], Unknown)]
        if open_names:
            why = f"whether {at} belongs to this registry (its name is open)"
            matches, child = open_names, Maybe(why, child)
    if not matches and len(registries) == 1:
        matches = registries  # the template's one registry: the only place it can go
        if isinstance(parent, Unknown):
            registries[0].notes.append(f"{collection} {at} taken as this registry's ({parent.why})")
    elif not matches and isinstance(parent, Unknown):  # one of several: judged with and without it
        why = f"whether {at} belongs to this registry ({parent.why})"
        matches, child = registries, Maybe(why, child)
    for registry in matches:
        registry.children[collection].append(child)


def _connect(template: _Template, registries: list[Found], resource: dict[str, Any], at: str) -> None:
    """A private endpoint to a registry: its connection as the registry will list it. ARM approves
    a ``privateLinkServiceConnections`` entry at once; a manual one waits (Pending)."""
    properties = template.evaluate(resource.get("properties", {}), f"{at}.properties")
    if not isinstance(properties, dict):
        return
    for key, status in (
        ("privateLinkServiceConnections", "Approved"),
        ("manualPrivateLinkServiceConnections", "Pending"),
    ):
        for connection in properties.get(key) or []:
            target = (
                (connection.get("properties") or {}).get("privateLinkServiceId")
                if isinstance(connection, dict)
                else None
            )
            entry: Any = {"properties": {"privateLinkServiceConnectionState": {"status": status}}}
            if isinstance(target, str):
                match = re.search(r"microsoft\.containerregistry/registries/([^/]+)$", target, re.IGNORECASE)
                owners = [r for r in registries if match and _same_name(r.ref["name"], match[1])]
                if match and not owners:  # a registry whose name is open may be the one named
                    owners = [r for r in registries if isinstance(r.ref["name"], Unknown)]
                    entry = Maybe(f"whether {at} connects to this registry (its name is open)", entry)
            else:
                owners = registries if len(registries) == 1 else []
            for registry in owners:
                properties = registry.document.setdefault("properties", {})
                properties.setdefault("privateEndpointConnections", []).append(entry)


def _same_name(a: Any, b: Any) -> bool:
    return isinstance(a, str) and isinstance(b, str) and a.lower() == b.lower()
