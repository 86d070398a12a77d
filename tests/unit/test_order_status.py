"""The order's state machine, every pair of statuses checked against the contract's diagram.

The expected table is written out from the contract by hand, not derived from the code, so a
transition added to or dropped from `schemas.order` by mistake shows up here:

    PENDING → VALIDATING → RESERVING_STOCK → PROCESSING_PAYMENT → CONFIRMED → COMPLETED
                 ↓               ↓                   ↓                 ↓
               FAILED          FAILED              FAILED          CANCELLED

plus "a cancellation is honoured until COMPLETED, from any earlier state".
"""

from __future__ import annotations

import itertools

import pytest

from schemas.order import OrderStatus, can_transition
from tests.support.examples import HAPPY_PATH

# The `status` ENUM of the contract's `orders` table, in its order.
CONTRACT_STATUSES = [*HAPPY_PATH, "FAILED", "CANCELLED"]

FORWARD = set(itertools.pairwise(HAPPY_PATH))
FAILURES = {
    ("VALIDATING", "FAILED"),
    ("RESERVING_STOCK", "FAILED"),
    ("PROCESSING_PAYMENT", "FAILED"),
}
CANCELLATIONS = {
    ("PENDING", "CANCELLED"),
    ("VALIDATING", "CANCELLED"),
    ("RESERVING_STOCK", "CANCELLED"),
    ("PROCESSING_PAYMENT", "CANCELLED"),
    ("CONFIRMED", "CANCELLED"),
}
ALLOWED = FORWARD | FAILURES | CANCELLATIONS

ALL_PAIRS = list(itertools.product(CONTRACT_STATUSES, repeat=2))


def test_the_code_knows_exactly_the_contracts_statuses() -> None:
    assert [status.value for status in OrderStatus] == CONTRACT_STATUSES


@pytest.mark.parametrize(("current", "new"), ALL_PAIRS, ids=[f"{a}->{b}" for a, b in ALL_PAIRS])
def test_a_transition_is_allowed_only_where_the_contract_draws_it(current: str, new: str) -> None:
    assert can_transition(OrderStatus(current), OrderStatus(new)) is ((current, new) in ALLOWED)


@pytest.mark.parametrize("status", ["COMPLETED", "FAILED", "CANCELLED"])
def test_an_ended_order_goes_nowhere(status: str) -> None:
    assert OrderStatus(status).is_terminal
    assert not any(
        can_transition(OrderStatus(status), OrderStatus(new)) for new in CONTRACT_STATUSES
    )


@pytest.mark.parametrize("status", CONTRACT_STATUSES[:5])
def test_an_order_under_way_is_not_ended_and_can_still_be_cancelled(status: str) -> None:
    assert not OrderStatus(status).is_terminal
    assert can_transition(OrderStatus(status), OrderStatus.CANCELLED)
