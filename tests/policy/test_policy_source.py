"""Which policy file is read, and only that one.

The CLI reads ``--policy``, ``ACRGUARD_POLICY_FILE`` or ``./policies.yaml`` and nothing else: a
policy found somewhere else (the clone's own, beside function_app.py) once ran an enforce sweep of
every subscription from a directory that had none. Every command that reads a policy names it on
stderr. The Function App reads the policies.yaml packaged beside function_app.py (or the file
ACRGUARD_POLICY_FILE names). A policy path that is not a regular file (a FIFO, a device) is refused
with what it is, instead of blocking on the read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cli_helpers import ACRGUARD, ROOT, invoke
from engine_helpers import DEMO_SEED, rid, write_event
from reliability import adversarial

from bench.common import package_tree

#: A valid policy that changes nothing: what these tests read is which file, not what it says.
QUIET = "version: 1\nmode: dry-run\n"
NOT_OURS = "version: 2  # if this file is read, the policy is invalid\n"


def cli(cwd: Path, emu, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """The console script as a user runs it: from ``cwd``, with no ACRGUARD_* variable but ``env``."""
    environment = {k: v for k, v in emu.subprocess_env().items() if not k.startswith("ACRGUARD_")}
    environment["ACRGUARD_ARM_ENDPOINT"] = emu.arm_url
    environment.update(env)
    return subprocess.run(
        [str(ACRGUARD), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=60
    )


def test_a_sweep_from_a_directory_without_a_policy_stops_before_any_arm_call(emu, tmp_path):
    """From a directory with no policies.yaml and no ACRGUARD_POLICY_FILE, the clone's own policy is
    not used: the sweep exits 1 before any ARM call and says how to get a policy."""
    emu.seed(DEMO_SEED)
    before = [(d["id"], d["properties"].get("networkRuleSet")) for d in emu.registries()]
    result = cli(tmp_path, emu, "sweep")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "acrguard init" in result.stderr and str(tmp_path / "policies.yaml") in result.stderr
    assert emu.requests == []  # not one ARM call: no list, no GET, no write
    assert [(d["id"], d["properties"].get("networkRuleSet")) for d in emu.registries()] == before
    adversarial(
        1,
        "`acrguard sweep` from a directory with no policies.yaml and no ACRGUARD_POLICY_FILE",
        f"exit {result.returncode} before any ARM call ({len(emu.requests)} requests): "
        + result.stderr.strip().splitlines()[-1],
        round=3,
    )


def _args(command: str) -> list[str]:
    """The command line of each command that reads a policy, against the demo seed."""
    return {
        "check": ["check", rid("contosoprod")],
        "explain": ["explain", rid("contosoprod")],
        "sweep": ["sweep"],
        "replay": ["replay", str(ROOT / "examples" / "events" / "registry-write.eventgrid.json")],
        "validate": ["validate"],
    }[command]


@pytest.mark.parametrize("command", ["check", "explain", "sweep", "replay", "validate"])
def test_no_policy_is_an_error_for_every_command_that_reads_one(emu, tmp_path, monkeypatch, command):
    """Every policy-reading command, run where there is no policy, fails the same way, with no ARM call."""
    emu.seed(DEMO_SEED)
    monkeypatch.chdir(tmp_path)
    args = _args(command)
    result = invoke(*args, ACRGUARD_POLICY_FILE=None)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "acrguard init" in result.stderr, result.stderr
    assert emu.requests == []


@pytest.mark.parametrize("command", ["check", "explain", "sweep", "replay", "validate"])
@pytest.mark.parametrize("source", ["--policy", "ACRGUARD_POLICY_FILE", "./policies.yaml"])
@pytest.mark.parametrize("output", ["table", "json"])
def test_every_command_that_reads_a_policy_names_it_on_stderr(
    emu, tmp_path, monkeypatch, command, source, output
):
    """One stderr line names the file used and where its name came from; -o json's stdout stays
    one JSON document."""
    emu.seed(DEMO_SEED)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    policy = (work if source == "./policies.yaml" else tmp_path) / "policies.yaml"
    policy.write_text(QUIET, encoding="utf-8")
    env: dict[str, str | None] = {"ACRGUARD_POLICY_FILE": None}
    options = ["-o", output]
    if source == "--policy":
        options += ["--policy", str(policy)]
    elif source == "ACRGUARD_POLICY_FILE":
        env["ACRGUARD_POLICY_FILE"] = str(policy)
    args = _args(command)
    result = invoke(*options, *args, **env)
    assert result.returncode in (0, 3), result.stdout + result.stderr
    named = [line for line in result.stderr.splitlines() if line.startswith("acrguard: policy ")]
    assert named == [f"acrguard: policy {policy} (from {source})"], result.stderr
    assert "acrguard: policy" not in result.stdout
    if output == "json":
        json.loads(result.stdout)


def test_validate_names_the_file_given_as_its_argument(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    given = tmp_path / "mine.yaml"
    given.write_text(QUIET, encoding="utf-8")
    result = invoke("validate", "mine.yaml", ACRGUARD_POLICY_FILE=None)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [f"acrguard: policy {given} (from the command line)"]


# --- the Function App's package ----------------------------------------------------------------

_PROBE = """
import json, sys
opened = []
sys.addaudithook(lambda event, args: opened.append(args[0]) if event == "open" else None)
import azure.functions as func
import function_app
from acrguard import runtime
on_write = {f.get_function_name(): f for f in function_app.app.get_functions()}["on_registry_write"]
on_write.get_user_function()(func.EventGridEvent(**json.loads(sys.argv[1])))
import acrguard, remediators
print(json.dumps({
    "opened": [str(p) for p in opened if isinstance(p, (str, bytes)) or hasattr(p, "__fspath__")],
    "source": runtime.engine().policy.source,
    "modules": [acrguard.__file__, remediators.__file__, function_app.__file__],
}))
"""


@pytest.mark.parametrize("setting", ["empty", "named"])
def test_the_function_app_reads_only_the_policy_packaged_beside_function_app(emu, tmp_path, setting):
    """The packaged app, started from a directory holding another policies.yaml, opens exactly the
    policies.yaml beside function_app.py (with ACRGUARD_POLICY_FILE empty, as infra/ sets it), or
    exactly the file ACRGUARD_POLICY_FILE names; nothing in the current directory or the clone."""
    from emulator.event_delivery import host_event_kwargs

    emu.seed(DEMO_SEED)
    package = package_tree(tmp_path / "package", bytecode=False)
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    (elsewhere / "policies.yaml").write_text(NOT_OURS, encoding="utf-8")
    named = tmp_path / "named" / "policy.yaml"
    named.parent.mkdir()
    named.write_text(QUIET, encoding="utf-8")
    expected = package / "policies.yaml" if setting == "empty" else named
    env = {k: v for k, v in emu.subprocess_env().items() if not k.startswith("ACRGUARD_")}
    env.update(
        ACRGUARD_POLICY_FILE="" if setting == "empty" else str(named),
        ACRGUARD_ARM_ENDPOINT=emu.arm_url,
        ACRGUARD_MODE="dry-run",
        PYTHONPATH=str(package),
        PYTHONDONTWRITEBYTECODE="1",
    )
    event = host_event_kwargs(write_event(rid("contosoprod")))
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(event)],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(Path(m).is_relative_to(package) for m in seen["modules"]), seen["modules"]
    assert seen["source"] == str(expected)
    opened = {Path(os.path.abspath(p)) for p in seen["opened"]}
    policies = {p for p in opened if p.suffix in (".yaml", ".yml")}
    assert policies == {expected}, policies
    assert not [p for p in opened if p.is_relative_to(elsewhere)]
    venv = Path(sys.prefix)
    from_clone = [p for p in opened if p.is_relative_to(ROOT) and not p.is_relative_to(venv)]
    assert from_clone == [], from_clone
    assert emu.requests_for(method="GET", route="registry"), "the event was not handled"
    if setting == "empty":
        adversarial(
            1,
            "the packaged Function App (ACRGUARD_POLICY_FILE empty) started from a directory holding "
            "another policies.yaml",
            f"of {len(opened)} files opened, the one policy is the package's own policies.yaml; "
            "nothing from the current directory or the clone",
            round=3,
        )


# --- only regular files -------------------------------------------------------------------------


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "policy.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="FIFOs are POSIX")
@pytest.mark.parametrize(
    "how",
    ["validate FIFO", "--policy FIFO validate", "ACRGUARD_POLICY_FILE=FIFO sweep", "--policy FIFO check"],
)
def test_a_fifo_as_the_policy_is_refused_not_waited_on(emu, tmp_path, fifo, how):
    """Reading a FIFO blocks until a writer opens it (forever, if none does): it is refused at once,
    naming the path and what it is, by every command that reads a policy."""
    args: list[str] = []
    env: dict[str, str] = {}
    for word in how.split():
        if word.startswith("ACRGUARD_POLICY_FILE="):
            env["ACRGUARD_POLICY_FILE"] = str(fifo)
        else:
            args.append(str(fifo) if word == "FIFO" else word)
    if args[-1] == "check":
        args.append(rid("contosoprod"))
    try:
        result = cli(tmp_path, emu, *args, **env)
    except subprocess.TimeoutExpired:
        pytest.fail(f"`acrguard {how}` blocked reading the FIFO")
    said = result.stdout + result.stderr  # validate's problems are its output (stdout); others: stderr
    assert result.returncode == 1, said
    assert f"{fifo}" in said and "is a FIFO (named pipe), not a regular file" in said
    assert "Traceback" not in said
    assert emu.requests == []
    adversarial(
        10,
        f"`acrguard {how}` with a FIFO as the policy",
        f"exit {result.returncode} at once, no ARM call, the problem named: "
        + next(line for line in said.splitlines() if "not a regular file" in line).replace(
            str(tmp_path), "…"
        ),
        round=3,
    )


@pytest.mark.parametrize(
    ("path", "kind"),
    [("/dev/null", "a character device"), ("/dev/zero", "a character device"), ("DIR", "a directory")],
)
def test_a_device_or_a_directory_as_the_policy_is_named_for_what_it_is(tmp_path, monkeypatch, path, kind):
    """/dev/null read as an empty policy, /dev/zero as a too-large one: both are refused as devices."""
    if not Path(path).exists() and path != "DIR":
        pytest.skip(f"{path} does not exist here")
    target = str(tmp_path) if path == "DIR" else path
    result = invoke("validate", target, ACRGUARD_POLICY_FILE=None)
    assert result.returncode == 1
    assert f"{target}: <root>: {target} is {kind}, not a regular file" in result.stdout + result.stderr
