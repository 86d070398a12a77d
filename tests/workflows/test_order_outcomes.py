"""How an order ends when nobody intervenes: completed, failed on a business rule, or retried."""

from __future__ import annotations

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata

from schemas.order import OrderStatus
from tests.examples import HAPPY_PATH
from tests.workflows.fakes import DECLINED_TOKEN, FLAKY_TOKEN, FakeOrderActivities, an_order
from tests.workflows.harness import ORDER_STATUS, OrderRunner

S = OrderStatus
HAPPY_JOURNAL = [
    "update_status:PENDING",
    "update_status:VALIDATING",
    "validate_order",
    "update_status:RESERVING_STOCK",
    "reserve_stock",
    "update_status:PROCESSING_PAYMENT",
    "process_payment",
    "update_status:CONFIRMED",
    "send_order_confirmation",
    "update_status:COMPLETED",
]


async def test_a_good_order_is_announced_through_every_status_and_completes(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id))
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.COMPLETED, None)
    assert result.payment_id == f"pay-{order_id}"
    assert fakes.journal == HAPPY_JOURNAL
    changes = fakes.status_changes
    assert [(c.sequence, c.status) for c in changes] == list(enumerate(HAPPY_PATH, start=1))
    assert [c.previous_status for c in changes] == [None, *(c.status for c in changes[:-1])]
    assert {(c.workflow_id, c.order_ref) for c in changes} == {(handle.id, f"web-{order_id:06d}")}
    assert all(c.occurred_at.tzinfo is not None for c in changes)
    described = await handle.describe()
    assert described.typed_search_attributes.get(ORDER_STATUS) == "COMPLETED"
    # What the Temporal UI shows as the workflow's current details.
    metadata = await handle.query("__temporal_workflow_metadata", result_type=WorkflowMetadata)
    assert metadata.current_details == "**COMPLETED**"


@pytest.mark.parametrize(
    ("lines", "total", "reason"),
    [
        pytest.param(((99, 1, "1.00"),), "1.00", "unknown_product:product=99", id="unknown"),
        pytest.param(((1, 1, "18.00"),), "18.00", "price_mismatch", id="price-mismatch"),
        pytest.param(((1, 1, "19.99"),), "20.00", "total_mismatch", id="total-mismatch"),
    ],
)
async def test_an_order_failing_validation_fails_once_with_nothing_to_compensate(
    orders: OrderRunner,
    fakes: FakeOrderActivities,
    order_id: int,
    lines: tuple[tuple[int, int, str], ...],
    total: str,
    reason: str,
) -> None:
    result = await orders.run(an_order(order_id, lines=lines, total=total))

    assert (result.status, result.reason) == (S.FAILED, reason)
    assert fakes.journal == [*HAPPY_JOURNAL[:3], "update_status:FAILED"]
    assert fakes.status_changes[-1].reason == reason


async def test_insufficient_stock_fails_the_order_and_releases_whatever_was_reserved(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    fakes.stock[7] = 0

    result = await orders.run(an_order(order_id))

    assert (result.status, result.reason) == (S.FAILED, "insufficient_stock:product=7")
    assert fakes.journal == [*HAPPY_JOURNAL[:5], "release_stock", "update_status:FAILED"]
    assert fakes.stock == {1: 100, 7: 0}


async def test_a_declined_payment_fails_the_order_and_gives_the_stock_back(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    result = await orders.run(an_order(order_id, token=DECLINED_TOKEN))

    assert (result.status, result.reason, result.payment_id) == (S.FAILED, "payment_declined", None)
    assert fakes.journal == [
        *HAPPY_JOURNAL[:7],
        "refund_payment",
        "release_stock",
        "update_status:FAILED",
    ]
    assert (fakes.captured, fakes.refunded) == ([], [])
    assert fakes.stock == {1: 100, 7: 100}


async def test_a_payment_failing_transiently_twice_is_retried_and_the_order_completes(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    result = await orders.run(an_order(order_id, token=FLAKY_TOKEN))

    assert result.status == S.COMPLETED
    assert fakes.journal.count("process_payment") == 3
    assert fakes.captured == [order_id]


async def test_a_step_out_of_retries_fails_the_order_and_compensates_the_attempt(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    fakes.broken = frozenset({"reserve_stock"})

    result = await orders.run(an_order(order_id))

    assert (result.status, result.reason) == (S.FAILED, "step_failed:reserve_stock")
    # Each attempt announces RESERVING_STOCK before its work, and the workflow, not knowing
    # whether the last one got that far, announces it once more before FAILED: same event id.
    assert fakes.journal == [
        *HAPPY_JOURNAL[:3],
        *["update_status:RESERVING_STOCK", "reserve_stock"] * 3,
        "release_stock",
        "update_status:RESERVING_STOCK",
        "update_status:FAILED",
    ]
    assert [change.sequence for change in fakes.status_changes] == [1, 2, 3, 3, 3, 3, 4]


async def test_a_validation_that_times_out_fails_the_order_with_nothing_to_compensate(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    fakes.hold("validate_order")  # never released: every attempt runs into its timeout
    order = an_order(order_id).model_copy(update={"activity_timeout_seconds": 0.5})

    result = await orders.run(order)

    assert (result.status, result.reason) == (S.FAILED, "step_failed:validate_order")
    assert fakes.journal[-2:] == ["update_status:VALIDATING", "update_status:FAILED"]
    assert fakes.reserved == {}
    assert fakes.captured == []


async def test_the_query_shows_the_order_in_flight_and_after_it_ends(
    orders: OrderRunner, fakes: FakeOrderActivities, order_id: int
) -> None:
    payment = fakes.hold("process_payment")
    handle = await orders.start(an_order(order_id))
    await payment.wait_entered()

    during = await orders.state_of(handle)
    payment.release()
    await orders.result_of(handle)
    after = await orders.state_of(handle)

    assert (during.status, during.sequence) == (S.PROCESSING_PAYMENT, 4)
    assert during.stock_reserved
    assert (during.payment_id, during.cancel_requested) == (None, False)
    assert during.workflow_id == handle.id
    assert (after.status, after.sequence, after.payment_id) == (S.COMPLETED, 6, f"pay-{order_id}")
