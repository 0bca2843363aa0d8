"""Shared fixtures: the Azure emulator and the sample payloads shipped in the repository.

- ``emulator`` (session scope; one per pytest-xdist worker): a started, empty :class:`Emulator`.
  Use it directly only for read-only checks; prefer ``emu``.
- ``emu`` (function scope): the same emulator after ``reset()`` (no registries, faults, sinks,
  events; default page size and LRO mode; tokens kept), with the environment that wires the
  unmodified Azure SDK to it set through monkeypatch: IDENTITY_ENDPOINT, IDENTITY_HEADER,
  REQUESTS_CA_BUNDLE, SSL_CERT_FILE, ACRGUARD_ARM_ENDPOINT (= ``emu.arm_url``), NO_PROXY; and every
  variable that would select another credential (AZURE_CLIENT_ID, AZURE_TENANT_ID,
  AZURE_CLIENT_SECRET, AZURE_FEDERATED_TOKEN_FILE, MSI_ENDPOINT, MSI_SECRET, IMDS_ENDPOINT,
  IDENTITY_SERVER_THUMBPRINT, ... see ``emulator.UNSET_ENV_VARS``) removed. For a subprocess, pass
  ``env=emu.subprocess_env()``; ``emu.env()`` is the dict of values that were set.
- ``arm_client`` (function scope): a real ContainerRegistryManagementClient factory wired only by
  that environment, with a real ManagedIdentityCredential.
- ``load_sample``: ``load_sample("events/registry-write.eventgrid")`` (examples/events/) or
  ``load_sample("registries/basic")`` (tests/data/registries/) -> the parsed JSON.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from engine_helpers import EVENT_SAMPLES, REGISTRY_SAMPLES

from emulator import UNSET_ENV_VARS, Emulator


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    with Emulator(state_dir=tmp_path_factory.mktemp("emulator")) as started:
        yield started


@pytest.fixture
def emu(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    emulator.reset()
    for name in UNSET_ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    for name, value in emulator.env().items():
        monkeypatch.setenv(name, value)
    return emulator


@pytest.fixture
def arm_client(emu: Emulator) -> Iterator[Callable[..., Any]]:
    """``arm_client(subscription_id, **client_kwargs)``: the real SDK client, wired by environment only."""
    from azure.identity import ManagedIdentityCredential
    from azure.mgmt.containerregistry import ContainerRegistryManagementClient

    clients: list[Any] = []

    def make(subscription_id: str, credential: Any = None, **kwargs: Any) -> Any:
        endpoint = os.environ["ACRGUARD_ARM_ENDPOINT"]
        client = ContainerRegistryManagementClient(
            credential or ManagedIdentityCredential(),
            subscription_id,
            base_url=endpoint,
            credential_scopes=[endpoint + "/.default"],
            **kwargs,
        )
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


_SAMPLE_DIRS = {"events": EVENT_SAMPLES, "registries": REGISTRY_SAMPLES}


@pytest.fixture(scope="session")
def load_sample() -> Callable[[str], Any]:
    def load(name: str) -> Any:
        kind, _, stem = name.partition("/")
        if kind not in _SAMPLE_DIRS or not stem:
            raise ValueError(f"sample {name!r}: expected 'events/NAME' or 'registries/NAME'")
        path = _SAMPLE_DIRS[kind] / (stem if stem.endswith(".json") else stem + ".json")
        return json.loads(path.read_text(encoding="utf-8"))

    return load


@pytest.fixture
def seeded(emu: Emulator) -> Emulator:
    """The emulator holding the demo registries (emulator/seeds/demo.yaml)."""
    from engine_helpers import DEMO_SEED

    emu.seed(DEMO_SEED)
    return emu
