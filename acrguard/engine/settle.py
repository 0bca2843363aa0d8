"""When the registry's IP rule list has been quiet long enough to be replaced.

Registries have no ETag, so a PATCH of ``networkRuleSet`` (the whole list) cannot be conditional:
a rule someone adds between our read and our write would be dropped. People add rules in bursts
(``az acr network-rule add`` is a GET and a PATCH, often run a few times in a row), so the engine
writes the list only once it has been quiet for ``ACRGUARD_SETTLE_S``, from a read taken then.
Nothing else waits: a change that replaces no list cannot drop anything.

How quiet is judged. ``systemData.lastModifiedAt`` says when *something* last changed, not what:
ARM's ``systemData`` is metadata on the creation and last modification of the resource as a whole
(Azure/bicep-types-az, generated/containerregistry/microsoft.containerregistry/*/types.md), with
no time per property.
The first read has no earlier list to compare with, so the list may have changed as late as that
instant: the first decision waits until ``lastModifiedAt + settle_s``. Each later read (after a
wait, or our own PATCH's answer) is compared with the list read before it. An equal
``networkRuleSet`` (same defaultAction, same rules in the same order) means the list did not change
in between: a newer ``lastModifiedAt`` was a write elsewhere (a tag, the admin user, our own
anonymous-pull PATCH) and does not restart the wait. A different list restarts it from that read's
``lastModifiedAt``, the latest instant the change can have happened.

Why no person's rule is dropped by this: a rule reaches the list only through a PATCH that changes
``networkRuleSet``, so any such write between two of our reads makes the second read differ and
restarts the wait exactly as the old rule (any change restarts it) did. What no longer holds the
list back is a write that left the list as it was. The residual windows are in the README's Safety
section: a rule added and removed again between two of our reads looks like no change, and a
person's non-list write no longer hints that they may be about to touch the list.
"""

from __future__ import annotations

from typing import Any

from acrguard.azure.errors import TransientArmError

#: How many times the list's PATCH is put off while the list keeps changing before its rule is
#: flagged and the event raised for redelivery: a person adding rules one at a time, each a few
#: seconds apart, gets this many quiet periods to finish (the retry budget bounds them too).
MAX_DEFERRALS = 6

_UNREAD = object()


class ListQuiet:
    """Tracks one write's reads of a registry: since when its IP rule list has been unchanged."""

    def __init__(self, settle_s: float) -> None:
        self.settle_s = settle_s
        self._list: Any = _UNREAD  # networkRuleSet as last read
        self._since: float | None = None  # the latest instant that list can have been written
        self.changed_by: str | None = None  # who wrote the registry when the list last changed

    def wait_s(self, registry: Any, now: float) -> float:
        """Seconds until the list has been quiet for ``settle_s`` (0: replace it now), given
        ``registry`` as just read or as our PATCH returned it. A registry without ``systemData``
        (ARM always returns it) is not waited for."""
        rule_set = getattr(registry, "network_rule_set", None)
        as_read = rule_set.as_dict() if rule_set is not None else None
        system = getattr(registry, "system_data", None)
        modified = getattr(system, "last_modified_at", None)
        if as_read != self._list:
            self._list = as_read
            if modified is not None:
                stamp = modified.timestamp()
                self._since = stamp if self._since is None else max(self._since, stamp)
                self.changed_by = getattr(system, "last_modified_by", None)
        if self.settle_s <= 0 or self._since is None:
            return 0.0
        return max(0.0, self.settle_s - (now - self._since))


class Unsettled(TransientArmError):
    """The registry's IP rule list kept changing past the write's deferrals or budget, so it was not
    replaced. The rule's own record (``flagged``, so a person is notified) told it. Raised, not
    swallowed: the record alone would leave the firewall open until the next reconcile (hours);
    Event Grid's redelivery re-reads and writes the list once it is quiet."""
