"""The business rules of an order against the catalogue, and which broken rule is reported."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.failures import FailureType
from schemas.workflow_io import OrderLine
from worker.domain import check_against_catalogue
from worker.errors import OrderRuleBrokenError

CATALOGUE = {1: Decimal("19.99"), 7: Decimal("5.00")}


def lines(*specs: tuple[int, int, str]) -> list[OrderLine]:
    """Order lines from (product, quantity, unit price) triples."""
    return [
        OrderLine(product_id=product, quantity=quantity, unit_price=Decimal(price))
        for product, quantity, price in specs
    ]


def broken_rule(
    order: list[OrderLine], total: str, catalogue: dict[int, Decimal] = CATALOGUE
) -> OrderRuleBrokenError:
    with pytest.raises(OrderRuleBrokenError) as broken:
        check_against_catalogue(order, Decimal(total), catalogue)
    return broken.value


def test_an_order_matching_the_catalogue_passes() -> None:
    check_against_catalogue(lines((1, 2, "19.99"), (7, 1, "5.00")), Decimal("44.98"), CATALOGUE)


def test_a_total_written_with_fewer_decimals_still_matches() -> None:
    check_against_catalogue(lines((7, 2, "5.00")), Decimal("10"), CATALOGUE)


def test_an_unknown_product_is_reported_by_its_id() -> None:
    broken = broken_rule(lines((1, 2, "19.99"), (99, 1, "5.00")), "44.98")

    assert broken.failure_type is FailureType.UNKNOWN_PRODUCT
    assert broken.reason == "unknown_product:product=99"
    assert str(broken) == "unknown_product:product=99"


def test_a_price_other_than_the_catalogues_is_a_price_mismatch() -> None:
    broken = broken_rule(lines((1, 2, "18.99"), (7, 1, "5.00")), "42.98")

    assert broken.failure_type is FailureType.PRICE_MISMATCH
    assert broken.reason == "price_mismatch"


def test_lines_not_summing_to_the_total_are_a_total_mismatch() -> None:
    broken = broken_rule(lines((1, 2, "19.99"), (7, 1, "5.00")), "44.97")

    assert broken.failure_type is FailureType.TOTAL_MISMATCH
    assert broken.reason == "total_mismatch"


def test_an_unknown_product_is_reported_before_a_price_mismatch_on_an_earlier_line() -> None:
    broken = broken_rule(lines((1, 2, "1.00"), (99, 1, "5.00")), "7.00")

    assert broken.reason == "unknown_product:product=99"


def test_the_first_unknown_product_in_the_order_is_the_one_reported() -> None:
    broken = broken_rule(lines((98, 1, "1.00"), (1, 1, "19.99"), (99, 1, "1.00")), "21.99")

    assert broken.reason == "unknown_product:product=98"


def test_a_price_mismatch_is_reported_before_a_total_mismatch() -> None:
    broken = broken_rule(lines((1, 2, "18.99")), "1.00")

    assert broken.reason == "price_mismatch"


def test_a_product_missing_from_an_empty_catalogue_is_unknown() -> None:
    broken = broken_rule(lines((1, 1, "19.99")), "19.99", catalogue={})

    assert broken.reason == "unknown_product:product=1"
