"""The order's steps as MySQL decides them: the step activities' names, inputs and results.

Each step is one MySQL transaction that locks the order, checks the status it expects, applies
its effects and writes the statuses it enters with their events (the outbox). Run again, a
step finds its transition made and returns the order as it stands. The workflow only
sequences the steps, holds the cancel window and takes signals: what it goes on from is the
`OrderState` a step returns, read from MySQL.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from schemas.order import OrderStatus

# Activity names. New names, not the older steps' (`validate_order`…): workflows started before
# MySQL decided the steps still run those, with other inputs, until they have all ended.
VALIDATE_ORDER_STEP = "validate_order_step"
RESERVE_STOCK_STEP = "reserve_stock_step"
PROCESS_PAYMENT_STEP = "process_payment_step"
COMPLETE_ORDER_STEP = "complete_order_step"
STOP_ORDER_STEP = "stop_order_step"
# The order's forward steps one after the other, in one local activity (`AdvanceInput`).
ADVANCE_ORDER_STEP = "advance_order_step"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StepInput(_Frozen):
    order_id: int


class PaymentStepInput(StepInput):
    # Never stored in MySQL in clear: it reaches the gateway from the workflow's input.
    payment_token: str = Field(repr=False)
    # The gateway's transient errors are what the business may give up on (the seed's 3
    # attempts, 1 s apart, doubling); past them the capture is in doubt and refunded.
    attempts: int = Field(default=3, ge=1)
    initial_interval_seconds: float = Field(default=1.0, gt=0)


class AdvanceInput(PaymentStepInput):
    """Take the order as far forward as it goes: validation, stock, payment, each its own
    transaction, stopping at the first that does not leave it going on; then, with `complete`
    (no cancel window to hold), CONFIRMED → COMPLETED too."""

    complete: bool = False


class StopInput(StepInput):
    """End the order as `ending` (FAILED or CANCELLED) with `reason`, compensating first.
    Without a reason, the step the order stands before is the one that failed
    (`step_failed:reserve_stock`…): MySQL knows which it is, the workflow may not."""

    ending: OrderStatus
    reason: str | None = None


class OrderState(_Frozen):
    """The order as MySQL holds it once a step has run."""

    status: OrderStatus
    sequence: int
    # Why the order ended (FAILED, CANCELLED), as its last event says.
    reason: str | None = None
    # A business failure the step found (`insufficient_stock:product=7`…): the order is to
    # stop FAILED with it. The step recorded the status it entered, not the failure.
    failure: str | None = None
    # The customer asked to cancel (recorded by the consumer before it signals).
    cancel_requested: bool = False
    stock_reserved: bool = False
    payment_id: str | None = None

    @property
    def goes_on(self) -> bool:
        """Whether the order moves on to its next step: not ended, failed or asked to cancel."""
        return not (self.status.is_terminal or self.failure is not None or self.cancel_requested)


class PaymentOutcome(StrEnum):
    CAPTURED = "CAPTURED"
    DECLINED = "DECLINED"
    # The gateway kept failing transiently past the payment's attempts: a capture may have
    # happened, so the order is refunded by its idempotency key when it stops.
    UNAVAILABLE = "UNAVAILABLE"


class PaymentDue(_Frozen):
    """The capture a step has committed the intent of: the gateway is called next."""

    idempotency_key: str
    amount: Decimal
    currency: str


class RefundDue(_Frozen):
    """A refund a stopping order owes: a capture may have happened under this key."""

    idempotency_key: str
    amount: Decimal
    payment_id: str | None = None


def payment_idempotency_key(order_id: int) -> str:
    """The key of the order's one capture: the gateway takes a payment once per key."""
    return f"order-{order_id}"
