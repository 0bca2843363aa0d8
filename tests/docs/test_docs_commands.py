"""Every `acrguard …` command in the README and docs/CLI.md runs as written.

Each command is taken from the fenced code blocks, with the shell variables assigned earlier in the
same document, and run by bash from a directory that looks like the root of a clone, against the
emulator seeded with the demo estate (fresh for every command, as a reader would start). Its exit
code must be the documented one: `# exit N` in its trailing comment, 0 without one; for a pipeline,
acrguard's (pipefail). A command that cannot run offline says `# not runnable: why`; it is reported
as a skip with that reason, and their number is pinned below so that none is added unnoticed.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
import shlex
import shutil
from pathlib import Path

import pytest
from cli_samples import make_clone, run_as_reader
from engine_helpers import DEMO_SEED, ROOT

DOCS = ("README.md", "docs/CLI.md")
#: `# not runnable: …` lines in DOCS; change it together with the docs, deliberately.
NOT_RUNNABLE_COUNT = 3

_FENCE = re.compile(r"^\s*```")
_COMMAND = re.compile(r"^(?:\$\s+)?acrguard(?=\s|$)|\|\s*acrguard(?=\s|$)")
_ASSIGNMENT = re.compile(
    r"^(?:export\s+)?[A-Z][A-Z0-9_]*=\S+$"
)  # `export NAME=value` too: what a command needs in its environment
_EXIT = re.compile(r"#.*?\bexit (\d+)\b")
_NOT_RUNNABLE = re.compile(r"#.*?\bnot runnable: (.+)$")


@dataclasses.dataclass(frozen=True)
class DocCommand:
    doc: str
    line: int
    command: str  # as a reader pastes it, continuation lines joined
    assignments: tuple[str, ...]  # the variables the document set before it
    exit_code: int
    not_runnable: str | None

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def _logical_lines(block: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Join backslash continuations; keep the first line's number."""
    lines: list[tuple[int, str]] = []
    pending: tuple[int, str] | None = None
    for number, text in block:
        if pending is not None:
            number, text = pending[0], pending[1] + " " + text.strip()
        if text.rstrip().endswith("\\"):
            pending = (number, text.rstrip()[:-1].rstrip())
            continue
        pending = None
        lines.append((number, text))
    return lines


def doc_commands(doc: str) -> list[DocCommand]:
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] | None = None
    for number, text in enumerate((ROOT / doc).read_text(encoding="utf-8").splitlines(), start=1):
        if _FENCE.match(text):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append((number, text))
    assignments: list[str] = []
    commands: list[DocCommand] = []
    for block in blocks:
        for number, text in _logical_lines(block):
            stripped = text.strip()
            if _ASSIGNMENT.match(stripped):
                assignments.append(stripped)
            elif not stripped.startswith("#") and _COMMAND.search(stripped):
                exit_code = _EXIT.search(stripped)
                not_runnable = _NOT_RUNNABLE.search(stripped)
                commands.append(
                    DocCommand(
                        doc=doc,
                        line=number,
                        command=stripped.removeprefix("$").strip(),
                        assignments=tuple(assignments),
                        exit_code=int(exit_code.group(1)) if exit_code else 0,
                        not_runnable=not_runnable.group(1).strip() if not_runnable else None,
                    )
                )
    return commands


def _piped_programs(command: str) -> list[str]:
    """The programs after each unquoted ``|`` other than acrguard (``jq`` in ``… | jq '.a | .b'``)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
    return [after for before, after in itertools.pairwise(lexer) if before == "|" and after != "acrguard"]


COMMANDS = [command for doc in DOCS for command in doc_commands(doc)]


@pytest.fixture
def clone_dir(tmp_path: Path) -> Path:
    """The repository's top level seen through symlinks: relative paths resolve as in a clone, and
    what a command writes (``> drift.json``) lands in a temp dir, not in the worktree."""
    return make_clone(tmp_path)


@pytest.mark.parametrize("doc_command", COMMANDS, ids=[c.id for c in COMMANDS])
def test_documented_command_exits_with_the_documented_code(
    emu, clone_dir: Path, doc_command: DocCommand
) -> None:
    if doc_command.not_runnable:
        pytest.skip(f"not runnable as written ({doc_command.not_runnable}): {doc_command.command}")
    for program in _piped_programs(doc_command.command):
        if shutil.which(program) is None:
            pytest.skip(f"{program} is not installed: {doc_command.command}")
    emu.seed(DEMO_SEED)
    result = run_as_reader(emu, clone_dir, [*doc_command.assignments, doc_command.command])
    assert result.returncode == doc_command.exit_code, (
        f"{doc_command.id}: `{doc_command.command}` exited {result.returncode}, the docs say "
        f"{doc_command.exit_code}\n--- stdout\n{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}"
    )
    assert "Traceback" not in result.stderr, result.stderr


def test_the_docs_show_commands_and_say_which_cannot_run() -> None:
    """The extraction finds the examples of both documents, every non-runnable one says why, and
    their number is pinned: making an example unrunnable is a decision, not an accident."""
    for doc in DOCS:
        assert sum(c.doc == doc and not c.not_runnable for c in COMMANDS) >= 5, doc
    not_runnable = [f"{c.id}: {c.command}" for c in COMMANDS if c.not_runnable]
    assert len(not_runnable) == NOT_RUNNABLE_COUNT, "\n".join(not_runnable)
