"""What the order repository takes and gives back: typed, immutable rows."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from db.records import row_from
from schemas.order import OrderStatus
from schemas.workflow_io import OrderLine

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
_LIMITS = {"order_ref": 64, "payment_method": 32}
EMAIL_LIMIT = 254


@dataclass(frozen=True, slots=True)
class OrderContent:
    """What an order is, whether received (`NewOrder`) or read back (`UnstartedOrder`): all a
    workflow's input takes from it besides its id and its secrets.

    With a payload key the customer's email and the payment token are stored sealed
    (`db.sealing`) and `customer_email` is None; without one the email is in clear and the
    token is not stored."""

    order_ref: str
    customer_id: int
    customer_email: str | None
    currency: str
    total_amount: Decimal
    payment_method: str
    items: tuple[OrderLine, ...]


@dataclass(frozen=True, slots=True)
class NewOrder(OrderContent):
    """An order as received, before it has an id; `order_date` is aware and stored as UTC."""

    content_fingerprint: str
    order_date: datetime
    sealed_secrets: bytes | None = None

    def __post_init__(self) -> None:
        # Refused here rather than by the server, whose strict mode would raise a data error
        # mid-batch; the consumer validates first, so reaching these is a bug.
        for field, limit in _LIMITS.items():
            if not 0 < len(getattr(self, field)) <= limit:
                raise ValueError(f"{field} must have 1 to {limit} characters")
        if self.customer_email is not None and not 0 < len(self.customer_email) <= EMAIL_LIMIT:
            raise ValueError(f"customer_email must have 1 to {EMAIL_LIMIT} characters")
        if (self.customer_email is None) == (self.sealed_secrets is None):
            raise ValueError("an order stores its email either in clear or sealed, not both")
        if self.order_ref.endswith(" "):
            # MySQL compares VARCHAR keys ignoring trailing spaces: "a " would be "a".
            raise ValueError("order_ref must not end with a space")
        if len(self.currency) != 3:
            raise ValueError("currency must be a 3-letter code")
        if not _FINGERPRINT.match(self.content_fingerprint):
            raise ValueError("content_fingerprint must be a lowercase hex sha256")
        if self.order_date.tzinfo is None:
            raise ValueError("order_date must be timezone-aware")
        if not self.items:
            raise ValueError("an order needs at least one item")


@dataclass(frozen=True, slots=True)
class OrderInsertResult:
    """The stored order for a ref: the new one (`created`) or the one already there."""

    created: bool
    order_id: int
    order_ref: str
    content_fingerprint: str
    status: OrderStatus
    temporal_workflow_id: str | None

    @classmethod
    def existing(cls, record: Any) -> OrderInsertResult:
        return row_from(cls, record, created=False, order_id=int(record["id"]))


@dataclass(frozen=True, slots=True)
class OrderRow:
    id: int
    order_ref: str
    customer_id: int
    customer_email: str | None  # None when sealed with the order's secrets
    currency: str
    order_date: datetime
    status: OrderStatus
    total_amount: Decimal
    payment_method: str
    content_fingerprint: str
    temporal_workflow_id: str | None
    failure_reason: str | None
    status_sequence: int


@dataclass(frozen=True, slots=True)
class ItemRow:
    id: int
    order_id: int
    product_id: int
    quantity: int
    unit_price: Decimal


@dataclass(frozen=True, slots=True)
class StatusRow:
    order_id: int
    sequence: int
    previous_status: OrderStatus | None
    status: OrderStatus
    reason: str | None
    occurred_at: datetime


@dataclass(frozen=True, slots=True, repr=False)
class UnstartedOrder(OrderContent):
    """A PENDING order whose workflow was never recorded as started, with what starting it
    takes: its lines, and its secrets as stored."""

    id: int
    sealed_secrets: bytes | None

    def __repr__(self) -> str:
        return f"UnstartedOrder(id={self.id}, order_ref={self.order_ref!r})"
