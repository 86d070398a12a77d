"""Payments and notifications on a real MariaDB: each recorded once, whatever the retries."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import databases
import pytest
import pytest_asyncio

from db.connection import database_for
from db.errors import OrderNotFoundError
from db.notifications import NotificationRepository
from db.order_rows import NewOrder
from db.orders import OrderRepository
from db.payments import PaymentRepository, PaymentStatus
from schemas.workflow_io import OrderLine


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    database = database_for(migrated_database_url, min_size=6, max_size=6)
    await database.connect()
    yield database
    await database.disconnect()


@pytest_asyncio.fixture(loop_scope="session")
async def order_id(database: databases.Database) -> int:
    result = await OrderRepository(database).insert_order(
        NewOrder(
            order_ref="web-pay",
            customer_id=42,
            customer_email="ada@example.com",
            currency="EUR",
            total_amount=Decimal("44.98"),
            payment_method="card",
            content_fingerprint=hashlib.sha256(b"web-pay").hexdigest(),
            order_date=datetime.now(UTC),
            items=(OrderLine(product_id=1, quantity=2, unit_price=Decimal("22.49")),),
        )
    )
    return result.order_id


async def test_a_repeated_capture_returns_the_first_row_unchanged(
    database: databases.Database, order_id: int
) -> None:
    payments = PaymentRepository(database)

    first = await payments.record_capture(order_id, "pay-1", Decimal("44.98"), "EUR")
    again = await payments.record_capture(order_id, "pay-2", Decimal("1.00"), "USD")

    assert again == first
    assert (first.payment_id, first.amount, first.currency, first.status) == (
        "pay-1",
        Decimal("44.98"),
        "EUR",
        PaymentStatus.CAPTURED,
    )
    assert first.captured_at is not None
    assert first.captured_at.tzinfo is UTC
    assert await payments.find(order_id) == first


async def test_concurrent_captures_store_one_payment(
    database: databases.Database, order_id: int
) -> None:
    payments = PaymentRepository(database)

    rows = await asyncio.gather(
        *(payments.record_capture(order_id, f"pay-{n}", Decimal("44.98"), "EUR") for n in range(6))
    )

    assert len(set(rows)) == 1
    assert await database.fetch_val("SELECT COUNT(*) FROM payments") == 1


async def test_a_refund_is_marked_once_and_only_for_a_captured_payment(
    database: databases.Database, order_id: int
) -> None:
    payments = PaymentRepository(database)
    before_capture = await payments.mark_refunded(order_id)
    await payments.record_capture(order_id, "pay-1", Decimal("44.98"), "EUR")

    first = await payments.mark_refunded(order_id)
    again = await payments.mark_refunded(order_id)

    assert (before_capture, first, again) == (False, True, False)
    refunded = await payments.find(order_id)
    assert refunded is not None
    assert refunded.status is PaymentStatus.REFUNDED
    assert refunded.refunded_at is not None
    assert refunded.captured_at is not None
    assert refunded.refunded_at >= refunded.captured_at


async def test_no_payment_is_found_before_a_capture(
    database: databases.Database, order_id: int
) -> None:
    assert await PaymentRepository(database).find(order_id) is None


async def test_a_capture_for_an_unknown_order_is_order_not_found(
    database: databases.Database,
) -> None:
    with pytest.raises(OrderNotFoundError):
        await PaymentRepository(database).record_capture(404, "pay-x", Decimal("1.00"), "EUR")


async def test_a_notification_is_recorded_once_per_kind(
    database: databases.Database, order_id: int
) -> None:
    notifications = NotificationRepository(database)

    concurrent = await asyncio.gather(
        *(notifications.record_once(order_id, "order_confirmation") for _ in range(6))
    )
    later = await notifications.record_once(order_id, "order_confirmation")
    other_kind = await notifications.record_once(order_id, "order_cancelled")

    assert sorted(concurrent) == [False] * 5 + [True]
    assert (later, other_kind) == (False, True)


async def test_a_notification_for_an_unknown_order_is_order_not_found(
    database: databases.Database,
) -> None:
    with pytest.raises(OrderNotFoundError):
        await NotificationRepository(database).record_once(404, "order_confirmation")
