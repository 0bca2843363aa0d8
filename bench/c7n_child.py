"""Cloud Custodian (c7n-azure) in a fresh process, run by ``.venv-bench/bin/python -m bench.c7n_child``.

Never imported by the project: c7n lives only in ``.venv-bench``. The spec arrives as JSON on
stdin; one JSON line goes to stdout.

- ``validate``: ``custodian validate`` (c7n's CLI entry point, so the parent sees when it is done).
- ``event``: what c7n-azure's Function does per queue message (``c7n_azure/function.py``
  ``main`` -> ``c7n_azure.handler.run``), for each event in the spec.
- ``sweep``: pull mode, one run of the policy per subscription (a ``custodian run`` per
  subscription, as c7n-azure scopes a session to one subscription).

Two shims, both because the emulator cannot be named any other way, never to change c7n's calls:

1. c7n-azure takes its ARM endpoint only from msrestazure's built-in clouds, chosen by
   ``--region`` (``c7n_azure/provider.py``: ``Azure.region_to_cloud``/``_get_cloud_endpoints``);
   there is no endpoint setting. The shim points ``AZURE_PUBLIC_CLOUD.endpoints.resource_manager``
   at the emulator. Tokens keep c7n's audience (``https://management.core.windows.net/``).
2. In event mode c7n GETs the resource through the generic resources API with the provider's
   latest api-version, which it reads with ``providers.get(namespace)``
   (``c7n_azure/session.py`` ``Session.resource_api_version``). The emulator serves no
   ``/providers/{namespace}`` route, so the shim answers it in-process and counts it: those
   calls are real ARM reads that the parent adds to c7n's bill.
"""

from __future__ import annotations

import json
import logging
import sys
import time

API_VERSION = "2025-11-01"


def patch_c7n(arm_url: str) -> dict[str, int]:
    from c7n_azure.session import Session
    from msrestazure.azure_cloud import AZURE_PUBLIC_CLOUD

    AZURE_PUBLIC_CLOUD.endpoints.resource_manager = arm_url
    calls = {"providers_get": 0}

    def resource_api_version(self: Session, resource_id: str) -> str:
        calls["providers_get"] += 1
        return API_VERSION

    Session.resource_api_version = resource_api_version  # type: ignore[method-assign]
    return calls


def count_matches() -> list[int]:
    """Resources each event's policy run matched (the handler itself only returns True)."""
    from c7n_azure.policy import AzureModeCommon

    matched: list[int] = []
    original = AzureModeCommon.run_for_event

    def run_for_event(policy: object, event: object = None) -> object:
        resources = original(policy, event)
        matched.append(len(resources or []))
        return resources

    AzureModeCommon.run_for_event = staticmethod(run_for_event)  # type: ignore[method-assign]
    return matched


def run_events(spec: dict) -> dict:
    # The imports c7n-azure's function.py makes at module level, then its main() per message.
    from azure.functions import QueueMessage
    from c7n_azure import entry, handler
    from c7n_azure.utils import ResourceIdParser

    entry.initialize_azure()
    calls = patch_c7n(spec["arm_url"])
    matched = count_matches()
    context = {"config_file": spec["config_file"], "auth_file": spec["auth_file"]}
    per_event = []
    for event in spec["events"]:
        message = QueueMessage(body=json.dumps(event).encode())
        started = time.perf_counter()
        handler.run(
            message.get_json(), context, ResourceIdParser.get_subscription_id(message.get_json()["subject"])
        )
        per_event.append(time.perf_counter() - started)
    return {"per_event_s": per_event, "matched": matched, **calls}


def run_sweep(spec: dict) -> dict:
    from c7n.config import Config
    from c7n.policy import PolicyCollection
    from c7n.resources import load_resources
    from c7n.structure import StructureParser
    from c7n.utils import reset_session_cache
    from c7n_azure.provider import Azure

    calls = patch_c7n(spec["arm_url"])
    with open(spec["config_file"], encoding="utf-8") as f:
        policy_config = json.load(f)
    load_resources(StructureParser().get_resource_types(policy_config))
    started = time.perf_counter()
    matched = 0
    for subscription in spec["subscriptions"]:
        options = Config.empty(
            account_id=subscription,
            authorization_file=spec["auth_file"],
            output_dir=spec["output_dir"],
        )
        options = Azure().initialize(options)
        for policy in PolicyCollection.from_data(policy_config, options):
            matched += len(policy.run() or [])
        reset_session_cache()  # c7n caches one session process-wide: without this, every run lists sub 1
    return {"wall_s": time.perf_counter() - started, "matched": matched, **calls}


def run_validate(spec: dict) -> dict:
    """``custodian validate <file>``: c7n's own CLI entry point, in this process."""
    from c7n.cli import main as custodian

    sys.argv = ["custodian", "validate", spec["policy_file"]]
    try:
        custodian()
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
    return {}


def where(obj: object) -> str:
    """``c7n_azure/x.py:LINE``: where a function lives in the installed package, for citations."""
    import inspect

    path = inspect.getsourcefile(obj)  # type: ignore[arg-type]
    line = inspect.getsourcelines(obj)[1]  # type: ignore[arg-type]
    tail = path.split("site-packages/", 1)[-1] if path else "?"
    return f"{tail}:{line}"


def run_inspect(spec: dict) -> dict:
    """Facts about c7n-azure's code path, read from the installed package (cited in the report)."""
    import inspect
    from importlib.metadata import version

    from c7n_azure import entry, handler
    from c7n_azure.policy import AzureModeCommon
    from c7n_azure.provider import Azure, resources
    from c7n_azure.query import ResourceQuery
    from c7n_azure.resources.arm import ArmResourceManager
    from c7n_azure.session import Session

    entry.initialize_azure()
    from c7n.resources import load_resources

    load_resources(["azure.container-registry"])
    registry = resources.get("container-registry")
    source = inspect.getsource
    return {
        "versions": {name: version(name) for name in ("c7n", "c7n-azure", "azure-mgmt-containerregistry")},
        "resource_class": where(registry),
        "enum_spec": list(registry.resource_type.enum_spec),
        "actions": sorted(registry.action_registry.keys()),
        "filters": sorted(registry.filter_registry.keys()),
        "list_call": where(ResourceQuery.filter),
        "event_get": where(ArmResourceManager.get_resources),
        "event_get_uses_generic_get_by_id": "get_by_id" in source(ArmResourceManager.get_resources),
        "api_version_lookup": where(Session.resource_api_version),
        "api_version_lookup_calls_providers_get": "providers.get" in source(Session.resource_api_version),
        "run_for_event": where(AzureModeCommon.run_for_event),
        "handler_run": where(handler.run),
        "handler_resets_session": "reset_session_cache" in source(handler.run),
        "cloud_endpoints": where(Azure._get_cloud_endpoints),
        "clouds": sorted(Azure.region_to_cloud),
        "session_client": where(Session.client.__wrapped__),
    }


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    spec = json.loads(sys.stdin.read() or "{}")
    modes = {"validate": run_validate, "event": run_events, "sweep": run_sweep, "inspect": run_inspect}
    result = modes[sys.argv[1]](spec)
    result.update(t_done=time.time(), cpu_s=time.process_time(), modules=len(sys.modules))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
