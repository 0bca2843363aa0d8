"""One CLI command's run: its options, settings, engine, errors and exit code (see acrguard/cli/app.py).

The global options are declared once (:data:`GLOBAL_OPTIONS`) and accepted before or after the
command name. Precedence: the command line beats the environment, and of two given values the one
after the command wins; except the mode, where a dry run from any source wins (``--dry-run``,
``--mode dry-run``, ``ACRGUARD_MODE=dry-run``) and two different ``--mode`` values are a usage
error. They reach the engine as a :class:`~acrguard.settings.Settings` built from the environment
plus these overrides; ``os.environ`` is never rewritten.
"""

from __future__ import annotations

import enum
import logging
import sys
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from acrguard.cli import render
from acrguard.cli.render import Item

if TYPE_CHECKING:
    from acrguard.engine import Engine
    from acrguard.run_mode import RunMode
    from acrguard.settings import Settings


class ExitCode(enum.IntEnum):
    OK = 0
    ERROR = 1
    USAGE = 2
    DRIFT = 3


class Output(enum.StrEnum):
    table = "table"
    json = "json"
    sarif = "sarif"  # check-iac only (REPORTS)
    junit = "junit"


#: The report formats only check-iac writes (a finding per file and line).
REPORTS = {"check-iac": (Output.sarif, Output.junit)}


class Mode(enum.StrEnum):
    dry_run = "dry-run"
    enforce = "enforce"


def _endpoint(value: str | None) -> str | None:
    """--arm-endpoint is checked as it is parsed: a usage error at once, not 6 failed attempts."""
    from acrguard.settings import parse_setting

    if value is None:
        return None
    try:
        return parse_setting("ACRGUARD_ARM_ENDPOINT", value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None


def _choice(kind: type[enum.StrEnum]) -> Any:
    """A callback that reads one of ``kind``'s values, or says in words which ones there are
    (typer's own message was pydantic's: "Value error, 'yaml' is not one of 'table', 'json'")."""

    def parse(value: str | None) -> Any:
        if value is None:
            return None
        try:
            return kind(value)
        except ValueError:
            *rest, last = (member.value for member in kind)
            allowed = f"{', '.join(rest)} or {last}" if rest else last
            raise typer.BadParameter(f"must be {allowed}, got {value!r}") from None

    return parse


#: name -> (annotation, default): added to every command, and to the app's callback.
GLOBAL_OPTIONS: dict[str, tuple[Any, Any]] = {
    "policy": (
        Annotated[
            Path | None,
            typer.Option("--policy", metavar="FILE", help="Policy file (beats ACRGUARD_POLICY_FILE)."),
        ],
        None,
    ),
    "mode": (
        Annotated[
            str | None,
            typer.Option(
                "--mode",
                metavar="<dry-run|enforce>",
                callback=_choice(Mode),
                help="dry-run forces a dry run; enforce never overrides a dry run stated elsewhere.",
            ),
        ],
        None,
    ),
    "dry_run": (
        Annotated[
            bool,
            typer.Option(
                "--dry-run", help="Decide and report, change nothing (exit 3 on drift); wins over --mode."
            ),
        ],
        False,
    ),
    "arm_endpoint": (
        Annotated[
            str | None,
            typer.Option(
                "--arm-endpoint",
                metavar="URL",
                callback=_endpoint,
                help="ARM endpoint, https:// (beats ACRGUARD_ARM_ENDPOINT).",
            ),
        ],
        None,
    ),
    "output": (
        Annotated[
            str | None,
            typer.Option(
                "--output",
                "-o",
                metavar="<table|json|sarif|junit>",
                callback=_choice(Output),
                help="table (default) or json; check-iac also sarif or junit.",
            ),
        ],
        None,
    ),
    "verbose": (
        Annotated[
            int,
            typer.Option(
                "--verbose",
                "-v",
                count=True,
                metavar="",
                show_default=False,
                help="-v: audit lines; -vv: debug.",
            ),
        ],
        0,
    ),
}
#: option -> the setting it overrides (the CLI's names for them in error messages).
OPTION_SETTINGS = {
    "policy": ("ACRGUARD_POLICY_FILE", "--policy"),
    "mode": ("ACRGUARD_MODE", "--mode"),
    "arm_endpoint": ("ACRGUARD_ARM_ENDPOINT", "--arm-endpoint"),
}


@dataclass(frozen=True)
class Options:
    """The global options as given on the command line; None (0 for -v) where not given."""

    policy: Path | None = None
    mode: Mode | None = None
    dry_run: bool = False
    arm_endpoint: str | None = None
    output: Output | None = None
    verbose: int = 0

    def then(self, later: Options) -> Options:
        """These options (before the command) followed by ``later`` (after it): a later value wins,
        -v counts add up, --dry-run in either place holds. Two different modes: ValueError (a
        usage error: which one the user meant is a guess, and a wrong guess writes)."""
        if self.mode and later.mode and self.mode != later.mode:
            raise ValueError(
                f"--mode {self.mode} before the command and --mode {later.mode} after it: give one"
                " (a dry run from any source wins: --dry-run, --mode dry-run, ACRGUARD_MODE=dry-run)"
            )
        merged = {f.name: getattr(later, f.name) or getattr(self, f.name) for f in fields(self)}
        return Options(**{**merged, "verbose": self.verbose + later.verbose})

    def overrides(self) -> dict[str, str | None]:
        """The settings these options replace, by ACRGUARD_* name."""
        return {
            setting: None if getattr(self, name) is None else str(getattr(self, name))
            for name, (setting, _) in OPTION_SETTINGS.items()
        }


class CliError(Exception):
    """A user-facing error: one line on stderr (one per problem), exit 1, never a traceback."""

    def __init__(
        self, message: str, problems: list[tuple[str, str]] | None = None, *, input: str | None = None
    ) -> None:
        super().__init__(message)
        # (input, message) pairs, e.g. (policy file, "key.path: reason"); the JSON document's
        # errors[].input, so every error names the file, stdin, blob, registry or setting it is about.
        self.problems = problems or ([(input, message)] if input else [])
        self.input = input


verbosity = 0  # for main(): print a traceback for unexpected errors only with -v


class Run:
    """One command's run: the settings with its options applied, the engine, and the results."""

    def __init__(self, command: str, opts: Options) -> None:
        global verbosity
        self.command = command
        self.opts = opts
        self.json = opts.output is Output.json
        if opts.output in (Output.sarif, Output.junit) and opts.output not in REPORTS.get(command, ()):
            raise typer.BadParameter(f"{opts.output} is written by check-iac only", param_hint="--output")
        self.errors: list[dict[str, str]] = []
        self.mode: str | None = None  # the run's default mode, once the policy is loaded
        self.forced_dry_run = False  # --dry-run, --mode dry-run or ACRGUARD_MODE=dry-run
        verbosity = opts.verbose
        configure_logging(opts.verbose)

    def settings(self, *, environment_mode: bool = False) -> Settings:
        """The settings with the options applied (``environment_mode``: all but --mode)."""
        from acrguard.settings import Settings, SettingsError

        overrides = {**self.opts.overrides(), **({"ACRGUARD_MODE": None} if environment_mode else {})}
        try:  # never a policy found elsewhere (a clone's, beside function_app.py): only ./policies.yaml
            return Settings.from_env(overrides, default_policy=Path.cwd() / "policies.yaml")
        except SettingsError as exc:
            flags = {setting: flag for setting, flag in OPTION_SETTINGS.values() if overrides[setting]}
            raise CliError(str(exc), [(flags.get(n, n), reason) for n, reason in exc.problems]) from None

    def policy_settings(self) -> Settings:
        """The settings, once their policy file exists (else what to do: `acrguard init`), with the
        file named on stderr: --policy, ACRGUARD_POLICY_FILE or ./policies.yaml, and no other."""
        from acrguard.policy.starter import missing_policy

        settings = self.settings()
        if problem := missing_policy(settings):
            raise CliError(problem, [(str(settings.policy_file), problem)])
        source = "--policy" if self.opts.policy else "ACRGUARD_POLICY_FILE" if settings.policy_named else None
        self.name_policy(settings.policy_file, source or "./policies.yaml")
        return settings

    def name_policy(self, path: Path, source: str) -> None:
        """One stderr line naming the policy read and where its name came from (never on stdout)."""
        sys.stderr.write(f"acrguard: policy {path.absolute()} (from {source})\n")

    def run_mode(self) -> RunMode:
        """The operator's mode from --dry-run, --mode and ACRGUARD_MODE (acrguard.run_mode decides)."""
        from acrguard.run_mode import run_mode

        option = self.opts.mode.value if self.opts.mode else None
        environment = self.settings(environment_mode=True).mode
        return run_mode(environment, dry_run=bool(self.opts.dry_run), option=option)  # type: ignore[arg-type]

    def engine(self) -> Engine:
        from acrguard.policy import PolicyError
        from acrguard.run_mode import default_mode
        from acrguard.runtime import build_engine

        settings = self.policy_settings()
        try:
            engine = build_engine(settings, self.run_mode())
        except PolicyError as exc:
            problems = [(exc.file, f"{path or '<root>'}: {reason}") for path, reason in exc.problems]
            raise CliError("invalid policy", problems) from None
        self.mode = default_mode(engine.policy, engine.run_mode)
        self.forced_dry_run = engine.run_mode.forced_dry_run
        return engine

    def error(self, input: str | None, message: str) -> None:
        self.errors.append({"input": input or "", "message": message})
        # Plain write: an error line is never wrapped or styled (grep, CI logs).
        sys.stderr.write(f"acrguard: error: {input + ': ' if input else ''}{message}\n")

    def fail(self, exc: CliError) -> None:
        """One line per problem, exit 1 (and the JSON document, so scripts always get one)."""
        for input, message in exc.problems or [(None, str(exc))]:
            self.error(input, message)
        self.finish(ExitCode.ERROR, {}, [])

    def finish(self, code: ExitCode, summary: dict[str, Any], results: list[dict[str, Any]]) -> None:
        if self.json:
            render.print_json(
                render.document(
                    self.command,
                    mode=self.mode,
                    exit_code=int(code),
                    summary=summary,
                    results=results,
                    errors=self.errors,
                )
            )
        raise typer.Exit(int(code))


def exit_code_for(items: list[Item], errors: bool = False) -> ExitCode:
    """From every record, not only each registry's overall outcome: a registry whose outcome is
    ``applied`` may still hold a ``planned`` rule (a per-rule dry-run), which is drift left in place."""
    outcomes = {i.outcome for i in items} | {r.outcome for i in items for r in i.records}
    if errors or "failed" in outcomes:
        return ExitCode.ERROR
    if "planned" in outcomes or "flagged" in outcomes:
        return ExitCode.DRIFT
    return ExitCode.OK


def configure_logging(verbose: int) -> None:
    """stderr only. Quiet by default (warnings and failed decisions); -v adds the audit lines.

    azure.identity's own warning (every credential it tried, one line each) shows only with -vv:
    the error line already says what to do.
    """
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    plain = logging.StreamHandler(sys.stderr)
    plain.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root.addHandler(plain)
    root.setLevel(level)
    audit = logging.getLogger("acrguard.audit")  # JSON lines, unprefixed, so they can be piped to jq
    audit.handlers = []
    raw = logging.StreamHandler(sys.stderr)
    raw.setFormatter(logging.Formatter("%(message)s"))
    audit.addHandler(raw)
    audit.propagate = False
    audit.setLevel(level)
    logging.getLogger("azure").setLevel(logging.DEBUG if verbose >= 2 else logging.WARNING)
    logging.getLogger("azure.identity").setLevel(logging.DEBUG if verbose >= 2 else logging.ERROR)
