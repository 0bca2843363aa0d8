"""``make demo``'s break-glass story: a person exempts contosoprod for 2 h and opens it again (the
guard leaves it open and flags it); on simulated time past ``until`` the timer's sweep closes it
again, the record saying the exemption expired; then ``acrguard history`` tells all of it from the
demo's audit file."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from cli_helpers import ROOT


@pytest.fixture(scope="module")
def demo_output() -> list[str]:
    """``python -m demo``'s stdout lines (run once for this module), without the caller's ACRGUARD_*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACRGUARD_")}
    result = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def test_the_demo_tells_an_exemption_that_ends_by_itself(demo_output):
    lines = demo_output
    start = next(i for i, line in enumerate(lines) if "break glass" in line)
    story = [line.split() for line in lines[start + 1 :] if line.strip()]
    said = [" ".join(words[:3]) for words in story]
    assert said[0] == "dev@contoso.example: acrguard exempt"
    # the grant's record and the guard's decision on the grant's own event, in either order
    assert "cli applied anonymous_pull:" in said[1:3] and "event skipped anonymous_pull:" in said[1:3]
    assert "event flagged anonymous_pull:" in said  # opened while exempt: left open, told
    fixed = said.index("reconcile applied anonymous_pull:")
    assert said[fixed + 1].startswith("note: the exemption")
    assert "expired at" in " ".join(story[fixed + 1])
    assert " ".join(story[fixed - 1]).startswith("(simulated time: 2 h later")
    end = said.index("contosoprod: anonymousPullEnabled is")
    assert " ".join(story[end]) == "contosoprod: anonymousPullEnabled is false again"


def test_the_demo_ends_with_the_history_of_the_registry_it_told(demo_output):
    """The last table is ``acrguard history`` read from the demo's audit file: newest first, the
    fix after the exemption expired, the re-opening it let through, the exemption, the first fix."""
    lines = demo_output
    start = next(i for i, line in enumerate(lines) if "the history of contosoprod" in line)
    assert lines[start + 1] == "$ acrguard history contosoprod --since 1d --rule anonymous_pull"
    rows = [line.split("│") for line in lines[start + 2 :] if line.startswith("│ 20")]
    outcomes = [cells[3].strip() for cells in rows]  # time, rule, outcome, caller, ...
    applied = [i for i, outcome in enumerate(outcomes) if outcome == "applied"]
    flagged, skipped = outcomes.index("flagged"), outcomes.index("skipped")
    # newest first: fixed again < re-opened while exempt < exempted (the grant, and its own event) < first fix
    assert applied[0] < flagged < skipped < applied[-1] == len(outcomes) - 1
    grant = rows[applied[1]] if len(applied) > 2 else None
    assert grant is not None and "dev@contoso.example" in grant[4]  # the exemption, by the person
