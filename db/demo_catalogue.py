"""A small demo catalogue, so a fresh stack can take the contract's example orders."""

from __future__ import annotations

from decimal import Decimal

import databases

from db.catalogue import CatalogueRepository, ProductRow

DEMO_PRODUCTS = (
    ProductRow(1, "TSHIRT-BLK-M", "Black T-shirt, size M", Decimal("19.99"), 500),
    ProductRow(2, "MUG-CER-350", "Ceramic mug, 350 ml", Decimal("8.50"), 200),
    ProductRow(3, "NOTEBOOK-A5", "A5 dotted notebook", Decimal("6.75"), 300),
    ProductRow(4, "PEN-GEL-BLUE", "Blue gel pen", Decimal("1.99"), 1000),
    ProductRow(5, "BOTTLE-STEEL", "Steel water bottle, 750 ml", Decimal("24.00"), 150),
    ProductRow(6, "CAP-BASEBALL", "Baseball cap", Decimal("15.00"), 120),
    # Scarce on purpose: a few orders exhaust it and the next one fails on stock.
    ProductRow(7, "STICKERS-LTD", "Limited sticker pack", Decimal("5.00"), 3),
    ProductRow(8, "HOODIE-GRY-L", "Grey hoodie, size L", Decimal("49.90"), 80),
)


async def load_demo_catalogue(database: databases.Database) -> tuple[ProductRow, ...]:
    """Insert the demo products, or reset them to these values; running it twice is harmless."""
    await CatalogueRepository(database).upsert_products(DEMO_PRODUCTS)
    return DEMO_PRODUCTS
