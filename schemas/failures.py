"""Why an order fails or is cancelled: business-failure types and the reasons its events carry.

Activities raise `ApplicationError(reason, type=FailureType.X, non_retryable=True)` with a
reason built here; the workflow recognises the type and publishes the reason unchanged in
the order's FAILED event. The reasons are part of the public contract: never reword them.
"""

from __future__ import annotations

from enum import StrEnum


class FailureType(StrEnum):
    """The `type` of the non-retryable `ApplicationError` raised for a business failure."""

    UNKNOWN_PRODUCT = "UnknownProduct"
    PRICE_MISMATCH = "PriceMismatch"
    TOTAL_MISMATCH = "TotalMismatch"
    INSUFFICIENT_STOCK = "InsufficientStock"
    PAYMENT_DECLINED = "PaymentDeclined"


CANCELLED_BY_CUSTOMER = "cancelled_by_customer"
CANCELLED_BY_OPERATOR = "cancelled_by_operator"
FAILED_BY_OPERATOR = "failed_by_operator"


def is_business_failure(error_type: str | None) -> bool:
    """Whether an `ApplicationError` of this type is a business failure rather than a fault."""
    return error_type in FailureType.__members__.values()


def unknown_product(product_id: int) -> str:
    return f"unknown_product:product={product_id}"


def price_mismatch() -> str:
    return "price_mismatch"


def total_mismatch() -> str:
    return "total_mismatch"


def insufficient_stock(product_id: int) -> str:
    return f"insufficient_stock:product={product_id}"


def payment_declined() -> str:
    return "payment_declined"


def step_failed(step: str) -> str:
    """The reason of an order whose infrastructure step (an activity) exhausted its retries."""
    return f"step_failed:{step}"
