"""Event parsing: every sample shape, every skip reason, and no ARM call for any of it."""

from __future__ import annotations

import copy
import json

import azure.functions as func
import pytest

from acrguard.events import ACCEPTED_OPERATIONS, Skip, Target, parse_events
from emulator.event_delivery import host_event

REGISTRY_ID = (
    "/subscriptions/00000000-0000-0000-0000-00000000aaaa/resourceGroups/rg-platform"
    "/providers/Microsoft.ContainerRegistry/registries/contosoprod"
)


def one(payload):
    results = parse_events(payload)
    assert len(results) == 1
    return results[0]


def test_eventgrid_schema_sample_targets_the_registry_with_canonical_casing(load_sample):
    result = one(load_sample("events/registry-write.eventgrid.json"))
    assert isinstance(result, Target)
    assert result.ref.resource_id == REGISTRY_ID  # subject said "resourcegroups"
    assert result.context.event_id == "b85db751-3d5e-45df-b4c7-3b18b422f868"
    assert result.context.correlation_id == "61c55dfc-ce4f-49e7-a446-bb21c33fcee2"
    assert result.context.caller["upn"] == "dev@contoso.example"
    assert result.context.caller["object_id"] == "22222222-2222-2222-2222-222222222222"


def test_cloudevents_sample_gives_the_same_target(load_sample):
    cloud = one(load_sample("events/registry-write.cloudevent.json"))
    grid = one(load_sample("events/registry-write.eventgrid.json"))
    assert isinstance(cloud, Target)
    assert cloud.ref == grid.ref and cloud.context.caller == grid.context.caller


def test_child_resource_write_reevaluates_the_parent(load_sample):
    result = one(load_sample("events/replication-write.eventgrid.json"))
    assert isinstance(result, Target)
    assert result.ref.resource_id == REGISTRY_ID


def test_other_resource_types_are_skipped(load_sample):
    result = one(load_sample("events/storage-write.eventgrid.json"))
    assert isinstance(result, Skip) and "not a container registry" in result.reason


def test_subscription_validation_is_skipped(load_sample):
    result = one(load_sample("events/subscription-validation.eventgrid.json"))
    assert isinstance(result, Skip)
    assert "Microsoft.EventGrid.SubscriptionValidationEvent" in result.reason


def test_dead_letter_blob_content_is_a_list_of_events(load_sample):
    results = parse_events(load_sample("events/dead-letter-blob.json"))
    assert [type(r) for r in results] == [Target]
    assert results[0].context.dead_letter_reason == "MaxDeliveryAttemptsExceeded"


def test_functions_eventgridevent_object(load_sample):
    event = host_event(load_sample("events/registry-write.eventgrid.json"))
    assert isinstance(event, func.EventGridEvent)
    result = one(event)
    assert isinstance(result, Target) and result.ref.resource_id == REGISTRY_ID


def test_json_text_and_batches(load_sample):
    raw = load_sample("events/registry-write.eventgrid.json")
    results = parse_events(json.dumps([raw, raw]).encode())
    assert [type(r) for r in results] == [Target, Target]


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda e: e.pop("id"), "missing required field(s): id"),
        (lambda e: e.pop("eventType"), "missing required field(s): type"),
        (lambda e: e.__setitem__("data", [1, 2]), "data must be a JSON object"),
        (lambda e: e["data"].pop("operationName"), "no data.operationName"),
        (
            lambda e: e["data"].__setitem__(
                "operationName", "Microsoft.ContainerRegistry/registries/webhooks/write"
            ),
            "cannot change a guarded registry property",
        ),
        (
            lambda e: e["data"].__setitem__(
                "resourceUri",
                "/subscriptions/not-a-guid/resourceGroups/rg/providers/"
                "Microsoft.ContainerRegistry/registries/abcde",
            ),
            "malformed resource ID",
        ),
        (
            lambda e: (e["data"].pop("resourceUri"), e.__setitem__("subject", "")),
            "neither data.resourceUri nor subject",
        ),
    ],
)
def test_malformed_events_are_skipped_with_a_specific_reason(load_sample, mutate, reason):
    event = copy.deepcopy(load_sample("events/registry-write.eventgrid.json"))
    mutate(event)
    result = one(event)
    assert isinstance(result, Skip)
    assert reason in result.reason


@pytest.mark.parametrize(
    "payload", [b"{not json", "", 42, None, [], "[]", {"specversion": "0.3", "id": "x", "type": "t"}]
)
def test_garbage_payloads_are_skips_not_exceptions(payload):
    results = parse_events(payload)
    assert results and all(isinstance(r, Skip) and r.reason for r in results)


def test_the_sample_operation_is_accepted_and_children_are_named_explicitly():
    assert "Microsoft.ContainerRegistry/registries/write" in ACCEPTED_OPERATIONS
    # Registry children, and the diagnostic settings of a resource (only a registry's are targeted).
    children = ("Microsoft.ContainerRegistry/registries/", "Microsoft.Insights/diagnosticSettings/")
    assert all(op.startswith(children) for op in ACCEPTED_OPERATIONS)


def test_claims_never_leak_tokens_or_unknown_fields(load_sample):
    event = copy.deepcopy(load_sample("events/registry-write.eventgrid.json"))
    event["data"]["claims"]["access_token"] = "eyJ0eXAiOiJKV1Qi.secret"
    event["data"]["authorization"]["evidence"]["token"] = "secret"
    result = one(event)
    assert "secret" not in json.dumps(result.context.caller)
    assert set(result.context.caller) <= {"upn", "name", "appid", "object_id", "principal_type", "ip"}
