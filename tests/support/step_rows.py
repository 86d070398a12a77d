"""The order steps' world for their integration tests: a catalogue, the steps as the workflow
runs them, and the rows a user sees of an order."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal

import databases

from db.catalogue import CatalogueRepository, ProductRow
from db.connection import database_for
from db.order_rows import NewOrder
from db.order_steps import OrderSteps
from db.orders import OrderRepository
from schemas import failures
from schemas.order import OrderStatus
from schemas.steps import OrderState, PaymentDue, PaymentOutcome, RefundDue
from tests.integration.test_db_inventory import stock
from worker.steps import catalogue_rule

# The catalogue `new_order` buys from: 2 x product 1 at 19.99 and 1 x product 7 at 5.00.
WIDGET, GADGET = 1, 7
WIDGETS, GADGETS = 100, 10
TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
CANCELLED = failures.CANCELLED_BY_CUSTOMER

# One status the order entered, as its event and its history line both say:
# (event_id, sequence, previous_status, status, reason).
Entry = tuple[str, int, str | None, str, str | None]
Step = Callable[[OrderSteps, int], Awaitable[object]]


@asynccontextmanager
async def shop(url: str) -> AsyncIterator[databases.Database]:
    """A pool on the migrated database, its catalogue the one `new_order` buys from; room for
    twenty steps' transactions side by side."""
    database = database_for(url, min_size=4, max_size=20)
    await database.connect()
    try:
        await CatalogueRepository(database).upsert_products(
            [
                ProductRow(WIDGET, "WIDGET", "Widget", Decimal("19.99"), WIDGETS),
                ProductRow(GADGET, "GADGET", "Gadget", Decimal("5.00"), GADGETS),
            ]
        )
        yield database
    finally:
        await database.disconnect()


async def place(orders: OrderRepository, order: NewOrder) -> int:
    return (await orders.insert_order(order)).order_id


async def validate(steps: OrderSteps, order_id: int) -> OrderState:
    return await steps.validate(order_id, catalogue_rule, TRACE)


async def reserve(steps: OrderSteps, order_id: int) -> OrderState:
    return await steps.reserve_stock(order_id, TRACE)


async def begin_payment(steps: OrderSteps, order_id: int) -> PaymentDue | OrderState:
    return await steps.begin_payment(order_id, TRACE)


async def capture(steps: OrderSteps, order_id: int) -> tuple[OrderState, bool]:
    recorded = await steps.finish_payment(order_id, PaymentOutcome.CAPTURED, "pay-1", TRACE)
    assert not isinstance(recorded, RefundDue), "a capture on a stopped order"
    return recorded


async def complete(steps: OrderSteps, order_id: int) -> OrderState:
    return await steps.complete(order_id, TRACE)


HAPPY_PATH: list[Step] = [validate, reserve, begin_payment, capture, complete]


async def run_before(steps: OrderSteps, order_id: int, step: Step) -> None:
    """Run the happy path's steps that come before `step`."""
    for earlier in HAPPY_PATH[: HAPPY_PATH.index(step)]:
        await earlier(steps, order_id)


async def run_through(steps: OrderSteps, order_id: int, last: Step) -> None:
    """Run the happy path's steps up to and including `last`."""
    await run_before(steps, order_id, last)
    await last(steps, order_id)


async def stop(
    steps: OrderSteps, order_id: int, ending: OrderStatus, reason: str | None
) -> OrderState:
    """A stop as the stop step runs it: the refund owed, if any, made in between."""
    due = await steps.begin_stop(order_id, ending, reason, None)
    while isinstance(due, RefundDue):
        due = await steps.finish_stop(
            order_id, ending, reason, None, refunded_payment_id=due.payment_id
        )
    return due


def life(order_id: int, *statuses: OrderStatus, reason: str | None = None) -> list[Entry]:
    """The entries of an order that entered `statuses` in turn, the last one for `reason`."""
    previous = [None, *statuses[:-1]]
    return [
        (
            f"order-{order_id}:{sequence}",
            sequence,
            before.value if before else None,
            status.value,
            reason if sequence == len(statuses) else None,
        )
        for sequence, (before, status) in enumerate(zip(previous, statuses, strict=True), 1)
    ]


async def published(database: databases.Database, order_id: int) -> list[Entry]:
    """The order's events waiting in the outbox, in the order the relay sends them."""
    records = await database.fetch_all(
        "SELECT payload FROM status_outbox WHERE order_id = :id ORDER BY id", {"id": order_id}
    )
    events = [json.loads(record["payload"]) for record in records]
    return [
        (e["event_id"], e["sequence"], e["previous_status"], e["status"], e["reason"])
        for e in events
    ]


async def assert_life(database: databases.Database, order_id: int, expected: list[Entry]) -> None:
    """The order row, its history and its events all tell the life `expected`."""
    order = await OrderRepository(database).get(order_id)
    assert order is not None
    *_, (_, sequence, _, status, reason) = expected
    assert (order.status, order.status_sequence, order.failure_reason) == (
        status,
        sequence,
        reason,
    )
    history = await OrderRepository(database).status_history(order_id)
    assert [
        (f"order-{row.order_id}:{row.sequence}", row.sequence, row.previous_status,
         row.status, row.reason)
        for row in history
    ] == expected  # fmt: skip
    assert await published(database, order_id) == expected


async def rows_of(
    database: databases.Database, order_id: int
) -> dict[str, list[dict[str, object]]]:
    """Every row a user could see of the order, and the catalogue's stock."""
    queries = {
        "orders": "SELECT * FROM orders WHERE id = :id",
        "history": "SELECT * FROM order_status_history WHERE order_id = :id ORDER BY sequence",
        "outbox": "SELECT * FROM status_outbox WHERE order_id = :id ORDER BY id",
        "reservations": "SELECT * FROM stock_reservations WHERE order_id = :id ORDER BY 2",
        "payments": "SELECT * FROM payments WHERE order_id = :id",
        "notifications": "SELECT * FROM notifications WHERE order_id = :id",
    }
    found = {
        name: [dict(r._mapping) for r in await database.fetch_all(sql, {"id": order_id})]
        for name, sql in queries.items()
    }
    products = await database.fetch_all("SELECT id, stock_quantity FROM products ORDER BY id")
    return found | {"products": [dict(r._mapping) for r in products]}


async def payment(database: databases.Database, order_id: int) -> tuple[object, ...] | None:
    record = await database.fetch_one(
        "SELECT status, idempotency_key, payment_id, amount FROM payments WHERE order_id = :id",
        {"id": order_id},
    )
    return tuple(record._mapping.values()) if record is not None else None


async def cancellation(database: databases.Database, order_id: int) -> tuple[object, object]:
    """When the cancellation was recorded on the order, and why."""
    record = await database.fetch_one(
        "SELECT cancel_requested_at, cancel_reason FROM orders WHERE id = :id", {"id": order_id}
    )
    assert record is not None
    return record["cancel_requested_at"], record["cancel_reason"]


async def notifications(database: databases.Database, order_id: int) -> list[str]:
    records = await database.fetch_all(
        "SELECT kind FROM notifications WHERE order_id = :id", {"id": order_id}
    )
    return [str(record["kind"]) for record in records]


async def unreleased(database: databases.Database, order_id: int) -> int:
    return int(
        await database.fetch_val(
            "SELECT COUNT(*) FROM stock_reservations WHERE order_id = :id AND released_at IS NULL",
            {"id": order_id},
        )
    )


async def stock_left(database: databases.Database) -> tuple[int, int]:
    return await stock(database, WIDGET), await stock(database, GADGET)
