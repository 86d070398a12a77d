"""The status outbox on a real MariaDB: one event per status, written with it; the lease that
lets one relay at a time read and delete."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import databases
import pytest
import pytest_asyncio

from db.connection import database_for, transaction
from db.orders import OrderRepository
from db.outbox import StatusOutbox
from schemas.events import status_event
from schemas.order import OrderStatus
from schemas.workflow_io import StatusChange
from tests.integration.test_db_orders import new_order

TRACE = {"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
LIFE = [OrderStatus.PENDING, OrderStatus.VALIDATING, OrderStatus.RESERVING_STOCK]


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    database = database_for(migrated_database_url, min_size=4, max_size=4)
    await database.connect()
    yield database
    await database.disconnect()


@pytest.fixture
def orders(database: databases.Database) -> OrderRepository:
    return OrderRepository(database)


def a_change(order_id: int, ref: str, sequence: int) -> StatusChange:
    return StatusChange(
        order_id=order_id,
        order_ref=ref,
        workflow_id=f"order-{order_id}",
        sequence=sequence,
        previous_status=LIFE[sequence - 2] if sequence > 1 else None,
        status=LIFE[sequence - 1],
        reason=None,
        occurred_at=datetime(2026, 11, 26, 12, 0, sequence, tzinfo=UTC),
    )


async def outbox_rows(database: databases.Database) -> list[dict[str, object]]:
    records = await database.fetch_all(
        "SELECT order_id, sequence, event_id, event_type, message_key, payload, headers"
        " FROM status_outbox ORDER BY id"
    )
    return [dict(record._mapping) for record in records]


async def lease_holder(database: databases.Database) -> str:
    return str(await database.fetch_val("SELECT holder FROM outbox_relay_lease"))


async def test_each_status_writes_its_event_once_with_the_row_and_history_however_repeated(
    orders: OrderRepository, database: databases.Database
) -> None:
    order_id = (await orders.insert_order(new_order("web-outbox"))).order_id
    changes = [a_change(order_id, "web-outbox", sequence) for sequence in (1, 2, 3)]

    for change in changes:
        await orders.record_status(change, TRACE)
        await orders.record_status(change, TRACE)  # a retried step announces it again
    await orders.record_status(changes[0])  # a late repeat of an older status

    rows = await outbox_rows(database)
    stored = await orders.get(order_id)
    assert stored is not None
    assert (stored.status, stored.status_sequence) == (OrderStatus.RESERVING_STOCK, 3)
    assert [row.sequence for row in await orders.status_history(order_id)] == [1, 2, 3]
    assert [(row["order_id"], row["sequence"]) for row in rows] == [
        (order_id, 1),
        (order_id, 2),
        (order_id, 3),
    ]
    first = rows[0]
    assert (first["event_id"], first["event_type"], first["message_key"]) == (
        f"order-{order_id}:1",
        "OrderStatusChanged",
        "web-outbox",
    )
    assert first["payload"] == status_event(changes[0]).model_dump_json()
    assert json.loads(str(first["headers"])) == TRACE


async def test_a_status_repeated_after_its_event_left_the_outbox_writes_none_again(
    orders: OrderRepository, database: databases.Database
) -> None:
    order_id = (await orders.insert_order(new_order("web-sent"))).order_id
    change = a_change(order_id, "web-sent", 1)
    await orders.record_status(change)
    await database.execute("DELETE FROM status_outbox")  # the relay sent it

    await orders.record_status(change)

    assert await outbox_rows(database) == []


async def test_a_status_without_trace_context_stores_no_headers(
    orders: OrderRepository, database: databases.Database
) -> None:
    order_id = (await orders.insert_order(new_order("web-untraced"))).order_id

    await orders.record_status(a_change(order_id, "web-untraced", 1), {})

    [row] = await outbox_rows(database)
    assert row["headers"] is None


async def test_the_lease_is_refused_at_once_while_another_relay_holds_it(
    orders: OrderRepository, database: databases.Database
) -> None:
    order_id = (await orders.insert_order(new_order("web-lease"))).order_id
    await orders.record_status(a_change(order_id, "web-lease", 1))
    leader, other = StatusOutbox(database), StatusOutbox(database)

    async def other_relay_leads() -> bool:
        async with other.lease("host-b/2") as lease:
            return lease is not None

    async with leader.lease("host-a/1") as held:
        assert held is not None
        pending = await held.pending(10)
        # Another task, so another connection, as another relay would have. NOWAIT: the
        # answer comes at once, not after innodb_lock_wait_timeout.
        async with asyncio.timeout(5):
            other_led = await asyncio.create_task(other_relay_leads())
        await held.delete(pending)
    holders = [await lease_holder(database)]
    led_after = await asyncio.create_task(other_relay_leads())
    holders.append(await lease_holder(database))

    assert other_led is False
    assert led_after is True
    assert [row.event_id for row in pending] == [f"order-{order_id}:1"]
    assert holders == ["host-a/1", "host-b/2"]
    assert await outbox_rows(database) == []


async def test_deletes_under_a_lease_that_fails_are_rolled_back(
    orders: OrderRepository, database: databases.Database
) -> None:
    order_id = (await orders.insert_order(new_order("web-rollback"))).order_id
    await orders.record_status(a_change(order_id, "web-rollback", 1))
    outbox = StatusOutbox(database)

    async def delete_then_fail() -> None:
        async with outbox.lease("host-a/1") as held:
            assert held is not None
            await held.delete(await held.pending(10))
            raise RuntimeError("Kafka went away before the commit")

    with pytest.raises(RuntimeError, match="Kafka went away"):
        await delete_then_fail()

    assert len(await outbox_rows(database)) == 1


async def test_pending_rows_come_oldest_first_and_only_those_still_there(
    orders: OrderRepository, database: databases.Database
) -> None:
    ids = [(await orders.insert_order(new_order(f"web-p{n}"))).order_id for n in range(3)]
    for n, order_id in enumerate(ids):
        await orders.record_status(a_change(order_id, f"web-p{n}", 1))
    outbox = StatusOutbox(database)

    async with outbox.lease("host-a/1") as held:
        assert held is not None
        first = await held.pending(2)
        await held.delete(first)
    async with outbox.lease("host-a/1") as held:
        assert held is not None
        rest = await held.pending(2)
    oldest = await outbox.oldest_created_at()

    assert [row.message_key for row in first] == ["web-p0", "web-p1"]
    assert [row.message_key for row in rest] == ["web-p2"]
    assert oldest == rest[0].created_at
    assert datetime.now(UTC) - oldest < timedelta(minutes=5)


async def test_pruning_deletes_only_rows_older_than_the_retention(
    orders: OrderRepository, database: databases.Database
) -> None:
    for n in range(3):
        order_id = (await orders.insert_order(new_order(f"web-old{n}"))).order_id
        await orders.record_status(a_change(order_id, f"web-old{n}", 1))
    async with transaction(database) as conn:
        await conn.execute(
            "UPDATE status_outbox SET created_at = created_at - INTERVAL 2 HOUR"
            " WHERE message_key IN ('web-old0', 'web-old1')"
        )
    outbox = StatusOutbox(database)

    pruned = [await outbox.prune(3600, limit=1), await outbox.prune(3600, limit=1)]
    pruned.append(await outbox.prune(3600, limit=1))

    assert pruned == [1, 1, 0]
    assert [row["message_key"] for row in await outbox_rows(database)] == ["web-old2"]
