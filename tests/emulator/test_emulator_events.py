"""Event sinks and delivery: callables, webhooks, failures, drain semantics, reset."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any

import pytest
import requests

from emulator import Emulator

SUB = "00000000-0000-0000-0000-00000000aaaa"
RG = "rg-platform"


def _patch(emu: Emulator, rid: str, body: dict[str, Any]) -> requests.Response:
    response = requests.patch(
        f"{emu.arm_url}{rid}?api-version=2025-11-01",
        json=body,
        headers=emu.auth_headers(),
        verify=emu.ca_path,
        timeout=10,
    )
    response.raise_for_status()
    return response


@pytest.fixture
def rid(emu: Emulator) -> str:
    return emu.add_registry(subscription=SUB, resource_group=RG, name="eventreg")


def test_delivery_happens_off_the_request_thread(emu: Emulator, rid: str) -> None:
    threads: list[str] = []
    emu.add_sink(lambda event: threads.append(threading.current_thread().name))
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()
    assert threads == ["emulator-event-dispatcher"]


def test_webhook_sink_receives_a_one_event_json_array(emu: Emulator, rid: str) -> None:
    received: list[Any] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers["aeg-event-type"], json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    hook = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=hook.serve_forever, daemon=True)
    thread.start()
    try:
        sink = emu.add_sink(f"http://127.0.0.1:{hook.server_address[1]}/api/updates")
        _patch(emu, rid, {"tags": {"x": "1"}})
        emu.drain()
    finally:
        hook.shutdown()
        hook.server_close()

    [(event_type, payload)] = received
    assert event_type == "Notification"
    assert isinstance(payload, list) and len(payload) == 1
    assert payload[0]["eventType"] == "Microsoft.Resources.ResourceWriteSuccess"
    assert sink.delivered == 1


def test_failing_sinks_are_recorded_and_do_not_stop_delivery(emu: Emulator, rid: str) -> None:
    delivered: list[str] = []

    def broken(event: dict[str, Any]) -> None:
        raise RuntimeError("sink down")

    emu.add_sink(broken)
    emu.add_sink(lambda event: delivered.append(event["id"]))
    emu.add_sink("https://127.0.0.1:1/unreachable")
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()

    assert len(delivered) == 1
    errors = emu.sink_errors
    assert len(errors) == 2 and "sink down" in errors[0].error


def test_drain_waits_for_a_slow_sink_and_its_cascade(emu: Emulator, rid: str) -> None:
    other = emu.add_registry(subscription=SUB, resource_group=RG, name="cascade")
    calls: list[str] = []

    def slow_then_write(event: dict[str, Any]) -> None:
        calls.append(event["subject"].rsplit("/", 1)[1])
        if len(calls) == 1:
            threading.Event().wait(0.2)
            _patch(emu, other, {"tags": {"from": "sink"}})

    emu.add_sink(slow_then_write)
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()
    assert calls == ["eventreg", "cascade"]


def test_wait_for_events_with_predicate_and_timeout(emu: Emulator, rid: str) -> None:
    _patch(emu, rid, {"tags": {"x": "1"}})
    matching = emu.wait_for_events(1, predicate=lambda e: e["subject"].endswith("/eventreg"))
    assert len(matching) == 1
    with pytest.raises(TimeoutError):
        emu.wait_for_events(2, timeout=0.2)


def test_drain_from_a_sink_is_refused(emu: Emulator, rid: str) -> None:
    emu.add_sink(lambda event: emu.drain())
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()
    assert "wait for itself" in emu.sink_errors[0].error


def test_removed_sinks_receive_nothing(emu: Emulator, rid: str) -> None:
    received: list[Any] = []
    sink = emu.add_sink(received.append)
    emu.remove_sink(sink)
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()
    assert received == [] and len(emu.events) == 1


def test_reset_drops_sinks_and_events(emu: Emulator, rid: str) -> None:
    received: list[Any] = []
    emu.add_sink(received.append)
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()
    emu.reset()
    assert emu.events == []
    rid = emu.add_registry(subscription=SUB, resource_group=RG, name="eventreg")
    _patch(emu, rid, {"tags": {"x": "2"}})
    emu.drain()
    assert len(received) == 1 and len(emu.events) == 1


def test_events_list_is_a_copy(emu: Emulator, rid: str) -> None:
    _patch(emu, rid, {"tags": {"x": "1"}})
    emu.drain()
    emu.events[0]["subject"] = "tampered"
    assert emu.events[0]["subject"].endswith("/eventreg")


def test_counters_split_reads_writes_and_polls(emu: Emulator, rid: str, arm_client) -> None:
    client = arm_client(SUB)
    client.registries.get(RG, "EVENTREG")
    emu.set_lro("async", polls=0, retry_after=0)
    client.registries.begin_update(RG, "eventreg", {"tags": {"y": "1"}}, polling_interval=0).result()

    assert (emu.counters.reads(rid), emu.counters.writes(rid), emu.counters.polls(rid)) == (2, 1, 1)
    assert (emu.counters.total_reads, emu.counters.total_writes, emu.counters.total_polls) == (2, 1, 1)
    assert emu.counters.identity_requests == 1
    assert emu.counters.reads(rid.lower()) == 2
