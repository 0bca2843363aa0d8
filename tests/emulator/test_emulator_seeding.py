"""Seeds: the shipped demo estate, the samples as documents, compact entries, the generator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from engine_helpers import REGISTRY_SAMPLES

from emulator import Emulator, SeedError, load_seed
from emulator.seeds import DEMO_SEED, generate

SUB_A = "00000000-0000-0000-0000-00000000aaaa"
SUB_B = "00000000-0000-0000-0000-00000000bbbb"


def _by_name(documents: list[dict]) -> dict[str, dict]:
    return {document["name"]: document for document in documents}


def test_demo_seed_holds_the_demo_estate() -> None:
    registries = _by_name(load_seed(DEMO_SEED))
    assert set(registries) == {
        "contosoprod",
        "contosolocked",
        "contosostd",
        "contosobasic",
        "publicdist",
        "contosoapps",
    }

    prod = registries["contosoprod"]
    assert prod["sku"]["name"] == "Premium" and prod["properties"]["anonymousPullEnabled"] is True
    assert prod["properties"]["networkRuleSet"] == {"defaultAction": "Allow", "ipRules": []}

    locked = registries["contosolocked"]["properties"]["networkRuleSet"]
    assert locked["defaultAction"] == "Deny"
    assert [rule["value"] for rule in locked["ipRules"]] == ["20.1.2.0/24", "20.9.8.7"]

    assert registries["contosostd"]["sku"]["name"] == "Standard"
    assert registries["contosostd"]["properties"]["anonymousPullEnabled"] is True
    assert "networkRuleSet" not in registries["contosostd"]["properties"]
    assert registries["contosobasic"]["sku"]["name"] == "Basic"
    assert registries["publicdist"]["tags"]["acrguard"] == "exempt"

    apps = registries["contosoapps"]
    assert (
        apps["id"]
        == f"/subscriptions/{SUB_B}/resourceGroups/rg-apps/providers/Microsoft.ContainerRegistry/registries/contosoapps"
    )
    assert apps["properties"]["networkRuleSet"]["ipRules"] == [{"action": "Allow", "value": "192.0.2.10"}]
    assert all(
        d["id"].startswith(f"/subscriptions/{SUB_A}/") for n, d in registries.items() if n != "contosoapps"
    )


def test_compact_defaults_match_the_samples_shape(load_sample) -> None:
    for sample_name, name, sku in [
        ("registries/premium-open", "contosoprod", "Premium"),
        ("registries/basic", "contosobasic", "Basic"),
        ("registries/standard-anonymous", "contosostd", "Standard"),
    ]:
        sample = load_sample(sample_name)
        [document] = load_seed(
            [{"subscription": SUB_A, "resource_group": "rg-platform", "name": name, "sku": sku, "tags": {"env": "prod"},
              "properties": {"anonymousPullEnabled": sample["properties"]["anonymousPullEnabled"]}}]
        )  # fmt: skip
        assert set(document) == set(sample)
        assert set(document["properties"]) == set(sample["properties"]), sample_name
        assert document["properties"]["policies"].keys() == sample["properties"]["policies"].keys()
        assert document["id"] == sample["id"]


def test_sample_documents_can_be_seeded_by_file_reference(emu: Emulator, tmp_path: Path) -> None:
    seed = tmp_path / "seed.yaml"
    seed.write_text(
        yaml.safe_dump({"registries": [{"file": str(p)} for p in sorted(REGISTRY_SAMPLES.glob("*.json"))]})
    )
    ids = emu.seed(seed)
    assert len(ids) == 4
    sample = json.loads((REGISTRY_SAMPLES / "premium-compliant.json").read_text())
    assert emu.get_registry(sample["id"]) == sample


def test_inline_documents_and_json_files(emu: Emulator, load_sample, tmp_path: Path) -> None:
    seed = tmp_path / "seed.json"
    seed.write_text(json.dumps([load_sample("registries/basic")]))
    [rid] = emu.seed(seed)
    assert emu.get_registry(rid)["sku"]["name"] == "Basic"


def test_defaults_apply_to_compact_entries() -> None:
    documents = load_seed(
        {
            "defaults": {
                "subscription": SUB_A,
                "resource_group": "rg-x",
                "sku": "Standard",
                "location": "northeurope",
            },
            "registries": [{"name": "one"}, {"name": "two", "sku": "Premium", "resource_group": "rg-y"}],
        }
    )
    one, two = documents
    assert (one["sku"]["name"], one["location"], one["id"].split("/")[4]) == (
        "Standard",
        "northeurope",
        "rg-x",
    )
    assert (two["sku"]["name"], two["id"].split("/")[4]) == ("Premium", "rg-y")


@pytest.mark.parametrize(
    ("seed", "message"),
    [
        ({"registries": [{"name": "x"}]}, "'subscription' is required"),
        ({"registries": [{"subscription": "s", "resource_group": "g", "name": "x", "colour": "red"}]}, "unknown key"),
        ({"registries": [{"subscription": "s", "resource_group": "g", "name": "x", "sku": "Gold"}]}, "unknown SKU"),
        ({"regs": []}, "unknown top-level key"),
        (
            {"registries": [{"subscription": "s", "resource_group": "g", "name": "x", "sku": "Basic",
                             "properties": {"anonymousPullEnabled": True}}]},
            "Anonymous pull is not supported",
        ),
        (
            {"registries": [{"subscription": "s", "resource_group": "g", "name": "x", "sku": "Standard",
                             "properties": {"networkRuleSet": {"defaultAction": "Deny"}}}]},
            "NetworkRuleNotSupported",
        ),
        ({"registries": [{"id": "/not/a/registry"}]}, "not a Microsoft.ContainerRegistry/registries"),
        ({"registries": [{"file": "missing.json"}]}, "cannot read"),
    ],
)  # fmt: skip
def test_invalid_seeds_name_the_entry_and_the_reason(seed: dict, message: str) -> None:
    with pytest.raises(SeedError, match=r"registries\[0\]|top-level") as caught:
        load_seed(seed)
    assert message in str(caught.value)


def test_generator_is_deterministic_and_drifts_the_requested_share() -> None:
    first = generate(subscriptions=3, per_subscription=200, drift_ratio=0.05, seed=7)
    second = generate(subscriptions=3, per_subscription=200, drift_ratio=0.05, seed=7)
    other = generate(subscriptions=3, per_subscription=200, drift_ratio=0.05, seed=8)

    assert first == second and first != other
    assert len(first["registries"]) == 600
    assert len(first["meta"]["drifted"]) == 30
    assert len(first["meta"]["subscriptions"]) == 3


def test_generated_estate_loads_and_drifted_registries_are_the_drifted_ones(emu: Emulator) -> None:
    estate = generate(subscriptions=2, per_subscription=150, drift_ratio=0.1, seed=1)
    ids = emu.seed(estate)
    assert len(ids) == 300
    drifted = set(estate["meta"]["drifted"])
    for document in emu.registries():
        props = document["properties"]
        open_firewall = props.get("networkRuleSet", {}).get("defaultAction") == "Allow"
        is_drifted = props["anonymousPullEnabled"] or open_firewall
        assert is_drifted == (document["id"] in drifted), document["id"]


def test_a_large_generated_estate_seeds_and_lists_in_pages(emu: Emulator, arm_client) -> None:
    estate = generate(subscriptions=1, per_subscription=2000, drift_ratio=0.01, seed=3)
    emu.seed(estate)
    emu.page_size = 500
    names = [r.name for r in arm_client(estate["meta"]["subscriptions"][0]).registries.list()]
    assert len(names) == len(set(names)) == 2000
    # Work, not wall time (make bench times it): four pages of 500, each one request.
    assert [r.status for r in emu.requests_for(route="list")] == [200] * 4


@pytest.mark.parametrize(
    "entry, reason",
    [
        ({"properties": {"adminUserEnabled": "yes"}}, "Path 'properties.adminUserEnabled'"),
        ({"properties": {"publicNetworkAccess": "Sometimes"}}, "to type 'PublicNetworkAccess'"),
    ],
)
def test_a_seed_with_a_wrong_type_or_enum_value_is_refused(entry: dict, reason: str) -> None:
    """A seed cannot hold a state ARM would refuse to store."""
    seed = [{"subscription": SUB_A, "resource_group": "rg", "name": "contososeed", **entry}]
    with pytest.raises(
        SeedError, match=r"registries\[0\]: ARM would refuse this registry: InvalidRequestContent"
    ) as caught:
        load_seed(seed)
    assert reason in str(caught.value)


def test_seeds_take_the_api_versions_shape(load_sample) -> None:
    """Seeds take the api-version's shape: enum casing is made canonical; preview-only properties
    are dropped."""
    document = load_sample("registries/premium-open")
    document["properties"] |= {"publicNetworkAccess": "disabled", "metadataSearch": "Enabled"}
    compact = {"subscription": SUB_A, "resource_group": "rg", "name": "contososeed",
               "properties": {"networkRuleBypassOptions": "none"}}  # fmt: skip

    full, short = load_seed([document, compact])

    assert full["properties"]["publicNetworkAccess"] == "Disabled"
    assert "metadataSearch" not in full["properties"]
    assert short["properties"]["networkRuleBypassOptions"] == "None"
