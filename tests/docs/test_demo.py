"""``python -m demo`` (``make demo``) as a newcomer runs it: the story in readable lines, and the
audit trail's JSON lines only with ``-v``."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from cli_helpers import ROOT


def _demo(*args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ACRGUARD_")}
    result = subprocess.run(
        [sys.executable, "-m", "demo", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.splitlines()


def _audit_lines(lines: list[str]) -> list[dict]:
    records = []
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and "outcome" in record:
            records.append(record)
    return records


def _decisions(lines: list[str]) -> int:
    """The count the demo's last line gives ("29 decisions in 5.5s, offline.")."""
    return int(next(line for line in reversed(lines) if " decisions in " in line).split()[0])


def test_the_demo_tells_who_changed_what_and_what_acr_guard_did_without_raw_json():
    """By default the demo prints no raw JSON audit line; the anonymous-pull fix on contosoprod is
    told in words: who wrote the registry, and the change ACR Guard made."""
    lines = _demo()
    assert _audit_lines(lines) == []
    assert not [line for line in lines if line.lstrip().startswith('{"')]
    start = next(
        i for i, line in enumerate(lines) if line.startswith("contosoprod") and "dev@contoso.example" in line
    )
    block = [lines[start]]
    for line in lines[start + 1 :]:
        if not line.startswith(" "):
            break
        block.append(line)
    assert "ms" in block[0]  # how long ACR Guard took
    fix = [line for line in block if "anonymous_pull" in line]
    assert len(fix) == 1
    assert fix[0].split()[0] == "applied"
    assert "anonymousPullEnabled: true → false" in fix[0]
    assert _decisions(lines) > 0


def test_the_demo_prints_the_audit_json_lines_with_v():
    """``-v`` still prints one JSON audit line per decision."""
    lines = _demo("-v")
    records = _audit_lines(lines)
    assert len(records) == _decisions(lines)
    assert {"registry", "rule", "caller", "duration_ms"} <= set(records[0])
