"""Keep sink secrets out of every log line: webhook URLs carry their token in the path or query
(Slack ``/services/T000/B000/<secret>``, Logic Apps ``&sig=<secret>``), Event Grid has its key.

Our own lines never format a URL or an exception's text (see ``sinks.failure_reason``). Libraries
do: urllib3 logs ``"POST /services/T000/B000/<secret> HTTP/1.1" 500`` at DEBUG and its retry
counter logs the URL; azure-core's HTTP logging logs the path. So each sink registers its secrets
here, and :func:`guard_loggers` puts a filter on the loggers of the HTTP stack (and ours) that
rewrites any record containing one. A record is changed only when it holds a registered secret.
"""

from __future__ import annotations

import logging
import threading
from urllib.parse import parse_qsl, quote, unquote, urlsplit

REDACTED = "***"
_GUARDED = ("urllib3", "requests", "azure", "acrguard")  # logger trees that may see a sink's URL
_MIN_SECRET = 8  # shorter strings would rewrite ordinary words (and are no credential)

_lock = threading.Lock()
_secrets: tuple[str, ...] = ()


def safe_label(kind: str, url: str) -> str:
    """``kind scheme://host[:port]``: never the userinfo, path or query, which may hold a token."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        return f"{kind} (invalid URL)"
    if not host:
        return f"{kind} (invalid URL)"
    shown = f"[{host}]" if ":" in host else host
    return f"{kind} {parts.scheme}://{shown}" + (f":{port}" if port else "")


def url_secrets(url: str) -> list[str]:
    """The parts of ``url`` that may be a credential, in the forms a library might log them."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.path, parts.query, parts.password or ""]  # a user name alone is no secret
    if parts.netloc and "@" in parts.netloc:
        found.append(parts.netloc.rpartition("@")[0])
    found += [value for _, value in parse_qsl(parts.query, keep_blank_values=True)]
    if parts.fragment:
        found.append(parts.fragment)
    return [form for value in found if value != "/" for form in (value, unquote(value), quote(value, "/"))]


def register(*values: str | None) -> None:
    """Remember secrets to be scrubbed from every guarded log record (process-wide)."""
    global _secrets
    new = {v for v in values if v and len(v) >= _MIN_SECRET}
    with _lock:
        # longest first, so a secret that contains another is replaced whole
        _secrets = tuple(sorted(set(_secrets) | new, key=len, reverse=True))


def scrub(text: str) -> str:
    """``text`` with every registered secret replaced."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class _Scrubber(logging.Filter):
    """Rewrites a record that contains a registered secret; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the handler's business, as without us
            return True
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


_SCRUBBER = _Scrubber()


def guard_loggers() -> None:
    """Put the scrubber on every existing logger of the HTTP stack and ours (idempotent, cheap).

    A logger filter only sees records created on that very logger, so each one needs it; called
    before each send, which covers loggers that the lazy imports of a first send created.
    """
    for name in list(logging.Logger.manager.loggerDict):  # a copy: imports may add loggers meanwhile
        if name.split(".", 1)[0] in _GUARDED:
            logger = logging.getLogger(name)
            if _SCRUBBER not in logger.filters:
                logger.addFilter(_SCRUBBER)
