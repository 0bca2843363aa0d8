"""`check` and `explain` by name, as `az acr` users type it: `-n NAME [-g GROUP] [--subscription S]`.

Resolved through the registry list of the scoped subscriptions (the sweep's own path), against the
emulator with the real SDK. A registry name is globally unique (Registries - Check Name
Availability, learn.microsoft.com/en-us/rest/api/containerregistry/registries/check-name-availability),
so two matches mean different clouds' or emulated data; they are listed, never guessed between.
"""

from __future__ import annotations

from cli_helpers import flat, invoke, json_out, writes
from engine_helpers import SUB_A, SUB_B, rid

PROD = rid("contosoprod")
ID_FORM = "/subscriptions/<subscription>/resourceGroups/<group>/providers/Microsoft.ContainerRegistry/registries/contosoprod"


def test_a_bare_name_is_refused_with_the_resource_id_form_and_the_name_option(seeded):
    """`acrguard check contosoprod` was refused without showing the right form: the usage error shows
    the resource ID form and `-n contosoprod`, and nothing reaches ARM."""
    result = invoke("check", "contosoprod")
    assert result.returncode == 2
    assert ID_FORM in flat(result.stderr) and "-n contosoprod" in flat(result.stderr), result.stderr
    assert seeded.requests == []


def test_check_by_name_finds_the_registry_through_the_subscription_lists(seeded):
    """`check -n contosoprod --dry-run` finds contosoprod in the subscriptions the identity can see
    (the demo policy scopes none) and checks it: the same result as by resource ID, nothing written."""
    result = invoke("-o", "json", "check", "-n", "contosoprod", "--dry-run")
    assert result.returncode == 3, result.stderr
    assert [r["registry"] for r in json_out(result)["results"]] == [PROD]
    assert writes(seeded) == []
    assert seeded.requests_for(route="list")  # found from the list pages


def test_check_by_name_group_and_subscription_needs_no_listing(seeded):
    """With -g and --subscription the ID is known: no list call, as with `az acr show -n -g`."""
    result = invoke(
        "-o", "json", "explain", "-n", "contosoprod", "-g", "rg-platform", "--subscription", SUB_A
    )
    assert result.returncode == 0, result.stderr
    assert json_out(result)["results"][0]["registry"] == PROD
    assert seeded.requests_for(route="list") == []


def test_a_name_in_two_places_is_listed_not_guessed(seeded):
    """Two registries called contosoprod (another subscription's): both IDs are listed, exit 1, no
    write; -g narrows it to one."""
    other = seeded.add_registry(subscription=SUB_B, resource_group="rg-apps", name="contosoprod")
    result = invoke("check", "-n", "contosoprod")
    assert result.returncode == 1
    assert PROD in result.stderr and other in result.stderr and "-g" in result.stderr, result.stderr
    assert writes(seeded) == []
    narrowed = invoke("-o", "json", "check", "-n", "contosoprod", "-g", "rg-apps", "--dry-run")
    assert [r["registry"] for r in json_out(narrowed)["results"]] == [other], narrowed.stderr


def test_an_unknown_name_says_where_it_looked_and_the_id_form(seeded):
    """`check -n nosuchreg`: which subscriptions were searched, and the resource ID form, exit 1."""
    result = invoke("check", "-n", "nosuchreg", "--subscription", SUB_A)
    assert result.returncode == 1
    assert f"no registry named nosuchreg in subscription {SUB_A}" in flat(result.stderr), result.stderr
    assert "/providers/Microsoft.ContainerRegistry/registries/nosuchreg" in result.stderr


def test_a_name_and_a_resource_id_together_are_a_usage_error(seeded):
    """Both forms at once is ambiguous: a usage error, exit 2."""
    result = invoke("check", PROD, "-n", "contosoprod")
    assert result.returncode == 2 and "not both" in flat(result.stderr), result.stderr
