"""Text that came from outside (the caller's claims, registry and resource-group
names, reasons, property values, tag values) cannot make a chat message mention anyone, link
anywhere or change its formatting, in Slack mrkdwn or a Teams Adaptive Card.

Each message is rendered by the product (the notifier the policy configures, posting to a real
local webhook) and then read the way each client reads it: Slack's mrkdwn rules (``<...>`` is a
link or a mention, ``&``-entities, code spans shown literally, ``verbatim`` off = auto-links) and
Teams' Markdown (rendered with a CommonMark parser: any tag besides ``<p>`` is formatting, a link
or a mention).
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import pytest
from engine_helpers import SUB_A
from markdown_it import MarkdownIt
from reliability import adversarial
from webhook_receiver import WebhookReceiver

from acrguard.audit import AuditRecord
from acrguard.notify import notifier_for
from acrguard.policy import load_policy
from acrguard.settings import Settings

HOSTILE = [
    "EVIL <!channel> <https://evil.example|Approve> <@U012AB3CD> <!subteam^S1|@team> <#C123>",
    "EVIL *bold* _italic_ ~strike~ `code` ```block``` **strong** __under__ ~~gone~~",
    "EVIL [Approve](https://evil.example/login) ![img](https://evil.example/p.png) <b>x</b>",
    "EVIL <at>Everyone</at> &lt;!here&gt; &amp; https://evil.example www.evil.example",
    "EVIL\n> quote\n- item\n1. one\n# Heading\n| a | b |",
]
RG = "_EVIL_(x)__bold__"  # a valid resource group name that is also Markdown
ADVERSARY = {"name": HOSTILE[0], "upn": HOSTILE[1], "appid": HOSTILE[2], "object_id": HOSTILE[3]}


def records() -> list[AuditRecord]:
    parsed = f"/subscriptions/{SUB_A}/resourceGroups/{RG}/providers/Microsoft.ContainerRegistry/registries/contosostd"
    raw = f"/subscriptions/{SUB_A}/resourceGroups/{HOSTILE[0]}/registries/{HOSTILE[1]}"  # does not parse
    return [
        AuditRecord(
            outcome=outcome,
            registry=registry,
            rule="network_rules",
            reason=HOSTILE[4],
            mode="enforce",
            before={HOSTILE[1]: HOSTILE[0], "ipRules": [HOSTILE[2]]},
            after={HOSTILE[1]: HOSTILE[3]},
            caller=caller,
            notes=[HOSTILE[2]],
        )
        for outcome, registry, caller in [
            ("applied", parsed, ADVERSARY),
            ("flagged", raw, {"object_id": HOSTILE[2]}),
            ("planned", parsed, {"appid": HOSTILE[3]}),
        ]
    ]


@pytest.fixture
def messages(tmp_path) -> dict[str, Any]:
    """The JSON, Slack and Teams messages for the hostile records, as the webhook received them."""
    receiver = WebhookReceiver().start()
    policy = {
        "version": 1,
        "mode": "enforce",
        "exempt": {"tags": {"EVIL`tag": HOSTILE[0] + HOSTILE[1]}},
        "rules": {"anonymous_pull": {"enabled": True}},
        "notify": {
            "webhooks": [{"url": receiver.url(f"/{f}"), "format": f} for f in ("json", "slack", "teams")]
        },
    }
    path = tmp_path / "policy.yaml"
    path.write_text(json.dumps(policy), encoding="utf-8")  # YAML is a superset of JSON
    notifier = notifier_for(load_policy(path), Settings.from_env())
    assert notifier is not None
    with notifier.batch():
        for record in records():
            notifier(record)
    receiver.stop()
    return {f: receiver.bodies(f"/{f}")[0] for f in ("json", "slack", "teams")}


def test_slack_mrkdwn_shows_outside_text_literally(messages):
    """Caller name/upn/appid, registry and resource-group names, reasons, values
    and tag values reach Slack as literal text: no mention, no link, no formatting."""
    slack = messages["slack"]
    assert "EVIL" not in slack["text"]  # the notification's fallback text is ours alone
    shown = []
    for obj in [n for n in _walk(slack["blocks"]) if n.get("type") in ("mrkdwn", "plain_text")]:
        text = obj["text"]
        if obj["type"] == "plain_text":
            assert "EVIL" not in text
            continue
        assert obj.get("verbatim") is True, obj  # no auto-linked URLs, no @channel parsing
        assert "<" not in text and ">" not in text, text  # <...> is how mrkdwn links and mentions
        assert not re.sub(r"&(amp|lt|gt);", "", text).count("&"), text  # & only starts our entities
        parts = text.split("`")
        assert len(parts) % 2 == 1, text  # code spans are closed
        outside, inside = parts[0::2], parts[1::2]
        assert not any("EVIL" in part for part in outside), text  # outside text only in code spans,
        assert not any("\n" in part for part in inside), text  # which Slack shows literally
        shown += [html.unescape(part) for part in inside]
    visible = " ".join(shown)
    for value in (RG, "<!channel>", "*bold*", "&lt;!here&gt;", "evil.example"):
        assert value in visible  # still readable, exactly
    adversarial(13, "hostile caller name/upn (<!channel>, links, *bold*) in Slack", "shown literally")


INLINE_ONLY = {"p"}  # any other tag is formatting, a list, a heading, a link, an image or a mention


def test_teams_card_shows_outside_text_literally(messages):
    """The same outside text in a Teams Adaptive Card (TextBlock and FactSet
    Markdown) renders as plain text: no mention, no link, no formatting, no list or heading."""
    markdown = MarkdownIt("commonmark").enable("strikethrough")
    card = messages["teams"]["attachments"][0]["content"]
    assert "msteams" not in card or "entities" not in card["msteams"]  # mentions need entities
    texts = []
    for node in _walk(card["body"]):
        if node.get("type") == "TextBlock":
            texts.append(node["text"])
        elif node.get("type") == "FactSet":
            texts += [part for fact in node["facts"] for part in (fact["title"], fact["value"])]
    visible = []
    for text in texts:
        rendered = markdown.render(text)
        tags = set(re.findall(r"</?([a-zA-Z][\w-]*)", rendered))
        assert tags <= INLINE_ONLY, (text, rendered)
        plain = html.unescape(re.sub(r"<[^>]+>", "", rendered))
        assert "://" not in plain and "www." not in plain.lower(), plain  # nothing to auto-link
        visible.append(plain)
    joined = " ".join(visible)
    for value in (RG, "<!channel>", "*bold*", "[Approve]", "<at>Everyone</at>", "evil.example"):
        assert value in joined  # still readable, exactly
    adversarial(13, "hostile caller name/upn (links, markdown, lists) in Teams", "shown literally")


def test_json_carries_the_records_unchanged(messages):
    """The JSON message is data for machines: the records as the audit line has them."""
    sent = messages["json"]["records"]
    assert sent[0]["caller"] == ADVERSARY
    assert sent[0]["reason"] == HOSTILE[4]


def _walk(node: Any) -> list[dict[str, Any]]:
    if isinstance(node, list):
        return [n for item in node for n in _walk(item)]
    if not isinstance(node, dict):
        return []
    return [node] + [n for value in node.values() for n in _walk(value)]
