"""Customers cancelling and operators overriding an order while it runs."""

from __future__ import annotations

import pytest

from schemas.order import OrderStatus
from tests.workflows.fakes import FakeOrderActivities, an_order
from tests.workflows.harness import OrderHandle, OrderRunner
from tests.workflows.test_order_outcomes import HAPPY_JOURNAL
from worker.workflows import OrderProcessingWorkflow

S = OrderStatus
LONG_WINDOW = 60.0  # far beyond the tests' deadline: only an early end lets them pass


async def _cancel_during(
    orders: OrderRunner, fakes: FakeOrderActivities, step: str, order_id: int
) -> OrderHandle:
    """Starts an order, cancels it while `step` is in flight, then lets the step finish."""
    hold = fakes.hold(step)
    handle = await orders.start(an_order(order_id))
    await hold.wait_entered()
    await handle.signal(OrderProcessingWorkflow.cancel_order, "changed my mind")
    await orders.wait_for_state(handle, lambda state: state.cancel_requested)
    hold.release()
    return handle


@pytest.mark.parametrize(
    ("step", "done", "compensation"),
    [
        # PENDING is announced by the validation step, which then runs to its end.
        pytest.param("update_status:PENDING", 3, [], id="pending"),
        pytest.param("validate_order", 3, [], id="validating"),
        pytest.param("reserve_stock", 5, ["release_stock"], id="reserving-stock"),
        pytest.param(
            "process_payment", 7, ["refund_payment", "release_stock"], id="processing-payment"
        ),
    ],
)
async def test_a_cancellation_is_honoured_once_the_step_in_flight_returns(
    orders: OrderRunner,
    fakes: FakeOrderActivities,
    order_id: int,
    step: str,
    done: int,
    compensation: list[str],
) -> None:
    handle = await _cancel_during(orders, fakes, step, order_id)
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.CANCELLED, "cancelled_by_customer")
    assert fakes.journal == [*HAPPY_JOURNAL[:done], *compensation, "update_status:CANCELLED"]
    assert fakes.stock == {1: 100, 7: 100}
    assert fakes.captured == fakes.refunded
    state = await orders.state_of(handle)
    assert (state.cancel_reason, state.stock_reserved) == ("changed my mind", False)


async def test_a_cancellation_during_payment_refunds_the_capture_after_it_happened(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    handle = await _cancel_during(orders, fakes, "process_payment", order_id)
    result = await orders.result_of(handle)

    assert result.payment_id == f"pay-{order_id}"
    assert fakes.captured == fakes.refunded == [order_id]
    assert fakes.journal.index("process_payment") < fakes.journal.index("refund_payment")


async def test_a_cancellation_in_the_cancel_window_ends_the_wait_and_compensates(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, cancel_window_seconds=LONG_WINDOW))
    await fakes.wait_seen("send_order_confirmation")

    await handle.signal(OrderProcessingWorkflow.cancel_order, "too late?")
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.CANCELLED, "cancelled_by_customer")
    assert fakes.journal == [
        *HAPPY_JOURNAL[:9],
        "refund_payment",
        "release_stock",
        "update_status:CANCELLED",
    ]
    assert fakes.captured == fakes.refunded == [order_id]


async def test_a_cancellation_after_completion_changes_nothing(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    completion = fakes.hold("update_status:COMPLETED")
    handle = await orders.start(an_order(order_id))
    await completion.wait_entered()

    await handle.signal(OrderProcessingWorkflow.cancel_order, "changed my mind")
    completion.release()
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.COMPLETED, None)
    assert fakes.journal == HAPPY_JOURNAL
    assert (fakes.captured, fakes.refunded) == ([order_id], [])
    state = await orders.state_of(handle)
    assert (state.cancel_requested, state.cancel_reason) == (False, None)


async def test_illegal_overrides_are_rejected_and_recorded_and_the_order_goes_on(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    validation = fakes.hold("validate_order")
    handle = await orders.start(an_order(order_id))
    await validation.wait_entered()

    for status in ("SHIPPED", "COMPLETED", "RESERVING_STOCK", "PENDING"):
        await handle.signal(OrderProcessingWorkflow.update_order_status, status)
    state = await orders.wait_for_state(handle, lambda state: len(state.rejected_overrides) == 4)
    validation.release()
    result = await orders.result_of(handle)

    assert state.status == S.VALIDATING
    assert [note.split(":")[0] for note in state.rejected_overrides] == [
        "SHIPPED",
        "COMPLETED",
        "RESERVING_STOCK",
        "PENDING",
    ]
    assert "not an order status" in state.rejected_overrides[0]
    assert "skip" in state.rejected_overrides[2]
    assert result.status == S.COMPLETED
    assert fakes.journal == HAPPY_JOURNAL


async def test_an_operator_completing_a_confirmed_order_ends_the_cancel_window(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, cancel_window_seconds=LONG_WINDOW))
    await fakes.wait_seen("send_order_confirmation")

    await handle.signal(OrderProcessingWorkflow.update_order_status, "COMPLETED")
    result = await orders.result_of(handle)

    assert result.status == S.COMPLETED
    assert fakes.journal == HAPPY_JOURNAL


@pytest.mark.parametrize(
    ("override", "status", "reason"),
    [
        pytest.param("CANCELLED", S.CANCELLED, "cancelled_by_operator", id="cancelled"),
        pytest.param("FAILED", S.FAILED, "failed_by_operator", id="failed"),
    ],
)
async def test_an_operator_ending_an_order_compensates_after_the_step_in_flight(
    orders: OrderRunner,
    fakes: FakeOrderActivities,
    order_id: int,
    override: str,
    status: OrderStatus,
    reason: str,
) -> None:
    payment = fakes.hold("process_payment")
    handle = await orders.start(an_order(order_id))
    await payment.wait_entered()

    await handle.signal(OrderProcessingWorkflow.update_order_status, override)
    payment.release()
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (status, reason)
    assert fakes.journal == [
        *HAPPY_JOURNAL[:7],
        "refund_payment",
        "release_stock",
        "update_status:" + status,
    ]
    assert fakes.captured == fakes.refunded == [order_id]
