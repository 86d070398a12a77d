"""Wire models of the events the system reads from and writes to Kafka."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    WrapValidator,
)
from pydantic_core import PydanticCustomError

from schemas.order import OrderStatus
from schemas.workflow_io import StatusChange, status_event_id

# DECIMAL(10,2): eight digits before the point, two after. ASCII digits only, because
# Decimal() would also take other scripts' digits and "1e3", "NaN" or " 1.00".
_MONEY_TEXT = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?")
_MONEY_PATTERN = r"^[0-9]{1,8}(\.[0-9]{1,2})?$"
_CENT = Decimal("0.01")


def _parse_money(value: object) -> Decimal:
    if isinstance(value, Decimal) and value.is_finite():
        value = format(value, "f")
    if not isinstance(value, str):
        raise PydanticCustomError(
            "money_type", 'Money must be a JSON string such as "19.99", not a number'
        )
    if _MONEY_TEXT.fullmatch(value) is None:
        raise PydanticCustomError("money_format", _money_format_problem(value))
    return Decimal(value).quantize(_CENT)


def _money_format_problem(text: str) -> str:
    # The message names the rule that was broken, never the text itself (it is customer data).
    if text.startswith("-"):
        return "Money must not be negative"
    if re.fullmatch(r"[0-9]+\.[0-9]{3,}", text):
        return "Money must have at most 2 decimal places"
    if re.fullmatch(r"[0-9]{9,}(?:\.[0-9]*)?", text):
        return "Money must have at most 10 digits, 8 of them before the point"
    return 'Money must be a plain decimal with at most 2 places, such as "19.99" or "5"'


Money = Annotated[
    Decimal,
    PlainValidator(_parse_money),
    PlainSerializer(lambda amount: format(amount, "f"), return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _MONEY_PATTERN,
            "description": "A decimal string with at most 2 places; a JSON number is refused.",
            "examples": ["19.99", "5.00"],
        }
    ),
]
"""An amount of money: a JSON string with at most 2 decimal places, held as a cent-exact Decimal."""


def _check_email(value: object, handler: ValidatorFunctionWrapHandler) -> Any:
    # email-validator quotes the offending characters back; the address is personal data.
    try:
        return handler(value)
    except ValidationError:
        raise PydanticCustomError("email_invalid", "Value is not a valid email address") from None


# MySQL's DATETIME holds the years 1000 to 9999. An offset can carry a moment that reads in
# range (9999-12-31T23:00:00-05:00) out of it once stored as UTC.
def _check_storable(moment: datetime) -> datetime:
    try:
        in_range = moment.astimezone(UTC).year >= 1000
    except OverflowError:  # past the end of year 9999 in UTC
        in_range = False
    if not in_range:
        raise PydanticCustomError(
            "datetime_out_of_range", "Datetime must fall between the years 1000 and 9999 in UTC"
        )
    return moment


Instant = Annotated[AwareDatetime, AfterValidator(_check_storable)]
"""A moment with its offset whose UTC time a DATETIME column can store."""


CustomerEmail = Annotated[EmailStr, Field(max_length=254), WrapValidator(_check_email)]
OrderRef = Annotated[
    str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
]
EventId = Annotated[str, Field(min_length=1, max_length=128)]
RowId = Annotated[int, Field(gt=0, le=2**63 - 1)]


class _WireModel(BaseModel):
    # Strict: no "2" for 2, no true for 1. Extra fields are ignored so producers can add some.
    model_config = ConfigDict(frozen=True, extra="ignore", strict=True)


class OrderItem(_WireModel):
    product_id: RowId
    quantity: Annotated[int, Field(ge=1, le=10_000)]
    unit_price: Money


class PaymentDetails(_WireModel):
    method: Annotated[str, Field(min_length=1, max_length=32)]
    token: Annotated[str, Field(min_length=1, max_length=128, repr=False)]


class OrderDetails(_WireModel):
    order_ref: OrderRef
    customer_id: RowId
    customer_email: Annotated[CustomerEmail, Field(repr=False)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=100)]
    total_amount: Money
    payment: PaymentDetails


class OrderPlaced(_WireModel):
    """An upstream system took an order; `order.order_ref` is its idempotency key."""

    event_id: EventId
    event_type: Literal["OrderPlaced"]
    schema_version: Literal[1]
    occurred_at: Instant
    order: OrderDetails

    @property
    def order_ref(self) -> str:
        return self.order.order_ref


class OrderCancellationRequested(_WireModel):
    """A customer asked to cancel an order; it becomes the workflow's `cancel_order` signal."""

    event_id: EventId
    event_type: Literal["OrderCancellationRequested"]
    schema_version: Literal[1]
    occurred_at: Instant
    order_ref: OrderRef
    reason: Annotated[str, Field(max_length=500)] = ""


InboundEvent = Annotated[
    OrderPlaced | OrderCancellationRequested, Field(discriminator="event_type")
]
INBOUND_EVENT_ADAPTER: TypeAdapter[InboundEvent] = TypeAdapter(InboundEvent)


class OrderStatusChanged(_WireModel):
    """An order entered a status; `event_id` is fixed per workflow and sequence."""

    # Every field is always written, defaults included, so subscribers may rely on each.
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)

    event_id: EventId
    event_type: Literal["OrderStatusChanged"] = "OrderStatusChanged"
    schema_version: Literal[1] = 1
    occurred_at: AwareDatetime
    order_id: RowId
    order_ref: OrderRef
    workflow_id: Annotated[str, Field(min_length=1, max_length=255)]
    sequence: Annotated[int, Field(ge=1)]
    previous_status: OrderStatus | None
    status: OrderStatus
    reason: str | None = None


def status_event(change: StatusChange) -> OrderStatusChanged:
    """The event for a status change; its id comes from the workflow and the sequence, so every
    copy of one status, however often it is written or sent, carries the same id and content."""
    return OrderStatusChanged(
        event_id=status_event_id(change.workflow_id, change.sequence),
        occurred_at=change.occurred_at,
        order_id=change.order_id,
        order_ref=change.order_ref,
        workflow_id=change.workflow_id,
        sequence=change.sequence,
        previous_status=change.previous_status,
        status=change.status,
        reason=change.reason,
    )


def order_content_fingerprint(order: OrderDetails) -> str:
    """A digest of what makes an order: equal for a redelivery, different for a conflicting one."""
    content = {
        "order_ref": order.order_ref,
        "customer_id": order.customer_id,
        "customer_email": order.customer_email,
        "currency": order.currency,
        "items": [
            {
                "product_id": item.product_id,
                "quantity": item.quantity,
                "unit_price": format(item.unit_price, "f"),
            }
            for item in order.items
        ],
        "total_amount": format(order.total_amount, "f"),
        "payment": {"method": order.payment.method, "token": order.payment.token},
    }
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


__all__ = [
    "INBOUND_EVENT_ADAPTER",
    "InboundEvent",
    "Money",
    "OrderCancellationRequested",
    "OrderDetails",
    "OrderItem",
    "OrderPlaced",
    "OrderStatusChanged",
    "PaymentDetails",
    "order_content_fingerprint",
    "status_event",
]
