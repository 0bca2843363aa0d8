"""Operator errors are quick and clear: one line that names what is wrong and
the fix, the right exit code, and no ARM call that cannot succeed. In process, against the emulator."""

from __future__ import annotations

import contextlib
import re

import pytest
from broken_servers import connections_to, refused_port, serving
from cli_helpers import flat, invoke, json_out
from engine_helpers import BAD_INPUT, DEMO_POLICY, SUB_A, rid
from reliability import adversarial
from simulated_time import skip_waits

from acrguard.azure.arm import Arm, NoCredential, NothingListening, TransientArmError
from acrguard.azure.resource_ids import RegistryRef
from acrguard.cli.render import OUTCOMES
from acrguard.settings import Settings

LOCKED = rid("contosolocked")
UNKNOWN_SUB = "00000000-0000-0000-0000-0000000d0d0d"
NAMED_POLICY = f"acrguard: policy {DEMO_POLICY} (from ACRGUARD_POLICY_FILE)"  # then the one error line


def test_no_credential_at_all_is_one_line_naming_the_fix_without_a_retry(seeded, monkeypatch):
    """With no credential, `check` retried for 17 s and printed DefaultAzureCredential's
    whole chain (84 lines). Now: one line naming `az login` and the emulator's export lines, exit 1."""
    clock = skip_waits(monkeypatch)
    result = invoke("check", LOCKED, IDENTITY_ENDPOINT=None, IDENTITY_HEADER=None)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        NAMED_POLICY,
        f"acrguard: error: {LOCKED}: no Azure credential found: run `az login` (against the emulator, "
        "paste the `export` lines that `python -m emulator` prints)",
    ]
    assert clock.sleeps == []  # not retried: the 17 s were retries and their backoff
    assert seeded.requests == []
    adversarial(15, "`check` with no credential at all", "one line naming `az login`, exit 1, no retry")


@pytest.mark.parametrize("down", ["500", "silent"])
def test_a_managed_identity_endpoint_that_is_down_is_still_transient(seeded, monkeypatch, down):
    """The Function App's case is unchanged: an identity endpoint that answers 500
    (which azure-identity calls "unavailable" inside the chain) or accepts the connection and never
    answers (something listens: it may recover) is a transient failure (retried, then raised for
    redelivery), not "no credential" nor "nothing is listening"."""
    attempts = "2" if down == "500" else "1"  # azure-identity retries a silent one itself (~7 s)
    monkeypatch.setenv("ACRGUARD_MAX_ATTEMPTS", attempts)
    with contextlib.ExitStack() as stack:
        if down == "500":
            seeded.inject(route="identity", status=500, times=None)
        else:
            port = stack.enter_context(serving("silent"))
            monkeypatch.setenv("IDENTITY_ENDPOINT", f"http://127.0.0.1:{port}/msi/token")
            monkeypatch.setenv("ACRGUARD_HTTP_TIMEOUT_S", "0.5")
        arm = Arm(Settings.from_env())
        try:
            with pytest.raises(TransientArmError) as raised:
                arm.get(RegistryRef.parse(LOCKED))
        finally:
            arm.close()
    assert f"still failing after {attempts} attempts" in str(raised.value)
    assert not isinstance(raised.value, NoCredential | NothingListening)
    assert "no Azure credential" not in str(raised.value)


def _refused_once(result) -> list[str]:
    """The error line of a run that failed on a refused connection, after checking it was not retried."""
    assert result.returncode == 1, result.stderr
    assert "retrying" not in result.stderr  # Arm.call logs one warning per retried attempt
    lines = result.stderr.splitlines()
    assert lines[:-1] == [NAMED_POLICY], result.stderr
    return lines[-1]


def test_an_identity_endpoint_with_nothing_listening_fails_at_once_naming_it(seeded):
    """Stale emulator exports: IDENTITY_ENDPOINT points at a loopback port where nothing listens.
    Not retried (it took 52 s of retries, then "DefaultAzureCredential failed to retrieve a token"):
    one line naming the endpoint and the fix, exit 1, no ARM call."""
    port = refused_port()
    endpoint = f"http://127.0.0.1:{port}/msi/token"
    with connections_to(port) as attempts:
        result = invoke("check", LOCKED, IDENTITY_ENDPOINT=endpoint, ACRGUARD_MAX_ATTEMPTS="3")
    line = _refused_once(result)
    assert len(attempts) == 1, attempts  # neither our retry layer nor azure-identity's tried again
    assert line.startswith(
        f"acrguard: error: {LOCKED}: nothing is listening at the managed-identity endpoint "
        f"{endpoint} (IDENTITY_ENDPOINT): connection refused"
    )
    assert "start it (`python -m emulator" in line and "`az login`" in line
    assert seeded.requests == []
    adversarial(
        15,
        "IDENTITY_ENDPOINT with nothing listening (stale emulator exports)",
        f"one line naming the endpoint, the emulator and `az login`; exit 1 after {len(attempts)} connection attempt",
    )


def test_an_arm_endpoint_with_nothing_listening_fails_at_once_naming_it(seeded):
    """ACRGUARD_ARM_ENDPOINT at a loopback port where nothing listens: not retried (23 s of retries
    before): one line naming the endpoint and the fix, exit 1."""
    port = refused_port()
    endpoint = f"https://127.0.0.1:{port}"
    with connections_to(port) as attempts:
        result = invoke("check", LOCKED, ACRGUARD_ARM_ENDPOINT=endpoint, ACRGUARD_MAX_ATTEMPTS="3")
    line = _refused_once(result)
    assert len(attempts) == 1, attempts
    assert line.startswith(
        f"acrguard: error: {LOCKED}: nothing is listening at the ARM endpoint "
        f"{endpoint} (ACRGUARD_ARM_ENDPOINT or --arm-endpoint): connection refused"
    )
    assert "start it (`python -m emulator" in line
    assert seeded.requests_for(route="registry") == []
    adversarial(
        15,
        "ACRGUARD_ARM_ENDPOINT with nothing listening",
        f"one line naming the endpoint and the emulator; exit 1 after {len(attempts)} connection attempt",
    )


@pytest.mark.parametrize("position", ["before", "after"])
def test_a_non_https_arm_endpoint_option_is_a_usage_error_at_once(seeded, monkeypatch, position):
    """A non-HTTPS --arm-endpoint is a usage error before any attempt (it failed only after 6)."""
    option = ["--arm-endpoint", "http://127.0.0.1:1"]
    args = [*option, "check", LOCKED] if position == "before" else ["check", LOCKED, *option]
    clock = skip_waits(monkeypatch)
    result = invoke(*args)
    assert result.returncode == 2
    assert "Invalid value for '--arm-endpoint': must be an https:// URL, got http://127.0.0.1" in flat(
        result.stderr
    )
    assert clock.sleeps == []  # "at once": no attempt was retried (6 were)
    assert seeded.requests == []


def test_a_non_https_arm_endpoint_setting_fails_at_once_naming_it(seeded, monkeypatch):
    """The same for ACRGUARD_ARM_ENDPOINT (a setting, so exit 1, not a usage error)."""
    clock = skip_waits(monkeypatch)
    result = invoke("check", LOCKED, ACRGUARD_ARM_ENDPOINT="http://127.0.0.1:1")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "acrguard: error: ACRGUARD_ARM_ENDPOINT: must be an https:// URL, got http://127.0.0.1"
    ]
    assert clock.sleeps == [] and seeded.requests == []
    adversarial(15, "ACRGUARD_ARM_ENDPOINT=http://...", "one line naming the setting, exit 1, 0 ARM calls")


def test_sweep_subscription_that_is_not_a_guid_is_a_usage_error(seeded):
    """`sweep --subscription not-a-guid` is a usage error (it reported 0 registries and exited 0)."""
    result = invoke("sweep", "--subscription", "not-a-guid")
    assert result.returncode == 2
    assert "'not-a-guid' is not a subscription ID (a GUID" in flat(result.stderr)
    assert seeded.requests == []
    adversarial(15, "`sweep --subscription not-a-guid`", "usage error, exit 2")


def test_sweep_of_an_unknown_subscription_says_so(seeded):
    """ARM answers 404 SubscriptionNotFound; the sweep fails (exit 1) and says
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
    """`check` on a registry that does not exist names it and does not guess it was deleted (it
    said "(deleted after the event?)")."""
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
    """A bad ACRGUARD_* value was a traceback-like "could not convert" or silently
    taken (0 workers, 0 s timeout). Now one line with the setting, its allowed range and the value
    (never a URL's path: a webhook's secret), exit 1, no ARM call."""
    result = invoke("sweep", "--subscription", SUB_A, **{name: value})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [f"acrguard: error: {name}: {reason}"]
    assert "s3cr3t" not in result.stderr + result.stdout
    assert seeded.requests == []
    adversarial(15, f"{name}={value!r}", "error names the setting and its allowed range")


def test_every_bad_setting_is_reported_in_one_pass(seeded):
    """Fixing one bad setting must not reveal the next only on the next run."""
    result = invoke("check", LOCKED, ACRGUARD_RETRY_BUDGET_S="abc", ACRGUARD_SWEEP_CONCURRENCY="0")
    assert [line.split(":")[2].strip() for line in result.stderr.splitlines()] == [
        "ACRGUARD_RETRY_BUDGET_S",
        "ACRGUARD_SWEEP_CONCURRENCY",
    ]


def test_the_function_app_reports_a_bad_setting_by_name(seeded, monkeypatch):
    """The Function App's entry raises (so the host logs it and Event Grid
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


def test_in_the_function_app_an_identity_endpoint_with_nothing_listening_is_redelivered(seeded, monkeypatch):
    """In the Function App (whose identity endpoint is on loopback), nothing listening there is not
    retried within the invocation, but the event is not lost either: the handler raises a
    TransientArmError naming the endpoint, so Event Grid redelivers (then dead-letters)."""
    from engine_helpers import write_event
    from function_harness import function_app_env, grid_event

    port = refused_port()
    endpoint = f"http://127.0.0.1:{port}/msi/token"
    with (
        function_app_env(monkeypatch, DEMO_POLICY, IDENTITY_ENDPOINT=endpoint) as app,
        connections_to(port) as attempts,
        pytest.raises(TransientArmError) as raised,
    ):
        app.on_registry_write(grid_event(write_event(LOCKED)))
    assert isinstance(raised.value, NoCredential)
    assert f"nothing is listening at the managed-identity endpoint {endpoint}" in str(raised.value)
    assert len(attempts) == 1


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
        ("-o", "yaml", "'--output' / '-o': must be table, json, sarif or junit, got 'yaml'"),
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
