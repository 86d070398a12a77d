"""The order's steps on a real MariaDB, forward: each one transaction that decides, all or
nothing, never overselling, and run again changing nothing."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal

import databases
import pytest
import pytest_asyncio

from db.connection import transaction
from db.order_rows import NewOrder
from db.order_steps import OrderSteps
from db.orders import OrderRepository
from db.transitions import lock_order
from schemas.order import OrderStatus
from schemas.steps import OrderState, PaymentDue, PaymentOutcome, RefundDue
from schemas.workflow_io import OrderLine
from tests.integration.test_db_inventory import reservations
from tests.integration.test_db_orders import new_order
from tests.support.step_rows import (
    GADGET,
    GADGETS,
    HAPPY_PATH,
    TRACE,
    WIDGET,
    WIDGETS,
    Step,
    assert_life,
    begin_payment,
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
    unreleased,
    validate,
)
from worker.steps import catalogue_rule

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


async def test_an_order_goes_through_every_step_to_completed_with_one_event_per_status(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-happy"))
    key = f"order-{order_id}"

    validated = await validate(steps, order_id)
    assert (validated.status, validated.sequence) == (_S.VALIDATING, 2)
    await assert_life(database, order_id, life(order_id, _S.PENDING, _S.VALIDATING))

    reserved = await reserve(steps, order_id)
    assert (reserved.status, reserved.sequence, reserved.stock_reserved) == (
        _S.RESERVING_STOCK,
        3,
        True,
    )
    assert await stock_left(database) == (WIDGETS - 2, GADGETS - 1)
    assert await reservations(database, order_id) == [(WIDGET, 2), (GADGET, 1)]

    due = await begin_payment(steps, order_id)
    assert due == PaymentDue(idempotency_key=key, amount=Decimal("44.98"), currency="USD")
    assert await payment(database, order_id) == ("INTENDED", key, None, Decimal("44.98"))

    confirmed, notified = await capture(steps, order_id)
    assert (confirmed.status, confirmed.sequence, confirmed.payment_id, notified) == (
        _S.CONFIRMED,
        5,
        "pay-1",
        True,
    )
    assert await payment(database, order_id) == ("CAPTURED", key, "pay-1", Decimal("44.98"))
    assert await notifications(database, order_id) == ["order_confirmation"]

    completed = await complete(steps, order_id)

    assert completed == OrderState(
        status=_S.COMPLETED, sequence=6, stock_reserved=True, payment_id="pay-1"
    )
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)
    await assert_life(database, order_id, life(order_id, *statuses, _S.CONFIRMED, _S.COMPLETED))
    assert await stock_left(database) == (WIDGETS - 2, GADGETS - 1)


async def test_each_event_carries_the_order_its_history_time_and_the_steps_trace(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-events"))

    await validate(steps, order_id)

    records = await database.fetch_all(
        "SELECT event_id, message_key, payload, headers FROM status_outbox ORDER BY id"
    )
    history = await orders.status_history(order_id)
    assert [r["event_id"] for r in records] == [f"order-{order_id}:1", f"order-{order_id}:2"]
    for record, line in zip(records, history, strict=True):
        event = json.loads(record["payload"])
        assert (record["message_key"], json.loads(record["headers"])) == ("web-events", TRACE)
        assert (event["event_type"], event["order_id"], event["order_ref"]) == (
            "OrderStatusChanged",
            order_id,
            "web-events",
        )
        assert event["workflow_id"] == f"order-{order_id}"
        assert datetime.fromisoformat(event["occurred_at"]) == line.occurred_at


@pytest.mark.parametrize("step", HAPPY_PATH, ids=lambda step: step.__name__)
async def test_every_step_run_again_changes_no_row_and_returns_the_order_as_it_stands(
    steps: OrderSteps,
    orders: OrderRepository,
    database: databases.Database,
    step: Step,
) -> None:
    order_id = await place(orders, new_order("web-again"))
    await run_before(steps, order_id, step)
    first = await step(steps, order_id)
    before = await rows_of(database, order_id)

    again = await step(steps, order_id)

    assert await rows_of(database, order_id) == before
    if step is capture:
        # The confirmation was recorded by the first run only.
        assert isinstance(first, tuple)
        state, notified = first
        assert (again, notified) == ((state, False), True)
    else:
        assert again == first


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        (
            replace(
                new_order("web-unknown"),
                items=(OrderLine(product_id=99, quantity=1, unit_price=Decimal("1.00")),),
                total_amount=Decimal("1.00"),
            ),
            "unknown_product:product=99",
        ),
        (
            replace(
                new_order("web-price"),
                items=(OrderLine(product_id=WIDGET, quantity=2, unit_price=Decimal("9.99")),),
                total_amount=Decimal("19.98"),
            ),
            "price_mismatch",
        ),
        (replace(new_order("web-total"), total_amount=Decimal("50.00")), "total_mismatch"),
    ],
    ids=["unknown_product", "price_mismatch", "total_mismatch"],
)
async def test_an_order_breaking_a_catalogue_rule_fails_in_its_validation_step(
    steps: OrderSteps,
    orders: OrderRepository,
    database: databases.Database,
    broken: NewOrder,
    reason: str,
) -> None:
    order_id = await place(orders, broken)

    state = await validate(steps, order_id)

    assert (state.status, state.sequence, state.reason) == (_S.FAILED, 3, reason)
    expected = life(order_id, _S.PENDING, _S.VALIDATING, _S.FAILED, reason=reason)
    await assert_life(database, order_id, expected)
    assert await reserve(steps, order_id) == state
    assert await stock_left(database) == (WIDGETS, GADGETS)
    await assert_life(database, order_id, expected)


async def test_a_short_line_fails_the_reservation_taking_stock_from_no_line(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # The widgets, taken first (ascending product id), are the line the savepoint must undo.
    await database.execute("UPDATE products SET stock_quantity = 0 WHERE id = :id", {"id": GADGET})
    order_id = await place(orders, new_order("web-short"))
    await validate(steps, order_id)

    state = await reserve(steps, order_id)
    again = await reserve(steps, order_id)

    reason = f"insufficient_stock:product={GADGET}"
    assert state == again == OrderState(status=_S.FAILED, sequence=4, reason=reason)
    await assert_life(
        database,
        order_id,
        life(order_id, _S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.FAILED, reason=reason),
    )
    assert await stock_left(database) == (WIDGETS, 0)
    assert await reservations(database, order_id) == []


async def test_twenty_orders_racing_for_five_units_sell_exactly_five(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    await database.execute("UPDATE products SET stock_quantity = 5 WHERE id = :id", {"id": GADGET})
    order_ids = [await place(orders, new_order(f"web-race-{n}", quantity=1)) for n in range(20)]
    await asyncio.gather(*(validate(steps, order_id) for order_id in order_ids))

    states = await asyncio.gather(*(reserve(steps, order_id) for order_id in order_ids))

    winners = [o for o, s in zip(order_ids, states, strict=True) if s.stock_reserved]
    assert len(winners) == 5
    assert all(s.status is _S.RESERVING_STOCK for s in states if s.stock_reserved)
    assert {(s.status, s.reason) for s in states if not s.stock_reserved} == {
        (_S.FAILED, f"insufficient_stock:product={GADGET}")
    }
    assert await stock_left(database) == (WIDGETS - 5, 0)
    reserved = await database.fetch_all(
        "SELECT order_id, product_id, quantity FROM stock_reservations ORDER BY 1, 2"
    )
    assert [tuple(r._mapping.values()) for r in reserved] == [
        (order_id, product_id, 1) for order_id in sorted(winners) for product_id in (1, 7)
    ]
    for order_id, state in zip(order_ids, states, strict=True):
        assert [e[3] for e in await published(database, order_id)][-1] == state.status


async def test_two_orders_locked_at_once_both_record_their_payment_intent_without_a_deadlock(
    orders: OrderRepository, database: databases.Database
) -> None:
    # Two steps of two new orders, each holding its order's lock (joined to its payment, not
    # there yet) when both insert their payment. The pool's connections read committed rows:
    # under REPEATABLE READ each lock would also hold the gap both payments go into, and
    # MySQL would kill one transaction as a deadlock.
    order_ids = [await place(orders, new_order(f"web-gap-{n}")) for n in range(2)]
    both_locked = asyncio.Barrier(2)

    async def intend(order_id: int) -> None:
        async with transaction(database) as conn:
            await lock_order(conn, order_id)
            await both_locked.wait()
            await conn.execute(
                "INSERT INTO payments (order_id, idempotency_key, amount, currency, status,"
                " intended_at) VALUES (:id, :key, 1, 'USD', 'INTENDED', UTC_TIMESTAMP())",
                {"id": order_id, "key": f"order-{order_id}"},
            )

    async with asyncio.timeout(30):  # a lock wait would end in MySQL's own timeout first
        await asyncio.gather(*(intend(order_id) for order_id in order_ids))

    intents = await database.fetch_all(
        f"SELECT order_id FROM payments WHERE order_id IN ({', '.join(map(str, order_ids))})"
    )
    assert sorted(r["order_id"] for r in intents) == sorted(order_ids)


async def test_a_declined_payment_releases_the_stock_and_fails_the_order(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-decline"))
    await run_through(steps, order_id, begin_payment)

    declined = await steps.finish_payment(order_id, PaymentOutcome.DECLINED, None, None)
    again = await steps.finish_payment(order_id, PaymentOutcome.DECLINED, None, None)

    failed = OrderState(status=_S.FAILED, sequence=5, reason="payment_declined")
    assert declined == again == (failed, False)
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)
    await assert_life(
        database, order_id, life(order_id, *statuses, _S.FAILED, reason="payment_declined")
    )
    key = f"order-{order_id}"
    assert await payment(database, order_id) == ("DECLINED", key, None, Decimal("44.98"))
    assert await stock_left(database) == (WIDGETS, GADGETS)
    assert await unreleased(database, order_id) == 0
    assert await notifications(database, order_id) == []
    # A declined payment took nothing: the stop owes no refund and changes nothing.
    assert await steps.begin_stop(order_id, _S.FAILED, "payment_declined", None) == failed


async def test_a_gateway_that_stays_unavailable_leaves_the_intent_for_the_stop_to_refund(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    order_id = await place(orders, new_order("web-doubt"))
    await run_through(steps, order_id, begin_payment)
    key, reason = f"order-{order_id}", "step_failed:process_payment"
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)

    recorded = await steps.finish_payment(order_id, PaymentOutcome.UNAVAILABLE, None, None)
    assert not isinstance(recorded, RefundDue)
    in_doubt, notified = recorded
    assert (in_doubt.status, in_doubt.failure, notified) == (_S.PROCESSING_PAYMENT, reason, False)
    assert await payment(database, order_id) == ("INTENDED", key, None, Decimal("44.98"))
    await assert_life(database, order_id, life(order_id, *statuses))

    due = await steps.begin_stop(order_id, _S.FAILED, reason, None)
    assert due == RefundDue(idempotency_key=key, amount=Decimal("44.98"))
    assert await steps.begin_stop(order_id, _S.FAILED, reason, None) == due
    assert await stock_left(database) == (WIDGETS, GADGETS)
    await assert_life(database, order_id, life(order_id, *statuses))

    stopped = await steps.finish_stop(order_id, _S.FAILED, reason, None, refunded_payment_id=None)
    after = await rows_of(database, order_id)
    assert (
        await steps.finish_stop(order_id, _S.FAILED, reason, None, refunded_payment_id=None)
        == stopped
    )

    assert stopped == OrderState(status=_S.FAILED, sequence=5, reason=reason)
    assert await rows_of(database, order_id) == after
    await assert_life(database, order_id, life(order_id, *statuses, _S.FAILED, reason=reason))
    assert await payment(database, order_id) == ("REFUNDED", key, None, Decimal("44.98"))
    assert await stock_left(database) == (WIDGETS, GADGETS)
    assert await unreleased(database, order_id) == 0


async def test_the_first_transaction_takes_an_order_to_its_capture_and_the_second_completes_it(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    # The shape the worker runs: `begin_order`, the gateway, `finish_payment(complete=True)`.
    order_id = await place(orders, new_order("web-two-transactions"))
    key = f"order-{order_id}"

    due = await steps.begin_order(order_id, catalogue_rule, TRACE)
    begun = await rows_of(database, order_id)
    again = await steps.begin_order(order_id, catalogue_rule, TRACE)
    begun_again = await rows_of(database, order_id)
    completed, notified = await steps.finish_payment(
        order_id, PaymentOutcome.CAPTURED, "pay-1", TRACE, complete=True
    )
    completed_again = await steps.begin_order(order_id, catalogue_rule, TRACE)

    assert due == again == PaymentDue(idempotency_key=key, amount=Decimal("44.98"), currency="USD")
    statuses = (_S.PENDING, _S.VALIDATING, _S.RESERVING_STOCK, _S.PROCESSING_PAYMENT)
    assert [row["status"] for row in begun["history"]] == list(statuses)
    assert begun_again == begun
    assert (completed, notified) == (
        OrderState(status=_S.COMPLETED, sequence=6, stock_reserved=True, payment_id="pay-1"),
        True,
    )
    assert completed_again == completed
    await assert_life(database, order_id, life(order_id, *statuses, _S.CONFIRMED, _S.COMPLETED))
    assert await stock_left(database) == (WIDGETS - 2, GADGETS - 1)
    assert await payment(database, order_id) == ("CAPTURED", key, "pay-1", Decimal("44.98"))


async def test_the_first_transaction_stops_at_the_step_that_does_not_go_on(
    steps: OrderSteps, orders: OrderRepository, database: databases.Database
) -> None:
    await database.execute("UPDATE products SET stock_quantity = 0 WHERE id = :id", {"id": GADGET})
    short = await place(orders, new_order("web-first-short"))
    broken = await place(orders, replace(new_order("web-first-broken"), total_amount=Decimal("1")))
    asked = await place(orders, new_order("web-first-cancelled"))
    await orders.record_cancellation(asked, "changed my mind")

    short_state = await steps.begin_order(short, catalogue_rule, TRACE)
    broken_state = await steps.begin_order(broken, catalogue_rule, TRACE)
    asked_state = await steps.begin_order(asked, catalogue_rule, TRACE)

    reason = f"insufficient_stock:product={GADGET}"
    assert short_state == OrderState(status=_S.FAILED, sequence=4, reason=reason)
    assert broken_state == OrderState(status=_S.FAILED, sequence=3, reason="total_mismatch")
    assert asked_state == OrderState(status=_S.PENDING, sequence=1, cancel_requested=True)
    assert await stock_left(database) == (WIDGETS, 0)
    assert await payment(database, short) is None
    assert await reservations(database, asked) == []
