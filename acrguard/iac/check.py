"""Read every input, judge every registry found, and keep going past an input that fails."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acrguard.iac import arm_template, bicep, terraform
from acrguard.iac.judge import Judged, judge
from acrguard.iac.model import Found, IacError, NotInfrastructure, Unknown
from acrguard.run_mode import POLICY_DECIDES, RunMode

log = logging.getLogger(__name__)
MAX_INPUT_BYTES = 50 * 1024 * 1024  # a plan of thousands of resources is a few MB


@dataclass
class Report:
    judged: list[Judged] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # input read, nothing to judge: why
    errors: list[IacError] = field(default_factory=list)
    files: int = 0


def context(subscription: str | None, resource_group: str | None, location: str | None) -> dict[str, Any]:
    """Where the deployment goes: what the command line says, else unknown."""
    return {
        "subscription": subscription or Unknown("the subscription (give --subscription)"),
        "resource_group": resource_group or Unknown("the resource group (give --resource-group)"),
        "location": location or Unknown("resourceGroup().location (give --location)"),
    }


def inputs(paths: list[Path]) -> list[Path]:
    """The files to read: each file given, and a directory's templates, plans and Bicep files (a
    Bicep file whose compiled ``.json`` sits beside it is read as that JSON)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and not _parameter_name(p)
                and (
                    p.suffix.lower() == ".json"
                    or (p.suffix.lower() == ".bicep" and not p.with_suffix(".json").is_file())
                )
            )
        else:
            found.append(path)
    return found


def _parameter_name(path: Path) -> bool:
    name = path.name.lower()
    return name.endswith((".parameters.json", ".params.json")) or name == "parameters.json"


def read(
    path: Path, parameters: dict[str, Any] | None, where: dict[str, Any]
) -> tuple[list[Found], list[str]]:
    """The registries one input would deploy, and the reasons for anything not read."""
    file = str(path)
    if path.suffix.lower() in (".bicep", ".bicepparam"):
        raise IacError(file, bicep.COMPILE_FIRST.format(file=file, json=path.with_suffix(".json")))
    try:
        if path.stat().st_size > MAX_INPUT_BYTES:
            raise IacError(file, f"larger than {MAX_INPUT_BYTES // 2**20} MiB; not read")
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise IacError(file, "no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise IacError(file, f"cannot read: {exc}") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise IacError(file, f"not JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    if terraform.is_plan(doc):
        return terraform.read_plan(file, doc, where)
    if arm_template.is_parameter_file(doc):
        raise NotInfrastructure(
            file, "a deployment parameter file: give it with --parameters, and its template as PATH"
        )
    if not arm_template.is_template(doc):
        raise NotInfrastructure(
            file,
            "neither an ARM template ($schema .../deploymentTemplate.json#) nor a Terraform plan "
            "(terraform show -json PLAN)",
        )
    return arm_template.read_template(path, text, doc, parameters or {}, where)


def check(
    paths: list[Path],
    parameters: Path | None,
    policy: Any,
    where: dict[str, Any],
    skip_other: bool = False,
    run: RunMode = POLICY_DECIDES,
) -> Report:
    """Read every input and judge every registry found; an input's error is recorded, the others go
    on. ``skip_other``: JSON that is neither a template nor a plan is a logged skip (pre-commit
    passes every staged JSON file)."""
    report = Report()
    given = None
    if parameters is not None:
        try:
            given = arm_template.read_parameters(parameters, parameters.read_text(encoding="utf-8-sig"))
        except OSError as exc:
            report.errors.append(IacError(str(parameters), f"cannot read: {exc}"))
            return report
        except IacError as exc:
            report.errors.append(exc)
            return report
    for path in inputs(paths):
        report.files += 1
        try:
            found, skipped = read(path, given, where)
            report.judged += [judge(f, policy, run) for f in found]
        except NotInfrastructure as exc:
            if not skip_other:
                report.errors.append(exc)
            else:
                report.skipped.append(str(exc))
            continue
        except IacError as exc:
            report.errors.append(exc)
            continue
        except RecursionError:
            report.errors.append(IacError(str(path), "an expression is nested too deeply to evaluate"))
            continue
        report.skipped += skipped
        if not found and not skipped:
            report.skipped.append(f"{path}: no Microsoft.ContainerRegistry/registries resource")
    for reason in report.skipped:
        log.warning("skipped %s", reason)
    return report
