"""`acrguard init` writes a starter policy; the default policy is ./policies.yaml,
and a missing one is reported with where it was looked for and a pointer to `acrguard init`."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from cli_helpers import ACRGUARD, ROOT

from acrguard.policy import load_policy
from acrguard.policy.starter import STARTER, missing_policy
from acrguard.settings import Settings


def acrguard(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACRGUARD_")}
    return subprocess.run(
        [str(ACRGUARD), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def test_init_writes_a_valid_commented_dry_run_starter(tmp_path):
    """`acrguard init` writes policies.yaml into the current directory."""
    result = acrguard(tmp_path, "init")
    assert result.returncode == 0, result.stderr
    written = tmp_path / "policies.yaml"
    assert written.read_text(encoding="utf-8") == STARTER
    assert str(written) in result.stdout
    policy = load_policy(written)
    assert policy.doc.mode == "dry-run"  # a first run never writes to a registry
    assert policy.rules["anonymous_pull"].enabled and not policy.rules["network_rules"].enabled
    assert sum(line.lstrip().startswith("#") for line in STARTER.splitlines()) >= 15


def test_init_never_overwrites_a_policy(tmp_path):
    """An existing policies.yaml is left as it is: exit 1, naming the file."""
    existing = tmp_path / "policies.yaml"
    existing.write_text("version: 1\nmode: enforce\n", encoding="utf-8")
    result = acrguard(tmp_path, "-o", "json", "init")
    assert result.returncode == 1
    assert existing.read_text(encoding="utf-8") == "version: 1\nmode: enforce\n"
    (error,) = json.loads(result.stdout)["errors"]
    assert error["input"] == str(existing) and "exists already" in error["message"]
    assert f"acrguard: error: {existing}: exists already" in result.stderr


def test_the_policy_in_the_current_directory_comes_first(tmp_path):
    """With no --policy or ACRGUARD_POLICY_FILE, `validate` read the policy beside
    the package (site-packages once installed); ./policies.yaml comes first now."""
    acrguard(tmp_path, "init")
    result = acrguard(tmp_path, "validate")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"{tmp_path / 'policies.yaml'}: valid"


def test_the_cli_default_is_the_current_directory_and_the_app_default_is_beside_function_app(
    tmp_path, monkeypatch
):
    """The CLI's default policy is ./policies.yaml and nothing else (a clone's own policies.yaml
    was its fallback); the Function App's, with ACRGUARD_POLICY_FILE empty, is the one beside
    function_app.py."""
    monkeypatch.delenv("ACRGUARD_POLICY_FILE", raising=False)
    cli = Settings.from_env(default_policy=tmp_path / "policies.yaml")
    assert cli.policy_file == tmp_path / "policies.yaml" and not cli.policy_named
    app = Settings.from_env()
    assert app.policy_file == ROOT / "policies.yaml" and (ROOT / "function_app.py").is_file()
    named = Settings.from_env({"ACRGUARD_POLICY_FILE": str(tmp_path / "x.yaml")}, default_policy=ROOT)
    assert named.policy_file == tmp_path / "x.yaml" and named.policy_named


def test_no_policy_found_says_where_it_looked_and_suggests_init(tmp_path):
    """With no policy file, the error names the place looked and `acrguard init`."""
    settings = Settings.from_env()
    defaulted = Settings(
        **{**vars(settings), "policy_file": tmp_path / "policies.yaml", "policy_named": False}
    )
    message = missing_policy(defaulted)
    assert message is not None
    assert f"{tmp_path / 'policies.yaml'} does not exist" in message and "acrguard init" in message
    named = Settings(**{**vars(settings), "policy_file": tmp_path / "mine.yaml", "policy_named": True})
    said = missing_policy(named) or ""
    assert "no such file" in said and "acrguard init" in said
    (tmp_path / "mine.yaml").write_text("version: 1\n", encoding="utf-8")
    assert missing_policy(named) is None


def test_an_unreadable_named_policy_is_left_to_the_loader(tmp_path):
    """A named path that exists but is not a file (a directory) gets the loader's own reason."""
    result = acrguard(tmp_path, "--policy", str(tmp_path), "validate")
    assert result.returncode == 1
    assert f"{tmp_path} is a directory, not a regular file" in result.stdout
    assert "Traceback" not in result.stderr


def test_init_writes_where_the_policy_option_or_setting_points(tmp_path):
    """`acrguard --policy custom.yaml init` wrote ./policies.yaml, and the next `validate` (reading
    custom.yaml) said it did not exist: init writes the file the other commands will read."""
    result = acrguard(tmp_path, "--policy", "custom.yaml", "init")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "custom.yaml").read_text(encoding="utf-8") == STARTER
    assert not (tmp_path / "policies.yaml").exists()
    assert acrguard(tmp_path, "--policy", "custom.yaml", "validate").returncode == 0
    env_target = tmp_path / "conf" / "acr.yaml"
    env_target.parent.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACRGUARD_")}
    by_setting = subprocess.run(
        [str(ACRGUARD), "init"],
        cwd=tmp_path,
        env={**env, "ACRGUARD_POLICY_FILE": str(env_target)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert by_setting.returncode == 0, by_setting.stderr
    assert env_target.read_text(encoding="utf-8") == STARTER and str(env_target) in by_setting.stdout
    again = acrguard(tmp_path, "--policy", "custom.yaml", "init")  # and still never overwrites
    assert again.returncode == 1 and "exists already" in again.stderr


def test_validate_prints_the_problems_on_stdout(tmp_path):
    """`acrguard validate bad.yaml > out.txt` left out.txt empty: the problems are the command's
    output; only errors about the command itself (no policy at all) stay on stderr."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrulez: {}\n", encoding="utf-8")
    result = acrguard(tmp_path, "validate", "bad.yaml")
    assert result.returncode == 1
    assert result.stdout.splitlines() == ["bad.yaml: rulez: unknown key; did you mean `rules`?"]
    assert "rulez" not in result.stderr
    missing = acrguard(tmp_path, "--policy", "absent.yaml", "validate")
    assert missing.returncode == 1 and missing.stdout == "" and "no such file" in missing.stderr
