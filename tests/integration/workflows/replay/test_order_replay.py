"""The workflow replays its own histories: its decisions depend only on what history records."""

from __future__ import annotations

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from schemas.order import OrderStatus
from tests.integration.workflows.fakes import DECLINED_TOKEN, an_order, fresh_order_id
from tests.integration.workflows.harness import OrderRunner
from tests.integration.workflows.test_order_interventions import cancel
from worker.workflows import OrderProcessingWorkflow


async def test_completed_failed_and_cancelled_runs_replay_without_nondeterminism(
    orders: OrderRunner, order_id: int
) -> None:
    completed = await orders.start(an_order(order_id))
    failed = await orders.start(an_order(fresh_order_id(), token=DECLINED_TOKEN))
    cancelled = await orders.start(an_order(fresh_order_id(), cancel_window_seconds=60))
    await orders.wait_for_state(cancelled, lambda state: state.status == OrderStatus.CONFIRMED)
    await cancelled.signal(OrderProcessingWorkflow.update_order_status, "SHIPPED")
    await cancel(orders.shop, cancelled)
    outcomes = [
        (await orders.result_of(handle)).status for handle in (completed, failed, cancelled)
    ]

    replayer = Replayer(workflows=[OrderProcessingWorkflow], data_converter=pydantic_data_converter)
    for handle in (completed, failed, cancelled):
        await replayer.replay_workflow(await handle.fetch_history())
    assert outcomes == [OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED]
