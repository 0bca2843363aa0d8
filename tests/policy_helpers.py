"""Policy validation as the tests ask it: the problems a policy text is refused with."""

from __future__ import annotations

import pytest

from acrguard.policy import PolicyError, parse_policy


def problems(text: str) -> list[tuple[str, str]]:
    """The (key path, reason) problems ``text`` is refused with; the error names its file."""
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.yaml")
    assert "p.yaml" in str(info.value)
    return info.value.problems
