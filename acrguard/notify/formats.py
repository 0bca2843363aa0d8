"""The messages: JSON (the audit records themselves), Slack (mrkdwn blocks) and Teams (an Adaptive Card).

A chat message is written for a person: what changed, on which registry, who caused it, and how
to exempt it. The JSON message carries the audit records whole, so a machine gets exactly what
the ``acrguard.audit`` line says.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from acrguard.audit import AuditRecord
from acrguard.azure.resource_ids import RegistryRef

NOTIFICATION_SCHEMA = "acrguard/notification/v1"
_VERBS = {
    "applied": "Changed",
    "planned": "Would change (dry-run)",
    "flagged": "Needs a person",
    "failed": "Could not fix",
}
_CHAT_DETAILS = 10  # records spelled out in one chat message; the rest are counted


# --- outside text, shown literally --------------------------------------------------------------
# Anything that came from outside (the caller's claims, registry and resource-group names, reasons,
# property and tag values) goes through a ``lit`` of its format, so it cannot mention anyone, link
# anywhere or format the message: one line, URLs defanged (``https[:]//``, ``www[.]``: nothing to
# auto-link), clipped to a budget counted after escaping (Slack caps a section at 3,000 chars).
Lit = Callable[[Any, int], str]
_SCHEME = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*):(?=//)")
_WWW = re.compile(r"(?i)\bwww\.")
_SLACK_ESCAPES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "`": "\u02cb"}  # ˋ: no way to escape `
_TEAMS_SPECIAL = frozenset("\\`*_~[]<>|&")
_TEAMS_LEADING = re.compile(r"^(?:[-+#=]|\d+(?=[.)]))")  # a list, heading or setext marker


def _literal(value: Any, limit: int, escape: Callable[[str], str]) -> str:
    text = _WWW.sub("www[.]", _SCHEME.sub(r"\1[:]", " ".join(str(value).split())))
    out: list[str] = []
    size = 0
    for char in text:
        piece = escape(char)
        if size + len(piece) > limit - 1:
            out.append("…")
            break
        out.append(piece)
        size += len(piece)
    return "".join(out)


def slack_lit(value: Any, limit: int = 200) -> str:
    """A Slack mrkdwn code span (shown literally) with ``& < >`` escaped, as Slack documents;
    the text objects also set ``verbatim`` so that nothing is auto-linked or mentioned."""
    return f"`{_literal(value, limit - 2, lambda c: _SLACK_ESCAPES.get(c, c)) or '-'}`"


def teams_lit(value: Any, limit: int = 200) -> str:
    """Adaptive Card Markdown with every metacharacter backslash-escaped (CommonMark escapes)."""
    text = _literal(value, limit, lambda c: "\\" + c if c in _TEAMS_SPECIAL else c) or "-"
    if match := _TEAMS_LEADING.match(text):
        end = match.end()
        text = text[:end] + "\\" + text[end:] if text[end : end + 1] in ".)" else "\\" + text
    return text


def plain_lit(value: Any, limit: int = 200) -> str:
    """For the JSON message: a machine reads it, so only one line and the budget."""
    return _literal(value, limit, lambda c: c)


def exempt_hint(tags: Mapping[str, str], lit: Lit = lambda v, n: f"`{plain_lit(v, n)}`") -> str:
    """How to exempt a registry under this policy, in one sentence."""
    ways = []
    if tags:
        shown = " or ".join(
            lit(f"{k}: {v}", 120) if v != "*" else f"{lit(k, 80)} (any value)" for k, v in tags.items()
        )
        ways.append(f"tag it {shown}")
    ways.append(f"add its resource ID to {lit('exempt.registries', 40)} in the policy")
    return f"To exempt a registry: {' or '.join(ways)}."


def title(records: Sequence[AuditRecord]) -> str:
    counts = Counter(r.outcome for r in records)
    parts = [f"{counts[o]} {o}" for o in ("applied", "planned", "flagged", "failed") if counts[o]]
    registries = len({r.registry for r in records})
    noun = "registry" if registries == 1 else "registries"
    return f"ACR Guard: {', '.join(parts)} on {registries} {noun}"


def is_finding(record: AuditRecord) -> bool:
    """A decision that wrote nothing and will write nothing (a report-only rule's finding, a fix
    that is unsafe or impossible): it has no ``after``, so it describes no change."""
    return record.after is None and record.outcome in ("flagged", "failed")


def change_text(record: AuditRecord, lit: Lit) -> str:
    """``property: before → after`` for each property a write concerns (at most 4); for a finding,
    ``property: value`` as read: what is wrong, never a change that will not happen."""
    before, after = record.before or {}, record.after or {}
    if is_finding(record):
        if not before:
            return "not read"
        shown = [f"{lit(k, 80)}: {lit(_json(v), 160)}" for k, v in list(before.items())[:4]]
        return "; ".join(shown) + (f"; and {len(before) - 4} more" if len(before) > 4 else "")
    # Only what the write sets: a PATCH never unsets a property, so one that ``after`` leaves out
    # (the trusted-services bypass a firewall fix keeps) is not part of the change.
    keys = [k for k in after if before.get(k) != after.get(k)]
    if not keys:
        return "no property change"
    shown = [
        f"{lit(k, 80)}: {lit(_json(before.get(k)), 160)} → {lit(_json(after.get(k)), 160)}" for k in keys[:4]
    ]
    return "; ".join(shown) + (f"; and {len(keys) - 4} more" if len(keys) > 4 else "")


def state_label(record: AuditRecord) -> str:
    return "Found" if is_finding(record) else "Change"


def todo_text(record: AuditRecord) -> str | None:
    """For a finding, what a person can do: the rule's first reference (our own rule metadata, a
    Learn page, not outside text); None when there is none."""
    if not is_finding(record) or not record.references:
        return None
    return record.references[0]


def caller_text(record: AuditRecord, lit: Lit) -> str:
    caller = record.caller or {}
    who = caller.get("upn") or caller.get("name")
    app = caller.get("appid")
    if who and app:
        return f"{lit(who, 160)} (app {lit(app, 80)})"
    if who or app:
        return lit(who, 160) if who else f"app {lit(app, 80)}"
    if caller.get("object_id"):
        return f"object {lit(caller['object_id'], 80)}"
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


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), default=str) if value is not None else "(unset)"


def json_message(records: Sequence[AuditRecord], exempt_tags: Mapping[str, str]) -> dict[str, Any]:
    return {
        "schema": NOTIFICATION_SCHEMA,
        "title": title(records),
        "summary": dict(Counter(r.outcome for r in records)),
        "exempt_hint": exempt_hint(exempt_tags),
        "records": [r.to_dict() for r in records],
    }


def slack_message(records: Sequence[AuditRecord], exempt_tags: Mapping[str, str]) -> dict[str, Any]:
    """Slack incoming-webhook payload: ``text`` (notification fallback) plus Block Kit ``blocks``.

    A section stays under Slack's 3,000 characters by the literals' budgets (about 2,700 at most).
    """
    heading = title(records)
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": heading}}]
    for record in records[:_CHAT_DETAILS]:
        name, group, sub = registry_parts(record)
        lines = [
            f"*{_VERBS[record.outcome]}* {slack_lit(record.rule or '-', 60)} on {slack_lit(name, 160)} "
            f"(resource group {slack_lit(group, 120)}, subscription {slack_lit(sub, 60)})",
            f"*{state_label(record)}:* {change_text(record, slack_lit)}",
            f"*Caused by:* {caller_text(record, slack_lit)}",
            f"*Why:* {slack_lit(record.reason, 400)}",
        ]
        if todo := todo_text(record):
            lines.append(f"*What to do:* a person decides; see <{todo}|the documentation>")
        blocks.append({"type": "section", "text": _mrkdwn("\n".join(lines))})
    if len(records) > _CHAT_DETAILS:
        blocks.append(_slack_context(f"…and {len(records) - _CHAT_DETAILS} more (see the audit log)."))
    blocks.append(_slack_context(exempt_hint(exempt_tags, slack_lit)))
    return {"text": heading, "blocks": blocks}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text, "verbatim": True}  # verbatim: no auto-links or mentions


def _slack_context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [_mrkdwn(text)]}


def teams_message(records: Sequence[AuditRecord], exempt_tags: Mapping[str, str]) -> dict[str, Any]:
    """A Teams message with an Adaptive Card (Workflows webhooks and incoming webhooks accept it)."""
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "wrap": True, "text": title(records)}
    ]
    for record in records[:_CHAT_DETAILS]:
        name, _, _ = registry_parts(record)
        facts = [
            ("Registry", teams_lit(record.registry or "?", 300)),
            (state_label(record), change_text(record, teams_lit)),
            ("Caused by", caller_text(record, teams_lit)),
            ("Mode", teams_lit(record.mode or "-", 40)),
            ("Why", teams_lit(record.reason, 600)),
        ]
        if todo := todo_text(record):
            facts.append(("What to do", f"a person decides; see [the documentation]({todo})"))
        body.append(
            {
                "type": "Container",
                "separator": True,
                "items": [
                    {
                        "type": "TextBlock",
                        "weight": "Bolder",
                        "wrap": True,
                        "text": f"{_VERBS[record.outcome]}: {teams_lit(record.rule or '-', 60)} on {teams_lit(name, 160)}",
                    },
                    {"type": "FactSet", "facts": [{"title": t, "value": v} for t, v in facts]},
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
    body.append(
        {"type": "TextBlock", "isSubtle": True, "wrap": True, "text": exempt_hint(exempt_tags, teams_lit)}
    )
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
