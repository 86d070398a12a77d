"""Queries cancelled mid-flight by the hundred leave no stale row for the next query.

A query cancelled while the server is still answering it leaves its result on the wire; a
connection handed back to the pool in that state would give that result to the next query
(long2ice/asyncmy#100, #103). Here 200 queries are cancelled mid-flight on one pool, through
the repositories' own `connection()` and `transaction()`, among 2,000 checked queries that each
ask for a value of their own; every checked answer must be its own, and afterwards every
connection of the pool must still serve.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal

import databases
import pytest_asyncio

from db.catalogue import CatalogueRepository, ProductRow
from db.connection import connection, database_for, transaction

POOL_SIZE = 10
CANCELLED = 200
CHECKED = 2_000
PRODUCTS = 50
# Long enough that no cancelled query can finish before its deadline, short enough that the
# sessions the server keeps sleeping after their clients went away end soon.
SLEEP_SECONDS = 0.5
MAX_DEADLINE_SECONDS = 0.15
# Cancelled queries in flight at once: bounds the sleeping sessions left on the shared server.
CONCURRENT_CANCELS = 5
# A cancelled query's row, were it ever read by someone else: a value no checked query asks for.
STALE_QUERY = "SELECT :n AS n, 'stale' AS tag FROM (SELECT SLEEP(:sleep)) AS slow"


@dataclass
class Cancellations:
    """What the cancelled queries did: cancelled while in flight, or (a defect) finished."""

    in_flight: int = 0
    finished: list[int] = field(default_factory=list)
    connection_closed: int = 0


@pytest_asyncio.fixture(loop_scope="session")
async def database(migrated_database_url: str) -> AsyncIterator[databases.Database]:
    database = database_for(migrated_database_url, min_size=POOL_SIZE, max_size=POOL_SIZE)
    await database.connect()
    await CatalogueRepository(database).upsert_products(
        [ProductRow(p, f"SKU-{p}", f"Product {p}", Decimal(p) / 100, p) for p in _product_ids()]
    )
    try:
        yield database
    finally:
        await asyncio.wait_for(database.disconnect(), timeout=30)


def _product_ids() -> range:
    return range(1, PRODUCTS + 1)


async def _cancel_by_timeout(
    database: databases.Database, n: int, deadline: float, seen: Cancellations
) -> None:
    """A plain query on a pooled connection, given up by a timeout after it was sent."""
    async with connection(database) as conn:
        try:
            async with asyncio.timeout(deadline):
                await conn.fetch_one(STALE_QUERY, {"n": n, "sleep": SLEEP_SECONDS})
            seen.finished.append(n)
        except TimeoutError:
            seen.in_flight += 1
            seen.connection_closed += not conn.raw_connection.connected


async def _cancel_by_task_cancel(
    database: databases.Database, n: int, deadline: float, seen: Cancellations
) -> None:
    """A query inside a transaction whose task is cancelled, as a stopping worker's is."""
    sent = asyncio.Event()

    async def stalled_transaction() -> None:
        async with transaction(database) as conn:
            sent.set()
            await conn.fetch_one(STALE_QUERY, {"n": n, "sleep": SLEEP_SECONDS})
            seen.finished.append(n)

    task = asyncio.create_task(stalled_transaction())
    await sent.wait()
    await asyncio.sleep(deadline)
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        seen.in_flight += 1


async def _checked_value(database: databases.Database, n: int) -> tuple[object, object]:
    async with connection(database) as conn:
        row = await conn.fetch_one("SELECT :n AS n, :tag AS tag", {"n": n, "tag": f"own-{n}"})
    assert row is not None
    return row["n"], row["tag"]


async def _checked_product(catalogue: CatalogueRepository, product_id: int) -> tuple[int, ...]:
    found = await catalogue.products([product_id])
    return tuple(sorted(found)) + tuple(row.stock_quantity for row in found.values())


async def _every_slot_serves(database: databases.Database) -> list[int]:
    """Holds all the pool's connections at once; a slot lost by a cancel would never come."""
    all_held = asyncio.Barrier(POOL_SIZE)

    async def hold(n: int) -> int:
        async with connection(database) as conn:
            await all_held.wait()
            return int(await conn.fetch_val("SELECT :n", {"n": n}))

    async with asyncio.timeout(15):
        return list(await asyncio.gather(*(hold(n) for n in range(POOL_SIZE))))


async def test_two_hundred_queries_cancelled_mid_flight_leave_no_stale_row_in_the_pool(
    database: databases.Database,
) -> None:
    rng = random.Random(14)
    seen = Cancellations()
    catalogue = CatalogueRepository(database)
    cancel_slots = asyncio.Semaphore(CONCURRENT_CANCELS)

    async def cancelled(n: int) -> None:
        deadline = rng.uniform(0.01, MAX_DEADLINE_SECONDS)
        cancel = _cancel_by_timeout if n % 2 else _cancel_by_task_cancel
        async with cancel_slots:
            await cancel(database, -n, deadline, seen)

    values = list(range(1, CHECKED // 2 + 1))
    products = [rng.choice(_product_ids()) for _ in range(CHECKED // 2)]
    async with asyncio.timeout(120):
        _, answers, found = await asyncio.gather(
            asyncio.gather(*(cancelled(n) for n in range(1, CANCELLED + 1))),
            asyncio.gather(*(_checked_value(database, n) for n in values)),
            asyncio.gather(*(_checked_product(catalogue, p) for p in products)),
        )
        # And once the storm is over, every answer is still the one asked for.
        after = [await _checked_value(database, n) for n in range(CHECKED, CHECKED + 50)]
        slots = await _every_slot_serves(database)

    assert (seen.in_flight, seen.finished) == (CANCELLED, []), seen
    assert answers == [(n, f"own-{n}") for n in values]
    assert found == [(p, p) for p in products]
    assert after == [(n, f"own-{n}") for n in range(CHECKED, CHECKED + 50)]
    assert sorted(slots) == list(range(POOL_SIZE))
