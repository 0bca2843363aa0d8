"""A registry's child resources: list a collection, write one child. The I/O behind child rules.

:func:`acrguard.plan.plan` judges children it is handed; this module is where they come from, and
where a child rule's fix goes (a token's long-running PATCH, a diagnostic setting's PUT). Every
call runs under :class:`acrguard.azure.arm.Arm`'s one retry layer. Children come back as plain REST
documents (``{"name", "properties": {...}}``), the shape the rules and their tests read. Writes are
idempotent (a status set to ``disabled``, our own named setting replaced whole), so a retried
attempt sends the same body without harm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from acrguard.azure.arm import Arm
from acrguard.azure.errors import PermanentArmError, RegistryNotFound
from acrguard.azure.resource_ids import RegistryRef
from remediators import ChildWrite

_CR = "Microsoft.ContainerRegistry/registries"
_INSIGHTS = "Microsoft.Insights/diagnosticSettings"


def rest(model: Any) -> dict[str, Any]:
    """An SDK model as its REST document (msrest models serialise; the newer ones are mappings)."""
    if isinstance(model, Mapping):
        return dict(model.as_dict() if hasattr(model, "as_dict") else model)
    return model.serialize(keep_readonly=True)


def _lister(collection: str) -> Callable[[Arm, RegistryRef], Iterable[Any]]:
    def list_registry_children(arm: Arm, ref: RegistryRef) -> Iterable[Any]:
        operations = getattr(arm.client(ref.subscription_id), collection)
        return operations.list(ref.resource_group, ref.name)

    return list_registry_children


def _list_diagnostic_settings(arm: Arm, ref: RegistryRef) -> Iterable[Any]:
    found = arm.monitor_client(ref.subscription_id).diagnostic_settings.list(ref.resource_id)
    value = getattr(found, "value", None)  # a collection model in some versions, pages in others
    return value if value is not None else found


#: collection -> (how to list it, the RBAC action that needs)
_LIST: dict[str, tuple[Callable[[Arm, RegistryRef], Iterable[Any]], str]] = {
    "tokens": (_lister("tokens"), f"{_CR}/tokens/read"),
    "cacheRules": (_lister("cache_rules"), f"{_CR}/cacheRules/read"),
    "replications": (_lister("replications"), f"{_CR}/replications/read"),
    "diagnosticSettings": (_list_diagnostic_settings, f"{_INSIGHTS}/read"),
}


def list_children(arm: Arm, ref: RegistryRef, collections: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
    """Each named collection of the registry, one list call (all pages) per collection."""
    found = {}
    for collection in collections:
        lister, action = _LIST[collection]
        found[collection] = arm.call(
            f"LIST {ref}/{collection}", action, ref, lambda lister=lister: [rest(c) for c in lister(arm, ref)]
        )
    return found


class ChildNotFound(PermanentArmError):
    """404 on a child that was listed moments ago: someone deleted it (a deleted token is enabled
    for no one), not the registry, which ARM reports as ParentResourceNotFound."""


def write_child(arm: Arm, ref: RegistryRef, write: ChildWrite) -> dict[str, Any]:
    """Send one child rule's write; return the child as ARM answered it."""
    try:
        return _write_child(arm, ref, write)
    except RegistryNotFound as exc:
        if exc.code == "ParentResourceNotFound" or write.collection == "diagnosticSettings":
            raise  # the registry itself is gone (a PUT creates the setting: only its parent can be)
        raise ChildNotFound(
            f"{write.collection} {write.name} was not found: deleted after it was listed", 404, exc.code
        ) from None


def _write_child(arm: Arm, ref: RegistryRef, write: ChildWrite) -> dict[str, Any]:
    what = f"{'PUT' if write.collection == 'diagnosticSettings' else 'PATCH'} {ref}/{write.collection}/{write.name}"
    started = arm.clock.monotonic()
    if write.collection == "tokens":

        def patch_token() -> dict[str, Any]:
            poller = arm.client(ref.subscription_id).tokens.begin_update(
                ref.resource_group, ref.name, write.name, write.body, polling=arm.polling(what, started)
            )
            return rest(poller.result())

        return arm.call(what, f"{_CR}/tokens/write", ref, patch_token)
    if write.collection == "diagnosticSettings":
        settings = arm.monitor_client(ref.subscription_id).diagnostic_settings
        return arm.call(
            what,
            f"{_INSIGHTS}/write",
            ref,
            lambda: rest(settings.create_or_update(ref.resource_id, write.name, write.body)),
        )
    raise ValueError(f"no write is defined for {write.collection}")
