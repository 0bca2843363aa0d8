"""docs/CLI.md's output samples are what the commands print today, not what they printed once.

Each sample (tests/cli_samples.py) is run against the emulator seeded with the demo estate and
compared with the document after normalising what differs between runs (times, durations, random
IDs) and column widths. ``python -m tests.cli_samples`` rewrites a stale sample.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from cli_samples import DOCS, layout_free, make_clone, run, samples

SAMPLES = [sample for doc in DOCS for sample in samples(doc)]


def test_the_cli_docs_have_samples_of_explain_check_and_sweep() -> None:
    """The samples the page promises are marked, so that the test below checks them."""
    commands = {sample.command.split()[1] for sample in SAMPLES}
    assert {"explain", "check", "sweep"} <= commands, commands


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.id for s in SAMPLES])
def test_a_documented_sample_is_what_the_command_prints(emu, tmp_path: Path, sample) -> None:
    """The command's exit code, the ARM calls the emulator counted and every line of its stdout
    match the sample (widths aside): a changed outcome, rule, column or summary makes it stale."""
    printed = run(emu, sample, make_clone(tmp_path / "clone"))
    assert layout_free(printed) == layout_free(sample.shown), (
        f"{sample.id}: the sample of `{sample.command}` is stale; regenerate it with "
        f"`python -m tests.cli_samples`\n--- printed now\n{printed}\n--- documented\n{sample.shown}"
    )
