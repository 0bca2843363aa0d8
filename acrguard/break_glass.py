"""Grant a time-boxed exemption: the registry's tags, in one PATCH of ``tags`` alone, one audit
record with the caller, and the notification that record triggers.

Used by ``acrguard exempt`` and by anything that must hold the guard off a registry for a while
first (``undo``). The PATCH body is ``{"tags": {...}}`` and nothing else, so no property of the
registry is ever sent; ARM replaces a resource's tags whole on PATCH, so every other tag is sent back
as read. The guard then hears its own write as an event like any other: the registry is exempt, so
that decision writes nothing and the write cannot loop.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from acrguard.audit import AuditRecord
from acrguard.policy.exemption import Exemption, exemption_tags, format_time

if TYPE_CHECKING:
    from acrguard.azure.resource_ids import RegistryRef
    from acrguard.engine import Engine

#: Azure's longest tag value (learn.microsoft.com/azure/azure-resource-manager/management/
#: tag-resources#limitations): a longer reason would be refused by ARM, so it is refused first.
MAX_TAG_VALUE = 256


@dataclass(frozen=True)
class Grant:
    """What was (or, in a dry run, would be) written, and its audit record."""

    registry: str
    until: datetime
    reason: str
    rules: tuple[str, ...]
    before: dict[str, str]  # the exemption's tags as they were (only those)
    after: dict[str, str]  # the exemption's tags as written
    written: bool
    record: AuditRecord

    def to_dict(self) -> dict[str, Any]:
        return {
            "registry": self.registry,
            "until": format_time(self.until),
            "reason": self.reason,
            "rules": list(self.rules) or None,
            "written": self.written,
            "before": self.before,
            "after": self.after,
            "record": self.record.to_dict(),
        }


def until_from(now: float, duration: timedelta) -> datetime:
    """When an exemption for ``duration`` from ``now`` ends, to the second (as tags show it)."""
    return datetime.fromtimestamp(int(now), UTC) + duration


def grant(
    engine: Engine,
    ref: RegistryRef,
    registry: Any,
    *,
    duration: timedelta,
    reason: str,
    rules: Iterable[str] = (),
    dry_run: bool,
    source: str = "cli",
) -> Grant:
    """Exempt ``registry`` (as just read) for ``duration`` from the engine's clock: write the tags
    (unless ``dry_run``), then audit and notify through the engine's audit. ARM errors propagate
    (acrguard.azure.arm's retries already ran)."""
    from acrguard.contract import WRITE_ACTION

    exempt = engine.policy.doc.exempt
    until = until_from(engine.clock.time(), duration)
    rules = tuple(sorted(set(rules)))
    current = dict(getattr(registry, "tags", None) or {})
    tags = exemption_tags(exempt, current, until, reason, rules)
    names = {k.casefold() for k in (*exempt.tags, exempt.until_tag, exempt.reason_tag, exempt.rules_tag)}
    ours = {k: v for k, v in tags.items() if k.casefold() in names}
    before = {k: v for k, v in current.items() if k.casefold() in names}
    caller: dict[str, str] = {}
    if not dry_run:

        def patch() -> Any:
            from azure.mgmt.containerregistry.models import RegistryUpdateParameters

            poller = engine.arm.client(ref.subscription_id).registries.begin_update(
                ref.resource_group,
                ref.name,
                RegistryUpdateParameters(tags=tags),  # tags only: no property is sent
                polling=engine.arm.polling(f"PATCH {ref} (tags)", engine.clock.monotonic()),
            )
            return poller.result()

        written = engine.arm.call(f"PATCH {ref} (tags)", WRITE_ACTION, ref, patch)
        caller = _caller(written)
    exemption = Exemption("tag", "exempt: tagged", frozenset(rules) or None, until, reason)
    what = f" for {', '.join(rules)}" if rules else ""
    record = AuditRecord(
        outcome="planned" if dry_run else "applied",
        registry=ref.resource_id,
        rule=rules[0] if len(rules) == 1 else None,
        reason=f"exemption{what} granted until {format_time(until)}: {reason}",
        mode="dry-run" if dry_run else "enforce",
        before=before or None,
        after=ours,
        caller=caller,
        source=source,
        state_from="arm",
        notes=[]
        if dry_run
        else [f"tags written; the guard reports {ref.name} and changes nothing until then"],
        **exemption.audit_fields(),
    )
    engine.audit.emit(record)
    return Grant(ref.resource_id, until, reason, rules, before, ours, not dry_run, record)


def _caller(written: Any) -> dict[str, str]:
    """Who wrote it, as ARM recorded it (the PATCH's ``systemData``): the credential's identity
    as Azure saw it, the same names an event's claims give the engine."""
    data = getattr(written, "system_data", None)
    who, kind = getattr(data, "last_modified_by", None), getattr(data, "last_modified_by_type", None)
    kind = getattr(kind, "value", kind)  # the SDK's enum, or the string ARM sent
    if not who:
        return {}
    caller = {"upn" if kind == "User" else "appid": str(who)}  # ARM names an app by its app ID
    if kind:
        caller["principal_type"] = str(kind)
    return caller
