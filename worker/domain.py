"""The business rules an order must meet against the catalogue, free of any I/O."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from schemas import failures
from schemas.failures import FailureType
from schemas.workflow_io import OrderLine
from worker.errors import OrderRuleBrokenError


def check_against_catalogue(
    lines: Iterable[OrderLine], total_amount: Decimal, catalogue_prices: Mapping[int, Decimal]
) -> None:
    """Every product exists, every upstream price is the catalogue's, and the lines sum to the
    total; the first broken rule, in that order, is the one reported."""
    lines = list(lines)
    for line in lines:
        if line.product_id not in catalogue_prices:
            raise OrderRuleBrokenError(
                FailureType.UNKNOWN_PRODUCT, failures.unknown_product(line.product_id)
            )
    if any(line.unit_price != catalogue_prices[line.product_id] for line in lines):
        raise OrderRuleBrokenError(FailureType.PRICE_MISMATCH, failures.price_mismatch())
    if sum((line.unit_price * line.quantity for line in lines), Decimal(0)) != total_amount:
        raise OrderRuleBrokenError(FailureType.TOTAL_MISMATCH, failures.total_mismatch())
