"""Commands about the policy and the rules: ``validate``, ``init``, ``schema``, ``rules``, ``version``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from acrguard.cli import render
from acrguard.cli.help import Command
from acrguard.cli.params import argument
from acrguard.cli.run import CliError, ExitCode, Run

if TYPE_CHECKING:
    pass
from acrguard.cli.app import _version, app, command


@command
def validate(
    run: Run,
    file: Annotated[
        Path | None,
        argument(metavar="[POLICY]", help="Policy file (default: --policy / ACRGUARD_POLICY_FILE)."),
    ] = None,
) -> None:
    """Validate a policy file strictly: every problem with file, key path and reason. Exit 0 if valid."""
    from acrguard.policy import PolicyError, load_policy

    if file is not None:
        run.name_policy(file, "the command line")
    path = file or run.policy_settings().policy_file
    try:
        loaded = load_policy(path)
    except PolicyError as exc:
        source, problems = exc.file, list(exc.problems)
    else:
        source, problems = loaded.source, []  # load_policy ran every check, the sinks' too
        run.mode = loaded.doc.mode
    items = [{"file": source, "path": p or "<root>", "reason": r} for p, r in problems]
    if not run.json:
        # The problems are this command's output (`validate bad.yaml > out.txt`): stdout, one per
        # line as file: key.path: reason (what editors and CI logs parse).
        for path, reason in problems:
            sys.stdout.write(f"{source}: {path or '<root>'}: {reason}\n")
        if not problems:
            render.console().print(f"{source}: valid", markup=False)
    for item in items:
        run.errors.append({"input": source, "message": f"{item['path']}: {item['reason']}"})
    result = {"file": source, "valid": not problems, "problems": items}
    run.finish(ExitCode.ERROR if problems else ExitCode.OK, {"problems": len(problems)}, [result])


@command
def init(run: Run) -> None:
    """Write a commented starter policy where the next command will read it: --policy, else
    ACRGUARD_POLICY_FILE, else ./policies.yaml (never overwrites a file)."""
    from acrguard.policy.starter import write_starter

    target = run.settings().policy_file.absolute()
    try:
        path = write_starter(target)
    except FileExistsError:
        message = "exists already, left as it is; check it with `acrguard validate`"
        raise CliError(message, [(str(target), message)]) from None
    except OSError as exc:
        raise CliError(str(exc), [(str(target), f"cannot write: {exc.strerror or exc}")]) from None
    if not run.json:
        render.console().print(f"wrote {path}; next: acrguard validate", markup=False)
    run.finish(ExitCode.OK, {}, [{"file": str(path), "written": True}])


@app.command(cls=Command)
def version() -> None:
    """Print the version (the installed package's), as --version does."""
    sys.stdout.write(_version() + "\n")


@app.command(cls=Command)
def schema() -> None:
    """Print the JSON Schema of policies.yaml (for editors: yaml-language-server, VS Code)."""
    from acrguard.policy.schema import render as render_schema

    sys.stdout.write(render_schema())


@command
def rules(run: Run) -> None:
    """List every rule: fix type, default, severity, SKUs, Azure Policy and PSRule IDs, RBAC actions."""
    from acrguard import catalogue

    listed = catalogue.rules()
    if not run.json:
        render.console().print(catalogue.table())
    run.finish(ExitCode.OK, {"rules": len(listed)}, listed)
