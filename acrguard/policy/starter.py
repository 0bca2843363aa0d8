"""``acrguard init``: a commented starter policies.yaml, and what to say when no policy is found.

The starter is safe to run as written: dry-run, and only the rules that need no site-specific
value are on (the firewall needs your allow-list, so it starts off). It never overwrites a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acrguard.settings import Settings


STARTER = """\
# ACR Guard policy. Check it with `acrguard validate`; `acrguard explain <registry ID>` shows what
# applies to one registry and why. Every key is checked strictly: an unknown key or a bad value is
# reported with its key path, and the service never runs on a half-valid file.
# Editor completion (VS Code YAML extension): run `acrguard schema > policies.schema.json`, then
# add this line at the top:  # yaml-language-server: $schema=policies.schema.json
version: 1

# dry-run: report drift (outcome "planned") and change nothing. Switch to enforce once the
# reports look right; the app setting ACRGUARD_MODE (or --mode) overrides this.
mode: dry-run

scope:
  # Never act outside these subscriptions (GUIDs). Empty: every subscription the identity can read.
  subscriptions: []

exempt:
  # Registries with this tag are evaluated and reported, never changed.
  tags: {acrguard: exempt}
  # Or by resource ID: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.ContainerRegistry/registries/<name>
  registries: []

rules:
  # Anonymous (unauthenticated) pull off. Standard and Premium SKUs.
  anonymous_pull:
    enabled: true

  # Registry firewall (Premium): default action Deny plus your public IPv4 allow-list.
  # Off until you list the addresses your clients and CI use.
  network_rules:
    enabled: false
    allowed_ips: []        # e.g. ["<office egress>/24", "<CI runner IP>"]: public addresses only
    existing_rules: keep   # keep: merge ours in, never remove a rule | replace: exactly this list
    bypass: AzureServices  # trusted Azure services (Defender scanning, ACR Tasks) still get in

  # Admin user (shared username/password) off.
  admin_user:
    enabled: false

  # Public network access off; only when the registry has an approved private endpoint.
  public_network_access:
    enabled: false

  # Opt-in rules about a registry's child resources. Each lists its collection (one ARM call per
  # event) only where it is enabled; off, they cost nothing. `acrguard rules` lists them all.
  #   repository_tokens: {enabled: true, allowed: [ci-pull]}   # disables every other enabled token
  #   diagnostic_settings: {enabled: true, workspace_id: /subscriptions/<id>/resourceGroups/<rg>/providers/Microsoft.OperationalInsights/workspaces/<name>}
  #   cache_rules: {enabled: true, allowed_sources: ["mcr.microsoft.com/*"]}   # report only
  #   geo_replication: {enabled: true}   # report only; Premium

# First match wins; each override's rules are merged over the ones above. For example:
#   - description: public registries serve anonymous pulls on purpose
#     match: {name: "pub*"}   # also: subscription, resource_group (glob), tags
#     rules:
#       anonymous_pull: {enabled: false}
overrides: []

# Notifications of planned and applied decisions, e.g.
#   webhooks: [{url: "https://example.com/hook", format: teams}]   # json, teams or slack
notify:
  webhooks: []
  eventgrid: []
"""


def write_starter(path: Path) -> Path:
    """Write the starter policy to ``path``; FileExistsError if a file is there already."""
    with path.open("x", encoding="utf-8") as file:  # "x": never overwrite, even in a race
        file.write(STARTER)
    return path


def missing_policy(settings: Settings) -> str | None:
    """Why there is no policy to load and what to do; None if it exists (or is there but is not a
    regular file: the loader says what it is)."""
    path = settings.policy_file
    if path.exists():
        return None
    if settings.policy_named:
        return (
            "no such file (named by --policy or ACRGUARD_POLICY_FILE); "
            "run `acrguard init` to write a starter policy"
        )
    return (
        f"no policy file: {path} does not exist, and neither --policy nor ACRGUARD_POLICY_FILE names "
        "one; run `acrguard init` to write a starter policies.yaml here, or name one with --policy FILE "
        "or ACRGUARD_POLICY_FILE"
    )
