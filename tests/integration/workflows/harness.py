"""Starting order workflows on the test worker's task queue and watching them through the query."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

from temporalio.client import Client, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from schemas.search_attributes import CUSTOMER_ID, ORDER_REF, ORDER_STATUS
from schemas.workflow_io import (
    OrderWorkflowInput,
    OrderWorkflowResult,
    OrderWorkflowState,
    workflow_id_for,
)
from tests.integration.workflows.fakes import WAIT_SECONDS
from tests.integration.workflows.shop import Shop
from worker.workflows import OrderProcessingWorkflow

OrderHandle = WorkflowHandle[OrderProcessingWorkflow, OrderWorkflowResult]


class OrderRunner:
    """Stores orders and starts their workflows as the consumer does, on one test's queue."""

    def __init__(self, client: Client, task_queue: str, shop: Shop) -> None:
        self.client = client
        self.task_queue = task_queue
        self.shop = shop

    async def start(
        self, order: OrderWorkflowInput, *, task_timeout: timedelta | None = None
    ) -> OrderHandle:
        """Store the order, then start its workflow; the handle's id names MySQL's id."""
        return await self.start_stored(await self.shop.place(order), task_timeout=task_timeout)

    async def start_stored(
        self, order: OrderWorkflowInput, *, task_timeout: timedelta | None = None
    ) -> OrderHandle:
        """Start the workflow of an order already stored (`Shop.place`)."""
        return await self.client.start_workflow(
            OrderProcessingWorkflow.process_order,
            order,
            id=workflow_id_for(order.order_id),
            task_queue=self.task_queue,
            task_timeout=task_timeout,
            search_attributes=TypedSearchAttributes(
                [
                    SearchAttributePair(ORDER_REF, order.order_ref),
                    SearchAttributePair(CUSTOMER_ID, order.customer_id),
                    SearchAttributePair(ORDER_STATUS, "PENDING"),
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


def order_id_of(handle: OrderHandle) -> int:
    return int(handle.id.removeprefix("order-"))


async def wait_until(check: Callable[[], Awaitable[bool]]) -> None:
    """Polls `check` until it holds, failing after a deadline."""
    async with asyncio.timeout(WAIT_SECONDS):
        while not await check():  # noqa: ASYNC110 - the server has nothing to wait on
            await asyncio.sleep(0.05)
