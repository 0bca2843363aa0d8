"""The operator's mode for one run, kept apart from the policy file.

The policy says what each rule does; the operator may force a dry run for the whole run
(``--dry-run``, ``--mode``, ``ACRGUARD_MODE``). :func:`run_mode` is the one place that turns the
command line and the settings into a :class:`RunMode`; :func:`acrguard.plan.plan` takes it and
:func:`default_mode` says what a run without a per-rule answer does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acrguard.policy import Policy
    from remediators import Mode


@dataclass(frozen=True)
class RunMode:
    """The operator's mode (None: the policy decides) and where it came from."""

    mode: Mode | None = None
    source: str = "ACRGUARD_MODE"

    @property
    def label(self) -> str:
        """How a decision names it: ``--dry-run (dry-run)``."""
        return f"{self.source} ({self.mode})"

    @property
    def forced_dry_run(self) -> bool:
        return self.mode == "dry-run"


POLICY_DECIDES = RunMode()  # no operator's mode: each rule's mode comes from the policy


def run_mode(environment: str | None, *, dry_run: bool = False, option: Mode | None = None) -> RunMode:
    """The run's mode from ``ACRGUARD_MODE`` (``environment``) and the command line (``--dry-run``,
    ``--mode``). A dry run from any of them wins: ``--mode enforce`` never upgrades the
    environment's dry run, as a rule's ``enforce`` never upgrades the policy's."""
    if dry_run:
        return RunMode("dry-run", "--dry-run")
    if option == "dry-run":
        return RunMode("dry-run", "--mode")
    if environment == "dry-run":
        return RunMode("dry-run", "ACRGUARD_MODE")
    if option is not None:
        return RunMode(option, "--mode")
    return RunMode(environment, "ACRGUARD_MODE")  # type: ignore[arg-type]


def default_mode(policy: Policy, run: RunMode) -> Mode:
    """The mode of a decision no rule answers for (a skip, a subscription's failure): the
    operator's, else the policy's."""
    return run.mode or policy.doc.mode
