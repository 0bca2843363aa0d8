"""Notifications: tell people about ACR Guard's decisions, never blocking or undoing them.

- :mod:`.notifier`: the audit listener and its batching (:class:`Notifier`);
- :mod:`.formats`: the messages (JSON, Teams, Slack);
- :mod:`.sinks`: where they go (a webhook, an Event Grid topic).

This module builds the configured notifier. The sinks (and the HTTP stack) are imported only when
a sink is configured, so the common case keeps them off the cold-start path.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from acrguard.notify.notifier import Notifier, Sink

if TYPE_CHECKING:
    from acrguard.policy import Policy
    from acrguard.settings import Settings

__all__ = ["Notifier", "notifier_for"]


def notifier_for(policy: Policy, settings: Settings) -> Notifier | None:
    """The notifier for the sinks in ``policy.notify`` and the ACRGUARD_NOTIFY_* settings, or None.

    A misconfigured sink (bad URL, unset key setting) is still built: it fails on every send with
    a ``notify_failed`` line that says why, so notifications never stop remediation.
    """
    notify = policy.doc.notify
    if not (
        notify.webhooks
        or notify.eventgrid
        or settings.notify_webhook_url
        or settings.notify_eventgrid_endpoint
    ):
        return None  # the common case: no sink, so the sinks' module stays off the cold-start path
    from acrguard.notify.sinks import EventGridSink, WebhookSink

    tags = policy.doc.exempt.tags  # each format words its hint on how to exempt a registry
    sinks: list[Sink] = [WebhookSink(w.url, w.format, tags) for w in notify.webhooks]
    if settings.notify_webhook_url:
        sinks.append(WebhookSink(settings.notify_webhook_url, settings.notify_webhook_format, tags))
    for topic in notify.eventgrid:
        key = os.environ.get(topic.key_setting) if topic.key_setting else None
        missing = topic.key_setting if topic.key_setting and not key else None
        sinks.append(EventGridSink(topic.endpoint, key, missing_key_setting=missing))
    if settings.notify_eventgrid_endpoint:
        sinks.append(EventGridSink(settings.notify_eventgrid_endpoint, settings.notify_eventgrid_key))
    if not sinks:
        return None
    return Notifier(sinks, on_failed=notify.on_failed or settings.notify_on_failed)
