"""Every entry of the JSON document's ``errors`` names its input (a file, stdin, a
blob or container, the registry, a setting), never ``""``; the stderr line starts with it too."""

from __future__ import annotations

import json

import pytest
from cli_helpers import invoke
from engine_helpers import DEMO_SEED, rid

MISSING_REGISTRY = rid("nosuchregistry")


@pytest.mark.parametrize(
    ("args", "stdin", "files", "input", "reason"),
    [
        (["replay", "missing.json"], None, {}, "missing.json", "cannot read"),
        (["replay", "-"], "", {}, "<stdin>", "empty input"),
        (["replay", "bad.json"], None, {"bad.json": "{not json"}, "bad.json", "not valid JSON"),
        (["replay", "list.json"], None, {"list.json": "[]"}, "list.json", "holds no event"),
        (["replay", "n.json"], None, {"n.json": "5"}, "n.json", "expected an event object"),
        (["replay", "--dead-letter", "ftp://x"], None, {}, "--dead-letter", "not a blob container URL"),
        (["check", MISSING_REGISTRY], None, {}, MISSING_REGISTRY, "not found"),
        (["explain", MISSING_REGISTRY], None, {}, MISSING_REGISTRY, "not found"),
    ],
)
def test_every_error_names_its_input(emu, tmp_path, monkeypatch, args, stdin, files, input, reason):
    """Each JSON errors[].input names its input, never "": unreadable files, stdin, bad dead-letter
    URLs and registries that do not exist."""
    emu.seed(DEMO_SEED)
    monkeypatch.chdir(tmp_path)
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    result = invoke("-o", "json", *args, stdin=stdin)
    assert result.returncode == 1, result.stderr
    errors = json.loads(result.stdout)["errors"]
    assert errors and all(e["input"] for e in errors), errors
    assert errors[0]["input"] == input and reason in errors[0]["message"], errors
    assert not errors[0]["message"].startswith(input)  # named once, as the input
    assert f"acrguard: error: {input}: " in result.stderr, result.stderr
