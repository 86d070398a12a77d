"""How an order ends when nobody intervenes: completed, failed on a business rule, or delayed
by an outage and then completed. MySQL decides each step; the workflow sequences them."""

from __future__ import annotations

from decimal import Decimal

import pytest
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from db.order_steps import OrderSteps
from schemas.order import OrderStatus
from schemas.search_attributes import ORDER_STATUS
from schemas.steps import PaymentDue, PaymentOutcome
from tests.integration.workflows.conftest import order_worker, step_activities
from tests.integration.workflows.fakes import DECLINED_TOKEN, FLAKY_TOKEN, an_order
from tests.integration.workflows.harness import OrderRunner, order_id_of
from tests.integration.workflows.shop import STOCK, AnswerLosingGateway, ControlledSteps, Shop
from tests.support.examples import HAPPY_PATH
from tests.support.fakes import RecordingGateway
from worker.steps import catalogue_rule

S = OrderStatus
HAPPY = [(n, str(status), None) for n, status in enumerate(HAPPY_PATH, start=1)]


async def test_a_good_order_enters_every_status_once_in_mysql_and_completes(
    orders: OrderRunner, shop: Shop, gateway: RecordingGateway, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id))
    result = await orders.result_of(handle)

    placed = order_id_of(handle)
    assert (result.status, result.reason) == (S.COMPLETED, None)
    assert gateway.captures == [(result.payment_id, Decimal("44.98"))]
    assert await shop.statuses(placed) == HAPPY
    assert await shop.outbox(placed) == [1, 2, 3, 4, 5, 6]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK - 2, STOCK - 1)
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
    shop: Shop,
    gateway: RecordingGateway,
    order_id: int,
    lines: tuple[tuple[int, int, str], ...],
    total: str,
    reason: str,
) -> None:
    handle = await orders.start(an_order(order_id, lines=lines, total=total))
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.FAILED, reason)
    assert await shop.statuses(order_id_of(handle)) == [*HAPPY[:2], (3, "FAILED", reason)]
    assert await shop.stock(1) == STOCK
    assert gateway.captures == []


async def test_insufficient_stock_fails_the_order_without_taking_any_line(
    orders: OrderRunner, shop: Shop, order_id: int
) -> None:
    await shop.set_stock(7, 0)

    handle = await orders.start(an_order(order_id))
    result = await orders.result_of(handle)

    reason = "insufficient_stock:product=7"
    assert (result.status, result.reason) == (S.FAILED, reason)
    assert await shop.statuses(order_id_of(handle)) == [*HAPPY[:3], (4, "FAILED", reason)]
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, 0)


async def test_a_declined_payment_fails_the_order_and_gives_the_stock_back(
    orders: OrderRunner, shop: Shop, gateway: RecordingGateway, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, token=DECLINED_TOKEN))
    result = await orders.result_of(handle)

    assert (result.status, result.reason, result.payment_id) == (S.FAILED, "payment_declined", None)
    statuses = await shop.statuses(order_id_of(handle))
    assert statuses == [*HAPPY[:4], (5, "FAILED", "payment_declined")]
    assert (gateway.captures, gateway.refunds) == ([], [])
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)
    payment = await shop.payment(order_id_of(handle))
    assert payment is not None
    assert payment["status"] == "DECLINED"


async def test_a_payment_failing_transiently_twice_is_retried_and_the_order_completes(
    orders: OrderRunner, shop: Shop, gateway: RecordingGateway, order_id: int
) -> None:
    handle = await orders.start(an_order(order_id, token=FLAKY_TOKEN))
    result = await orders.result_of(handle)

    assert result.status == S.COMPLETED
    assert len(gateway.captures) == 1
    assert await shop.statuses(order_id_of(handle)) == HAPPY


@pytest.mark.parametrize("step", ["begin_order", "finish_payment"])
async def test_an_outage_of_mysql_at_any_step_delays_the_order_and_never_fails_it(
    orders: OrderRunner, shop: Shop, steps: ControlledSteps, order_id: int, step: str
) -> None:
    steps.outage(step, failures=3)

    handle = await orders.start(an_order(order_id))
    result = await orders.result_of(handle)

    assert result.status == S.COMPLETED
    assert steps.calls[step] >= 4
    assert await shop.statuses(order_id_of(handle)) == HAPPY


async def test_the_query_shows_the_order_as_mysql_last_left_it_and_after_it_ends(
    orders: OrderRunner, steps: ControlledSteps, order_id: int
) -> None:
    payment = steps.hold("finish_payment")
    handle = await orders.start(an_order(order_id))
    await payment.wait_entered()

    during = await orders.state_of(handle)
    payment.release()
    result = await orders.result_of(handle)
    after = await orders.state_of(handle)

    assert during.workflow_id == handle.id
    assert during.status is S.PENDING  # the task running the steps has not completed
    assert (after.status, after.sequence, after.payment_id) == (S.COMPLETED, 6, result.payment_id)
    assert after.stock_reserved


async def test_a_payment_taken_whose_answer_is_lost_is_refunded_when_the_order_fails(
    workflow_env: WorkflowEnvironment,
    task_queue: str,
    shop: Shop,
    steps: ControlledSteps,
    order_id: int,
) -> None:
    """The gateway takes the money on every attempt and its answer never arrives: past the
    payment's attempts the capture is in doubt, so the stop refunds by the order's key."""
    gateway = AnswerLosingGateway()
    async with order_worker(workflow_env, task_queue, step_activities(steps, gateway)):
        orders = OrderRunner(workflow_env.client, task_queue, shop)
        handle = await orders.start(an_order(order_id))
        result = await orders.result_of(handle)

    reason = "step_failed:process_payment"
    assert (result.status, result.reason) == (S.FAILED, reason)
    assert await shop.statuses(order_id_of(handle)) == [*HAPPY[:4], (5, "FAILED", reason)]
    assert len(gateway.captures) == 3  # one per attempt, all under the order's one key
    assert gateway.refunds == [gateway.captures[0]]
    payment = await shop.payment(order_id_of(handle))
    assert payment is not None
    assert payment["status"] == "REFUNDED"
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK, STOCK)


# Past it in a third of a second: the outages below outlast it.
BRIEF_TOLERANCE_HOURS = 0.0001


async def test_an_outage_past_the_tolerance_in_the_cancel_window_delays_the_completion_only(
    orders: OrderRunner,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
    order_id: int,
) -> None:
    """A CONFIRMED order is paid: its completion retries through any outage, however long,
    and never turns into a stop that would fail it and refund the sale."""
    # Past its local attempts, and then past the order's tolerance on the server.
    steps.outage("complete", failures=8)
    order = an_order(
        order_id, cancel_window_seconds=0.1, outage_tolerance_hours=BRIEF_TOLERANCE_HOURS
    )

    handle = await orders.start(order)
    result = await orders.result_of(handle)

    assert (result.status, result.reason) == (S.COMPLETED, None)
    assert steps.calls["complete"] == 9
    assert steps.calls["begin_stop"] == 0
    assert await shop.statuses(order_id_of(handle)) == HAPPY
    assert gateway.refunds == []
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK - 2, STOCK - 1)


async def test_a_stop_as_failed_that_finds_the_order_confirmed_lets_it_complete(
    orders: OrderRunner,
    shop: Shop,
    steps: ControlledSteps,
    gateway: RecordingGateway,
    order_id: int,
) -> None:
    """An attempt confirmed the order in MySQL and its answer was lost; MySQL then stays away
    past the order's tolerance, so the workflow stops the order as FAILED. MySQL refuses:
    FAILED would undo a confirmed sale. The order completes, its payment and stock kept."""
    order = await shop.place(
        an_order(order_id, cancel_window_seconds=0.1, outage_tolerance_hours=BRIEF_TOLERANCE_HOURS)
    )
    placed, key = order.order_id, f"order-{order.order_id}"
    lost = OrderSteps(shop.database)
    assert isinstance(await lost.begin_order(placed, catalogue_rule, None), PaymentDue)
    payment_id = await gateway.capture(
        idempotency_key=key, amount=order.total_amount, token="tok_ok", attempt=1
    )
    await lost.finish_payment(placed, PaymentOutcome.CAPTURED, payment_id, None)
    steps.outage("begin_order")  # past the order's tolerance: the step is given up

    handle = await orders.start_stored(order)
    result = await orders.result_of(handle)

    assert (result.status, result.reason, result.payment_id) == (S.COMPLETED, None, payment_id)
    assert steps.calls["begin_stop"] == 1  # refused
    assert await shop.statuses(placed) == HAPPY
    assert gateway.refunds == []
    assert (await shop.stock(1), await shop.stock(7)) == (STOCK - 2, STOCK - 1)
