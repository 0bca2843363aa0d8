"""Dead-letter replay against Azurite with the real blob SDK: nothing is deleted that was not handled."""

from __future__ import annotations

import copy
import json

import pytest
from azure.storage.blob import BlobServiceClient
from azurite import azurite  # noqa: F401 - the fixture
from cli_helpers import invoke, json_out, writes
from engine_helpers import DEMO_POLICY, DEMO_SEED, EVENT_SAMPLES, rid
from reliability import adversarial

from acrguard import deadletter

SAMPLE = json.loads((EVENT_SAMPLES / "dead-letter-blob.json").read_text())
PROD, STD = rid("contosoprod"), rid("contosostd")


def dead_letter(resource_id: str, event_id: str) -> bytes:
    events = copy.deepcopy(SAMPLE)
    event = events[0]
    event["id"] = event_id
    event["subject"] = event["data"]["resourceUri"] = resource_id
    return json.dumps(events).encode()


def delete_replayed(url: str, *extra: str, table: bool = False) -> tuple[str, ...]:
    """``acrguard replay --dead-letter URL --delete-replayed``, as JSON unless ``table``."""
    return (*(() if table else ("-o", "json")), "replay", "--dead-letter", url, "--delete-replayed", *extra)


def test_replay_deletes_only_blobs_whose_every_event_was_handled(emu, azurite, tmp_path):  # noqa: F811
    """A blob whose events were all handled goes; one with a failure stays. (The report-only
    firewall_unavailable rule is off here: it flags the open Standard registry, and a blob with a
    flagged decision stays too, as test_deletable_only_when_every_outcome_is_done shows.)"""
    emu.seed(DEMO_SEED)
    policy = tmp_path / "policy.yaml"
    shipped = DEMO_POLICY.read_text()
    switched = "firewall_unavailable:\n    enabled: false"
    policy.write_text(shipped.replace("firewall_unavailable:\n    enabled: true", switched, 1))
    assert switched in policy.read_text()  # the shipped policy still names the rule this way
    service = BlobServiceClient.from_connection_string(azurite["connection_string"])
    container = service.create_container(f"deadletter{tmp_path.name[-6:].lower().replace('_', '')}")
    prefix = "ACRGUARD-TOPIC/ACRGUARD/2026/11/22/09/"
    container.upload_blob(prefix + "good.json", dead_letter(STD, "evt-good"))
    container.upload_blob(prefix + "bad.json", dead_letter(PROD, "evt-bad"))
    container.upload_blob("elsewhere/other.json", dead_letter(STD, "evt-outside-prefix"))
    # contosoprod keeps failing (ARM 503 past the retry budget): its blob must stay.
    emu.inject(method="GET", resource_id=PROD, status=503, times=None)

    url = f"{azurite['endpoint']}/{container.container_name}/{prefix.rstrip('/')}"
    result = invoke(
        *delete_replayed(url),
        policy=policy,
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
    again = invoke(
        *delete_replayed(url),
        policy=policy,
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
    result = invoke(
        *delete_replayed(url, "--dry-run"),
        AZURE_STORAGE_CONNECTION_STRING=azurite["connection_string"],
    )
    assert result.returncode == 3
    assert [b.name for b in container.list_blobs()] == ["a.json"]
    assert emu.counters.writes() == 0


# --- a blob goes only when every event in it is done for good -------------------

DRY_POLICY = DEMO_POLICY.read_text().replace("mode: enforce", "mode: dry-run", 1)
RULE_DRY_POLICY = DEMO_POLICY.read_text().replace(
    "  anonymous_pull:\n    enabled: true\n", "  anonymous_pull:\n    enabled: true\n    mode: dry-run\n"
)


def _container(azurite, name: str, blobs: dict[str, bytes]):  # noqa: F811
    service = BlobServiceClient.from_connection_string(azurite["connection_string"])
    container = service.create_container(name)
    for blob, content in blobs.items():
        container.upload_blob(blob, content)
    return container, f"{azurite['endpoint']}/{name}"


def _replay(azurite, tmp_path, *args: str, policy_text: str | None = None, **env: str):  # noqa: F811
    """``acrguard *args`` reading Azurite, under ``policy_text`` (written to a file) when given."""
    policy = None
    if policy_text:
        policy = tmp_path / "policy.yaml"
        policy.write_text(policy_text)
    return invoke(*args, policy=policy, AZURE_STORAGE_CONNECTION_STRING=azurite["connection_string"], **env)


@pytest.mark.parametrize(
    ("source", "args", "env", "policy_text"),
    [
        pytest.param("mode-flag-before", ["--mode", "dry-run"], {}, None, id="mode-flag"),
        pytest.param("ACRGUARD_MODE", [], {"ACRGUARD_MODE": "dry-run"}, None, id="ACRGUARD_MODE"),
        pytest.param("policy-mode", [], {}, DRY_POLICY, id="policy-mode"),
        pytest.param("rule-mode", [], {}, RULE_DRY_POLICY, id="rule-mode"),
    ],
)
def test_a_blob_whose_events_were_only_planned_is_kept(
    emu,
    azurite,  # noqa: F811
    tmp_path,
    source,
    args,
    env,
    policy_text,
):
    """`replay --dead-letter --delete-replayed` keeps a blob whose events ended `planned` (dry-run
    from --mode, ACRGUARD_MODE or the policy): deleting it would lose events nothing wrote."""
    emu.seed(DEMO_SEED)
    name = f"dl{source.replace('-', '').replace('_', '').lower()}"
    container, url = _container(azurite, name, {"planned.json": dead_letter(STD, "evt-planned")})
    result = _replay(azurite, tmp_path, *args, *delete_replayed(url), policy_text=policy_text, **env)
    assert result.returncode == 3, result.stderr
    assert [r["outcome"] for r in json_out(result)["results"]] == ["planned"]
    assert [b.name for b in container.list_blobs()] == ["planned.json"]
    assert writes(emu) == []
    adversarial(5, f"--delete-replayed with a dry-run from {source}", "the blob of planned events is kept")


def test_under_a_dry_run_policy_a_blob_of_compliant_events_still_goes(emu, azurite, tmp_path):  # noqa: F811
    """The rule is per outcome, not per mode: an event that needs nothing (compliant)
    is done even when the policy is in dry-run, so its blob is deleted; the planned one's stays."""
    emu.seed(DEMO_SEED)
    blobs = {
        "compliant.json": dead_letter(rid("contosolocked"), "evt-compliant"),
        "planned.json": dead_letter(STD, "evt-planned"),
    }
    container, url = _container(azurite, "dlcompliantdry", blobs)
    result = _replay(azurite, tmp_path, *delete_replayed(url, table=True), policy_text=DRY_POLICY)
    assert result.returncode == 3, result.stderr
    assert "2 dead-letter blob(s)" in result.stdout and "1 deleted, 1 kept" in result.stdout
    assert [b.name for b in container.list_blobs()] == ["planned.json"]


@pytest.mark.parametrize(
    ("outcomes", "deletable"),
    [
        (["applied"], True),
        (["compliant", "skipped", "applied"], True),
        (["applied", "planned"], False),  # one rule enforced, another only planned
        (["flagged"], False),
        (["failed"], False),
        ([], False),
        (None, False),  # the blob could not be read
    ],
)
def test_deletable_only_when_every_outcome_is_done(outcomes, deletable):
    """Applied, compliant and skipped are done; planned, flagged and failed are not."""
    assert deadletter.deletable(outcomes) is deletable
