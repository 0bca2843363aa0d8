"""``make demo``'s break-glass story: a person exempts contosoprod for 2 h and opens it again (the
guard leaves it open and flags it); on simulated time past ``until`` the timer's sweep closes it
again, the record saying the exemption expired."""

from __future__ import annotations

import os
import subprocess
import sys

from cli_helpers import ROOT


def test_the_demo_tells_an_exemption_that_ends_by_itself():
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACRGUARD_")}
    result = subprocess.run(
        [sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "break glass" in line)
    story = [line.split() for line in lines[start + 1 :] if line.strip()]
    said = [" ".join(words[:3]) for words in story]
    assert said[:2] == ["dev@contoso.example: acrguard exempt", "cli applied exemption:"]
    assert "event flagged anonymous_pull:" in said  # opened while exempt: left open, told
    fixed = said.index("reconcile applied anonymous_pull:")
    assert said[fixed + 1].startswith("note: the exemption")
    assert "expired at" in " ".join(story[fixed + 1])
    assert " ".join(story[fixed - 1]).startswith("(simulated time: 2 h later")
    assert " ".join(story[-2]) == "contosoprod: anonymousPullEnabled is false again"
