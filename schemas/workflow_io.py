"""Temporal names and the inputs and outputs of the order workflow and its activities.

These are wire contracts shared by the consumer (which starts workflows by name) and the
worker (which runs them): renaming anything here breaks running workflows.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from schemas.order import OrderStatus

TASK_QUEUE = "ORDER_PROCESSING_TASK_QUEUE"
WORKFLOW_TYPE = "OrderProcessingWorkflow"
QUERY_GET_ORDER_STATE = "get_order_state"
SIGNAL_UPDATE_ORDER_STATUS = "update_order_status"
SIGNAL_CANCEL_ORDER = "cancel_order"

# The activities of orders started before MySQL decided their steps (`schemas.steps` names
# today's), served until those orders have all ended.
UPDATE_STATUS_ACTIVITY = "update_status"
VALIDATE_ORDER_ACTIVITY = "validate_order"
RESERVE_STOCK_ACTIVITY = "reserve_stock"
RELEASE_STOCK_ACTIVITY = "release_stock"
PROCESS_PAYMENT_ACTIVITY = "process_payment"
REFUND_PAYMENT_ACTIVITY = "refund_payment"
SEND_ORDER_CONFIRMATION_ACTIVITY = "send_order_confirmation"

SEARCH_ATTRIBUTE_ORDER_REF = "OrderRef"
SEARCH_ATTRIBUTE_CUSTOMER_ID = "CustomerId"
SEARCH_ATTRIBUTE_ORDER_STATUS = "OrderStatus"


def workflow_id_for(order_id: int) -> str:
    """The workflow id of an order: fixed, so a redelivered event finds the same workflow."""
    return f"order-{order_id}"


def status_event_id(workflow_id: str, sequence: int) -> str:
    """The id of a status event: the same for every retried publish of one status."""
    return f"{workflow_id}:{sequence}"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderLine(_Frozen):
    product_id: int
    quantity: int
    unit_price: Decimal


class OrderWorkflowInput(_Frozen):
    """Everything the workflow needs, so it never reads the order back from MySQL."""

    order_id: int
    order_ref: str
    customer_id: int
    customer_email: str
    currency: str
    items: tuple[OrderLine, ...]
    total_amount: Decimal
    payment_method: str
    payment_token: str = Field(repr=False)
    # How long a CONFIRMED order waits for a late cancellation before it completes.
    cancel_window_seconds: float = Field(default=0.0, ge=0)
    # Options of the business steps; carried in the input so they are in the workflow's
    # history and a replay schedules its activities exactly as the original run did.
    activity_timeout_seconds: float = Field(default=30.0, gt=0)
    activity_max_attempts: int = Field(default=3, ge=1)
    activity_initial_interval_seconds: float = Field(default=1.0, gt=0)
    # How long a step keeps retrying through an outage (MySQL, Kafka, Temporal, its own
    # timeout) before the order is given up: an outage delays an order, never fails it.
    outage_tolerance_hours: float = Field(default=24.0, gt=0)
    # How the workflow takes the order's steps, fixed at its start and so in its history: 0
    # for orders started before this field, whose runs follow the workflow's patches;
    # STEPS_IN_ONE_ACTIVITY for orders whose forward steps run in one local activity;
    # STEPS_RETRIED_BY_THE_SERVER for those whose steps the server retries through an outage.
    steps_version: int = Field(default=0, ge=0)


STEPS_IN_ONE_ACTIVITY = 1
"""Orders whose forward steps run in one local activity, retried locally, inside the workflow
task, for the whole of an outage. A version in the input rather than a `workflow.patched`
marker: the choice costs the order's history no event (a patch adds a marker and an upsert of
`TemporalChangeVersion` to every order), and the older shapes are still served to the orders
that began with them, until they have ended."""

STEPS_RETRIED_BY_THE_SERVER = 2
"""The `steps_version` the consumer starts orders with: each step is a local activity for a few
attempts, then, if MySQL is still away, the same step as a regular activity that the server
retries, so an outage of any length adds a handful of events to the order's history."""


class OrderWorkflowState(_Frozen):
    """What `get_order_state` answers."""

    order_id: int
    order_ref: str
    workflow_id: str
    status: OrderStatus
    sequence: int
    reason: str | None = None
    stock_reserved: bool = False
    payment_id: str | None = None
    cancel_requested: bool = False
    cancel_reason: str | None = None
    rejected_overrides: tuple[str, ...] = ()


class OrderWorkflowResult(_Frozen):
    order_id: int
    order_ref: str
    status: OrderStatus
    reason: str | None = None
    payment_id: str | None = None


class StatusChange(_Frozen):
    """One status the order enters: written to MySQL and published as `OrderStatusChanged`."""

    order_id: int
    order_ref: str
    workflow_id: str
    sequence: int
    previous_status: OrderStatus | None
    status: OrderStatus
    reason: str | None = None
    occurred_at: datetime


class _Step(_Frozen):
    """A step's input. `announce` holds the statuses the order enters before the step's work:
    the step's activity records and publishes them first, saving the workflow a round trip each.
    Empty for orders started before `local-activity-steps`, which announce with `update_status`."""

    announce: tuple[StatusChange, ...] = ()


class ValidateOrderInput(_Step):
    order_id: int
    items: tuple[OrderLine, ...]
    total_amount: Decimal


class StockInput(_Step):
    order_id: int
    items: tuple[OrderLine, ...]


class PaymentInput(_Step):
    order_id: int
    order_ref: str
    amount: Decimal
    currency: str
    payment_method: str
    payment_token: str = Field(repr=False)


class PaymentResult(_Frozen):
    payment_id: str


class RefundInput(_Frozen):
    order_id: int


class ConfirmationInput(_Step):
    order_id: int
    order_ref: str
    customer_email: str
