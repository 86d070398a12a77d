"""Registering the namespace and the search attributes operators filter orders by."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from google.protobuf.duration_pb2 import Duration
from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import (
    AddSearchAttributesRequest,
    ListSearchAttributesRequest,
)
from temporalio.api.workflowservice.v1 import (
    CountWorkflowExecutionsRequest,
    DescribeNamespaceRequest,
    RegisterNamespaceRequest,
)
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from schemas.workflow_io import (
    SEARCH_ATTRIBUTE_CUSTOMER_ID,
    SEARCH_ATTRIBUTE_ORDER_REF,
    SEARCH_ATTRIBUTE_ORDER_STATUS,
)

log = logging.getLogger(__name__)

SEARCH_ATTRIBUTES = {
    SEARCH_ATTRIBUTE_ORDER_REF: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
    SEARCH_ATTRIBUTE_CUSTOMER_ID: IndexedValueType.INDEXED_VALUE_TYPE_INT,
    SEARCH_ATTRIBUTE_ORDER_STATUS: IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
}


async def ensure_namespace(client: Client, namespace: str, retention: timedelta) -> None:
    """Register `namespace` if it is missing (an existing one is used as it is), add the
    search attributes it lacks, and return once the namespace serves requests."""
    service = client.workflow_service
    try:
        await service.describe_namespace(DescribeNamespaceRequest(namespace=namespace))
    except RPCError as error:
        if error.status != RPCStatusCode.NOT_FOUND:
            raise
        period = Duration()
        period.FromTimedelta(retention)
        try:
            await service.register_namespace(
                RegisterNamespaceRequest(
                    namespace=namespace, workflow_execution_retention_period=period
                )
            )
            log.info("registered namespace %s (retention %s)", namespace, retention)
        except RPCError as race:
            if race.status != RPCStatusCode.ALREADY_EXISTS:
                raise
    await _ensure_search_attributes(client, namespace)
    await _wait_until_searchable(client, namespace)


async def _ensure_search_attributes(client: Client, namespace: str) -> None:
    operator = client.operator_service
    for _ in range(100):  # a fresh namespace takes a moment to reach the server's cache
        try:
            listed = await operator.list_search_attributes(
                ListSearchAttributesRequest(namespace=namespace)
            )
            break
        except RPCError as error:
            if error.status != RPCStatusCode.NOT_FOUND:
                raise
            await asyncio.sleep(0.2)
    else:
        raise RuntimeError(f"namespace {namespace} did not become available")
    known = set(listed.custom_attributes) | set(listed.system_attributes)
    missing = {name: kind for name, kind in SEARCH_ATTRIBUTES.items() if name not in known}
    if missing:
        await operator.add_search_attributes(
            AddSearchAttributesRequest(namespace=namespace, search_attributes=missing)
        )
        log.info("added search attributes %s to %s", sorted(missing), namespace)


# A query naming every attribute, each compared with a value of its type.
_PROBE = " AND ".join(
    f"{name} = 0" if kind == IndexedValueType.INDEXED_VALUE_TYPE_INT else f"{name} = ''"
    for name, kind in SEARCH_ATTRIBUTES.items()
)


async def _wait_until_searchable(client: Client, namespace: str) -> None:
    """Return once the server accepts the attributes. With its search-attribute cache on, as
    production servers run, attributes just added (here or by a worker starting alongside)
    are refused as invalid for a few seconds: the consumer's first starts would fail."""
    request = CountWorkflowExecutionsRequest(namespace=namespace, query=_PROBE)
    for _ in range(300):
        try:
            await client.workflow_service.count_workflow_executions(request)
            return
        except RPCError as error:
            if error.status != RPCStatusCode.INVALID_ARGUMENT:
                raise
            await asyncio.sleep(0.2)
    raise RuntimeError(f"the search attributes of {namespace} did not become searchable")
