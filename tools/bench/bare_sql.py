"""`python -m tools.bench.bare_sql <count>`: the floor's MySQL part, one order's statements, bare.

The statements the consumer and the worker issue for an order nobody stops, as `db/` writes
them (orders, order_inserts, inventory, payments, notifications, catalogue), one order at a
time on one connection: no pool, no `databases` layer, no batching of orders together.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import sys
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote, urlsplit

import asyncmy

from runtime.exit import exit_now
from schemas.order import OrderStatus
from tools.bench.bare import WARM_UP, say, wait_for_release

Cursor = Any
HAPPY_PATH = list(OrderStatus)[:6]  # PENDING … COMPLETED
LINES = ((1, 1, "19.99"), (2, 1, "5.00"))  # (product, quantity, unit price), as bench orders

ADVANCE_STATUS = (
    "UPDATE orders SET status = %(status)s, failure_reason = NULL, status_sequence = %(seq)s"
    " WHERE id = %(id)s AND status_sequence < %(seq)s"
)
INSERT_HISTORY = (
    "INSERT INTO order_status_history"
    " (order_id, sequence, previous_status, status, reason, occurred_at)"
    " VALUES (%(id)s, %(seq)s, %(previous)s, %(status)s, NULL, %(now)s)"
    " ON DUPLICATE KEY UPDATE sequence = sequence"
)
SELECT_PAYMENT = (
    "SELECT order_id, payment_id, amount, currency, status, captured_at, refunded_at"
    " FROM payments WHERE order_id = %(id)s"
)


async def store_order(cur: Cursor, ref: str) -> int:
    """The consumer: the order and its items in one transaction, then its workflow id."""
    now = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    fingerprint = hashlib.sha256(ref.encode()).hexdigest()
    await cur.execute("BEGIN")
    await cur.execute(
        "SELECT id, order_ref, content_fingerprint, status, temporal_workflow_id FROM orders"
        " WHERE order_ref IN (%(ref)s)", {"ref": ref},
    )  # fmt: skip
    await cur.execute(
        "INSERT INTO orders (order_ref, customer_id, customer_email, currency, order_date,"
        " status, total_amount, payment_method, content_fingerprint) VALUES (%(ref)s, 7,"
        " 'bench@example.com', 'USD', %(now)s, 'PENDING', 24.99, 'card', %(fp)s)",
        {"ref": ref, "now": now, "fp": fingerprint},
    )
    await cur.execute("SELECT id, order_ref FROM orders WHERE order_ref IN (%(ref)s)", {"ref": ref})
    order_id = int((await cur.fetchone())[0])
    items = ", ".join(f"({order_id}, {p}, {q}, {price})" for p, q, price in LINES)
    await cur.execute(
        f"INSERT INTO order_items (order_id, product_id, quantity, unit_price) VALUES {items}"
    )
    await cur.execute("COMMIT")
    await cur.execute(
        "UPDATE orders SET temporal_workflow_id = CASE id WHEN %(id)s THEN %(wf)s END"
        " WHERE id IN (%(id)s)", {"id": order_id, "wf": f"order-{order_id}"},
    )  # fmt: skip
    return order_id


async def record_status(cur: Cursor, order_id: int, sequence: int) -> None:
    """The worker's `update_status`: the order row, then its history row, in one transaction."""
    previous = HAPPY_PATH[sequence - 2].value if sequence > 1 else None
    values = {"id": order_id, "seq": sequence, "status": HAPPY_PATH[sequence - 1].value}
    await cur.execute("BEGIN")
    await cur.execute(ADVANCE_STATUS, values)
    now = datetime.now(UTC).replace(tzinfo=None)
    await cur.execute(INSERT_HISTORY, values | {"previous": previous, "now": now})
    await cur.execute("COMMIT")


async def validate(cur: Cursor, order: dict[str, Any]) -> None:
    await cur.execute(
        "SELECT id, sku, name, price, stock_quantity FROM products WHERE id IN (%(a)s, %(b)s)",
        {"a": LINES[0][0], "b": LINES[1][0]},
    )


async def reserve(cur: Cursor, order: dict[str, Any]) -> None:
    await cur.execute("BEGIN")
    await cur.execute("SELECT id FROM orders WHERE id = %(id)s FOR UPDATE", order)
    await cur.execute("SELECT COUNT(*) FROM stock_reservations WHERE order_id = %(id)s", order)
    for product, quantity, _ in LINES:
        await cur.execute(
            "UPDATE products SET stock_quantity = stock_quantity - %(q)s"
            " WHERE id = %(p)s AND stock_quantity >= %(q)s", {"p": product, "q": quantity},
        )  # fmt: skip
    rows = ", ".join(f"(%(id)s, {p}, {q}, %(now)s)" for p, q, _ in LINES)
    await cur.execute(
        "INSERT INTO stock_reservations (order_id, product_id, quantity, reserved_at)"
        f" VALUES {rows}", order,
    )  # fmt: skip
    await cur.execute("COMMIT")


async def pay(cur: Cursor, order: dict[str, Any]) -> None:
    await cur.execute(SELECT_PAYMENT, order)
    await cur.execute(
        "INSERT INTO payments (order_id, payment_id, amount, currency, status, captured_at)"
        " VALUES (%(id)s, %(pay)s, 24.99, 'USD', 'CAPTURED', %(now)s)"
        " ON DUPLICATE KEY UPDATE order_id = order_id", order | {"pay": f"pay_{order['id']}"},
    )  # fmt: skip
    await cur.execute(SELECT_PAYMENT, order)


async def confirm(cur: Cursor, order: dict[str, Any]) -> None:
    await cur.execute(
        "INSERT INTO notifications (order_id, kind, sent_at)"
        " VALUES (%(id)s, 'order_confirmation', %(now)s)"
        " ON DUPLICATE KEY UPDATE order_id = order_id", order,
    )  # fmt: skip


async def one_order(cur: Cursor, ref: str) -> None:
    """Stored, then PENDING; each step after the status that comes before it; COMPLETED."""
    order_id = await store_order(cur, ref)
    order = {"id": order_id, "now": datetime.now(UTC).replace(tzinfo=None)}
    await record_status(cur, order_id, 1)
    for sequence, step in enumerate((validate, reserve, pay, confirm), start=2):
        await record_status(cur, order_id, sequence)
        await step(cur, order)
    await record_status(cur, order_id, len(HAPPY_PATH))


async def main(count: int) -> int:
    url = urlsplit(os.environ["DATABASE_URL"])
    connection = await asyncmy.connect(
        host=url.hostname, port=url.port or 3306, user=unquote(url.username or ""),
        password=unquote(url.password or ""), database=url.path.lstrip("/"),
        charset="utf8mb4", autocommit=True, init_command="SET time_zone = '+00:00'",
    )  # fmt: skip
    async with connection.cursor() as cur:
        for n in range(WARM_UP):
            await one_order(cur, f"warm-{n}")
        say("ready")
        for n in range(count):
            await one_order(cur, f"bare-{n}")
        say("done")
    connection.close()
    wait_for_release()
    return 0


if __name__ == "__main__":
    exit_now(asyncio.run(main(int(sys.argv[1]))))
