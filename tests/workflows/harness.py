"""Starting order workflows on the test worker's task queue and watching them through the query."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributeKey, SearchAttributePair, TypedSearchAttributes

from schemas.workflow_io import (
    SEARCH_ATTRIBUTE_CUSTOMER_ID,
    SEARCH_ATTRIBUTE_ORDER_REF,
    SEARCH_ATTRIBUTE_ORDER_STATUS,
    OrderWorkflowInput,
    OrderWorkflowResult,
    OrderWorkflowState,
    workflow_id_for,
)
from tests.workflows.fakes import WAIT_SECONDS
from worker.workflows import OrderProcessingWorkflow

ORDER_REF = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORDER_REF)
CUSTOMER_ID = SearchAttributeKey.for_int(SEARCH_ATTRIBUTE_CUSTOMER_ID)
ORDER_STATUS = SearchAttributeKey.for_keyword(SEARCH_ATTRIBUTE_ORDER_STATUS)

OrderHandle = WorkflowHandle[OrderProcessingWorkflow, OrderWorkflowResult]


class OrderRunner:
    """Starts orders as the consumer does, on one test's task queue."""

    def __init__(self, client: Client, task_queue: str) -> None:
        self.client = client
        self.task_queue = task_queue

    async def start(self, order: OrderWorkflowInput) -> OrderHandle:
        return await self.client.start_workflow(
            OrderProcessingWorkflow.process_order,
            order,
            id=workflow_id_for(order.order_id),
            task_queue=self.task_queue,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ORDER_REF, order.order_ref),
                    SearchAttributePair(CUSTOMER_ID, order.customer_id),
                ]
            ),
        )

    async def run(self, order: OrderWorkflowInput) -> OrderWorkflowResult:
        return await self.result_of(await self.start(order))

    @staticmethod
    async def result_of(handle: OrderHandle) -> OrderWorkflowResult:
        async with asyncio.timeout(WAIT_SECONDS):
            return await handle.result()

    @staticmethod
    async def state_of(handle: OrderHandle) -> OrderWorkflowState:
        return await handle.query(OrderProcessingWorkflow.get_order_state)

    async def wait_for_state(
        self, handle: OrderHandle, predicate: Callable[[OrderWorkflowState], bool]
    ) -> OrderWorkflowState:
        """Polls the query until the state satisfies `predicate`, failing after a deadline."""
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                state = await self.state_of(handle)
                if predicate(state):
                    return state
                await asyncio.sleep(0.02)
