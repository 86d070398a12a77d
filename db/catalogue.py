"""The product catalogue: prices the orders are checked against, and free stock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

import databases

from db.connection import connection, retry_conflicts, transaction
from db.records import row_from
from db.statements import fetch_in, select_rows


@dataclass(frozen=True, slots=True)
class ProductRow:
    id: int
    sku: str
    name: str
    price: Decimal
    stock_quantity: int


_PRODUCTS = "SELECT id, sku, name, price, stock_quantity FROM products WHERE id IN ({placeholders})"

# The rows come in as a derived table so the update can name their columns: MySQL 8
# deprecates VALUES(column) here, and MariaDB lacks the row alias that replaces it.
_UPSERT = """
INSERT INTO products (id, sku, name, price, stock_quantity)
SELECT id, sku, name, price, stock_quantity FROM ({rows}) AS incoming
ON DUPLICATE KEY UPDATE
  sku = incoming.sku, name = incoming.name, price = incoming.price,
  stock_quantity = incoming.stock_quantity
"""
_COLUMNS = ("id", "sku", "name", "price", "stock_quantity")


class CatalogueRepository:
    """Reads and writes `products`."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database

    async def products(self, ids: Iterable[int]) -> dict[int, ProductRow]:
        """The products among `ids` that exist, by id; unknown ids are simply absent."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        async with connection(self._database) as conn:
            records = await fetch_in(conn, _PRODUCTS, wanted, "id")
        rows = (row_from(ProductRow, record) for record in records)
        return {row.id: row for row in rows}

    async def upsert_products(self, rows: Sequence[ProductRow]) -> None:
        """Insert the products, or overwrite every column of those whose id exists."""
        if not rows:
            return
        # Ascending ids: concurrent upserts lock rows in the same order and cannot deadlock.
        ordered = sorted(rows, key=lambda row: row.id)
        placeholders, values = select_rows(
            [(r.id, r.sku, r.name, r.price, r.stock_quantity) for r in ordered], _COLUMNS, "p"
        )

        async def upsert() -> None:
            async with transaction(self._database) as conn:
                await conn.execute(_UPSERT.format(rows=placeholders), values)

        await retry_conflicts(upsert)
