"""Cloud Custodian's side of the comparison: its venv, the equivalent policy, and its runs.

c7n and c7n-azure live only in ``.venv-bench`` (the Makefile creates it once); the project never
depends on them. The equivalent policy is what c7n-azure can express for our two default rules:
it can *find* registries with anonymous pull on or an open Premium firewall (``value`` filters
on the listed/GET document), but its container-registry resource has no action that sets
registry properties (see ``actions`` from ``inspect``), so it reports and does not fix.
"""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

from bench.common import BENCH_PY, ChildRun, run_child

POLICY_NAME = "acr-guard-equivalent"
FILTERS: list[dict[str, Any]] = [
    {
        "or": [
            {"type": "value", "key": "properties.anonymousPullEnabled", "value": True},
            {
                "and": [
                    {"type": "value", "key": "sku.name", "value": "Premium"},
                    {"type": "value", "key": "properties.networkRuleSet.defaultAction", "value": "Allow"},
                ]
            },
        ]
    }
]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"


@cache
def unavailable_reason() -> str | None:
    """None when ``.venv-bench`` can import c7n_azure, else why not (reported, never hidden)."""
    if not BENCH_PY.exists():
        return f"{BENCH_PY} does not exist (the `make bench` target creates it; did its pip install fail?)"
    run = run_child([str(BENCH_PY), "-c", "import c7n_azure"], env=dict(os.environ), timeout=120)
    if run.returncode != 0:
        return f"`import c7n_azure` fails in .venv-bench: {run.stderr.strip().splitlines()[-1:]}"
    return None


def policy(mode: str, output_dir: Path) -> dict[str, Any]:
    """The policy file: ``event`` for the Functions (Event Grid) mode, ``pull`` for a sweep."""
    body: dict[str, Any] = {"name": POLICY_NAME, "resource": "azure.container-registry", "filters": FILTERS}
    if mode == "event":
        body["mode"] = {
            "type": "azure-event-grid",
            "events": [{"resourceProvider": "Microsoft.ContainerRegistry/registries", "event": "write"}],
            # c7n wants a user-assigned identity for Functions; the id is never called here.
            "provision-options": {
                "identity": {
                    "type": "UserAssigned",
                    "id": "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg"
                    "/providers/Microsoft.ManagedIdentity/userAssignedIdentities/c7n",
                }
            },
            "execution-options": {"output_dir": str(output_dir)},
        }
    return {"policies": [body]}


def write_files(directory: Path, subscription: str) -> dict[str, str]:
    """Policy (JSON for the handler, the same content as YAML-compatible JSON for validate) + auth."""
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / "output"
    files = {
        "event_policy": directory / "event-policy.json",
        "pull_policy": directory / "pull-policy.json",
        "auth_file": directory / "auth.json",
    }
    files["event_policy"].write_text(json.dumps(policy("event", out), indent=2))
    files["pull_policy"].write_text(json.dumps(policy("pull", out), indent=2))
    # What c7n-azure's Function reads (handler.run -> authorization_file): use the managed identity.
    files["auth_file"].write_text(
        json.dumps({"use_msi": True, "subscription_id": subscription, "tenant_id": TENANT})
    )
    return {**{k: str(v) for k, v in files.items()}, "output_dir": str(out)}


def run(mode: str, spec: dict[str, Any], env: dict[str, str], timeout: float = 600) -> ChildRun:
    result = run_child([str(BENCH_PY), "-m", "bench.c7n_child", mode], env=env, stdin=spec, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(f"c7n {mode} failed ({result.returncode}): {result.stderr[-3000:]}")
    return result


@cache
def facts() -> dict[str, Any]:
    """Code-path facts from the installed c7n-azure (cited in BENCHMARKS.md)."""
    return run("inspect", {}, env=dict(os.environ), timeout=120).result
