"""An event's decisions carry the event's own time (``event_time``), so the exposure window (from
the write a person made to the moment ACR Guard fixed it) can be measured from the audit trail
alone: infra/queries/alert-exposure-p95.kql and the workbook read it."""

from __future__ import annotations

from datetime import UTC, datetime

from engine_helpers import make_harness, rid, write_event
from function_harness import function_app_env, grid_event

from acrguard.events import parse_event

PROD = rid("contosoprod")
WRITTEN = "2026-03-04T14:22:08.1234567Z"  # Event Grid's eventTime has 7 fractional digits


def test_an_applied_decision_records_when_the_event_happened(seeded):
    """Enforce mode: both fixes of a drifting registry name the event's eventTime, in UTC."""
    h = make_harness()
    h.engine.handle(write_event(PROD, eventTime=WRITTEN))
    applied = [r for r in h.records if r.outcome == "applied"]
    assert len(applied) == 2
    assert {r.event_time for r in applied} == {"2026-03-04T14:22:08.123456+00:00"}


def test_the_time_of_a_cloudevent_and_of_the_hosts_event_object_are_read_too():
    """CloudEvents 1.0 carries it as ``time``; the Functions host hands a datetime."""
    event = write_event(PROD, eventTime=WRITTEN)
    cloud = {
        "specversion": "1.0",
        "type": event["eventType"],
        "source": event["topic"],
        "subject": event["subject"],
        "id": event["id"],
        "time": "2026-03-04T14:22:08Z",
        "data": event["data"],
    }
    assert parse_event(cloud).context.event_time == "2026-03-04T14:22:08+00:00"
    hosted = grid_event(event)
    assert hosted.event_time == datetime(2026, 3, 4, 14, 22, 8, 123456, tzinfo=UTC)
    assert parse_event(hosted).context.event_time == "2026-03-04T14:22:08.123456+00:00"


def test_a_missing_or_unreadable_event_time_is_none_and_the_event_is_still_handled():
    """The time only measures; a bad one never costs a fix."""
    for value in (None, "yesterday", 42):
        event = write_event(PROD)
        if value is None:
            event.pop("eventTime")
        else:
            event["eventTime"] = value
        target = parse_event(event)
        assert target.context.event_time is None and target.ref.name == "contosoprod"


def test_the_function_apps_audit_line_carries_it(seeded, monkeypatch, tmp_path):
    """Through function_app.on_registry_write, as App Insights receives the line."""
    from engine_helpers import POLICY

    policy = tmp_path / "policies.yaml"
    policy.write_text(POLICY)
    with function_app_env(monkeypatch, policy) as app:
        app.on_registry_write(grid_event(write_event(PROD, eventTime=WRITTEN)))
        lines = [line for line in app.audit.for_registry(PROD) if line["outcome"] == "applied"]
    assert lines and all(line["event_time"] == "2026-03-04T14:22:08.123456+00:00" for line in lines)
