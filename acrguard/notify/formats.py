"""The messages: JSON (the audit records themselves), Slack (mrkdwn blocks) and Teams (an Adaptive Card).

A chat message is written for a person: what changed, on which registry, who caused it, and how
to exempt it. The JSON message carries the audit records whole, so a machine gets exactly what
the ``acrguard.audit`` line says.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from acrguard.audit import AuditRecord
from acrguard.resource_ids import RegistryRef

if TYPE_CHECKING:
    from acrguard.policy import Policy

NOTIFICATION_SCHEMA = "acrguard/notification/v1"
_VERBS = {
    "applied": "Changed",
    "planned": "Would change (dry-run)",
    "flagged": "Needs a person",
    "failed": "Could not fix",
}
_CHAT_DETAILS = 10  # records spelled out in one chat message; the rest are counted


def exempt_hint(policy: Policy) -> str:
    """How to exempt a registry under this policy, in one sentence."""
    tags = policy.doc.exempt.tags
    ways = []
    if tags:
        shown = " or ".join(f"`{k}: {v}`" if v != "*" else f"`{k}` (any value)" for k, v in tags.items())
        ways.append(f"tag it {shown}")
    ways.append("add its resource ID to `exempt.registries` in the policy")
    return f"To exempt a registry: {' or '.join(ways)}."


def title(records: Sequence[AuditRecord]) -> str:
    counts = Counter(r.outcome for r in records)
    parts = [f"{counts[o]} {o}" for o in ("applied", "planned", "flagged", "failed") if counts[o]]
    registries = len({r.registry for r in records})
    noun = "registry" if registries == 1 else "registries"
    return f"ACR Guard: {', '.join(parts)} on {registries} {noun}"


def change_text(record: AuditRecord) -> str:
    """``property: before → after`` for each property the decision is about."""
    before, after = record.before or {}, record.after or {}
    keys = [k for k in dict.fromkeys([*before, *after]) if before.get(k) != after.get(k)]
    if not keys:
        return "no property change" if record.outcome != "flagged" else "left as is"
    return "; ".join(f"{k}: {_short(before.get(k))} → {_short(after.get(k))}" for k in keys)


def caller_text(record: AuditRecord) -> str:
    caller = record.caller or {}
    who = caller.get("upn") or caller.get("name")
    app = caller.get("appid")
    if who and app:
        return f"{who} (app {app})"
    if who or app:
        return who or f"app {app}"
    if caller.get("object_id"):
        return f"object {caller['object_id']}"
    if record.source == "event":
        return "unknown (the event named no caller)"
    found_by = "the scheduled reconcile" if record.source == "reconcile" else "an operator's acrguard run"
    return f"unknown: found by {found_by}, not by an event (the change predates it or its event was lost)"


def registry_parts(record: AuditRecord) -> tuple[str, str, str]:
    """(name, resource group, subscription) for display; the raw ID if it does not parse."""
    try:
        ref = RegistryRef.parse(record.registry or "")
    except ValueError:
        return (record.registry or "?", "?", "?")
    return ref.name, ref.resource_group, ref.subscription_id


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, separators=(",", ":"), default=str) if value is not None else "(unset)"
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def json_message(records: Sequence[AuditRecord], hint: str) -> dict[str, Any]:
    return {
        "schema": NOTIFICATION_SCHEMA,
        "title": title(records),
        "summary": dict(Counter(r.outcome for r in records)),
        "exempt_hint": hint,
        "records": [r.to_dict() for r in records],
    }


def slack_message(records: Sequence[AuditRecord], hint: str) -> dict[str, Any]:
    """Slack incoming-webhook payload: ``text`` (notification fallback) plus Block Kit ``blocks``."""
    heading = title(records)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _clip(heading, 150)}}
    ]
    for record in records[:_CHAT_DETAILS]:
        name, group, sub = registry_parts(record)
        lines = [
            f"*{_VERBS[record.outcome]}* `{record.rule or '-'}` on *{name}* "
            f"(resource group `{group}`, subscription `{sub}`)",
            f"*Change:* {change_text(record)}",
            f"*Caused by:* {caller_text(record)}",
            f"*Why:* {record.reason}",
        ]
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip("\n".join(lines), 3000)}})
    if len(records) > _CHAT_DETAILS:
        blocks.append(_slack_context(f"…and {len(records) - _CHAT_DETAILS} more (see the audit log)."))
    blocks.append(_slack_context(hint))
    return {"text": heading, "blocks": blocks}


def _slack_context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(text, 3000)}]}


def teams_message(records: Sequence[AuditRecord], hint: str) -> dict[str, Any]:
    """A Teams message with an Adaptive Card (Workflows webhooks and incoming webhooks accept it)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True, "text": title(records)}
    ]
    for record in records[:_CHAT_DETAILS]:
        name, _, _ = registry_parts(record)
        facts = [
            ("Registry", record.registry or "?"),
            ("Change", change_text(record)),
            ("Caused by", caller_text(record)),
            ("Mode", record.mode or "-"),
            ("Why", record.reason),
        ]
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    {
                        "type": "TextBlock",
                        "weight": "Bolder",
                        "wrap": True,
                        "text": f"{_VERBS[record.outcome]}: {record.rule or '-'} on {name}",
                    },
                    {"type": "FactSet", "facts": [{"title": t, "value": _clip(v, 600)} for t, v in facts]},
                ],
            }
        )
    if len(records) > _CHAT_DETAILS:
        body.append(
            {
                "type": "TextBlock",
                "isSubtle": True,
                "wrap": True,
                "text": f"…and {len(records) - _CHAT_DETAILS} more (see the audit log).",
            }
        )
    body.append({"type": "TextBlock", "isSubtle": True, "wrap": True, "text": hint})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "msteams": {"width": "Full"},
        "body": body,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


RENDERERS = {"json": json_message, "slack": slack_message, "teams": teams_message}
