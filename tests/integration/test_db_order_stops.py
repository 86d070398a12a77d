"""The order's stops on a real MariaDB: a cancellation recorded before a step, compensation
from the rows, COMPLETED final, and the steps of a lost workflow task run again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from decimal import Decimal

import databases
import pytest
import pytest_asyncio

from db.order_steps import OrderSteps
from db.orders import OrderRepository
from schemas.order import OrderStatus
from schemas.steps import OrderState, PaymentOutcome, RefundDue
from tests.integration.test_db_inventory import reservations
from tests.integration.test_db_orders import new_order
from tests.support.step_rows import (
    CANCELLED,
    GADGET,
    GADGETS,
    WIDGET,
    WIDGETS,
    Step,
    assert_life,
    begin_payment,
    cancellation,
    capture,
    complete,
    life,
    notifications,
    payment,
    place,
    published,
    reserve,
    rows_of,
    run_before,
    run_through,
    shop,
    stock_left,
    stop,
    unreleased,
    validate,
)

_S = OrderStatus


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    async with shop(migrated_database_url) as database:
        yield database


@pytest.fixture
def steps(database: databases.Database) -> OrderSteps:
    return OrderSteps(database)


@pytest.fixture
def orders(database: databases.Database) -> OrderRepository:
    return OrderRepository(database)


# For a cancellation recorded before each step: the statuses the order had entered, and the
# refund its stop owes (None: no payment was ever intended).
BEFORE_EACH_STEP = [
    (validate, [], None),
    (reserve, [_S.PENDING, _S.VALIDATING], None),
    (begin_payment, [_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK], None),
    # The gateway captured: finish_payment records it, enters no CONFIRMED, the stop refunds.
    (
        capture,
        [_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT],
        "pay-1",
    ),
    (
        complete,
        [_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT, _S.CONFIRMED],
        "pay-1",
    ),
]


@pytest.mark.parametrize(
    ("step", "entered", "refunded_payment"),
    BEFORE_EACH_STEP,
    ids=[step.__name__ for step, _, _ in BEFORE_EACH_STEP],
)
async def test_a_step_after_a_recorded_cancellation_does_nothing_and_the_stop_compensates(
    steps: OrderSteps,
    orders: OrderRepository,
    database: databases.Database,
    step: Step,
    entered: list[OrderStatus],
    refunded_payment: str | None,
) -> None:
    order_id = await place(orders, new_order("web-cancel"))
    await run_before(steps, order_id, step)
    assert await orders.record_cancellation(order_id, "customer changed mind")
    stock_before = await stock_left(database)

    result = await step(steps, order_id)

    state = result[0] if isinstance(result, tuple) else result
    assert isinstance(state, OrderState)
    # An order cancelled before its first step still enters PENDING first.
    entered = entered or [_S.PENDING]
    assert (state.status, state.sequence, state.cancel_requested) == (
        entered[-1],
        len(entered),
        True,
    )
    await assert_life(database, order_id, life(order_id, *entered))
    assert await stock_left(database) == stock_before
    assert await notifications(database, order_id) == (
        ["order_confirmation"] if step is complete else []
    )

    due = await steps.begin_stop(order_id, _S.CANCELLED, CANCELLED, None)
    ended = await stop(steps, order_id, _S.CANCELLED, CANCELLED)

    if refunded_payment is None:
        assert due == ended
        assert await payment(database, order_id) is None
    else:
        key = f"order-{order_id}"
        assert due == RefundDue(
            idempotency_key=key, amount=Decimal("44.98"), payment_id=refunded_payment
        )
        assert await payment(database, order_id) == (
            "REFUNDED",
            key,
            refunded_payment,
            Decimal("44.98"),
        )
    assert (ended.status, ended.sequence, ended.reason) == (
        _S.CANCELLED,
        len(entered) + 1,
        CANCELLED,
    )
    await assert_life(database, order_id, life(order_id, *entered, _S.CANCELLED, reason=CANCELLED))
    assert await stock_left(database) == (WIDGETS, GADGETS)
    assert await unreleased(database, order_id) == 0


async def test_a_cancellation_while_the_capture_is_in_doubt_refunds_by_the_intent(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-cancel-doubt"))
    await run_through(steps, order_id, begin_payment)
    await orders.record_cancellation(order_id, "customer changed mind")

    due = await steps.begin_stop(order_id, _S.CANCELLED, CANCELLED, None)
    ended = await steps.finish_stop(
        order_id, _S.CANCELLED, CANCELLED, None, refunded_payment_id=None
    )

    key = f"order-{order_id}"
    assert due == RefundDue(idempotency_key=key, amount=Decimal("44.98"))
    assert ended == OrderState(
        status=_S.CANCELLED, sequence=5, reason=CANCELLED, cancel_requested=True
    )
    assert await payment(database, order_id) == ("REFUNDED", key, None, Decimal("44.98"))
    assert await stock_left(database) == (WIDGETS, GADGETS)


@pytest.mark.parametrize("ended_by", [complete, validate], ids=["completed", "failed"])
async def test_a_cancellation_of_an_ended_order_is_refused_and_changes_nothing(
    steps: OrderSteps,
    orders: OrderRepository,
    database: databases.Database,
    ended_by: Step,
) -> None:
    placed = new_order("web-ended")
    if ended_by is validate:
        placed = replace(placed, total_amount=Decimal("1.00"))
    order_id = await place(orders, placed)
    await run_through(steps, order_id, ended_by)
    before = await rows_of(database, order_id)

    recorded = await orders.record_cancellation(order_id, "too late")

    assert recorded is False
    assert await rows_of(database, order_id) == before
    assert await cancellation(database, order_id) == (None, None)


async def test_a_second_cancellation_request_keeps_the_first_reason(
    orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-twice"))
    first = await orders.record_cancellation(order_id, "first reason")
    recorded = await cancellation(database, order_id)
    second = await orders.record_cancellation(order_id, "second reason")

    assert (first, second) == (True, True)
    assert recorded[1] == "first reason"
    assert await cancellation(database, order_id) == recorded


async def test_completing_and_cancelling_at_once_lets_exactly_one_win(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_ids = [await place(orders, new_order(f"web-photo-{n}")) for n in range(8)]
    for order_id in order_ids:
        await run_through(steps, order_id, capture)

    outcomes = await asyncio.gather(
        *(
            asyncio.gather(complete(steps, order_id), orders.record_cancellation(order_id, "r"))
            for order_id in order_ids
        )
    )

    for order_id, (state, cancelled) in zip(order_ids, outcomes, strict=True):
        requested = await database.fetch_val(
            "SELECT cancel_requested_at IS NOT NULL FROM orders WHERE id = :id", {"id": order_id}
        )
        if cancelled:
            assert (state.status, state.sequence, state.cancel_requested) == (
                _S.CONFIRMED,
                5,
                True,
            )
            assert requested == 1
        else:
            assert (state.status, state.sequence, state.cancel_requested) == (
                _S.COMPLETED,
                6,
                False,
            )
            assert requested == 0
        assert [e[3] for e in await published(database, order_id)][-1] == state.status


async def test_a_completion_after_a_stop_began_leaves_the_order_to_the_stop(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # An operator's cancellation reaches MySQL only as the stop: a completion run meanwhile
    # by a worker cut off from Temporal must not complete a sale the stop is refunding.
    order_id = await place(orders, new_order("web-complete-mid-stop"))
    await run_through(steps, order_id, capture)
    reason = "cancelled_by_operator"

    due = await steps.begin_stop(order_id, _S.CANCELLED, reason, None)
    late = await complete(steps, order_id)
    ended = await steps.finish_stop(
        order_id, _S.CANCELLED, reason, None, refunded_payment_id="pay-1"
    )

    assert isinstance(due, RefundDue)
    assert (late.status, late.sequence, late.stock_reserved) == (_S.CONFIRMED, 5, False)
    assert ended == OrderState(status=_S.CANCELLED, sequence=6, reason=reason, payment_id="pay-1")
    key = f"order-{order_id}"
    assert await payment(database, order_id) == ("REFUNDED", key, "pay-1", Decimal("44.98"))
    assert await stock_left(database) == (WIDGETS, GADGETS)


async def test_a_stop_on_a_completed_order_changes_nothing(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-final"))
    await run_through(steps, order_id, complete)
    before = await rows_of(database, order_id)

    begun = await steps.begin_stop(order_id, _S.CANCELLED, CANCELLED, None)
    finished = await steps.finish_stop(
        order_id, _S.CANCELLED, CANCELLED, None, refunded_payment_id=None
    )

    completed = OrderState(status=_S.COMPLETED, sequence=6, stock_reserved=True, payment_id="pay-1")
    assert begun == finished == completed
    assert await rows_of(database, order_id) == before
    assert await stock_left(database) == (WIDGETS - 2, GADGETS - 1)


async def test_a_stop_before_any_step_enters_pending_then_the_ending(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-early"))

    stopped = await steps.begin_stop(order_id, _S.CANCELLED, CANCELLED, None)
    late = await validate(steps, order_id)

    assert stopped == late == OrderState(status=_S.CANCELLED, sequence=2, reason=CANCELLED)
    await assert_life(
        database, order_id, life(order_id, _S.PENDING, _S.CANCELLED, reason=CANCELLED)
    )


async def test_a_cancellation_applied_before_steps_already_done_still_compensates_them(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # A workflow task lost after its validate and reserve committed runs again with the
    # cancellation applied first: it stops the order without knowing of the reservation.
    order_id = await place(orders, new_order("web-lost-task"))
    await validate(steps, order_id)
    await reserve(steps, order_id)
    await orders.record_cancellation(order_id, "customer changed mind")

    ended = await steps.begin_stop(order_id, _S.CANCELLED, CANCELLED, None)
    late_reserve = await reserve(steps, order_id)

    assert ended == late_reserve
    assert (ended.status, ended.sequence, ended.stock_reserved) == (_S.CANCELLED, 4, False)
    entered = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.CANCELLED)
    await assert_life(database, order_id, life(order_id, *entered, reason=CANCELLED))
    assert await stock_left(database) == (WIDGETS, GADGETS)
    assert await reservations(database, order_id) == [(WIDGET, 2), (GADGET, 1)]
    assert await unreleased(database, order_id) == 0


async def test_a_payment_step_run_again_after_its_stop_began_neither_captures_nor_confirms(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # The stop of a payment in doubt released the stock and owes the refund; the workflow
    # task is lost before the stop ends the order, and its second run pays again.
    order_id = await place(orders, new_order("web-stop-begun"))
    await run_through(steps, order_id, begin_payment)
    reason = "step_failed:process_payment"
    await steps.finish_payment(order_id, PaymentOutcome.UNAVAILABLE, None, None)
    await steps.begin_stop(order_id, _S.FAILED, reason, None)

    paid_again = await begin_payment(steps, order_id)
    late_capture, notified = await capture(steps, order_id)
    due = await steps.begin_stop(order_id, _S.FAILED, reason, None)
    ended = await steps.finish_stop(order_id, _S.FAILED, reason, None, refunded_payment_id="pay-1")

    in_doubt = OrderState(status=_S.PROCESSING_PAYMENT, sequence=4, failure=reason)
    assert paid_again == in_doubt
    assert (late_capture, notified) == (in_doubt.model_copy(update={"payment_id": "pay-1"}), False)
    key = f"order-{order_id}"
    assert due == RefundDue(idempotency_key=key, amount=Decimal("44.98"), payment_id="pay-1")
    assert ended == OrderState(status=_S.FAILED, sequence=5, reason=reason, payment_id="pay-1")
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)
    await assert_life(database, order_id, life(order_id, *statuses, _S.FAILED, reason=reason))
    assert await payment(database, order_id) == ("REFUNDED", key, "pay-1", Decimal("44.98"))
    assert await notifications(database, order_id) == []
    assert await stock_left(database) == (WIDGETS, GADGETS)


async def test_a_stop_as_failed_on_a_confirmed_order_is_refused_and_changes_nothing(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # CONFIRMED has no way to FAILED: the order is paid, and no outage or stale override may
    # release its stock, refund it or announce it failed.
    order_id = await place(orders, new_order("web-confirmed-stays"))
    await run_through(steps, order_id, capture)
    before = await rows_of(database, order_id)

    begun = await steps.begin_stop(order_id, _S.FAILED, "step_failed:complete_order", None)
    finished = await steps.finish_stop(
        order_id, _S.FAILED, "step_failed:complete_order", None, refunded_payment_id=None
    )

    confirmed = OrderState(status=_S.CONFIRMED, sequence=5, stock_reserved=True, payment_id="pay-1")
    assert begun == finished == confirmed
    assert await rows_of(database, order_id) == before
    assert await payment(database, order_id) == (
        "CAPTURED",
        f"order-{order_id}",
        "pay-1",
        Decimal("44.98"),
    )
    assert await stock_left(database) == (WIDGETS - 2, GADGETS - 1)


async def test_a_capture_recorded_between_the_stops_two_steps_is_refunded_again_after_it(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # The stop refunded the intent while its capture was in flight on another worker: that
    # refund may have come first and taken nothing, so the stop refunds again, after it.
    order_id = await place(orders, new_order("web-capture-mid-stop"))
    await run_through(steps, order_id, begin_payment)
    await orders.record_cancellation(order_id, "customer changed mind")

    due = await steps.begin_stop(order_id, _S.CANCELLED, CANCELLED, None)
    await capture(steps, order_id)
    again = await steps.finish_stop(
        order_id, _S.CANCELLED, CANCELLED, None, refunded_payment_id=None
    )
    owed = await payment(database, order_id)
    ended = await steps.finish_stop(
        order_id, _S.CANCELLED, CANCELLED, None, refunded_payment_id="pay-1"
    )

    key = f"order-{order_id}"
    assert due == RefundDue(idempotency_key=key, amount=Decimal("44.98"))
    assert again == RefundDue(idempotency_key=key, amount=Decimal("44.98"), payment_id="pay-1")
    assert owed == ("CAPTURED", key, "pay-1", Decimal("44.98"))
    assert ended == OrderState(
        status=_S.CANCELLED, sequence=5, reason=CANCELLED, cancel_requested=True, payment_id="pay-1"
    )
    assert await payment(database, order_id) == ("REFUNDED", key, "pay-1", Decimal("44.98"))
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)
    await assert_life(database, order_id, life(order_id, *statuses, _S.CANCELLED, reason=CANCELLED))
    assert await notifications(database, order_id) == []
    assert await stock_left(database) == (WIDGETS, GADGETS)


async def test_a_capture_landing_after_the_stop_ended_is_recorded_and_its_refund_owed(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # The stop ended the order while its capture was in flight on another worker: the stop's
    # refund came first and took nothing. The capture's own step owes the refund after it.
    order_id = await place(orders, new_order("web-capture-after-stop"))
    await run_through(steps, order_id, begin_payment)
    await orders.record_cancellation(order_id, "customer changed mind")
    ended = await stop(steps, order_id, _S.CANCELLED, CANCELLED)

    late = await steps.finish_payment(order_id, PaymentOutcome.CAPTURED, "pay-1", None)
    again = await steps.finish_payment(order_id, PaymentOutcome.CAPTURED, "pay-1", None)
    owed = await payment(database, order_id)
    recorded = await steps.record_refund(order_id)
    after = await steps.finish_payment(order_id, PaymentOutcome.CAPTURED, "pay-1", None)

    key = f"order-{order_id}"
    assert (
        late == again == RefundDue(idempotency_key=key, amount=Decimal("44.98"), payment_id="pay-1")
    )
    assert owed == ("CAPTURED", key, "pay-1", Decimal("44.98"))
    assert recorded == ended.model_copy(update={"payment_id": "pay-1"})
    assert after == (recorded, False)
    assert await payment(database, order_id) == ("REFUNDED", key, "pay-1", Decimal("44.98"))
    # The order stays as its stop left it: no event, no confirmation, no stock taken.
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)
    await assert_life(database, order_id, life(order_id, *statuses, _S.CANCELLED, reason=CANCELLED))
    assert await notifications(database, order_id) == []
    assert await stock_left(database) == (WIDGETS, GADGETS)


# The step each happy-path step leaves the order waiting for, and the statuses entered so far:
# an order failing before its validation ran enters VALIDATING, the step that failed, since the
# state machine has no way from PENDING to FAILED.
WAITING_FOR = [
    (None, "validate_order", [_S.PENDING, _S.VALIDATING]),
    (validate, "reserve_stock", [_S.PENDING, _S.VALIDATING]),
    (reserve, "process_payment", [_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK]),
    (
        begin_payment,
        "process_payment",
        [_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT],
    ),
]


@pytest.mark.parametrize(
    ("last", "failed_step", "entered"),
    WAITING_FOR,
    ids=["before_validation", "validated", "reserved", "payment_begun"],
)
async def test_a_stop_without_a_reason_names_the_step_the_order_was_waiting_for(
    steps: OrderSteps,
    orders: OrderRepository,
    database: databases.Database,
    last: Step | None,
    failed_step: str,
    entered: list[OrderStatus],
) -> None:
    # The forward steps run in one activity: when it gives up, only MySQL knows which failed.
    order_id = await place(orders, new_order("web-gave-up"))
    if last is not None:
        await run_through(steps, order_id, last)

    ended = await stop(steps, order_id, _S.FAILED, None)

    reason = f"step_failed:{failed_step}"
    assert (ended.status, ended.reason) == (_S.FAILED, reason)
    await assert_life(database, order_id, life(order_id, *entered, _S.FAILED, reason=reason))
    assert await stock_left(database) == (WIDGETS, GADGETS)
