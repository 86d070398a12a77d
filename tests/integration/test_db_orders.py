"""Orders on a real MariaDB: idempotent inserts, status history, text that stays text."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import databases
import pytest
import pytest_asyncio

from db.connection import database_for
from db.errors import OrderNotFoundError
from db.order_rows import NewOrder
from db.orders import OrderRepository
from db.sealing import OrderSecrets, Sealer
from schemas.order import OrderStatus
from schemas.workflow_io import OrderLine, StatusChange

PLACED_AT = datetime(2026, 11, 26, 12, 0, 0, tzinfo=UTC)


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    database = database_for(migrated_database_url, min_size=10, max_size=10)
    await database.connect()
    yield database
    await database.disconnect()


@pytest.fixture
def orders(database: databases.Database) -> OrderRepository:
    return OrderRepository(database)


def new_order(ref: str, *, quantity: int = 2, email: str = "ada@example.com") -> NewOrder:
    items = (
        OrderLine(product_id=1, quantity=quantity, unit_price=Decimal("19.99")),
        OrderLine(product_id=7, quantity=1, unit_price=Decimal("5.00")),
    )
    total = sum((line.unit_price * line.quantity for line in items), Decimal("0.00"))
    content = f"{ref}|{quantity}|{email}".encode()
    return NewOrder(
        order_ref=ref,
        customer_id=42,
        customer_email=email,
        currency="USD",
        total_amount=total,
        payment_method="card",
        content_fingerprint=hashlib.sha256(content).hexdigest(),
        order_date=PLACED_AT,
        items=items,
    )


def change(
    order_id: int, sequence: int, status: OrderStatus, reason: str | None = None
) -> StatusChange:
    return StatusChange(
        order_id=order_id,
        order_ref="irrelevant-here",
        workflow_id=f"order-{order_id}",
        sequence=sequence,
        previous_status=None,
        status=status,
        reason=reason,
        occurred_at=PLACED_AT + timedelta(seconds=sequence, microseconds=123_456),
    )


async def test_inserting_an_order_stores_it_pending_with_its_items(
    orders: OrderRepository,
) -> None:
    result = await orders.insert_order(new_order("web-000123"))

    assert result.created
    assert (result.status, result.temporal_workflow_id) == (OrderStatus.PENDING, None)
    stored = await orders.get(result.order_id)
    assert stored is not None
    assert (stored.order_ref, stored.total_amount, stored.status_sequence) == (
        "web-000123",
        Decimal("44.98"),
        0,
    )
    assert stored.content_fingerprint == result.content_fingerprint
    items = await orders.items(result.order_id)
    assert [(i.product_id, i.quantity, i.unit_price) for i in items] == [
        (1, 2, Decimal("19.99")),
        (7, 1, Decimal("5.00")),
    ]


async def test_the_same_ref_again_returns_the_first_order_and_writes_nothing(
    orders: OrderRepository, database: databases.Database
) -> None:
    first = await orders.insert_order(new_order("web-dup"))

    again = await orders.insert_order(new_order("web-dup", quantity=9))

    assert not again.created
    assert again.order_id == first.order_id
    assert again.content_fingerprint == first.content_fingerprint
    assert await database.fetch_val("SELECT COUNT(*) FROM orders") == 1
    assert [i.quantity for i in await orders.items(first.order_id)] == [2, 1]


async def test_a_batch_creates_each_ref_once_whether_repeated_inside_or_outside_it(
    orders: OrderRepository, database: databases.Database
) -> None:
    earlier = await orders.insert_order(new_order("b-0"))

    results = await orders.insert_orders(
        [
            new_order("b-1"),
            new_order("b-0", quantity=5),
            new_order("b-2"),
            new_order("b-1", quantity=3),
        ]
    )

    assert [(r.order_ref, r.created) for r in results] == [
        ("b-1", True),
        ("b-0", False),
        ("b-2", True),
        ("b-1", False),
    ]
    assert results[1].order_id == earlier.order_id
    assert results[3].order_id == results[0].order_id
    assert results[3].content_fingerprint == new_order("b-1").content_fingerprint
    assert await database.fetch_val("SELECT COUNT(*) FROM orders") == 3
    assert await database.fetch_val("SELECT COUNT(*) FROM order_items") == 6


async def test_concurrent_inserts_of_one_ref_create_one_order(
    orders: OrderRepository, database: databases.Database
) -> None:
    results = await asyncio.gather(*(orders.insert_order(new_order("web-race")) for _ in range(12)))

    assert sum(result.created for result in results) == 1
    assert len({result.order_id for result in results}) == 1
    assert await database.fetch_val("SELECT COUNT(*) FROM order_items") == 2


async def test_order_date_is_stored_as_utc_and_read_back_aware(orders: OrderRepository) -> None:
    placed = datetime(2026, 11, 26, 14, 30, 15, 999_999, tzinfo=timezone(timedelta(hours=2)))
    result = await orders.insert_order(replace(new_order("web-tz"), order_date=placed))

    stored = await orders.find_by_ref("web-tz")

    assert stored is not None
    assert stored.id == result.order_id
    assert stored.order_date == datetime(2026, 11, 26, 12, 30, 15, tzinfo=UTC)


async def test_the_workflow_id_is_written_once_set(orders: OrderRepository) -> None:
    result = await orders.insert_order(new_order("web-wf"))

    await orders.set_workflow_id(result.order_id, f"order-{result.order_id}")
    await orders.set_workflow_id(result.order_id, f"order-{result.order_id}")

    again = await orders.insert_order(new_order("web-wf"))
    assert again.temporal_workflow_id == f"order-{result.order_id}"
    with pytest.raises(OrderNotFoundError):
        await orders.set_workflow_id(result.order_id + 1000, "order-x")


async def test_recording_statuses_is_idempotent_and_never_goes_backwards(
    orders: OrderRepository,
) -> None:
    order_id = (await orders.insert_order(new_order("web-status"))).order_id
    for sequence, status in enumerate(
        [OrderStatus.PENDING, OrderStatus.VALIDATING, OrderStatus.FAILED], start=1
    ):
        await orders.record_status(change(order_id, sequence, status, reason=None))
    await orders.record_status(change(order_id, 3, OrderStatus.FAILED, reason="retried"))

    await orders.record_status(change(order_id, 2, OrderStatus.VALIDATING))
    await orders.record_status(change(order_id, 3, OrderStatus.FAILED, "price_mismatch"))

    stored = await orders.get(order_id)
    assert stored is not None
    assert (stored.status, stored.status_sequence) == (OrderStatus.FAILED, 3)
    history = await orders.status_history(order_id)
    assert [(row.sequence, row.status, row.reason) for row in history] == [
        (1, OrderStatus.PENDING, None),
        (2, OrderStatus.VALIDATING, None),
        (3, OrderStatus.FAILED, None),
    ]
    assert history[0].occurred_at == PLACED_AT + timedelta(seconds=1, microseconds=123_000)


async def test_a_late_older_status_is_kept_in_history_without_overwriting_the_order(
    orders: OrderRepository,
) -> None:
    order_id = (await orders.insert_order(new_order("web-late"))).order_id
    await orders.record_status(change(order_id, 2, OrderStatus.CANCELLED, "cancelled_by_customer"))

    await orders.record_status(change(order_id, 1, OrderStatus.PENDING))

    stored = await orders.get(order_id)
    assert stored is not None
    assert (stored.status, stored.failure_reason) == (
        OrderStatus.CANCELLED,
        "cancelled_by_customer",
    )
    assert [row.sequence for row in await orders.status_history(order_id)] == [1, 2]


async def test_a_status_for_an_unknown_order_is_order_not_found(orders: OrderRepository) -> None:
    with pytest.raises(OrderNotFoundError):
        await orders.record_status(change(404, 1, OrderStatus.PENDING))


async def test_text_with_sql_metacharacters_round_trips_unchanged(
    orders: OrderRepository, database: databases.Database
) -> None:
    ref = "x'; DROP TABLE orders;--"
    email = "o'hara\\\";--%s%(x)s:ref@example.com"
    reason = "it's \\ a; DROP TABLE orders; -- 'q' \"dq\" :status %(reason)s %% ü 🚀"
    order_id = (await orders.insert_order(new_order(ref, email=email))).order_id

    await orders.record_status(change(order_id, 1, OrderStatus.FAILED, reason))

    stored = await orders.find_by_ref(ref)
    assert stored is not None
    assert (stored.order_ref, stored.customer_email, stored.failure_reason) == (ref, email, reason)
    assert [row.reason for row in await orders.status_history(order_id)] == [reason]
    assert await database.fetch_val("SELECT COUNT(*) FROM orders") == 1


async def test_refs_differing_only_in_case_are_different_orders(orders: OrderRepository) -> None:
    lower = await orders.insert_order(new_order("web-case"))
    upper = await orders.insert_order(new_order("WEB-CASE"))

    assert lower.created
    assert upper.created
    assert lower.order_id != upper.order_id


async def test_unknown_orders_are_not_found(orders: OrderRepository) -> None:
    assert await orders.find_by_ref("never-seen") is None
    assert await orders.get(123) is None
    assert await orders.items(123) == []
    assert await orders.status_history(123) == []


async def test_workflow_ids_of_many_orders_are_set_in_one_update_and_a_missing_row_is_told(
    orders: OrderRepository, database: databases.Database
) -> None:
    stored = await orders.insert_orders([new_order("w-1"), new_order("w-2"), new_order("w-3")])
    first, second, third = (result.order_id for result in stored)
    await orders.set_workflow_id(third, f"order-{third}")  # already set: still found

    found = await orders.set_workflow_ids(
        [(first, f"order-{first}"), (999_999, "order-999999"), (second, f"order-{second}"),
         (third, f"order-{third}")]
    )  # fmt: skip

    assert found == [True, False, True, True]
    rows = await database.fetch_all("SELECT id, temporal_workflow_id FROM orders ORDER BY id")
    assert [(r["id"], r["temporal_workflow_id"]) for r in rows] == [
        (first, f"order-{first}"),
        (second, f"order-{second}"),
        (third, f"order-{third}"),
    ]
    assert await orders.set_workflow_ids([]) == []


async def test_unstarted_orders_are_the_pending_ones_without_a_workflow_past_the_age_given(
    orders: OrderRepository, database: databases.Database
) -> None:
    sealer = Sealer("key-1", bytes(range(32)))
    secrets = OrderSecrets(customer_email="ada@example.com", payment_token="tok_ok")
    sealed = replace(
        new_order("unstarted-sealed"),
        customer_email=None,
        sealed_secrets=sealer.seal("unstarted-sealed", secrets),
    )
    [old_sealed, old_clear, started, young, moved_on] = await orders.insert_orders(
        [sealed, new_order("unstarted-clear"), new_order("unstarted-started"),
         new_order("unstarted-young"), new_order("unstarted-validating")]
    )  # fmt: skip
    await orders.set_workflow_id(started.order_id, f"order-{started.order_id}")
    await orders.record_status(change(moved_on.order_id, 1, OrderStatus.VALIDATING))
    await database.execute(
        "UPDATE orders SET created_at = created_at - INTERVAL 1 MINUTE WHERE id <> :young",
        {"young": young.order_id},
    )

    found = {o.order_ref: o for o in await orders.unstarted_orders(30, limit=10_000)}

    assert {"unstarted-sealed", "unstarted-clear"} <= set(found)
    assert not {"unstarted-started", "unstarted-young", "unstarted-validating"} & set(found)
    swept = found["unstarted-sealed"]
    assert (swept.id, swept.customer_email, swept.total_amount) == (
        old_sealed.order_id, None, Decimal("44.98"),
    )  # fmt: skip
    assert swept.items == sealed.items
    assert swept.sealed_secrets is not None
    assert sealer.open("unstarted-sealed", swept.sealed_secrets) == secrets
    clear = found["unstarted-clear"]
    assert (clear.id, clear.customer_email, clear.sealed_secrets) == (
        old_clear.order_id, "ada@example.com", None,
    )  # fmt: skip
    stored = await orders.get(old_sealed.order_id)
    assert stored is not None
    assert stored.customer_email is None
