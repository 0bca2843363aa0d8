"""Azure Resource Graph queries, within ARG's limits, through the ARM layer's one retry layer.

ARG answers a tenant or a management group in pages of up to 1,000 rows, so a sweep of 100,000
registries is a handful of queries instead of 1,000 subscriptions x 1,000 list pages. Its limits:

- a per-principal quota (about 15 queries per 5 s): every answer says what is left
  (``x-ms-user-quota-remaining``) and when it refills (``x-ms-user-quota-resets-after``); when it
  is spent we wait for the refill before the next query rather than collect a 429. A 429 is still
  retried by :meth:`acrguard.azure.arm.Arm.call`, after the reset the answer names. No wait outlasts the
  retry budget: a refill further away is :class:`GraphQuotaSpent`, at once;
- at most 1,000 subscriptions per request: explicit subscription lists are sent in batches;
- ``resultTruncated``: an answer that cannot be paged is incomplete, so it is an error here
  (:class:`GraphIncomplete`) and the caller falls back to listing. So is paging that would not end:
  a ``$skipToken`` already followed, or one offered once ``totalRecords`` rows have arrived.

``azure-mgmt-resourcegraph`` is imported on first use: the Function's event path never pays for it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from acrguard.azure.errors import PermanentArmError, TransientArmError, quota_resets_after

if TYPE_CHECKING:
    from acrguard.azure.arm import Arm

QUERY_ACTION = "Microsoft.ResourceGraph/resources/read"
PAGE_SIZE = 1000
MAX_SUBSCRIPTIONS = 1000  # per request (ARG's documented limit)


class GraphIncomplete(PermanentArmError):
    """ARG could not return the whole result (``resultTruncated``, or paging that would not end):
    its answer cannot be trusted."""


class GraphQuotaSpent(TransientArmError):
    """ARG's quota refills later than the retry budget allows waiting: ask again later (or list)."""


@dataclass
class GraphStats:
    """What the queries cost, for the sweep's output and the benchmark."""

    queries: int = 0
    rows: int = 0
    quota_remaining: int | None = None  # the lowest x-ms-user-quota-remaining seen
    quota_waits: int = 0  # times we waited for the quota window to refill
    batches: int = 0
    seconds: float = 0.0  # spent in queries, quota waits included
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def as_dict(self) -> dict[str, Any]:
        return {
            "arg_queries": self.queries,
            "arg_rows": self.rows,
            "arg_quota_remaining": self.quota_remaining,
            "arg_quota_waits": self.quota_waits,
            "arg_batches": self.batches,
            "arg_seconds": round(self.seconds, 2),
        }


class ResourceGraph:
    def __init__(
        self, arm: Arm, *, page_size: int = PAGE_SIZE, max_subscriptions: int = MAX_SUBSCRIPTIONS
    ) -> None:
        self.arm = arm
        self.page_size = page_size
        self.max_subscriptions = max_subscriptions
        self.stats = GraphStats()
        self._client: Any = None
        self._refill_at: float | None = None  # clock time when a spent quota refills
        self._resets: str | None = None  # the x-ms-user-quota-resets-after that said so

    def client(self) -> Any:
        if self._client is None:
            from azure.mgmt.resourcegraph import ResourceGraphClient

            settings = self.arm.settings
            self._client = ResourceGraphClient(
                self.arm.credential,
                base_url=settings.arm_endpoint,
                credential_scopes=[settings.arm_audience + "/.default"],
                retry_total=0,  # Arm.call is the one retry layer
                # Each query's timeouts capped at what is left of the invocation, as ARM's are.
                transport=self.arm.new_transport(),
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def rows(
        self,
        query: str,
        *,
        subscriptions: list[str] | None = None,
        management_groups: list[str] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every row of ``query`` over the scope (the tenant when neither is given), page by page."""
        if subscriptions:
            step = self.max_subscriptions
            for start in range(0, len(subscriptions), step):
                yield from self._pages(query, subscriptions[start : start + step], None)
        else:
            yield from self._pages(query, None, management_groups or None)

    def _pages(
        self, query: str, subs: list[str] | None, groups: list[str] | None
    ) -> Iterator[dict[str, Any]]:
        from azure.mgmt.resourcegraph.models import QueryRequest, QueryRequestOptions

        self.stats.batches += 1
        token: str | None = None
        followed: set[str] = set()  # the tokens already sent: one seen again would loop
        received = 0
        while True:
            request = QueryRequest(
                query=query,
                subscriptions=subs,
                management_groups=groups,
                options=QueryRequestOptions(
                    top=self.page_size, skip_token=token, result_format="objectArray"
                ),
            )
            started = time.monotonic()
            self._wait_for_quota()

            def send(request: Any = request) -> tuple[Any, Any]:
                return self.client().resources(
                    request, cls=lambda pipeline, body, _: (body, pipeline.http_response.headers)
                )

            answer, headers = self._query(send)
            self._note_quota(headers)
            self.stats.seconds += time.monotonic() - started
            if str(answer.result_truncated).lower() == "true":
                raise GraphIncomplete(
                    f"Resource Graph truncated the answer ({answer.count} of {answer.total_records} rows) "
                    "and gave no $skipToken to continue"
                )
            rows = answer.data or []
            received += len(rows)
            self.stats.rows += len(rows)
            yield from rows
            if token:
                followed.add(token)
            token = answer.skip_token
            if not token:
                return
            if problem := _endless(token, followed, received, answer.total_records, len(rows)):
                raise GraphIncomplete(
                    f"Resource Graph paging stopped after {len(followed) + 1} pages: {problem}"
                )

    def _query(self, send: Any) -> tuple[Any, Any]:
        """One query under the retry layer; a 429 whose quota refills past the budget says so."""
        try:
            return self.arm.call("QUERY Resource Graph", QUERY_ACTION, None, send)
        except TransientArmError as exc:
            headers = getattr(getattr(exc.__cause__, "response", None), "headers", None) or {}
            resets = headers.get("x-ms-user-quota-resets-after")
            if (quota_resets_after(resets) or 0) > self.arm.settings.retry_budget_s:
                raise self._quota_spent(resets) from exc
            raise

    def _note_quota(self, headers: Any) -> None:
        with self.stats.lock:
            self.stats.queries += 1
            try:
                remaining = int(headers.get("x-ms-user-quota-remaining"))
            except (TypeError, ValueError):
                return
            low = self.stats.quota_remaining
            self.stats.quota_remaining = remaining if low is None else min(low, remaining)
            self._resets = headers.get("x-ms-user-quota-resets-after")
            resets = quota_resets_after(self._resets)
            self._refill_at = self.arm.clock.time() + resets if remaining <= 0 and resets else None

    def _wait_for_quota(self) -> None:
        """Wait for a spent quota to refill, within the retry budget: a refill further away is not
        waited for at all (the sweep falls back to listing, or fails, with the reason)."""
        if self._refill_at is None:
            return
        delay = self._refill_at - self.arm.clock.time()
        self._refill_at, resets = None, self._resets
        if delay > self.arm.settings.retry_budget_s:
            raise self._quota_spent(resets)
        if delay > 0:
            self.stats.quota_waits += 1
            self.arm.clock.sleep(delay)

    def _quota_spent(self, resets: str | None) -> GraphQuotaSpent:
        return GraphQuotaSpent(
            f"Resource Graph's quota for this identity is spent and refills in {resets or 'an unknown time'} "
            f"(x-ms-user-quota-resets-after), past the {self.arm.settings.retry_budget_s:g}s retry budget: "
            "not waiting for it",
            429,
            "RateLimiting",
        )


def _endless(token: str, followed: set[str], received: int, total: Any, page_rows: int) -> str | None:
    """Why following ``token`` would page without end, or None."""
    if token in followed:
        return "it offered a $skipToken it had already answered (the token did not advance)"
    if isinstance(total, int) and received >= total:
        return f"it offered another page after {received} rows of totalRecords {total}"
    if not page_rows:
        return "it offered another page after an empty one"
    return None
