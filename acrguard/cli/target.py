"""Which registry a command line names: RESOURCE_ID, or -n/-g/--subscription as ``az acr`` takes them,
resolved with usage errors first and one lookup by name, never a guess."""

from __future__ import annotations

import inspect
import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard.cli.params import argument, option, subscription_option
from acrguard.cli.run import CliError, Run

if TYPE_CHECKING:
    from acrguard.engine import Engine


_GUID = re.compile(r"^[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")

ResourceIdArg = Annotated[
    str | None,
    argument(metavar="RESOURCE_ID", help="Registry resource ID (or --name, as az acr takes it)."),
]
NameOpt = Annotated[
    str | None,
    option("--name", "-n", metavar="NAME", help="Registry name, instead of RESOURCE_ID."),
]
GroupOpt = Annotated[
    str | None,
    option("--resource-group", "-g", metavar="GROUP", help="Its resource group (with --name)."),
]


def _subscription_id(value: str | None) -> str | None:
    if value is not None and not _GUID.match(value):
        raise typer.BadParameter(
            f"{value!r} is not a subscription ID (a GUID: xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)"
        )
    return value.lower() if value else None


SubscriptionOpt = Annotated[
    str | None,
    subscription_option(
        help="Its subscription (with --name). Default: the policy's scope, else every visible one.",
        callback=_subscription_id,
    ),
]
#: RESOURCE_ID, -n, -g, -s: the parameters a ``target`` stands for (``@command`` puts them in its place).
_TARGET_PARAMS = [
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None, annotation=annotation)
    for name, annotation in (
        ("resource_id", ResourceIdArg),
        ("name", NameOpt),
        ("resource_group", GroupOpt),
        ("subscription", SubscriptionOpt),
    )
]
Target = tuple[str | None, str | None, str | None, str | None]  # (resource ID, name, group, subscription)
_NAME_CHARS = re.compile(r"^[A-Za-z0-9]{1,50}$")  # alphanumerics: how ACR names are written


def _id_form(name: str, subscription: str = "<subscription>", group: str = "<group>") -> str:
    return f"/subscriptions/{subscription}/resourceGroups/{group}/providers/Microsoft.ContainerRegistry/registries/{name}"


def _registry_ref(
    resource_id: str | None, name: str | None, group: str | None, subscription: str | None
) -> Any:
    """The registry when the command line names it fully (a resource ID, or -n with -g and
    --subscription), None when a name is to be looked up; a usage error, before any ARM call, else."""
    from acrguard.azure.resource_ids import RegistryRef

    if resource_id and name:
        raise typer.BadParameter("give RESOURCE_ID or --name, not both", param_hint="RESOURCE_ID")
    if name and not (group and subscription):
        return None  # looked up by name once there is an engine
    if name:
        resource_id = _id_form(name, str(subscription), str(group))
    elif group or subscription:
        raise typer.BadParameter("-g and --subscription go with -n NAME", param_hint="--name")
    shown = (resource_id or "").strip()
    hint = shown if _NAME_CHARS.match(shown) else "NAME"
    form = f"write {_id_form(hint)}, or -n {hint} [-g GROUP] [--subscription GUID] as az acr takes it"
    if not shown:
        raise typer.BadParameter(f"which registry? {form}", param_hint="RESOURCE_ID")
    try:
        return RegistryRef.parse(shown)
    except ValueError as exc:
        raise typer.BadParameter(f"{exc}; {form}", param_hint="--name" if name else "RESOURCE_ID") from None


def _target(
    run: Run, resource_id: str | None, name: str | None, group: str | None, subscription: str | None
) -> tuple[Engine, Any]:
    """The engine and the registry the command line names: usage errors first, then the lookup."""
    ref = _registry_ref(resource_id, name, group, subscription)
    engine = run.engine()
    return engine, ref or _by_name(engine, name or "", group, subscription)


def _by_name(engine: Engine, name: str, group: str | None, subscription: str | None) -> Any:
    """The one registry called ``name`` (in ``group``) in the scoped subscriptions' registry lists
    (the sweep's path). ACR names are unique across Azure, but two matches (emulated, or another
    cloud's data) are listed, never guessed between."""
    from acrguard.azure.arm import ArmError
    from acrguard.azure.resource_ids import RegistryRef

    try:
        subs = (
            [subscription]
            if subscription
            else list(engine.policy.subscriptions or engine.arm.list_subscriptions())
        )
        scoped = [
            s
            for s in subs
            if engine.policy.scope_reason(RegistryRef(s.lower(), "scope-check", "scopecheck")) is None
        ]
        found = []
        for sub in scoped:
            for registry in engine.arm.list_registries(sub):
                try:
                    ref = RegistryRef.parse(registry.id)
                except ValueError:
                    continue
                if ref.name.lower() == name.lower() and (
                    not group or ref.resource_group.lower() == group.lower()
                ):
                    found.append(ref)
    except ArmError as exc:
        raise CliError(str(exc), input=name) from None
    if len(found) == 1:
        return found[0]
    where = (f" in resource group {group}" if group else "") + (
        f" in subscription {', '.join(scoped)}" if len(scoped) == 1 else f" in {len(scoped)} subscriptions"
    )
    if not found:
        outside = (
            f" ({len(subs) - len(scoped)} out of the policy's scope not searched)"
            if len(scoped) < len(subs)
            else ""
        )
        raise CliError(
            f"no registry named {name}{where}{outside}; give its resource ID: {_id_form(name)}", input=name
        )
    listed = ", ".join(ref.resource_id for ref in found)
    raise CliError(
        f"{len(found)} registries named {name}{where}: {listed}; pick one with -g GROUP and --subscription GUID",
        input=name,
    )


def _read(engine: Engine, ref: Any, children: bool = False) -> Any:
    """The registry (with ``children``: and the child collections its enabled rules need, none for
    the default policy), read first so that a mistyped ID is an error here, not a "skipped" decision."""
    from acrguard.azure.arm import ArmError

    if engine.policy.scope_reason(ref) is not None:
        return (None, None) if children else None  # out of scope: never read
    try:
        registry = engine.arm.get(ref)
        return (registry, engine.children(ref, registry)) if children else registry
    except ArmError as exc:
        raise CliError(str(exc), input=ref.resource_id) from None
