"""Event Grid dead-letter blobs: where they are, how to read them, and deleting only what was replayed.

Event Grid writes one blob per dead-lettered delivery batch, named
``<TOPIC>/<SUBSCRIPTION>/<yyyy>/<MM>/<dd>/<HH>/<guid>.json``, holding a JSON array of events with
``deadLetterReason``/``deliveryAttempts``. :func:`replay` reads them in order, hands each to the
caller (the CLI replays its events through the engine) and, on request, deletes a blob only when
every event in it is done for good (:data:`DONE`) and the blob is unchanged since it was read.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

MAX_BLOB_BYTES = 64 * 1024 * 1024  # far above any dead-letter batch; guards against a wrong prefix
#: Outcomes after which an event needs nothing more. ``planned`` (dry-run: the drift is still there),
#: ``flagged`` (a person must act) and ``failed`` keep the blob, so it can be replayed again.
DONE = frozenset({"applied", "compliant", "skipped"})


@dataclass(frozen=True)
class ContainerLocation:
    account_url: str  # https://<account>.blob.core.windows.net, or http://127.0.0.1:10000/<account>
    account: str
    container: str
    prefix: str  # "" or a virtual folder ending in "/"

    @property
    def url(self) -> str:
        return f"{self.account_url}/{self.container}/{self.prefix}".rstrip("/")


@dataclass(frozen=True)
class DeadLetterBlob:
    name: str
    etag: str
    content: bytes


def parse_container_url(url: str) -> ContainerLocation:
    """``https://<account>.blob.core.windows.net/<container>[/prefix]``; emulators (Azurite) use the
    path style ``http://127.0.0.1:10000/<account>/<container>[/prefix]``. ValueError says what is
    wrong, naming the URL without its query or userinfo: the query may be a SAS token, the userinfo
    a key."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    # Shown in errors without its query or userinfo: a SAS token's signature lives in the query.
    shown = repr(f"{parts.scheme}://{host}{parts.path}") + (" (query not shown)" if parts.query else "")
    if parts.scheme not in ("https", "http") or not host:
        raise ValueError(
            f"{shown} is not a blob container URL (https://<account>.blob.core.windows.net/<container>)"
        )
    if parts.username or parts.password:
        raise ValueError(f"{shown}: a container URL carries no user name or password (use the identity)")
    segments = [unquote(s) for s in parts.path.split("/") if s]
    netloc = f"[{host}]" if ":" in host else host
    netloc += f":{parts.port}" if parts.port else ""
    path_style = _is_ip(host) or "." not in host
    if path_style:
        if len(segments) < 2:
            raise ValueError(f"{shown}: a path-style URL needs /<account>/<container>")
        account, segments = segments[0], segments[1:]
        account_url = f"{parts.scheme}://{netloc}/{account}"
    else:
        if not segments:
            raise ValueError(f"{shown} names no container")
        account, account_url = host.split(".")[0], f"{parts.scheme}://{netloc}"
    container, rest = segments[0], segments[1:]
    prefix = "/".join(rest) + "/" if rest else ""
    return ContainerLocation(account_url, account, container, prefix)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def container_client(location: ContainerLocation, connection_string: str | None = None) -> Any:
    """A ContainerClient: from the connection string (Azurite, account keys) or with the identity."""
    from azure.storage.blob import BlobServiceClient, ContainerClient

    if connection_string:
        service = BlobServiceClient.from_connection_string(connection_string)
        if service.account_name and service.account_name.lower() != location.account.lower():
            raise ValueError(
                f"the connection string is for account {service.account_name!r} "
                f"but the URL names {location.account!r}"
            )
        return service.get_container_client(location.container)
    from azure.identity import DefaultAzureCredential

    credential = DefaultAzureCredential(exclude_interactive_browser_credential=True)
    return ContainerClient(location.account_url, location.container, credential=credential)


def iter_blobs(client: Any, prefix: str) -> Iterator[DeadLetterBlob]:
    """Every blob under ``prefix``, in name order, with the etag it was read at."""
    for props in client.list_blobs(name_starts_with=prefix or None):
        if props.size is not None and props.size > MAX_BLOB_BYTES:
            raise ValueError(f"blob {props.name} is {props.size:,} bytes: not a dead-letter blob")
        downloader = client.download_blob(props.name)
        content = downloader.readall()
        yield DeadLetterBlob(props.name, downloader.properties.etag, content)


def delete_if_unchanged(client: Any, blob: DeadLetterBlob) -> bool:
    """Delete ``blob`` unless it changed since it was read (then it is kept: False)."""
    from azure.core import MatchConditions
    from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError

    try:
        client.delete_blob(blob.name, etag=blob.etag, match_condition=MatchConditions.IfNotModified)
    except ResourceModifiedError:
        return False
    except ResourceNotFoundError:
        return True  # someone else deleted it: the outcome we wanted
    return True


def deletable(outcomes: Iterable[str] | None) -> bool:
    """Every outcome of every event in a blob (each rule's, not only each registry's) is in DONE."""
    found = set(outcomes or ())
    return bool(found) and found <= DONE


def replay(
    client: Any, prefix: str, handle: Callable[[DeadLetterBlob], list[str] | None], *, delete: bool
) -> dict[str, int]:
    """Every blob under ``prefix`` through ``handle`` (which returns the outcomes of its events, or
    None when the blob cannot be read); with ``delete``, a blob whose outcomes are all DONE goes."""
    stats = {"blobs": 0, "blobs_deleted": 0, "blobs_kept": 0}
    for blob in iter_blobs(client, prefix):
        stats["blobs"] += 1
        outcomes = handle(blob)
        if delete and deletable(outcomes) and delete_if_unchanged(client, blob):
            stats["blobs_deleted"] += 1
        else:
            stats["blobs_kept"] += 1
    return stats
