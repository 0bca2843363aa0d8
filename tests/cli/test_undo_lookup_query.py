"""The workspace query ``undo DECISION`` sends (every registry's decisions, to find one by its ID)
and the one ``history`` sends, checked by Microsoft's Kusto parser against the ``AppTraces``
schema the audit lines land in: 0 diagnostics, and a misspelt column is caught in the same run."""

from __future__ import annotations

from datetime import UTC, datetime

import kusto_language
from engine_helpers import rid

from acrguard.history import Query, kql
from emulator.log_workspace import TABLES


def test_the_lookup_and_history_queries_pass_kusto_language():
    since = datetime(2026, 12, 1, tzinfo=UTC)
    queries = [
        kql(Query(None, since)),  # undo DECISION: every registry
        kql(Query(None, since, "anonymous_pull")),
        kql(Query(rid("contosoprod"), since, "network_rules")),  # history / undo --registry
        kql(Query("contosoprod", since)),
        kql(Query(None, since)).replace("Message", "Mesage", 1),  # the check is no rubber stamp
    ]
    found = [r["diagnostics"] for r in kusto_language.check({"tables": TABLES, "queries": queries})]
    assert found[:-1] == [[], [], [], []], found
    assert found[-1], "a misspelt column must be reported"
