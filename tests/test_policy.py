"""policies.yaml: strict validation (file, key path, reason) and per-registry resolution."""

from __future__ import annotations

from pathlib import Path

import pytest

from acrguard.plan import mode_of
from acrguard.policy import PolicyError, load_policy, parse_policy
from acrguard.resource_ids import RegistryRef

ROOT = Path(__file__).resolve().parents[1]
SUB_A = "00000000-0000-0000-0000-00000000aaaa"
SUB_B = "00000000-0000-0000-0000-00000000bbbb"


def ref(name="contosoprod", sub=SUB_A, rg="rg-platform") -> RegistryRef:
    return RegistryRef(sub, rg, name)


def problems(text: str) -> list[tuple[str, str]]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert "p.yaml" in str(info.value)
    return info.value.problems


BASE = """
version: 1
mode: enforce
rules:
  network_rules: {enabled: true, allowed_ips: ["203.0.113.0/24"]}
"""


def test_shipped_policy_is_valid():
    policy = load_policy(ROOT / "policies.yaml")
    assert policy.rules["anonymous_pull"].enabled and policy.rules["network_rules"].enabled
    assert not policy.rules["admin_user"].enabled


@pytest.mark.parametrize(
    ("text", "path", "reason"),
    [
        ("version: 1\nrulez: {}\n", "rulez", "unknown key"),
        ("version: 2\n", "version", "must be 1, got 2"),
        ("mode: enforce\n", "version", "required key is missing"),
        (
            "version: 1\nrules: {anonymous_pull: {enabled: 'yes'}}\n",
            "rules.anonymous_pull.enabled",
            "expected bool, got str",
        ),
        (
            "version: 1\nrules: {network_rules: {min_prefix_length: 0}}\n",
            "rules.network_rules.min_prefix_length",
            "expected int >= 1",
        ),
        (
            "version: 1\nnotify: {webhooks: [{format: teams}]}\n",
            "notify.webhooks[0].url",
            "required key is missing",
        ),
        ("version: 1\nrules: {anonymous_pul: {}}\n", "rules.anonymous_pul", "unknown key"),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['10.1.0.0/16']}}\n",
            "rules.network_rules.allowed_ips",
            "RFC 1918",
        ),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['300.1.1.1']}}\n",
            "rules.network_rules.allowed_ips",
            "not an IPv4",
        ),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['203.0.113.5/24']}}\n",
            "rules.network_rules.allowed_ips",
            "did you mean 203.0.113.0/24",
        ),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['0.0.0.0/0']}}\n",
            "rules.network_rules.allowed_ips",
            "every address",
        ),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['2001:db8::/32']}}\n",
            "rules.network_rules.allowed_ips",
            "IPv6",
        ),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['100.64.1.1']}}\n",
            "rules.network_rules.allowed_ips",
            "shared address space",
        ),
        (
            "version: 1\nrules: {network_rules: {allowed_ips: ['198.51.100.7', '198.51.100.7/32']}}\n",
            "rules.network_rules.allowed_ips",
            "duplicates",
        ),
        (
            "version: 1\nrules: {network_rules: {enabled: true, allowed_ips: []}}\n",
            "rules.network_rules",
            "lock every client out",
        ),
        (
            "version: 1\nrules:\n  anonymous_pull: {}\n  anonymous_pull: {}\n",
            "",
            "duplicate key 'anonymous_pull'",
        ),
        ("version: 1\nscope: {subscriptions: [abc]}\n", "scope.subscriptions", "not a subscription ID"),
        (
            "version: 1\nexempt: {registries: ['/subscriptions/x']}\n",
            "exempt.registries",
            "not a container registry resource ID",
        ),
        ("version: 1\noverrides: [{match: {}, rules: {}}]\n", "overrides[0].match", "at least one of"),
        (
            BASE
            + "overrides: [{match: {name: 'x*'}, rules: {network_rules: {allowed_ips: ['10.0.0.1']}}}]\n",
            "overrides[0].rules.network_rules.allowed_ips",
            "RFC 1918",
        ),
        ("version: 1\nmode: yolo\n", "mode", "'yolo'"),
        ("version: [1\n", "", "not valid YAML"),
        ("- 1\n", "", "expected a mapping"),
    ],
)
def test_every_error_names_path_and_reason(text, path, reason):
    found = problems(text)
    assert any(p == (path or p) and reason in why for p, why in found), found
    if path:
        assert path in [p for p, _ in found]


def test_every_problem_is_reported_at_once():
    found = problems(
        "version: 1\nmode: yolo\nrulez: {}\nscope: {subscriptions: [abc]}\n"
        "rules:\n  anonymous_pull: {enabled: 1, mood: x}\n  network_rules: {allowed_ips: ['10.0.0.0/8', '300.1.1.1']}\n"
        "overrides: [{match: {}}, {match: {name: x}, mode: sometimes}]\n"
    )
    paths = [p for p, _ in found]
    # The document's own sections first, then the rules (overrides' merged rules need a clean document).
    assert paths == [
        "mode",
        "rulez",
        "scope.subscriptions",
        "overrides[0].match",
        "overrides[1].mode",
        "rules.anonymous_pull.enabled",
        "rules.anonymous_pull.mood",
        "rules.network_rules.allowed_ips",
    ], found
    found = problems(
        "version: 1\nrules:\n  anonymous_pull: {enabled: 1, mood: x}\n"
        "  network_rules: {allowed_ips: ['10.0.0.0/8', '300.1.1.1']}\n"
    )
    assert [p for p, _ in found] == [
        "rules.anonymous_pull.enabled",
        "rules.anonymous_pull.mood",
        "rules.network_rules.allowed_ips",
    ], found
    ips = dict(found)["rules.network_rules.allowed_ips"]
    assert "[0] 10.0.0.0/8" in ips and "[1] '300.1.1.1'" in ips  # every bad entry, in one message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # A section with a bad key still gets its field checks on the others.
        (
            "scope: {subscriptions: [abc], foo: 1}",
            [
                ("scope.foo", "unknown key"),
                ("scope.subscriptions", "'abc' is not a subscription ID (a GUID)"),
            ],
        ),
        (
            "rules: {network_rules: {enabled: true, allowed_ips: ['10.0.0.0/8'], bypass: Nope}}",
            [
                ("rules.network_rules.bypass", "must be 'AzureServices' or 'None', got 'Nope'"),
                ("rules.network_rules.allowed_ips", "private (RFC 1918)"),
            ],
        ),
        # Mapping values are named by their key, every one of them.
        (
            "overrides: [{match: {name: x, tags: {env: 1, tier: 2}}}]",
            [
                ("overrides[0].match.tags.env", "expected str, got int"),
                ("overrides[0].match.tags.tier", "expected str, got int"),
            ],
        ),
        ("exempt: {tags: {on: x}}", [("exempt.tags", "key True must be text, got bool (quote it")]),
        ("rules: {1: {}}", [("rules", "key 1 must be text, got int")]),
        # A fixed choice names its values, whatever the wrong value's type.
        (
            "rules: {network_rules: {bypass: null}}",
            [("rules.network_rules.bypass", "must be 'AzureServices' or 'None', got None")],
        ),
        ("mode: 5", [("mode", "must be 'dry-run' or 'enforce', got 5")]),
    ],
)
def test_problems_are_specific_and_complete(text, expected):
    found = problems("version: 1\n" + text + "\n")
    assert len(found) == len(expected), found
    for (path, reason), (want_path, want_reason) in zip(found, expected, strict=True):
        assert path == want_path and want_reason in reason, found


def test_values_are_never_coerced():
    for text in ("enabled: 'true'", "enabled: 1", "mode: 1"):
        assert problems(f"version: 1\nrules: {{anonymous_pull: {{{text}}}}}\n")
    assert problems("version: 1.0\n") == [("version", "must be 1, got 1.0")]


def test_every_remediator_default_config_passes_its_own_checks():
    """An omitted rule takes its remediator's default config; it must be valid, or every policy fails."""
    from remediators import all_remediators

    for rem in all_remediators():
        assert rem.Config(enabled=rem.default_enabled).enabled is rem.default_enabled


def test_yaml_merge_keys_work_and_the_keys_written_win():
    policy = parse_policy(
        "version: 1\nrules:\n  anonymous_pull: &on {enabled: true, mode: dry-run}\n"
        "  admin_user:\n    <<: *on\n    mode: enforce\n"
    )
    assert policy.rules["admin_user"].enabled and policy.rules["admin_user"].mode == "enforce"
    found = problems(
        "version: 1\nrules:\n  anonymous_pull: &on {enabled: true}\n  admin_user: {<<: *on, mood: x}\n"
    )
    assert found == [("rules.admin_user.mood", "unknown key")]
    # A merge source that merges itself, aliased again later: its own keys are still its own.
    nested = parse_policy(
        "version: 1\nrules:\n  admin_user: {<<: &strict {<<: &on {enabled: true}, enabled: false}, mode: enforce}\n"
        "  anonymous_pull: *strict\n"
    )
    assert not nested.rules["anonymous_pull"].enabled and nested.rules["admin_user"].mode == "enforce"
    assert "duplicate key '<<'" in problems("version: 1\na: &a {x: 1}\nb: {<<: *a, <<: *a}\n")[0][1]
    assert "duplicate key 'mode'" in problems("version: 1\nmode: enforce\nmode: dry-run\n")[0][1]


def test_rfc5737_documentation_ranges_are_valid():
    parse_policy(
        "version: 1\nrules: {network_rules: {allowed_ips: ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.9']}}\n"
    )


def test_allow_empty_opt_in():
    policy = parse_policy(
        "version: 1\nrules: {network_rules: {enabled: true, allowed_ips: [], allow_empty: true}}\n"
    )
    assert policy.rules["network_rules"].allow_empty


def test_missing_file_is_a_policy_error(tmp_path):
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "nope.yaml")


def test_scope_and_exemptions_and_overrides():
    policy = parse_policy(
        f"""
version: 1
mode: enforce
scope: {{subscriptions: [{SUB_A}]}}
exempt:
  tags: {{acrguard: exempt}}
  registries: [/subscriptions/{SUB_A}/resourcegroups/rg-platform/providers/microsoft.containerregistry/registries/legacyreg]
rules:
  anonymous_pull: {{enabled: true}}
overrides:
  - match: {{name: "pub*"}}
    rules: {{anonymous_pull: {{enabled: false}}}}
  - match: {{tags: {{env: dev}}}}
    mode: dry-run
  - match: {{name: "public*"}}
    rules: {{anonymous_pull: {{enabled: true}}}}
"""
    )
    assert policy.scope_reason(ref(sub=SUB_B)) and not policy.scope_reason(ref())
    assert policy.resolve(ref(), {"AcrGuard": "exempt"}).exempt_reason == "exempt: tagged acrguard=exempt"
    assert policy.resolve(
        ref("LegacyReg", rg="RG-PLATFORM"), {}
    ).exempt_reason  # ID match is case-insensitive
    first = policy.resolve(ref("publicdist"), {})
    assert first.override_index == 0 and not first.rules["anonymous_pull"].enabled  # first match wins
    dev = policy.resolve(ref(), {"env": "dev"})
    assert dev.override_index == 1 and mode_of(policy, dev, "anonymous_pull")[0] == "dry-run"
    assert policy.resolve(ref(), {}).override_index is None


def _mode(policy, name, tags=None):
    return mode_of(policy, policy.resolve(ref(), tags or {}), name)


def test_mode_precedence():
    text = BASE + "  anonymous_pull: {mode: dry-run}\n"
    policy = parse_policy(text)
    assert _mode(policy, "network_rules") == ("enforce", "the policy's mode")
    assert _mode(policy, "anonymous_pull") == ("dry-run", "rules.anonymous_pull.mode")
    forced = policy.with_mode("dry-run", "--dry-run")
    assert _mode(forced, "network_rules") == ("dry-run", "--dry-run (dry-run)")  # a kill switch


def test_a_dry_run_from_any_source_wins_over_enforce():
    """Issue 17 item 1: a dry-run from any source (flag, ACRGUARD_MODE, the policy's mode, a
    rule's or an override's mode) means no write. ``enforce`` from the operator used to replace the
    policy's ``mode: dry-run``, and a base rule's ``mode: enforce`` beat an override's dry-run trial."""
    dry = parse_policy(BASE.replace("mode: enforce", "mode: dry-run"), mode_override="enforce")
    assert _mode(dry, "network_rules") == ("dry-run", "the policy's mode")
    trial = parse_policy(
        BASE
        + "  anonymous_pull: {mode: enforce}\n"
        + "overrides:\n  - match: {tags: {env: dev}}\n    mode: dry-run\n"
    ).with_mode("enforce", "--mode")
    assert _mode(trial, "anonymous_pull", {"env": "dev"}) == ("dry-run", "mode of override #0")
    assert _mode(trial, "anonymous_pull") == ("enforce", "--mode (enforce)")
