"""The service runs only policies that `acrguard validate` accepts."""

from __future__ import annotations

from cli_helpers import invoke
from reliability import adversarial

SUB = "00000000-0000-0000-0000-00000000aaaa"


def test_sweep_refuses_a_policy_that_validate_refuses(emu, tmp_path):
    """A policy with an http:// webhook or a bad key_setting failed `validate` yet
    ran in `sweep` (and in the Function, which loads it the same way). Now no command runs it, and no
    ARM request is made."""
    policy = tmp_path / "notify-policy.yaml"
    policy.write_text(
        "version: 1\nmode: enforce\nrules: {anonymous_pull: {enabled: true}}\nnotify:\n"
        "  webhooks: [{url: 'http://chat.example/hook'}]\n"
        "  eventgrid: [{endpoint: 'https://topic.example/api/events', key_setting: 'not a name'}]\n"
    )
    result = invoke("sweep", "--subscription", SUB, policy=policy)
    assert result.returncode == 1, result.stderr
    assert f"{policy}: notify.webhooks[0].url: must use https://" in result.stderr
    assert f"{policy}: notify.eventgrid[0].key_setting: must be the name of an app setting" in result.stderr
    assert "Traceback" not in result.stderr
    assert emu.requests == []
    adversarial(7, "sweep with a policy that validate refuses (http:// webhook)", "exit 1, 0 ARM requests")
