"""Global options: the command line beats the environment, before or after the command.

Run in process (tests/cli_helpers.invoke) against the emulator; writes are counted from the
emulator's request log, never from what the CLI says it did.
"""

from __future__ import annotations

import json

import pytest
from cli_helpers import flat, invoke, json_out, writes
from engine_helpers import DEMO_POLICY, SUB_A, SUB_B, rid, write_event
from reliability import adversarial

PROD = rid("contosoprod")
SWEEP = ["sweep", "--subscription", SUB_A, "--subscription", SUB_B]
DEAD_ENDPOINT = "https://127.0.0.1:9"  # nothing listens: a run that uses it fails (fast, one attempt)


def placed(position: str, option: list[str], command: list[str]) -> list[str]:
    """``acrguard OPTION COMMAND ...`` or ``acrguard COMMAND ... OPTION``."""
    return [*option, *command] if position == "before" else [*command, *option]


POSITIONS = pytest.mark.parametrize("position", ["before", "after"])
ENV_SET = pytest.mark.parametrize("env_set", [True, False], ids=["env-set", "env-unset"])


@POSITIONS
@ENV_SET
def test_mode_flag_beats_acrguard_mode(seeded, position, env_set):
    """`ACRGUARD_MODE=enforce acrguard --mode dry-run -o json sweep` applied 3 fixes.
    --mode dry-run means no write, wherever it stands and whatever ACRGUARD_MODE says."""
    env = {"ACRGUARD_MODE": "enforce" if env_set else None}
    result = invoke(*placed(position, ["--mode", "dry-run"], ["-o", "json", *SWEEP]), **env)
    assert result.returncode == 3, result.stderr
    assert json_out(result)["summary"]["planned"] == 3
    assert writes(seeded) == []
    adversarial(
        1,
        f"--mode dry-run {position} the command, ACRGUARD_MODE{'=enforce' if env_set else ' unset'}",
        "3 planned, 0 writes",
    )


@POSITIONS
def test_mode_enforce_flag_never_overrides_acrguard_mode_dry_run(seeded, position):
    """`ACRGUARD_MODE=dry-run acrguard check $REG --mode enforce` is a dry run: dry-run from any
    source wins, the environment included (it applied the fix)."""
    result = invoke(
        *placed(position, ["--mode", "enforce"], ["-o", "json", "check", rid("contosostd")]),
        ACRGUARD_MODE="dry-run",
    )
    assert result.returncode == 3, result.stderr
    assert {r["outcome"] for r in json_out(result)["results"][0]["records"]} >= {"planned"}
    assert writes(seeded) == []
    adversarial(1, f"ACRGUARD_MODE=dry-run with --mode enforce {position} the command", "planned, 0 writes")


@POSITIONS
def test_mode_enforce_flag_writes_when_nothing_says_dry_run(seeded, position):
    """--mode enforce over ACRGUARD_MODE unset lets the rules write (the fix is applied)."""
    result = invoke(*placed(position, ["--mode", "enforce"], ["-o", "json", "check", rid("contosostd")]))
    assert result.returncode == 3, result.stderr  # 3: the Standard SKU's missing firewall is flagged
    assert [w.resource_id.lower() for w in writes(seeded)] == [rid("contosostd").lower()]


@POSITIONS
@ENV_SET
def test_policy_flag_beats_acrguard_policy_file(seeded, tmp_path, position, env_set):
    """--policy before the command beats ACRGUARD_POLICY_FILE (it lost to it)."""
    dry = tmp_path / "dry-run-policy.yaml"
    dry.write_text(DEMO_POLICY.read_text().replace("mode: enforce", "mode: dry-run", 1))
    broken = tmp_path / "broken-policy.yaml"
    broken.write_text("version: 1\nrulez: {}\n")
    env = {"ACRGUARD_POLICY_FILE": str(broken) if env_set else None}
    result = invoke(*placed(position, ["--policy", str(dry)], ["-o", "json", "check", PROD]), **env)
    assert result.returncode == 3, result.stderr
    assert writes(seeded) == []


@POSITIONS
@ENV_SET
def test_arm_endpoint_flag_beats_acrguard_arm_endpoint(seeded, position, env_set):
    """--arm-endpoint before the command beats ACRGUARD_ARM_ENDPOINT (it lost to it)."""
    env = {"ACRGUARD_ARM_ENDPOINT": DEAD_ENDPOINT if env_set else None, "ACRGUARD_MAX_ATTEMPTS": "1"}
    result = invoke(
        *placed(position, ["--arm-endpoint", seeded.arm_url], ["-o", "json", "check", rid("contosolocked")]),
        **env,
    )
    assert result.returncode == 0, result.stderr
    assert seeded.counters.reads(rid("contosolocked")) == 1


@POSITIONS
def test_a_dead_arm_endpoint_flag_is_used_even_when_the_environment_names_a_good_one(seeded, position):
    """The flag is not just a fallback; given, it is the endpoint used."""
    result = invoke(
        *placed(position, ["--arm-endpoint", DEAD_ENDPOINT], ["check", rid("contosolocked")]),
        ACRGUARD_ARM_ENDPOINT=seeded.arm_url,
        ACRGUARD_MAX_ATTEMPTS="1",
    )
    assert result.returncode == 1
    assert seeded.requests_for(route="registry") == []


@POSITIONS
def test_output_option_in_either_position(seeded, position):
    """-o json before or after the command gives the JSON document."""
    result = invoke(*placed(position, ["-o", "json"], ["check", rid("contosolocked")]))
    assert json.loads(result.stdout)["command"] == "check"


@POSITIONS
def test_verbose_option_in_either_position(seeded, position):
    """-v before or after the command adds the audit lines on stderr."""
    result = invoke(*placed(position, ["-v"], ["check", rid("contosolocked")]))
    assert result.returncode == 0
    assert '"outcome":"compliant"' in result.stderr.replace(" ", "")


@pytest.mark.parametrize("before,after", [("dry-run", "enforce"), ("enforce", "dry-run")])
def test_two_different_modes_on_one_command_line_are_a_usage_error(seeded, before, after):
    """`acrguard --mode dry-run check $REG --mode enforce` applied the fix: two different --mode
    values on one command line are a usage error (exit 2, saying so), and nothing is written."""
    result = invoke("--mode", before, "check", PROD, "--mode", after)
    assert result.returncode == 2, result.stderr
    assert f"--mode {before} before the command and --mode {after} after it" in flat(result.stderr)
    assert writes(seeded) == []
    assert seeded.requests_for(route="registry") == []
    adversarial(1, f"`--mode {before} check $REG --mode {after}`", "usage error, exit 2, 0 writes")


def test_the_same_mode_twice_is_accepted(seeded):
    """`--mode dry-run check $REG --mode dry-run` says the same thing twice: a dry run, not an error."""
    result = invoke("--mode", "dry-run", "-o", "json", "check", PROD, "--mode", "dry-run")
    assert result.returncode == 3, result.stderr
    assert writes(seeded) == []


@pytest.mark.parametrize("command", [["check", PROD], SWEEP])
def test_dry_run_before_the_command_is_a_dry_run(seeded, command):
    """`acrguard --dry-run sweep` answered `No such option`: --dry-run is global like --mode, and a
    dry run wherever it stands (also over --mode enforce)."""
    result = invoke("--dry-run", "-o", "json", *command, "--mode", "enforce")
    assert result.returncode == 3, result.stderr
    assert json_out(result)["mode"] == "dry-run"
    assert writes(seeded) == []
    adversarial(1, f"`acrguard --dry-run {command[0]} ... --mode enforce`", "planned, exit 3, 0 writes")


# --- a dry-run from any source never writes, on every entry point ----------------------------------

DRY_POLICIES = {
    "policy-mode": ("mode: enforce", "mode: dry-run"),
    "rule-mode": (
        "  anonymous_pull:\n    enabled: true\n",
        "  anonymous_pull:\n    enabled: true\n    mode: dry-run\n",
    ),
    "override-mode": ("overrides:\n", "overrides:\n  - {match: {name: '*'}, mode: dry-run}\n"),
}
SOURCES = ["--dry-run", "--mode-before", "--mode-after", "ACRGUARD_MODE", *DRY_POLICIES]


def _policy(tmp_path, source: str):
    text = DEMO_POLICY.read_text()
    if source in DRY_POLICIES:
        old, new = DRY_POLICIES[source]
        assert old in text
        text = text.replace(old, new, 1)
        if source == "rule-mode":  # every enabled rule in dry-run: network_rules too
            text = text.replace("    existing_rules: keep", "    mode: dry-run\n    existing_rules: keep", 1)
    path = tmp_path / f"{source}.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["check", "sweep", "replay"])
@pytest.mark.parametrize("source", SOURCES)
def test_a_dry_run_from_any_source_writes_nothing_on_any_entry_point(seeded, tmp_path, command, source):
    """Dry-run from the flag, --mode (either position, over ACRGUARD_MODE=enforce),
    ACRGUARD_MODE, the policy's mode, a rule's mode or an override's mode: zero ARM writes."""
    events = tmp_path / "event.json"
    events.write_text(json.dumps([write_event(PROD), write_event(rid("contosostd"))]))
    args = {"check": ["check", PROD], "sweep": SWEEP, "replay": ["replay", str(events)]}[command]
    env: dict[str, str | None] = {"ACRGUARD_MODE": "enforce"}
    if source == "--dry-run":
        args = [*args, "--dry-run"]
    elif source.startswith("--mode"):
        args = placed(source.removeprefix("--mode-"), ["--mode", "dry-run"], args)
    elif source == "ACRGUARD_MODE":
        env["ACRGUARD_MODE"] = "dry-run"
    # Otherwise ACRGUARD_MODE=enforce stays set: it never overrides a dry-run written in the policy.
    result = invoke("-o", "json", *args, policy=_policy(tmp_path, source), **env)
    assert result.returncode == 3, result.stderr
    outcomes = {r["outcome"] for item in json_out(result)["results"] for r in item["records"]}
    assert "planned" in outcomes and "applied" not in outcomes
    assert writes(seeded) == []
    adversarial(1, f"dry-run from {source} on `{command}`", "planned, exit 3, 0 writes")
