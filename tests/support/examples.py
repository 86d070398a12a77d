"""The contract's example `OrderPlaced`, as a fresh dict each call, for tests to vary."""

from __future__ import annotations

from typing import Any

# The contract's statuses of an order that nobody stops, in the order its events carry them.
HAPPY_PATH = [
    "PENDING",
    "VALIDATING",
    "RESERVING_STOCK",
    "PROCESSING_PAYMENT",
    "CONFIRMED",
    "COMPLETED",
]


def contract_order_placed(
    *, email: str = "ada@example.com", token: str = "tok_ok", **order_changes: Any
) -> dict[str, Any]:
    """The example from the contract; `email`, `token` and `order_changes` replace parts of
    its `order` (tests plant recognisable values there to show they never leak)."""
    order: dict[str, Any] = {
        "order_ref": "web-000123",
        "customer_id": 42,
        "customer_email": email,
        "currency": "USD",
        "items": [
            {"product_id": 1, "quantity": 2, "unit_price": "19.99"},
            {"product_id": 7, "quantity": 1, "unit_price": "5.00"},
        ],
        "total_amount": "44.98",
        "payment": {"method": "card", "token": token},
    }
    return {
        "event_id": "5b1f0f3e-2b7e-4c52-9a61-0d5d7f1f2a10",
        "event_type": "OrderPlaced",
        "schema_version": 1,
        "occurred_at": "2026-11-26T12:00:00Z",
        "order": order | order_changes,
    }
