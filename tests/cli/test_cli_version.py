"""`acrguard --version`, `acrguard version` and shell completion, as an installed user runs them."""

from __future__ import annotations

from importlib.metadata import version

import pytest
from cli_helpers import invoke, run_cli

VERSION = version("acrguard")  # the installed package's metadata (pyproject.toml's version)


@pytest.mark.parametrize("args", [["--version"], ["version"]], ids=["--version", "version"])
def test_version_comes_from_the_package_metadata(args):
    """`acrguard --version` and `acrguard version` print `acrguard <version>` and exit 0 (both failed)."""
    result = invoke(*args)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"acrguard {VERSION}"


def test_version_needs_no_policy_and_no_azure(tmp_path):
    """The version is answered before any policy or credential is looked for (a fresh install)."""
    result = invoke("--version", policy=tmp_path / "missing.yaml")
    assert result.returncode == 0 and result.stdout.strip() == f"acrguard {VERSION}"


def test_completion_script_is_offered(emu):
    """`acrguard --show-completion bash` prints the script `--install-completion` installs."""
    # Typer detects the shell from the process tree (here: pytest's parent, `sh` under make) unless
    # detection is off; then the shell named on the command line is used, as a user names theirs.
    result = run_cli(emu, "--show-completion", "bash", _TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION="1")
    assert result.returncode == 0, result.stderr
    assert "_ACRGUARD_COMPLETE" in result.stdout and "complete" in result.stdout


def test_completion_completes_commands_and_options(emu):
    """The installed script's callback completes a command name and a command's options."""
    env = {"_ACRGUARD_COMPLETE": "complete_bash", "COMP_WORDS": "acrguard sw", "COMP_CWORD": "1"}
    result = run_cli(emu, **env)
    assert result.stdout.split() == ["sweep"], result.stderr
    env.update(COMP_WORDS="acrguard sweep --dry", COMP_CWORD="2")
    assert run_cli(emu, **env).stdout.split() == ["--dry-run"]
