"""The two ways a workflow task running local steps can be lost, and why MySQL's guard makes
both harmless.

A local activity's result reaches the history only when its workflow task completes. When the
task is lost (its worker dies, or it fails), the steps it ran stand in MySQL and the workflow
runs again from its last completed task, with any signal that came meanwhile applied first.
When a signal comes while the task that ends the workflow runs, the server refuses that
completion and the workflow runs again, signal first. In both, the workflow then decides from
what MySQL says, never from what it remembers. A task that times out while its worker still
runs the steps leaves them running beside the worker that takes it over: MySQL's guard orders
their transactions, and a refund always follows the capture it undoes.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import (
    Interceptor,
    StartLocalActivityInput,
    WorkflowInboundInterceptor,
    WorkflowInterceptorClassInput,
    WorkflowOutboundInterceptor,
)

from db.orders import OrderRepository
from schemas import failures
from schemas.order import OrderStatus
from schemas.steps import ADVANCE_ORDER_STEP, AdvanceInput, StopInput
from tests.integration.workflows.conftest import order_worker, step_activities
from tests.integration.workflows.fakes import an_order
from tests.integration.workflows.harness import OrderHandle, OrderRunner, order_id_of, wait_until
from tests.integration.workflows.shop import STOCK, ControlledSteps, HeldCaptureGateway, Shop
from tests.integration.workflows.test_order_outcomes import HAPPY
from tests.support.fakes import RecordingGateway
from worker.workflows import OrderProcessingWorkflow

S = OrderStatus


class _LosesTheTaskThatRanTheSteps(WorkflowOutboundInterceptor):
    def start_local_activity(self, input: StartLocalActivityInput) -> Any:
        steps = super().start_local_activity(input)
        if input.activity != ADVANCE_ORDER_STEP:
            return steps

        async def lost() -> Any:
            await steps  # they ran, and MySQL committed each of them
            raise RuntimeError("the worker dies before its workflow task completes")

        return asyncio.ensure_future(lost())


class _Inbound(WorkflowInboundInterceptor):
    def init(self, outbound: WorkflowOutboundInterceptor) -> None:
        super().init(_LosesTheTaskThatRanTheSteps(outbound))


class LosesTasksAfterTheSteps(Interceptor):
    """A worker whose workflow tasks are all lost once the order's steps have run."""

    def workflow_interceptor_class(
        self, input: WorkflowInterceptorClassInput
    ) -> type[WorkflowInboundInterceptor]:
        return _Inbound


async def _lost(handle: OrderHandle) -> bool:
    return await _task_failures(handle) > 0


async def _task_failures(handle: OrderHandle) -> int:
    history = await handle.fetch_history()
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED for e in history.events)


async def test_a_stop_after_a_lost_task_compensates_the_steps_mysql_recorded(
    workflow_env: WorkflowEnvironment,
    task_queue: str,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
    order_id: int,
) -> None:
    """The task that validated, reserved and took the payment is lost; an operator's
    cancellation comes before the workflow runs again. The re-run workflow never reserved or
    captured anything itself, yet the stock comes back and the capture is refunded, because
    the stop compensates what MySQL holds for the order."""
    activities = step_activities(steps, gateway)
    runner = OrderRunner(workflow_env.client, f"{task_queue}-lossy", shop)
    order = an_order(order_id, cancel_window_seconds=3600)
    lossy = [LosesTasksAfterTheSteps()]
    async with order_worker(workflow_env, runner.task_queue, activities, lossy):
        # A short task timeout: the worker that takes the task again need not wait long for it.
        handle = await runner.start(order, task_timeout=timedelta(seconds=2))
        await wait_until(lambda: _lost(handle))
    placed = order_id_of(handle)
    assert await shop.statuses(placed) == HAPPY[:5]  # up to CONFIRMED, in MySQL only

    await handle.signal(OrderProcessingWorkflow.update_order_status, "CANCELLED")
    async with order_worker(workflow_env, runner.task_queue, activities):
        result = await runner.result_of(handle)

    reason = "cancelled_by_operator"
    assert (result.status, result.reason) == (S.CANCELLED, reason)
    assert await shop.statuses(placed) == [*HAPPY[:5], (6, "CANCELLED", reason)]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
    assert len(gateway.captures) == 1  # however often the lost task ran the steps
    assert gateway.refunds == gateway.captures


async def test_a_signal_during_the_last_task_cannot_undo_a_completion_mysql_recorded(
    orders: OrderRunner,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
    order_id: int,
) -> None:
    """An operator cancels while the order's one task is completing it: the server refuses the
    completion, the workflow runs again with the cancellation first, and MySQL, where the order
    is COMPLETED, keeps it so. COMPLETED is final; nothing is refunded or released."""
    completion = steps.hold("finish_payment")  # with no cancel window, it completes too
    handle = await orders.start(an_order(order_id))
    await completion.wait_entered()

    await handle.signal(OrderProcessingWorkflow.update_order_status, "CANCELLED")
    completion.release()
    result = await orders.result_of(handle)

    assert await _task_failures(handle) >= 1  # the refused completion
    assert (result.status, result.reason) == (S.COMPLETED, None)
    assert await shop.statuses(order_id_of(handle)) == HAPPY
    assert gateway.refunds == []
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK - 2, STOCK - 1)


@pytest.mark.parametrize("lands", ["while_the_stop_refunds", "after_the_stop_ended"])
async def test_a_capture_in_flight_while_another_worker_stops_the_order_is_refunded_after_it(
    shop: Shop, steps: ControlledSteps, order_id: int, lands: str
) -> None:
    """A worker cut off from Temporal, but not from MySQL or the gateway, is capturing when
    its workflow task times out; the worker that takes the task over stops the cancelled
    order and refunds by the order's key before the capture lands, taking nothing back. The
    refund that counts is the one after the capture: the stop's second refund when the capture
    was recorded before the stop ended, the capturing step's own when it was recorded after."""
    gateway = HeldCaptureGateway()
    activities = step_activities(steps, gateway)
    placed = (await shop.place(an_order(order_id))).order_id
    advance = AdvanceInput(order_id=placed, payment_token="tok_ok", complete=True)
    paying = asyncio.create_task(activities.advance_order(advance))
    await gateway.capture_hold.wait_entered()
    assert await OrderRepository(shop.database).record_cancellation(placed, "changed my mind")
    stop = StopInput(order_id=placed, ending=S.CANCELLED, reason=failures.CANCELLED_BY_CUSTOMER)

    if lands == "while_the_stop_refunds":
        finishing = steps.hold("finish_stop")
        stopping = asyncio.create_task(activities.stop_order(stop))
        await finishing.wait_entered()  # the stop has refunded: before the capture
        gateway.capture_hold.release()
        await paying
        finishing.release()
        await stopping
    else:
        await activities.stop_order(stop)
        gateway.capture_hold.release()
        await paying

    [(payment_id, amount)] = gateway.captures
    assert gateway.refunds == [(f"order-{placed}", amount), (payment_id, amount)]
    assert amount == Decimal("44.98")
    payment = await shop.payment(placed)
    assert payment is not None
    assert (payment["status"], payment["payment_id"]) == ("REFUNDED", payment_id)
    cancelled = (5, "CANCELLED", failures.CANCELLED_BY_CUSTOMER)
    assert await shop.statuses(placed) == [*HAPPY[:4], cancelled]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
