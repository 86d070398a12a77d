"""Orders as the workflow tests place them, with retries short enough for tests."""

from __future__ import annotations

from decimal import Decimal
from itertools import count

from schemas.workflow_io import (
    STEPS_RETRIED_BY_THE_SERVER,
    OrderLine,
    OrderWorkflowInput,
)

CATALOGUE = {1: Decimal("19.99"), 7: Decimal("5.00")}
DECLINED_TOKEN = "tok_decline"
FLAKY_TOKEN = "tok_flaky"  # fails twice, then succeeds
WAIT_SECONDS = 10.0
_order_ids = count(1)


def fresh_order_id() -> int:
    """An order id no other test in the session uses, so workflow ids never collide."""
    return next(_order_ids)


def an_order(
    order_id: int,
    *,
    lines: tuple[tuple[int, int, str], ...] = ((1, 2, "19.99"), (7, 1, "5.00")),
    total: str = "44.98",
    token: str = "tok_ok",
    cancel_window_seconds: float = 0.0,
    outage_tolerance_hours: float = 24.0,
) -> OrderWorkflowInput:
    """An order of (product, quantity, unit price) lines, with retries short enough for tests."""
    return OrderWorkflowInput(
        order_id=order_id,
        order_ref=f"web-{order_id:06d}",
        customer_id=42,
        customer_email="ada@example.com",
        currency="USD",
        items=tuple(
            OrderLine(product_id=product, quantity=quantity, unit_price=Decimal(price))
            for product, quantity, price in lines
        ),
        total_amount=Decimal(total),
        payment_method="card",
        payment_token=token,
        cancel_window_seconds=cancel_window_seconds,
        activity_timeout_seconds=WAIT_SECONDS,
        activity_initial_interval_seconds=0.05,
        outage_tolerance_hours=outage_tolerance_hours,
        steps_version=STEPS_RETRIED_BY_THE_SERVER,
    )
