"""Starting an order's workflow on the real Temporal: once, and never someone else's."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
import pytest_asyncio
from temporalio.client import Client, WorkflowExecutionStatus

from consumer.errors import WorkflowIdTakenError
from consumer.temporal import TemporalOrders
from schemas.search_attributes import ORDER_REF
from schemas.workflow_io import OrderLine, OrderWorkflowInput, workflow_id_for
from tests.conftest import unique_order_id_base


def an_order(order_id: int, ref: str) -> OrderWorkflowInput:
    return OrderWorkflowInput(
        order_id=order_id,
        order_ref=ref,
        customer_id=42,
        customer_email="ada@example.com",
        currency="USD",
        items=(OrderLine(product_id=1, quantity=1, unit_price=Decimal("19.99")),),
        total_amount=Decimal("19.99"),
        payment_method="card",
        payment_token="tok_ok",
    )


@pytest_asyncio.fixture(loop_scope="session")
async def started(temporal_client: Client, task_queue: str) -> AsyncIterator[OrderWorkflowInput]:
    """An order whose workflow is started (no worker polls its queue, so it stays open)."""
    order = an_order(unique_order_id_base(), f"start-{uuid.uuid4().hex[:8]}")
    await TemporalOrders(temporal_client, task_queue).start_order(order, new=True)
    yield order
    handle = temporal_client.get_workflow_handle(workflow_id_for(order.order_id))
    if (await handle.describe()).status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate("test over")


async def test_a_redelivery_finds_the_running_workflow_of_its_order(
    temporal_client: Client, task_queue: str, started: OrderWorkflowInput
) -> None:
    orders = TemporalOrders(temporal_client, task_queue)
    await orders.start_order(started, new=False)
    runs = temporal_client.list_workflows(f"WorkflowId = '{workflow_id_for(started.order_id)}'")
    assert len([run async for run in runs]) == 1


async def test_a_new_row_whose_workflow_another_consumer_started_is_a_duplicate_not_a_crash(
    temporal_client: Client, task_queue: str, started: OrderWorkflowInput
) -> None:
    # Two owners of one record in a rebalance: each inserted or found the row; the first to
    # start won. The one that believes it created the row finds the same order's workflow.
    await TemporalOrders(temporal_client, task_queue).start_order(started, new=True)

    runs = temporal_client.list_workflows(f"WorkflowId = '{workflow_id_for(started.order_id)}'")
    assert len([run async for run in runs]) == 1


async def test_the_temporal_ui_shows_a_summary_of_the_order_without_contact_data(
    temporal_client: Client, started: OrderWorkflowInput
) -> None:
    description = await temporal_client.get_workflow_handle(
        workflow_id_for(started.order_id)
    ).describe()
    summary = await description.static_summary()
    assert summary == f"Order {started.order_ref}: customer 42, 1 unit(s), 19.99 USD"
    assert await description.static_details() == (
        "| product | quantity | unit price |\n|---|---|---|\n| 1 | 1 | 19.99 |"
    )
    assert "ada@example.com" not in f"{summary}{await description.static_details()}"


async def test_a_new_order_whose_id_another_order_holds_is_refused(
    temporal_client: Client, task_queue: str, started: OrderWorkflowInput
) -> None:
    orders = TemporalOrders(temporal_client, task_queue)
    stranger = an_order(started.order_id, "a-different-order")
    with pytest.raises(WorkflowIdTakenError, match="exists for another order"):
        await orders.start_order(stranger, new=True)
    description = await temporal_client.get_workflow_handle(
        workflow_id_for(started.order_id)
    ).describe()
    assert description.typed_search_attributes.get(ORDER_REF) == started.order_ref


async def test_a_redelivery_whose_closed_workflow_ran_another_order_is_refused(
    temporal_client: Client, task_queue: str, started: OrderWorkflowInput
) -> None:
    await temporal_client.get_workflow_handle(workflow_id_for(started.order_id)).terminate("x")
    orders = TemporalOrders(temporal_client, task_queue)
    await orders.start_order(started, new=False)  # its own closed run: nothing to do
    with pytest.raises(WorkflowIdTakenError):
        await orders.start_order(an_order(started.order_id, "a-different-order"), new=False)


async def test_a_redelivery_whose_running_workflow_runs_another_order_is_refused(
    temporal_client: Client, task_queue: str, started: OrderWorkflowInput
) -> None:
    # A database recreated under a running Temporal: the row was created again on the first
    # delivery, which was refused; the redelivery finds the row and must not adopt the run.
    orders = TemporalOrders(temporal_client, task_queue)
    with pytest.raises(WorkflowIdTakenError, match="exists for another order"):
        await orders.start_order(an_order(started.order_id, "a-different-order"), new=False)
    description = await temporal_client.get_workflow_handle(
        workflow_id_for(started.order_id)
    ).describe()
    assert description.typed_search_attributes.get(ORDER_REF) == started.order_ref
