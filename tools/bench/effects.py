"""What a stage's orders left in MySQL, checked: both designs must do the same real work."""

from __future__ import annotations

import databases

# Per order of the bench (two lines, nobody stops it): the rows the contract's happy path leaves.
EXPECTED_PER_ORDER = {
    "completed orders": 1,
    "order items": 2,
    "status history rows": 6,
    "stock reservations": 2,
    "captured payments": 1,
    "notifications": 1,
}
_COUNTS = """
SELECT
  (SELECT COUNT(*) FROM orders WHERE status = 'COMPLETED' AND status_sequence = 6
     AND temporal_workflow_id IS NOT NULL) AS `completed orders`,
  (SELECT COUNT(*) FROM order_items) AS `order items`,
  (SELECT COUNT(*) FROM order_status_history) AS `status history rows`,
  (SELECT COUNT(*) FROM stock_reservations WHERE released_at IS NULL) AS `stock reservations`,
  (SELECT COUNT(*) FROM payments WHERE status = 'CAPTURED') AS `captured payments`,
  (SELECT COUNT(*) FROM notifications) AS `notifications`,
  (SELECT COUNT(*) FROM orders) AS `orders`
"""


class EffectsMismatchError(RuntimeError):
    """A stage's orders did not leave the rows the contract's happy path leaves."""


async def check_effects(url: str) -> dict[str, float]:
    """The rows per order in the stage's own database, each as the happy path leaves them;
    raises `EffectsMismatchError` naming those that differ."""
    async with databases.Database(url) as database:
        record = await database.fetch_one(_COUNTS)
    if record is None or not record["orders"]:
        raise EffectsMismatchError("no orders were stored")
    orders = int(record["orders"])
    per_order = {name: int(record[name]) / orders for name in EXPECTED_PER_ORDER}
    wrong = [
        f"{name} {per_order[name]:g} per order, expected {expected}"
        for name, expected in EXPECTED_PER_ORDER.items()
        if per_order[name] != expected
    ]
    if wrong:
        raise EffectsMismatchError(f"{orders} orders left: {'; '.join(wrong)}")
    return per_order
