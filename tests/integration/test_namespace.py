"""Registering the namespace on the real Temporal, as the worker does at start-up.

Namespaces cannot be deleted on the dev server, so each test registers one under a name of its
own that no other run uses.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import ListSearchAttributesRequest
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client

from worker.namespace import ensure_namespace
from worker.settings import WorkerSettings

CONTRACT_RETENTION = timedelta(days=7)
# What operators filter orders by in the Temporal UI, with the type each is searched as.
CONTRACT_SEARCH_ATTRIBUTES = {
    "CustomerId": IndexedValueType.INDEXED_VALUE_TYPE_INT,
    "OrderRef": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    "OrderStatus": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}
WORKER_RETENTION = timedelta(
    days=WorkerSettings.model_fields["temporal_namespace_retention_days"].default
)


@pytest.fixture
def fresh_namespace() -> str:
    return f"test-ns-{uuid.uuid4().hex[:12]}"


async def retention_of(client: Client, namespace: str) -> timedelta:
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=namespace)
    )
    return described.config.workflow_execution_retention_ttl.ToTimedelta()


async def search_attributes_of(client: Client, namespace: str) -> dict[str, int]:
    """The contract's search attributes as the namespace has them registered, by name."""
    listed = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    return {
        name: kind
        for name, kind in listed.custom_attributes.items()
        if name in CONTRACT_SEARCH_ATTRIBUTES
    }


async def test_a_missing_namespace_is_registered_with_7_day_retention_and_the_search_attributes(
    temporal_client: Client, fresh_namespace: str
) -> None:
    await ensure_namespace(temporal_client, fresh_namespace, WORKER_RETENTION)

    assert await retention_of(temporal_client, fresh_namespace) == CONTRACT_RETENTION
    assert await search_attributes_of(temporal_client, fresh_namespace) == (
        CONTRACT_SEARCH_ATTRIBUTES
    )
    # An operator's search by customer, status and reference is accepted at once.
    in_namespace = Client(temporal_client.service_client, namespace=fresh_namespace)
    query = "CustomerId = 42 AND OrderStatus = 'PENDING' AND OrderRef = 'web-000123'"
    assert (await in_namespace.count_workflows(query)).count == 0


async def test_a_second_registration_leaves_the_namespace_as_it_is(
    temporal_client: Client, fresh_namespace: str
) -> None:
    await ensure_namespace(temporal_client, fresh_namespace, WORKER_RETENTION)

    # As a worker started later with other settings would: an existing namespace is used as is.
    await ensure_namespace(temporal_client, fresh_namespace, timedelta(days=1))

    assert await retention_of(temporal_client, fresh_namespace) == CONTRACT_RETENTION
    assert await search_attributes_of(temporal_client, fresh_namespace) == (
        CONTRACT_SEARCH_ATTRIBUTES
    )
