"""The acrguard CLI against the emulator: in process (CliRunner), and one subprocess smoke test per
command (the installed entry point as a user runs it: sweep, check, explain, replay, validate)."""

from __future__ import annotations

import json

from cli_helpers import ACRGUARD, ROOT, invoke, json_out, run_cli
from engine_helpers import EVENT_SAMPLES, SUB_A, SUB_B, rid

PROD, LOCKED, STD = rid("contosoprod"), rid("contosolocked"), rid("contosostd")
SAMPLES = EVENT_SAMPLES


def test_entry_point_is_installed():
    assert ACRGUARD.exists(), f"{ACRGUARD} missing: run `make test` (installs the package)"


def test_sweep_dry_run_reports_drift_with_its_own_exit_code_and_reads_only_list_pages(seeded):
    result = invoke("-o", "json", "sweep", "--dry-run", "--subscription", SUB_A, "--subscription", SUB_B)
    assert result.returncode == 3, result.stderr
    out = json_out(result)
    assert out["schema"] == "acrguard/v1" and out["command"] == "sweep"
    assert (
        out["summary"]["planned"] == 3 and out["summary"]["compliant"] == 1 and out["summary"]["skipped"] == 1
    )  # the Basic registry is open with no firewall possible: flagged (firewall_unavailable), not skipped
    assert seeded.counters.writes() == 0
    assert seeded.requests_for(method="GET", route="registry") == []  # no per-registry GET in dry-run
    assert len(seeded.requests_for(method="GET", route="list")) == 2  # one page per subscription


def test_sweep_enforce_fixes_and_a_second_sweep_finds_nothing(seeded):
    first = invoke("-o", "json", "sweep", "--subscription", SUB_A, "--subscription", SUB_B)
    assert json_out(first)["summary"]["applied"] == 3, first.stderr
    assert seeded.counters.writes() == 3
    # Compliant, exempt and Basic registries are decided from the list page: no GET for them.
    gets = {r.resource_id.lower() for r in seeded.requests_for(method="GET", route="registry")}
    assert gets == {PROD.lower(), STD.lower(), rid("contosoapps", SUB_B, "rg-apps").lower()}
    second = invoke("-o", "json", "sweep", "--subscription", SUB_A)
    assert json_out(second)["summary"]["applied"] == 0
    assert seeded.counters.writes() == 3


def test_sweep_table_output_has_the_summary(seeded):
    result = run_cli(seeded, "sweep", "--dry-run", "--subscription", SUB_A, "--subscription", SUB_B)
    assert result.returncode == 3
    assert "Summary" in result.stdout and "planned" in result.stdout and "contosoprod" in result.stdout


def test_check_fixes_one_registry_and_prints_before_after(seeded):
    result = run_cli(seeded, "check", STD)
    assert result.returncode == 3, (
        result.stderr
    )  # 3: the Standard SKU's missing firewall is flagged (firewall_unavailable)
    assert "anonymousPullEnabled=true" in result.stdout and "anonymousPullEnabled=false" in result.stdout
    assert seeded.get_registry(STD)["properties"]["anonymousPullEnabled"] is False


def test_check_dry_run_exits_3_and_writes_nothing(seeded):
    result = invoke("-o", "json", "check", PROD, "--dry-run")
    assert result.returncode == 3
    records = json_out(result)["results"][0]["records"]
    # firewall_unavailable (on by default) passes this Premium registry: it has a firewall
    assert {r["outcome"] for r in records if r["rule"] != "firewall_unavailable"} == {"planned"}
    assert seeded.counters.writes() == 0


def test_check_compliant_exits_0(seeded):
    assert invoke("check", LOCKED).returncode == 0
    assert (seeded.counters.reads(LOCKED), seeded.counters.writes(LOCKED)) == (1, 0)


def test_check_permission_error_exits_1_with_the_reason(seeded):
    seeded.inject(method="PATCH", resource_id=PROD, status=403, times=None)
    result = invoke("-o", "json", "check", PROD)
    assert result.returncode == 1
    assert "Microsoft.ContainerRegistry/registries/write" in result.stdout


def test_explain_names_the_winning_override_and_never_writes(seeded):
    apps = rid("contosoapps", SUB_B, "rg-apps")
    result = run_cli(seeded, "explain", apps)
    assert result.returncode == 0, result.stderr
    assert "override #1" in result.stdout and "dry-run" in result.stdout
    assert seeded.counters.writes() == 0


def test_replay_files_and_stdin(seeded):
    names = (
        "registry-write.eventgrid.json",
        "registry-write.cloudevent.json",
        "storage-write.eventgrid.json",
    )
    result = run_cli(seeded, "-o", "json", "replay", *(str(SAMPLES / n) for n in names))
    assert result.returncode == 0, result.stderr
    rows = [(r["event_id"], r["outcome"], r["input"].rsplit("/", 1)[-1]) for r in json_out(result)["results"]]
    assert rows == [
        ("b85db751-3d5e-45df-b4c7-3b18b422f868", "applied", names[0]),
        ("b85db751-3d5e-45df-b4c7-3b18b422f868", "compliant", names[1]),  # CloudEvents, same write
        ("c6a19820-2c62-45c5-994e-e5a5c504a08a", "skipped", names[2]),
    ]
    again = invoke("-o", "json", "replay", "-", stdin=(SAMPLES / "dead-letter-blob.json").read_text())
    assert [r["outcome"] for r in json_out(again)["results"]] == ["compliant"]


def test_malformed_file_is_a_clear_message_not_a_traceback(seeded, tmp_path):
    bad = tmp_path / "broken-event.json"
    bad.write_text('{"id": "x", "eventType":')
    result = invoke("replay", str(bad))
    assert result.returncode == 1
    assert "broken-event.json" in result.stderr and "Traceback" not in result.stderr + result.stdout
    assert seeded.requests == []


def test_absurdly_nested_json_is_named_as_such_not_an_internal_error(seeded, tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    result = invoke("replay", str(deep))
    assert result.returncode == 1
    assert "deep.json: JSON nested too deeply" in result.stderr and "internal error" not in result.stderr
    assert seeded.requests == []


def test_validate_good_and_bad_policies(emu, tmp_path):
    assert run_cli(emu, "validate", str(ROOT / "policies.yaml")).returncode == 0
    bad = tmp_path / "bad-policy.yaml"
    bad.write_text("version: 1\nrules:\n  network_rules: {enabled: true, allowed_ips: ['10.0.0.0/8']}\n")
    result = invoke("validate", str(bad))
    assert result.returncode == 1
    assert "bad-policy.yaml" in result.stderr + result.stdout
    assert "rules.network_rules.allowed_ips" in result.stderr + result.stdout
    assert "Traceback" not in result.stderr


def test_usage_error_exits_2(emu):
    assert invoke("sweep", "--concurrency", "lots").returncode == 2
    assert run_cli(emu, "no-such-command").returncode == 2


def test_json_output_is_clean_json_even_with_audit_lines(seeded):
    result = invoke("-o", "json", "-v", "check", LOCKED)
    json.loads(result.stdout)  # audit lines go to stderr
    assert '"outcome"' in result.stderr


def test_sweep_table_shows_every_finding_of_every_registry(seeded):
    """A registry row showed one rule; its other rules' findings (`firewall_unavailable: flagged`)
    were only in the JSON. Every finding (applied, planned, flagged or failed record) has a row of its
    own in the table, under its registry, with its rule and outcome."""
    args = ("sweep", "--dry-run", "--subscription", SUB_A, "--subscription", SUB_B)
    document = json_out(invoke("-o", "json", *args))
    expected = {
        (item["registry"].rsplit("/", 1)[-1], record["rule"], record["outcome"])
        for item in document["results"]
        for record in item["records"]
        if record["outcome"] in ("applied", "planned", "flagged", "failed")
    }
    assert ("contosostd", "firewall_unavailable", "flagged") in expected  # the one the table hid
    shown, registry = set(), None
    findings_table = invoke(*args).stdout.split("Summary")[0]
    for line in findings_table.splitlines():
        if not line.startswith("│"):
            continue
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        registry = cells[0].split()[0] if cells[0] else registry  # named once, on its first row
        if cells[1]:  # a wrapped reason continues with an empty rule cell
            shown.add((registry, cells[1], cells[2]))
    assert shown == expected
