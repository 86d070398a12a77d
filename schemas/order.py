"""The order's states and the transitions the state machine allows between them."""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    VALIDATING = "VALIDATING"
    RESERVING_STOCK = "RESERVING_STOCK"
    PROCESSING_PAYMENT = "PROCESSING_PAYMENT"
    CONFIRMED = "CONFIRMED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({OrderStatus.COMPLETED, OrderStatus.FAILED, OrderStatus.CANCELLED})

_S = OrderStatus
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    _S.PENDING: frozenset({_S.VALIDATING, _S.CANCELLED}),
    _S.VALIDATING: frozenset({_S.RESERVING_STOCK, _S.FAILED, _S.CANCELLED}),
    _S.RESERVING_STOCK: frozenset({_S.PROCESSING_PAYMENT, _S.FAILED, _S.CANCELLED}),
    _S.PROCESSING_PAYMENT: frozenset({_S.CONFIRMED, _S.FAILED, _S.CANCELLED}),
    _S.CONFIRMED: frozenset({_S.COMPLETED, _S.CANCELLED}),
    _S.COMPLETED: frozenset(),
    _S.FAILED: frozenset(),
    _S.CANCELLED: frozenset(),
}


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    """Whether the state machine lets an order in `current` move to `new`."""
    return new in ALLOWED_TRANSITIONS[current]
