"""The output samples in docs/CLI.md, produced by running their commands against the emulator.

A sample is a fenced block right after ``<!-- sample: COMMAND -->``. Its first line is
``$ COMMAND    # exit N; ARM calls: …`` (each part only when not 0) and the rest is the command's stdout, as printed, with
what changes from run to run normalised (times, durations, random IDs, the temporary directory).
Each command runs as tests/docs/test_docs_commands.py runs the documented commands: by bash, with the
document's earlier ``NAME=value`` lines, from a directory that looks like a clone's root, against
the emulator seeded with the demo estate (fresh for each sample), with only what the emulator's
``export`` lines set.

``python -m tests.cli_samples`` rewrites every sample in place (it starts its own emulator);
tests/docs/test_cli_samples.py fails when one is stale.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEMO_SEED = ROOT / "emulator" / "seeds" / "demo.yaml"
DOCS = ("docs/CLI.md",)
CLONE = "/path/to/clone"

_MARKER = re.compile(r"^<!-- sample: (?P<command>.+?) -->$")
_ASSIGNMENT = re.compile(
    r"^(?:export\s+)?[A-Z][A-Z0-9_]*=\S+$"
)  # `export NAME=value` too: what a command needs in its environment
_WRITES = ("PATCH", "PUT", "DELETE")
#: What differs between two runs of the same command against the same seed. The demo's own IDs
#: (subscriptions ``00000000-…``) are not random and stay; uuid4s (event and correlation IDs) go.
_VOLATILE = (
    (re.compile(r"\b\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)?"), "<time>"),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\b"), "<uuid>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?ms\b"), "<duration>"),
    (re.compile(r"\b\d+\.\d+ ?s\b"), "<duration>"),
)


@dataclass(frozen=True)
class Sample:
    doc: str
    line: int  # the marker's line, 1-based
    command: str
    assignments: tuple[str, ...]
    shown: str  # the fenced block's content as the document has it

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def samples(doc: str, text: str | None = None) -> list[Sample]:
    """The samples of ``doc`` (its text read from the repository unless given)."""
    lines = (text if text is not None else (ROOT / doc).read_text(encoding="utf-8")).splitlines()
    found: list[Sample] = []
    assignments: list[str] = []
    fenced = False
    for index, line in enumerate(lines):
        if line.lstrip().startswith("```"):
            fenced = not fenced
        elif fenced and _ASSIGNMENT.match(line.strip()):
            assignments.append(line.strip())
        marker = _MARKER.match(line)
        if marker and not fenced:
            if index + 1 >= len(lines) or lines[index + 1].strip() != "```":
                raise ValueError(f"{doc}:{index + 1}: a sample marker must be followed by a ``` block")
            end = lines.index("```", index + 2)
            shown = "\n".join(lines[index + 2 : end])
            found.append(Sample(doc, index + 1, marker["command"], tuple(assignments), shown))
    return found


def normalise(text: str, clone: Path | None = None) -> str:
    """``text`` without what differs between runs, and without trailing spaces."""
    if clone is not None:
        text = text.replace(str(clone), CLONE)
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def layout_free(text: str) -> str:
    """``text`` with column widths taken out (runs of spaces, and of one box-drawing character,
    become one): a normalised value of another length pads a table differently, its content is the same."""
    text = re.sub(r"([\u2500-\u257f])\1+", r"\1", text)
    return "\n".join(re.sub(r" {2,}", " ", line).strip() for line in text.splitlines())


def make_clone(directory: Path) -> Path:
    """``directory`` made to look like the repository's root (symlinks): relative paths resolve as
    in a clone, and what a command writes lands there."""
    directory.mkdir(exist_ok=True)
    for entry in ROOT.iterdir():
        if entry.name not in (".git", "drift.json"):
            (directory / entry.name).symlink_to(entry)
    return directory


def run_as_reader(emu: Any, clone: Path, script: list[str]) -> subprocess.CompletedProcess[str]:
    """``script`` run by bash from ``clone`` as a reader runs a documented command: with only what
    the emulator's ``export`` lines set, this Python's ``acrguard`` on PATH, and pipefail."""
    environment = emu.subprocess_env()
    for name in ("ACRGUARD_POLICY_FILE", "ACRGUARD_MODE", "AZURE_STORAGE_CONNECTION_STRING"):
        environment.pop(name, None)
    environment["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{environment.get('PATH', '')}"
    return subprocess.run(
        ["bash", "-c", "\n".join(["set -o pipefail", *script])],
        cwd=clone,
        env=environment,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def run(emu: Any, sample: Sample, clone: Path) -> str:
    """Run ``sample``'s command against ``emu`` seeded with the demo estate; the block it prints."""
    emu.reset()
    emu.seed(DEMO_SEED)
    result = run_as_reader(emu, clone, [*sample.assignments, sample.command])
    if "Traceback" in result.stderr:
        raise RuntimeError(f"{sample.id}: `{sample.command}` crashed:\n{result.stderr}")
    lists = len(emu.requests_for(method="GET", route="list"))
    gets = len(emu.requests_for(method="GET", route="registry"))
    writes = sum(len(emu.requests_for(method=method)) for method in _WRITES)
    exit_note = f"exit {result.returncode}" if result.returncode else ""
    calls = f"ARM calls: {_count(lists, 'list page')}, {_count(gets, 'GET')}, {_count(writes, 'write')}"
    note = "; ".join(part for part in (exit_note, calls if emu.requests else "") if part)
    header = f"$ {sample.command}" + (f"    # {note}" if note else "")
    return normalise(f"{header}\n{result.stdout}", clone)


def rewrite(text: str, doc: str, outputs: dict[int, str]) -> str:
    """``text`` with the block of the sample at each marker line replaced by its new output."""
    lines = text.splitlines()
    for sample in sorted(samples(doc, text), key=lambda s: s.line, reverse=True):
        start = sample.line + 1  # the opening ``` is lines[sample.line]
        end = lines.index("```", start)
        lines[start:end] = outputs[sample.line].splitlines()
    return "\n".join(lines) + ("\n" if text.endswith("\n") else "")


def main() -> int:
    from emulator import Emulator

    with tempfile.TemporaryDirectory() as directory:
        clone = make_clone(Path(directory) / "clone")
        with Emulator(state_dir=Path(directory) / "emulator") as emu:
            for doc in DOCS:
                path = ROOT / doc
                text = path.read_text(encoding="utf-8")
                outputs = {sample.line: run(emu, sample, clone) for sample in samples(doc, text)}
                updated = rewrite(text, doc, outputs)
                path.write_text(updated, encoding="utf-8")
                changed = "rewrote" if updated != text else "current:"
                print(f"{changed} {len(outputs)} samples in {doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
