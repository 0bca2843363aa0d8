"""Dead-letter replay against Azurite with the real blob SDK: nothing is deleted that was not handled."""

from __future__ import annotations

import copy
import json

from azure.storage.blob import BlobServiceClient
from azurite import azurite  # noqa: F401 - the fixture
from cli_helpers import json_out, run_cli
from engine_helpers import DEMO_SEED, EVENT_SAMPLES, rid

SAMPLE = json.loads((EVENT_SAMPLES / "dead-letter-blob.json").read_text())
PROD, STD = rid("contosoprod"), rid("contosostd")


def dead_letter(resource_id: str, event_id: str) -> bytes:
    events = copy.deepcopy(SAMPLE)
    event = events[0]
    event["id"] = event_id
    event["subject"] = event["data"]["resourceUri"] = resource_id
    return json.dumps(events).encode()


def test_replay_deletes_only_blobs_whose_every_event_was_handled(emu, azurite, tmp_path):  # noqa: F811
    emu.seed(DEMO_SEED)
    service = BlobServiceClient.from_connection_string(azurite["connection_string"])
    container = service.create_container(f"deadletter{tmp_path.name[-6:].lower().replace('_', '')}")
    prefix = "ACRGUARD-TOPIC/ACRGUARD/2026/11/22/09/"
    container.upload_blob(prefix + "good.json", dead_letter(STD, "evt-good"))
    container.upload_blob(prefix + "bad.json", dead_letter(PROD, "evt-bad"))
    container.upload_blob("elsewhere/other.json", dead_letter(STD, "evt-outside-prefix"))
    # contosoprod keeps failing (ARM 503 past the retry budget): its blob must stay.
    emu.inject(method="GET", resource_id=PROD, status=503, times=None)

    url = f"{azurite['endpoint']}/{container.container_name}/{prefix.rstrip('/')}"
    result = run_cli(
        emu,
        "-o",
        "json",
        "replay",
        "--dead-letter",
        url,
        "--delete-replayed",
        AZURE_STORAGE_CONNECTION_STRING=azurite["connection_string"],
        ACRGUARD_MAX_ATTEMPTS="2",
        ACRGUARD_RETRY_BUDGET_S="2",
    )
    assert result.returncode == 1, result.stderr  # one event could not be handled
    out = json_out(result)
    outcomes = {r["event_id"]: r["outcome"] for r in out["results"]}
    assert outcomes == {"evt-good": "applied", "evt-bad": "failed"}
    remaining = sorted(b.name for b in container.list_blobs())
    assert remaining == [prefix + "bad.json", "elsewhere/other.json"]
    assert emu.get_registry(STD)["properties"]["anonymousPullEnabled"] is False

    # The failure clears; a second replay handles the kept blob and deletes it.
    emu.clear_faults()
    again = run_cli(
        emu,
        "-o",
        "json",
        "replay",
        "--dead-letter",
        url,
        "--delete-replayed",
        AZURE_STORAGE_CONNECTION_STRING=azurite["connection_string"],
    )
    assert again.returncode == 0, again.stderr
    assert sorted(b.name for b in container.list_blobs()) == ["elsewhere/other.json"]


def test_dry_run_replay_never_deletes(emu, azurite):  # noqa: F811
    emu.seed(DEMO_SEED)
    service = BlobServiceClient.from_connection_string(azurite["connection_string"])
    container = service.create_container("deadletterdry")
    container.upload_blob("a.json", dead_letter(STD, "evt-dry"))
    url = f"{azurite['endpoint']}/deadletterdry"
    result = run_cli(
        emu,
        "-o",
        "json",
        "replay",
        "--dead-letter",
        url,
        "--delete-replayed",
        "--dry-run",
        AZURE_STORAGE_CONNECTION_STRING=azurite["connection_string"],
    )
    assert result.returncode == 3
    assert [b.name for b in container.list_blobs()] == ["a.json"]
    assert emu.counters.writes() == 0
