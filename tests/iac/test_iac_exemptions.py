"""Exemptions, overrides and modes reach templates as they reach live registries.

An exemption tag written in the template counts (and a deployment leaving a tag-exempt registry
drifting is flagged, as run time flags a write that does); an exemption by resource ID applies
when the template's ID resolves, and makes the verdict unknown when it may or may not; an override
matching the name does the same.
"""

from __future__ import annotations

from pathlib import Path

from iac_helpers import GROUP, SUB, outcomes, parameter_file, registry, run_check, template, write

from acrguard.policy import parse_policy

REGISTRY = registry(tags="[parameters('tags')]", properties={"anonymousPullEnabled": True})
PARAMETERS = {"name": {"type": "string"}, "tags": {"type": "object", "defaultValue": {}}}
EXEMPT_ID = f"/subscriptions/{SUB}/resourceGroups/{GROUP}/providers/Microsoft.ContainerRegistry/registries/acrlegacy01"
POLICY = parse_policy(
    f"""
version: 1
mode: enforce
exempt:
  tags: {{acrguard: exempt}}
  registries: ["{EXEMPT_ID.upper()}"]
rules:
  firewall_unavailable: {{enabled: false}}
overrides:
  - match: {{name: "pub*"}}
    rules: {{anonymous_pull: {{enabled: false}}}}
"""
)


def judge(tmp_path: Path, values: dict, **where: str | None) -> dict[str, str]:
    path = write(tmp_path, "t.json", template(REGISTRY, parameters=PARAMETERS))
    params = write(tmp_path, "t.parameters.json", parameter_file(values))
    return outcomes(run_check(path, POLICY, parameters=params, **where))


def test_the_drift_without_any_exemption(tmp_path: Path) -> None:
    assert judge(tmp_path, {"name": "acrshop01"}) == {"anonymous_pull": "drift"}


def test_an_exemption_tag_in_the_template_flags_the_drift_it_deploys(tmp_path: Path) -> None:
    """Tagged exempt: not fixed, but deploying a drifting registry under the tag is flagged, as run
    time flags a write that leaves a tag-exempt registry drifting."""
    assert judge(tmp_path, {"name": "acrshop01", "tags": {"acrguard": "exempt"}}) == {
        "anonymous_pull": "flagged"
    }


def test_an_exemption_by_resource_id_applies_when_the_id_resolves(tmp_path: Path) -> None:
    """exempt.registries names the registry the template deploys (any casing): skipped."""
    assert judge(tmp_path, {"name": "acrlegacy01"}) == {"anonymous_pull": "skipped"}


def test_an_exemption_by_resource_id_is_unknown_when_the_group_is(tmp_path: Path) -> None:
    """Without --resource-group the ID does not resolve: the registry may be the exempt one or not."""
    report_outcomes = judge(tmp_path, {"name": "acrlegacy01"}, group=None)
    assert report_outcomes == {"anonymous_pull": "unknown"}


def test_a_name_left_open_is_unknown_when_an_override_matches_names(tmp_path: Path) -> None:
    """The name is a parameter with no value: an override for pub* may apply, so no verdict."""
    path = write(tmp_path, "t.json", template(REGISTRY, parameters=PARAMETERS))
    report = run_check(path, POLICY)
    (verdict,) = report.judged[0].verdicts
    assert verdict.outcome == "unknown"
    assert "parameter name has no value" in verdict.reason


def test_an_override_by_name_applies_to_the_template(tmp_path: Path) -> None:
    assert judge(tmp_path, {"name": "pubimages01"}) == {}  # anonymous_pull disabled for pub*


def test_a_dry_run_policy_still_reports_the_drift(tmp_path: Path) -> None:
    """Mode changes what run time would do, not the finding: dry-run drift is drift in a pull request."""
    dry = parse_policy("version: 1\nmode: dry-run\nrules:\n  firewall_unavailable: {enabled: false}\n")
    path = write(tmp_path, "t.json", template({**REGISTRY, "name": "acrshop01", "tags": {}}, parameters={}))
    report = run_check(path, dry)
    (verdict,) = report.judged[0].verdicts
    assert (verdict.outcome, verdict.mode) == ("drift", "dry-run")
    assert report.judged[0].resource_id == EXEMPT_ID.replace("acrlegacy01", "acrshop01")


def test_an_override_that_turns_the_rule_off_for_some_names_makes_it_unknown(tmp_path: Path) -> None:
    """Only an override (no exemption): with the name open, the rule is on for most names and off for
    pub*. A rule that one possible value turns off is unknown, not a drift or a pass."""
    only_override = parse_policy(
        "version: 1\nrules:\n  firewall_unavailable: {enabled: false}\n"
        'overrides:\n  - match: {name: "pub*"}\n    rules: {anonymous_pull: {enabled: false}}\n'
    )
    path = write(tmp_path, "t.json", template(REGISTRY, parameters=PARAMETERS))
    (verdict,) = run_check(path, only_override).judged[0].verdicts
    assert verdict.outcome == "unknown"


def test_an_open_home_region_is_unknown_for_the_replica_rule(tmp_path: Path) -> None:
    """The registry's location is resourceGroup().location and no --location is given; its one
    replica is in westeurope. If the group is in westeurope, there is no replica elsewhere: the
    rule cannot pass on a guess."""
    policy = parse_policy(
        "version: 1\nrules:\n  firewall_unavailable: {enabled: false}\n  anonymous_pull: {enabled: false}\n  geo_replication: {enabled: true}\n"
    )
    replica = {
        "type": "Microsoft.ContainerRegistry/registries/replications",
        "apiVersion": "2023-07-01",
        "name": "acrshop01/westeurope",
        "location": "westeurope",
        "properties": {},
    }
    registry = {**REGISTRY, "name": "acrshop01", "tags": {}, "location": "[resourceGroup().location]"}
    path = write(tmp_path, "t.json", template(registry, replica))
    (verdict,) = run_check(path, policy, location=None).judged[0].verdicts
    assert verdict.outcome == "unknown"
    assert "resourceGroup().location" in verdict.reason
    (known,) = run_check(path, policy, location="eastus").judged[0].verdicts
    assert known.outcome == "compliant"
