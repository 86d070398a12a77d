"""Stock reservations on a real MariaDB: all or nothing, once, and never oversold."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import databases
import pytest
import pytest_asyncio

from db.catalogue import CatalogueRepository, ProductRow
from db.connection import database_for
from db.errors import InsufficientStockError, OrderNotFoundError
from db.inventory import InventoryRepository
from db.order_rows import NewOrder
from db.orders import OrderRepository
from schemas.workflow_io import OrderLine

PLENTY, SCARCE, TEN_LEFT = 1, 2, 3


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    # A full pool from the start, so concurrent buyers really hold connections side by side.
    database = database_for(migrated_database_url, min_size=12, max_size=12)
    await database.connect()
    await CatalogueRepository(database).upsert_products(
        [
            ProductRow(PLENTY, "PLENTY", "Plenty of it", Decimal("2.00"), 100),
            ProductRow(SCARCE, "SCARCE", "Almost gone", Decimal("3.00"), 1),
            ProductRow(TEN_LEFT, "TEN-LEFT", "Ten left", Decimal("4.00"), 10),
        ]
    )
    yield database
    await database.disconnect()


@pytest.fixture
def inventory(database: databases.Database) -> InventoryRepository:
    return InventoryRepository(database)


async def place_orders(database: databases.Database, count: int, prefix: str) -> list[int]:
    orders = [
        NewOrder(
            order_ref=f"{prefix}-{n}",
            customer_id=n,
            customer_email=f"buyer{n}@example.com",
            currency="USD",
            total_amount=Decimal("4.00"),
            payment_method="card",
            content_fingerprint=hashlib.sha256(f"{prefix}-{n}".encode()).hexdigest(),
            order_date=datetime.now(UTC),
            items=(OrderLine(product_id=TEN_LEFT, quantity=1, unit_price=Decimal("4.00")),),
        )
        for n in range(count)
    ]
    return [result.order_id for result in await OrderRepository(database).insert_orders(orders)]


async def stock(database: databases.Database, product_id: int) -> int:
    value = await database.fetch_val(
        "SELECT stock_quantity FROM products WHERE id = :id", {"id": product_id}
    )
    return int(value)


async def reservations(database: databases.Database, order_id: int) -> Sequence[tuple[int, int]]:
    rows = await database.fetch_all(
        "SELECT product_id, quantity FROM stock_reservations WHERE order_id = :id"
        " ORDER BY product_id",
        {"id": order_id},
    )
    return [(int(row["product_id"]), int(row["quantity"])) for row in rows]


async def test_reserving_takes_stock_for_every_item_adding_up_repeated_products(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "all")

    reserved = await inventory.reserve(order_id, [(TEN_LEFT, 2), (PLENTY, 5), (TEN_LEFT, 1)])

    assert reserved
    assert (await stock(database, PLENTY), await stock(database, TEN_LEFT)) == (95, 7)
    assert await reservations(database, order_id) == [(PLENTY, 5), (TEN_LEFT, 3)]


async def test_a_short_item_reserves_nothing_and_names_the_product(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "short")

    with pytest.raises(InsufficientStockError) as raised:
        await inventory.reserve(order_id, [(PLENTY, 2), (SCARCE, 5)])

    assert (raised.value.product_id, raised.value.requested, raised.value.available) == (
        SCARCE,
        5,
        1,
    )
    assert (await stock(database, PLENTY), await stock(database, SCARCE)) == (100, 1)
    assert await reservations(database, order_id) == []


async def test_an_unknown_product_is_insufficient_stock(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "unknown")

    with pytest.raises(InsufficientStockError, match="product 99: requested 1, available 0"):
        await inventory.reserve(order_id, [(PLENTY, 1), (99, 1)])

    assert await stock(database, PLENTY) == 100


async def test_a_retried_reservation_takes_stock_once(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "retry")

    first = await inventory.reserve(order_id, [(PLENTY, 4)])
    second = await inventory.reserve(order_id, [(PLENTY, 4)])
    concurrent = await asyncio.gather(
        *(inventory.reserve(order_id, [(PLENTY, 4)]) for _ in range(5))
    )

    assert (first, second, concurrent) == (True, False, [False] * 5)
    assert await stock(database, PLENTY) == 96


async def test_concurrent_first_attempts_of_one_reservation_take_stock_once(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "twins")

    results = await asyncio.gather(*(inventory.reserve(order_id, [(PLENTY, 3)]) for _ in range(8)))

    assert sorted(results) == [False] * 7 + [True]
    assert await stock(database, PLENTY) == 97


async def test_releasing_gives_stock_back_once_and_blocks_a_later_reservation(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "release")
    await inventory.reserve(order_id, [(PLENTY, 6), (TEN_LEFT, 2)])

    first = await inventory.release(order_id)
    again = await inventory.release(order_id)
    late_retry = await inventory.reserve(order_id, [(PLENTY, 6), (TEN_LEFT, 2)])

    assert (first, again, late_retry) == (True, False, False)
    assert (await stock(database, PLENTY), await stock(database, TEN_LEFT)) == (100, 10)
    released = await database.fetch_val(
        "SELECT COUNT(*) FROM stock_reservations WHERE order_id = :id AND released_at IS NOT NULL",
        {"id": order_id},
    )
    assert released == 2


async def test_releasing_an_order_without_reservations_changes_nothing(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    [order_id] = await place_orders(database, 1, "none")

    assert not await inventory.release(order_id)
    assert await stock(database, PLENTY) == 100


async def test_an_unknown_order_cannot_reserve_or_release(inventory: InventoryRepository) -> None:
    with pytest.raises(OrderNotFoundError):
        await inventory.reserve(404, [(PLENTY, 1)])
    with pytest.raises(OrderNotFoundError):
        await inventory.release(404)


async def test_fifty_concurrent_buyers_of_ten_units_get_exactly_ten(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    order_ids = await place_orders(database, 50, "buyer")

    outcomes = await asyncio.gather(
        *(inventory.reserve(order_id, [(TEN_LEFT, 1)]) for order_id in order_ids),
        return_exceptions=True,
    )

    assert outcomes.count(True) == 10
    refused = [o for o in outcomes if isinstance(o, InsufficientStockError)]
    assert len(refused) == 40
    assert all(error.product_id == TEN_LEFT for error in refused)
    assert await stock(database, TEN_LEFT) == 0
    reserved = await database.fetch_val(
        "SELECT SUM(quantity) FROM stock_reservations WHERE product_id = :id", {"id": TEN_LEFT}
    )
    assert reserved == 10


async def test_buyers_and_cancellations_running_together_keep_stock_exact(
    inventory: InventoryRepository, database: databases.Database
) -> None:
    order_ids = await place_orders(database, 30, "churn")
    holders = order_ids[:10]
    for order_id in holders:
        await inventory.reserve(order_id, [(TEN_LEFT, 1), (PLENTY, 1)])

    outcomes = await asyncio.gather(
        *(inventory.release(order_id) for order_id in holders),
        *(inventory.reserve(order_id, [(PLENTY, 1), (TEN_LEFT, 1)]) for order_id in order_ids[10:]),
        return_exceptions=True,
    )

    assert outcomes[:10] == [True] * 10
    bought = outcomes[10:].count(True)
    assert all(o is True or isinstance(o, InsufficientStockError) for o in outcomes[10:])
    assert await stock(database, TEN_LEFT) == 10 - bought
    assert await stock(database, PLENTY) == 100 - bought
