"""What a person reads: the check table in a narrow terminal, and ``--help``."""

from __future__ import annotations

import re

import pytest
from cli_helpers import invoke
from rich.console import Console

from acrguard.audit import AuditRecord
from acrguard.cli.render import Item, check_table

RULES = {
    "defaultAction": "Deny",
    "ipRules": [{"action": "Allow", "value": f"203.0.113.{n}/32"} for n in range(8)],
}


def test_the_check_table_wraps_json_between_tokens_not_inside_a_word():
    """`check`'s before/after cells in a narrow terminal break between JSON tokens, never inside a
    word (they were folded as "defaultAct" / "ion": the JSON had no spaces to break at)."""
    record = AuditRecord(
        "applied",
        "/subscriptions/x/resourceGroups/rg/providers/Microsoft.ContainerRegistry/registries/r",
        "network_rules",
        "default action is Allow",
        before={"networkRuleSet": {"defaultAction": "Allow"}},
        after={"networkRuleSet": RULES},
    )
    out = Console(width=100, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    out.print(check_table(Item(record.registry, "applied", [record])))
    text = out.export_text()
    tokens = ["defaultAction", "ipRules", "networkRuleSet", *(f'"203.0.113.{n}/32"' for n in range(8))]
    cells = re.sub(r"\s*[│┃|]\s*", " ", text)  # the cell borders and their padding
    assert all(token in cells for token in tokens), text


COMMANDS = ["replay", "check", "explain", "sweep", "validate", "init", "schema"]


@pytest.mark.parametrize("command", ["", *COMMANDS])
def test_help_names_flags_and_arguments_the_way_a_person_types_them(command):
    """`--help` names flags and arguments as a person types them (it showed `-h <bool>`,
    `--dry-run <bool>`, `RESOURCE_ID <str>` and `check [OPTIONS] {RESOURCE_ID}`, typer 0.29's labels)."""
    result = invoke(*([command] if command else []), "--help")
    assert result.returncode == 0, result.stderr
    assert "-h, --help" in result.stdout
    assert not re.search(r"<(bool|str|int|list)[^>]*>|\{[A-Z_]+\}", result.stdout), result.stdout


def test_help_shows_each_usage_line_and_argument_as_typed():
    """The usage pieces and argument rows, one command each kind."""
    assert "Usage: acrguard check [OPTIONS] [RESOURCE_ID]\n" in invoke("check", "-h").stdout  # or -n NAME
    assert "Usage: acrguard validate [OPTIONS] [POLICY]\n" in invoke("validate", "-h").stdout
    replay = invoke("replay", "-h").stdout
    assert "Usage: acrguard replay [OPTIONS] [FILES]...\n" in replay
    assert re.search(r"^  FILES\.\.\.  Event files", replay, re.M), replay
    assert re.search(r"^  --dry-run  +Decide and report", replay, re.M), replay
