"""Azurite (npm ``azurite``, installed into node_modules by ``make test``) as a pytest fixture."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from emulator.azurite import AzuriteUnavailable
from emulator.azurite import azurite as azurite_server


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    try:
        with azurite_server(tmp_path_factory.mktemp("azurite")) as started:
            yield started
    except AzuriteUnavailable as exc:
        if os.environ.get("CI") or "not installed" not in str(exc):
            pytest.fail(str(exc))
        pytest.skip(str(exc))
