"""Operator errors are quick and clear (issue 17 item 15): one line that names what is wrong and
the fix, the right exit code, and no ARM call that cannot succeed. In process, against the emulator."""

from __future__ import annotations

import re
import time

import pytest
from cli_helpers import flat, invoke, json_out
from engine_helpers import BAD_INPUT, DEMO_POLICY, SUB_A, rid
from reliability import adversarial

from acrguard.arm import Arm, TransientArmError
from acrguard.cli_render import OUTCOMES
from acrguard.resource_ids import RegistryRef
from acrguard.settings import Settings

LOCKED = rid("contosolocked")
UNKNOWN_SUB = "00000000-0000-0000-0000-0000000d0d0d"
NAMED_POLICY = f"acrguard: policy {DEMO_POLICY} (from ACRGUARD_POLICY_FILE)"  # then the one error line


def test_no_credential_at_all_is_one_line_naming_the_fix_in_under_2_seconds(seeded):
    """Issue 17 item 15: with no credential, `check` retried for 17 s and printed DefaultAzureCredential's
    whole chain (84 lines). Now: one line naming `az login` and the emulator's export lines, exit 1."""
    started = time.monotonic()
    result = invoke("check", LOCKED, IDENTITY_ENDPOINT=None, IDENTITY_HEADER=None)
    elapsed = time.monotonic() - started
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        NAMED_POLICY,
        f"acrguard: error: {LOCKED}: no Azure credential found: run `az login` (against the emulator, "
        "paste the `export` lines that `python -m emulator` prints)",
    ]
    assert elapsed < 2, f"took {elapsed:.1f}s"
    assert seeded.requests == []
    adversarial(
        15, "`check` with no credential at all", f"one line naming `az login`, exit 1 in {elapsed:.1f} s"
    )


@pytest.mark.parametrize("down", ["refused", "500"])
def test_a_managed_identity_endpoint_that_is_down_is_still_transient(seeded, monkeypatch, down):
    """Issue 17 item 15: the Function App's case is unchanged: an identity endpoint that refuses the
    connection or answers 500 (which azure-identity calls "unavailable" inside the chain) is a
    transient failure (retried, then raised for redelivery), not "no credential"."""
    if down == "refused":
        monkeypatch.setenv("IDENTITY_ENDPOINT", "http://127.0.0.1:9/msi/token")
    else:
        seeded.inject(route="identity", status=500, times=None)
    monkeypatch.setenv("ACRGUARD_MAX_ATTEMPTS", "2")
    arm = Arm(Settings.from_env())
    try:
        with pytest.raises(TransientArmError) as raised:
            arm.get(RegistryRef.parse(LOCKED))
    finally:
        arm.close()
    assert "still failing after 2 attempts" in str(raised.value)
    assert "no Azure credential" not in str(raised.value)


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_non_https_arm_endpoint_option_is_a_usage_error_at_once(seeded, position):
    """Issue 17 item 15: a non-HTTPS --arm-endpoint failed only after 6 attempts."""
    option = ["--arm-endpoint", "http://127.0.0.1:1"]
    args = [*option, "check", LOCKED] if position == "before" else ["check", LOCKED, *option]
    started = time.monotonic()
    result = invoke(*args)
    assert result.returncode == 2
    assert "Invalid value for '--arm-endpoint': must be an https:// URL, got http://127.0.0.1" in flat(
        result.stderr
    )
    assert time.monotonic() - started < 1
    assert seeded.requests == []


def test_a_non_https_arm_endpoint_setting_fails_at_once_naming_it(seeded):
    """Issue 17 item 15: the same for ACRGUARD_ARM_ENDPOINT (a setting, so exit 1, not a usage error)."""
    started = time.monotonic()
    result = invoke("check", LOCKED, ACRGUARD_ARM_ENDPOINT="http://127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "acrguard: error: ACRGUARD_ARM_ENDPOINT: must be an https:// URL, got http://127.0.0.1"
    ]
    assert time.monotonic() - started < 1
    adversarial(15, "ACRGUARD_ARM_ENDPOINT=http://...", "one line naming the setting, exit 1, 0 ARM calls")


def test_sweep_subscription_that_is_not_a_guid_is_a_usage_error(seeded):
    """Issue 17 item 15: `sweep --subscription not-a-guid` reported 0 registries and exited 0."""
    result = invoke("sweep", "--subscription", "not-a-guid")
    assert result.returncode == 2
    assert "'not-a-guid' is not a subscription ID (a GUID" in flat(result.stderr)
    assert seeded.requests == []
    adversarial(15, "`sweep --subscription not-a-guid`", "usage error, exit 2")


def test_sweep_of_an_unknown_subscription_says_so(seeded):
    """Issue 17 item 15: ARM answers 404 SubscriptionNotFound; the sweep fails (exit 1) and says
    which subscription was not found, not "0 registries"."""
    result = invoke("-o", "json", "sweep", "--subscription", UNKNOWN_SUB, "--subscription", SUB_A)
    assert result.returncode == 1, result.stderr
    out = json_out(result)
    failed = [i for i in out["results"] if i["outcome"] == "failed"]
    assert [i["registry"] for i in failed] == [f"/subscriptions/{UNKNOWN_SUB}"]
    assert failed[0]["records"][0]["reason"] == (
        f"subscription {UNKNOWN_SUB} was not found: check the ID, and that the identity has a role on it"
    )
    assert out["summary"]["registries"] > 1  # the known subscription was still swept


def test_check_on_a_missing_registry_names_it_and_does_not_guess_it_was_deleted(seeded):
    """Issue 17 item 15: `check` on a registry that does not exist said "(deleted after the event?)"."""
    missing = rid("nosuchregistry")
    result = invoke("check", missing)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        NAMED_POLICY,
        f"acrguard: error: {missing}: registry nosuchregistry was not found "
        f"(resource group rg-platform, subscription {SUB_A})",
    ]
    adversarial(15, "`check` on a missing registry", "names it; no guess that it was deleted")


BAD_SETTINGS = [(c["name"], c["value"], c["reason"]) for c in BAD_INPUT["settings"]]


@pytest.mark.parametrize(("name", "value", "reason"), BAD_SETTINGS, ids=[b[0] for b in BAD_SETTINGS])
def test_a_bad_setting_names_the_setting_and_its_allowed_values(seeded, name, value, reason):
    """Issue 17 item 15: a bad ACRGUARD_* value was a traceback-like "could not convert" or silently
    taken (0 workers, 0 s timeout). Now one line with the setting, its allowed range and the value
    (never a URL's path: a webhook's secret), exit 1, no ARM call."""
    result = invoke("sweep", "--subscription", SUB_A, **{name: value})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"acrguard: error: {name}: {reason}"]
    assert "s3cr3t" not in result.stderr + result.stdout
    assert seeded.requests == []
    adversarial(15, f"{name}={value!r}", "error names the setting and its allowed range")


def test_every_bad_setting_is_reported_in_one_pass(seeded):
    """Issue 17 item 15: fixing one bad setting must not reveal the next only on the next run."""
    result = invoke("check", LOCKED, ACRGUARD_RETRY_BUDGET_S="abc", ACRGUARD_SWEEP_CONCURRENCY="0")
    assert [line.split(":")[2].strip() for line in result.stderr.splitlines()] == [
        "ACRGUARD_RETRY_BUDGET_S",
        "ACRGUARD_SWEEP_CONCURRENCY",
    ]


def test_the_function_app_reports_a_bad_setting_by_name(seeded, monkeypatch):
    """Issue 17 item 15: the Function App's entry raises (so the host logs it and Event Grid
    redelivers) with the same message: the setting, its allowed range and the value."""
    from engine_helpers import write_event
    from function_harness import function_app_env, grid_event

    from acrguard.settings import SettingsError

    message = r"^ACRGUARD_SWEEP_CONCURRENCY must be a whole number from 1 to 64, got '0'$"
    with (
        function_app_env(monkeypatch, DEMO_POLICY, ACRGUARD_SWEEP_CONCURRENCY="0") as app,
        pytest.raises(SettingsError, match=message),
    ):
        app.on_registry_write(grid_event(write_event(LOCKED)))
    assert seeded.requests == []


def test_sweep_counts_registries_and_failed_subscriptions_separately(seeded):
    """The sweep total counted an unknown subscription as a registry (6 for 5 registries plus the
    SubscriptionNotFound row): registries and subscriptions that could not be swept are counted apart."""
    result = invoke("-o", "json", "sweep", "--subscription", UNKNOWN_SUB, "--subscription", SUB_A)
    summary = json_out(result)["summary"]
    registries = [i for i in json_out(result)["results"] if "/registries/" in i["registry"]]
    assert summary["registries"] == len(registries) == sum(summary[o] for o in OUTCOMES)
    assert summary["subscriptions"] == {"failed": 1}
    table = invoke("sweep", "--subscription", UNKNOWN_SUB, "--subscription", SUB_A).stdout
    assert re.search(r"total\s*│\s*(\d+)", table).group(1) == str(len(registries)), table
    assert re.search(r"subscriptions failed\s*│\s*1\b", table), table


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("-o", "yaml", "'--output' / '-o': must be table or json, got 'yaml'"),
        ("--mode", "audit", "'--mode': must be dry-run or enforce, got 'audit'"),
    ],
)
def test_a_bad_choice_names_the_allowed_values_in_words(seeded, option, value, expected):
    """`-o yaml` answered `Value error, 'yaml' is not one of…` (pydantic's words): the usage error says
    which values the option takes, in plain words, exit 2."""
    result = invoke(option, value, "sweep", "--subscription", SUB_A)
    assert result.returncode == 2
    assert expected in flat(result.stderr) and "Value error" not in result.stderr, result.stderr
    assert seeded.requests == []
