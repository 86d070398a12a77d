"""Customers cancelling and operators overriding an order while it runs.

A customer's cancellation reaches the workflow as the consumer sends it: recorded on the order
in MySQL first, then signalled, so the next step to commit sees it. An operator's override is
a signal only, honoured when the workflow next takes its signals: in the cancel window, or
between the workflow tasks of an order delayed by an outage.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from db.orders import OrderRepository
from schemas.order import OrderStatus
from tests.integration.workflows.fakes import an_order
from tests.integration.workflows.harness import OrderHandle, OrderRunner, order_id_of
from tests.integration.workflows.shop import STOCK, ControlledSteps, Shop
from tests.integration.workflows.test_order_outcomes import HAPPY
from tests.support.fakes import RecordingGateway
from worker.workflows import OrderProcessingWorkflow

S = OrderStatus
LONG_WINDOW = 60.0  # far beyond the tests' deadline: only an early end lets them pass
CANCELLED = "cancelled_by_customer"


async def cancel(shop: Shop, handle: OrderHandle, reason: str = "changed my mind") -> None:
    """As the consumer does: the request recorded on the order, then the workflow told."""
    assert await OrderRepository(shop.database).record_cancellation(order_id_of(handle), reason)
    await handle.signal(OrderProcessingWorkflow.cancel_order, reason)


@pytest.mark.parametrize(
    ("step", "entered"),
    [
        # The order's first transaction validates, reserves and commits the payment's intent:
        # a cancellation is seen before it, or after it by the capture's transaction.
        pytest.param("begin_order", 0, id="pending"),
        pytest.param("finish_payment", 4, id="processing-payment"),
    ],
)
async def test_a_cancellation_is_honoured_by_the_next_step_to_commit(
    orders: OrderRunner,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
    order_id: int,
    step: str,
    entered: int,
) -> None:
    hold = steps.hold(step)
    handle = await orders.start(an_order(order_id))
    await hold.wait_entered()

    await cancel(shop, handle)
    hold.release()
    result = await orders.result_of(handle)

    placed = order_id_of(handle)
    assert (result.status, result.reason) == (S.CANCELLED, CANCELLED)
    before = HAPPY[:entered] or HAPPY[:1]  # stopped before its first step: PENDING first
    assert await shop.statuses(placed) == [*before, (len(before) + 1, "CANCELLED", CANCELLED)]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
    # A capture in flight is refunded after it happened, by the order's key.
    assert [refund for _, refund in gateway.refunds] == [amount for _, amount in gateway.captures]


async def test_a_cancellation_in_the_cancel_window_ends_the_wait_and_refunds_the_capture(
    orders: OrderRunner, shop: Shop, gateway: RecordingGateway, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, cancel_window_seconds=LONG_WINDOW))
    await orders.wait_for_state(handle, lambda state: state.status is S.CONFIRMED)

    await cancel(shop, handle, "too late?")
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.CANCELLED, CANCELLED)
    assert await shop.statuses(order_id_of(handle)) == [*HAPPY[:5], (6, "CANCELLED", CANCELLED)]
    assert gateway.refunds == gateway.captures == [(result.payment_id, Decimal("44.98"))]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
    state = await orders.state_of(handle)
    assert (state.cancel_requested, state.cancel_reason) == (True, "too late?")


async def test_a_cancellation_after_completion_is_refused_by_mysql_and_changes_nothing(
    orders: OrderRunner, shop: Shop, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id))
    await orders.result_of(handle)

    refused = await OrderRepository(shop.database).record_cancellation(
        order_id_of(handle), "changed my mind"
    )

    assert refused is False
    assert await shop.statuses(order_id_of(handle)) == HAPPY


async def test_illegal_overrides_are_rejected_and_recorded_and_the_order_goes_on(
    orders: OrderRunner, shop: Shop, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, cancel_window_seconds=LONG_WINDOW))
    await orders.wait_for_state(handle, lambda state: state.status is S.CONFIRMED)

    for status in ("SHIPPED", "PENDING", "RESERVING_STOCK", "CONFIRMED", "FAILED"):
        await handle.signal(OrderProcessingWorkflow.update_order_status, status)
    state = await orders.wait_for_state(handle, lambda state: len(state.rejected_overrides) == 5)
    await handle.signal(OrderProcessingWorkflow.update_order_status, "COMPLETED")
    result = await orders.result_of(handle)

    assert [note.split(":")[0] for note in state.rejected_overrides] == [
        "SHIPPED",
        "PENDING",
        "RESERVING_STOCK",
        "CONFIRMED",
        "FAILED",  # a paid, confirmed order can be cancelled, not failed
    ]
    assert "not an order status" in state.rejected_overrides[0]
    assert "does not allow" in state.rejected_overrides[1]
    assert "does not allow CONFIRMED -> FAILED" in state.rejected_overrides[4]
    assert result.status == S.COMPLETED
    assert await shop.statuses(order_id_of(handle)) == HAPPY


async def test_an_operator_cancelling_a_confirmed_order_refunds_it_and_gives_the_stock_back(
    orders: OrderRunner, shop: Shop, gateway: RecordingGateway, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, cancel_window_seconds=LONG_WINDOW))
    await orders.wait_for_state(handle, lambda state: state.status is S.CONFIRMED)

    await handle.signal(OrderProcessingWorkflow.update_order_status, "CANCELLED")
    result = await orders.result_of(handle)

    reason = "cancelled_by_operator"
    assert (result.status, result.reason) == (S.CANCELLED, reason)
    assert await shop.statuses(order_id_of(handle)) == [*HAPPY[:5], (6, "CANCELLED", reason)]
    assert gateway.refunds == gateway.captures
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
