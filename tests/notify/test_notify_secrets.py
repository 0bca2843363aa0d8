"""No sink secret (a webhook URL's path, query or userinfo, an Event Grid key or
token) reaches any log line, whatever way the sink fails.

Every sink (webhook json/teams/slack, Event Grid with a key and with the identity) is made to fail
in every way (DNS, connection refused, an untrusted certificate, a timeout, an invalid response,
4xx, 5xx, 429 with Retry-After) through the real HTTP stack, with every logger at DEBUG: urllib3
logs request lines and azure-core logs URLs, so this covers their records as well as ours.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import trustme
from broken_servers import UNRESOLVABLE_HOST, refused_port, serving
from engine_helpers import rid
from reliability import adversarial
from webhook_receiver import WebhookReceiver

from acrguard.audit import AuditRecord
from acrguard.notify import Notifier
from acrguard.notify.sinks import EventGridSink, WebhookSink

PATH_SECRET = "pathsecret" + secrets.token_hex(8)
QUERY_SECRET = "querysecret" + secrets.token_hex(8)
PASSWORD = "userinfosecret" + secrets.token_hex(8)
WRONG_KEY = "keysecret" + secrets.token_hex(8)

SINKS = ["webhook-json", "webhook-teams", "webhook-slack", "eventgrid-key", "eventgrid-identity"]
FAILURES = ["dns", "refused", "untrusted-tls", "timeout", "invalid-response", "4xx", "5xx", "429"]
REASONS = {  # what the notify_failed line says, for each failure
    "dns": "DNS lookup failed",
    "refused": "connection refused",
    "untrusted-tls": "TLS certificate not trusted",
    "timeout": "timed out",
    "invalid-response": "HTTP response",
    "4xx": "HTTP 4",
    "5xx": "HTTP 503",
    "429": "HTTP 429",
}
RECORD = AuditRecord(
    outcome="applied",
    registry=rid("contosostd"),
    rule="anonymous_pull",
    reason="anonymous pull was enabled",
    mode="enforce",
    before={"anonymousPullEnabled": True},
    after={"anonymousPullEnabled": False},
    caller={"upn": "dev@contoso.example"},
)


@pytest.fixture
def trusted_ca(emu, tmp_path, monkeypatch) -> trustme.CA:
    """A CA the sinks trust besides the emulator's, for TLS servers that then misbehave."""
    ca = trustme.CA()
    bundle = tmp_path / "ca-bundle.pem"
    bundle.write_bytes(emu.ca_path.read_bytes() + ca.cert_pem.bytes())
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
    return ca


@pytest.fixture
def all_logs_at_debug(caplog) -> Iterator[Any]:
    """Every logger at DEBUG, including those with a level of their own (azure, urllib3, ours)."""
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "requests", "azure", "acrguard", *logging.Logger.manager.loggerDict):
        logger = logging.getLogger(name)
        if logger.level not in (logging.NOTSET, logging.DEBUG):
            caplog.set_level(logging.DEBUG, logger=name)
    yield caplog


def make_sink(kind: str, scheme: str, where: str, endpoint: str, key: str) -> Any:
    """A webhook to ``scheme://hook:<password>@where/services/T000/B000/<secret>?sig=<secret>``,
    or an Event Grid sink for ``endpoint``."""
    if kind.startswith("webhook-"):
        url = f"{scheme}://hook:{PASSWORD}@{where}/services/T000/B000/{PATH_SECRET}?api-version=1&sig={QUERY_SECRET}"
        return WebhookSink(url, kind.removeprefix("webhook-"), timeout_s=0.5)
    if kind == "eventgrid-key":
        return EventGridSink(endpoint, key, timeout_s=0.5)
    from azure.identity import ManagedIdentityCredential

    return EventGridSink(endpoint, credential=ManagedIdentityCredential(), timeout_s=0.5)


def arrange(failure: str, kind: str, emu, ca: trustme.CA, stack: ExitStack) -> tuple[str, str, str]:
    """Make ``failure`` happen; return (webhook scheme, webhook host:port, Event Grid endpoint)."""
    if failure in ("4xx", "5xx", "429"):
        status = {"4xx": 400, "5xx": 503, "429": 429}[failure]
        retry_after = {"Retry-After": "0"} if status == 429 else {}
        emu.inject(route="topic", status=status, headers=retry_after, times=None)
        receiver = stack.enter_context(WebhookReceiver().running())
        receiver.answer(*[status] * 5, headers=retry_after)
        return "http", receiver.url("").removeprefix("http://"), emu.topic_endpoint
    if failure == "dns":
        where = UNRESOLVABLE_HOST
    elif failure == "refused":
        where = f"127.0.0.1:{refused_port()}"
    else:
        behaviour, server_ca = {
            "untrusted-tls": ("silent", trustme.CA()),
            "timeout": ("silent", ca),
            "invalid-response": ("garbage", ca),
        }[failure]
        where = f"127.0.0.1:{stack.enter_context(serving(behaviour, server_ca))}"
    return "https", where, f"https://{where}/api/events"


def secrets_of(emu, key: str) -> list[str]:
    found = [PATH_SECRET, QUERY_SECRET, PASSWORD, WRONG_KEY, emu.topic_key, key]
    from azure.identity import ManagedIdentityCredential

    # the identity's token for Event Grid: the same cached token the sink's credential sends
    found.append(ManagedIdentityCredential().get_token("https://eventgrid.azure.net/.default").token)
    return found


def logged_text(caplog, capsys) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    lines = [formatter.format(record) for record in caplog.records]
    out = capsys.readouterr()
    return "\n".join([*lines, out.out, out.err])


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("kind", SINKS)
def test_no_sink_secret_is_ever_logged(kind, failure, emu, trusted_ca, all_logs_at_debug, capsys):
    """A sink failing by DNS, refused connection, untrusted TLS, timeout, invalid
    response, 4xx, 5xx or 429 logs neither its URL's path/query/userinfo nor its key or token."""
    caplog = all_logs_at_debug
    key = emu.topic_key
    with ExitStack() as stack:
        scheme, where, endpoint = arrange(failure, kind, emu, trusted_ca, stack)
        if failure == "4xx" and kind == "eventgrid-key":
            emu.clear_faults()
            key = WRONG_KEY  # the topic's own 401
        notifier = Notifier([make_sink(kind, scheme, where, endpoint, key)], attempts=2, backoff_s=0)
        notifier(RECORD)
    text = logged_text(caplog, capsys)
    assert notifier.given_up == 1, text  # the failure happened and was reported ...
    [failed] = [r.getMessage() for r in caplog.records if '"outcome":"notify_failed"' in r.getMessage()]
    assert REASONS[failure] in failed
    assert any(r.name.startswith("urllib3") for r in caplog.records)  # ... with the HTTP stack's own logs
    leaked = [s for s in secrets_of(emu, key) if s in text]
    assert not leaked, f"secrets in the logs: {leaked}\n{text}"
    adversarial(4, f"{kind} sink failing by {failure}, every logger at DEBUG", "no secret in any log line")


def test_scrubbing_rewrites_secrets_only(emu, caplog):
    """The scrubber must not mangle ordinary text. A user name alone or a short
    path is no credential: registering them turned another sink's label into 'web***(json)'."""
    caplog.set_level(logging.INFO, logger="acrguard.audit")
    WebhookSink(f"https://hook:{PASSWORD}@{UNRESOLVABLE_HOST}/hook")  # registers its secrets
    with WebhookReceiver().running() as receiver:
        receiver.answer(500)
        Notifier([WebhookSink(receiver.url("/hook"))], attempts=1)(RECORD)
    [failed] = [r.getMessage() for r in caplog.records if "notify_failed" in r.getMessage()]
    assert '"sink":"webhook(json) http://127.0.0.1:' in failed
    assert "scripted failure for POST /hook" in failed  # a path of 5 characters is not a secret
