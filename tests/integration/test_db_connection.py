"""The connection layer on a real MariaDB: errors translated, conflicts retried, cancels clean."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal

import databases
import pytest
import pytest_asyncio
from asyncmy import errors as driver

from db.catalogue import CatalogueRepository, ProductRow
from db.connection import database_for, retry_conflicts, transaction, translate_errors
from db.errors import DatabaseUnavailableError, TransactionConflictError


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    database = database_for(migrated_database_url, min_size=4, max_size=4)
    await database.connect()
    await CatalogueRepository(database).upsert_products(
        [
            ProductRow(1, "ONE", "First", Decimal("1.00"), 50),
            ProductRow(2, "TWO", "Second", Decimal("2.00"), 50),
        ]
    )
    yield database
    await database.disconnect()


async def stock(database: databases.Database) -> list[int]:
    rows = await database.fetch_all("SELECT stock_quantity FROM products ORDER BY id")
    return [int(row["stock_quantity"]) for row in rows]


async def test_an_unreachable_server_is_database_unavailable() -> None:
    unreachable = database_for("mysql+asyncmy://ordering:pw@127.0.0.1:1/ordering_system")

    with pytest.raises(DatabaseUnavailableError) as raised:
        async with translate_errors():
            await unreachable.connect()

    assert raised.value.errno == 2003


async def test_a_url_of_another_driver_is_refused_without_echoing_it() -> None:
    with pytest.raises(ValueError, match="mysql\\+asyncmy://") as raised:
        database_for("postgresql://user:s3cret@host/db")

    assert "s3cret" not in str(raised.value)


async def test_sessions_speak_utc_and_utf8mb4(database: databases.Database) -> None:
    row = await database.fetch_one(
        "SELECT @@session.time_zone AS zone, @@session.character_set_connection AS charset"
    )

    assert row is not None
    assert (row["zone"], row["charset"]) == ("+00:00", "utf8mb4")


async def test_a_programming_error_is_left_as_the_driver_raised_it(
    database: databases.Database,
) -> None:
    with pytest.raises(driver.ProgrammingError):
        async with transaction(database) as conn:
            await conn.fetch_all("SELECT * FROM no_such_table")


async def _take_both(
    database: databases.Database, order: tuple[int, int], both_locked: asyncio.Barrier | None
) -> None:
    """Take a unit of each product, locking them in the given order; with a barrier, wait
    after the first lock until the other transaction holds its first lock too."""
    first, second = order
    async with transaction(database) as conn:
        await conn.execute(
            "UPDATE products SET stock_quantity = stock_quantity - 1 WHERE id = :id", {"id": first}
        )
        if both_locked is not None:
            await both_locked.wait()
        await conn.execute(
            "UPDATE products SET stock_quantity = stock_quantity - 1 WHERE id = :id", {"id": second}
        )


async def test_a_deadlock_is_a_transaction_conflict_and_rolls_back(
    database: databases.Database,
) -> None:
    both_locked = asyncio.Barrier(2)

    outcomes = await asyncio.gather(
        _take_both(database, (1, 2), both_locked),
        _take_both(database, (2, 1), both_locked),
        return_exceptions=True,
    )

    conflicts = [o for o in outcomes if isinstance(o, TransactionConflictError)]
    assert len(conflicts) == 1
    assert conflicts[0].errno == 1213
    assert outcomes.count(None) == 1
    assert await stock(database) == [49, 49]


async def test_a_transaction_rolled_back_by_a_deadlock_runs_again(
    database: databases.Database,
) -> None:
    both_locked = asyncio.Barrier(2)
    attempts: list[tuple[int, int]] = []

    async def take_both(order: tuple[int, int]) -> None:
        first_attempt = order not in attempts
        attempts.append(order)
        await _take_both(database, order, both_locked if first_attempt else None)

    await asyncio.gather(
        retry_conflicts(lambda: take_both((1, 2))),
        retry_conflicts(lambda: take_both((2, 1))),
    )

    assert len(attempts) == 3
    assert await stock(database) == [48, 48]


async def in_flight(observer: databases.Database, marker: str) -> None:
    """Return once MySQL is running another connection's statement that contains `marker`:
    the query is in flight, not merely sent. Each check is a query of its own: no sleep."""
    running = (
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST"
        " WHERE INFO LIKE :marker AND ID <> CONNECTION_ID()"
    )
    async with asyncio.timeout(10):
        while not await observer.fetch_val(running, {"marker": f"%{marker}%"}):
            pass


async def test_a_cancelled_query_leaves_the_pool_answering_correctly(
    database: databases.Database, migrated_database_url: str
) -> None:
    # One connection only: whatever the cancelled query left behind, the next query meets it.
    single = database_for(migrated_database_url, min_size=1, max_size=1)
    await single.connect()
    try:
        slow = asyncio.create_task(single.fetch_val("SELECT 'stale' FROM (SELECT SLEEP(2)) AS s"))
        await in_flight(database, "'stale'")
        slow.cancel()
        with pytest.raises(asyncio.CancelledError):
            await slow

        answers = [await single.fetch_val("SELECT :n", {"n": n}) for n in range(5)]
    finally:
        await single.disconnect()

    assert answers == [0, 1, 2, 3, 4]


async def test_a_transaction_cancelled_midway_stays_cancelled_commits_nothing_and_frees_its_slot(
    database: databases.Database, migrated_database_url: str
) -> None:
    # One connection only: a slot the cancelled transaction failed to return would hang.
    single = database_for(migrated_database_url, min_size=1, max_size=1)
    await single.connect()

    async def take_and_stall() -> None:
        async with transaction(single) as conn:
            await conn.execute("UPDATE products SET stock_quantity = 0 WHERE id = 1")
            await conn.fetch_val("SELECT SLEEP(2) AS stalled_midway")

    try:
        task = asyncio.create_task(take_and_stall())
        await in_flight(database, "stalled_midway")
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(5), transaction(single) as conn:
            await conn.execute("UPDATE products SET stock_quantity = 40 WHERE id = 2")
    finally:
        await asyncio.wait_for(single.disconnect(), timeout=5)

    assert await stock(database) == [50, 40]
