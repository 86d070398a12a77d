"""The workflow shapes measured without work: the project's own, and the seed's naive one.

Both run with activities that do nothing, so what is measured is what each order costs Temporal.
The project's shape is the real `OrderProcessingWorkflow` with no-op activities under the real
names; the seed's shape is one regular activity per step plus one per status update.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from schemas.workflow_io import (
        ConfirmationInput,
        PaymentInput,
        PaymentResult,
        RefundInput,
        StatusChange,
        StockInput,
        ValidateOrderInput,
    )

SEED_STEPS = 4  # validate, reserve, pay, confirm
SEED_STATUSES = 6  # PENDING … COMPLETED


@workflow.defn(name="SeedShapedOrderWorkflow")
class SeedShapedOrderWorkflow:
    """A status activity before each step and at the end, each step its own activity."""

    @workflow.run
    async def run(self, order_id: int) -> None:
        for _ in range(SEED_STATUSES + SEED_STEPS):
            await workflow.execute_activity(
                "noop", order_id, start_to_close_timeout=timedelta(seconds=30)
            )


@activity.defn(name="noop")
async def noop(order_id: int) -> None:
    """The seed shape's every activity."""


@activity.defn(name="update_status")
async def update_status(change: StatusChange) -> None:
    """No MySQL write, no event."""


@activity.defn(name="validate_order")
async def validate_order(order: ValidateOrderInput) -> None:
    """No catalogue read."""


@activity.defn(name="reserve_stock")
async def reserve_stock(stock: StockInput) -> None:
    """No stock taken."""


@activity.defn(name="release_stock")
async def release_stock(stock: StockInput) -> None:
    """Nothing to give back."""


@activity.defn(name="process_payment")
async def process_payment(payment: PaymentInput) -> PaymentResult:
    return PaymentResult(payment_id=f"noop-{payment.order_id}")


@activity.defn(name="refund_payment")
async def refund_payment(refund: RefundInput) -> None:
    """Nothing to refund."""


@activity.defn(name="send_order_confirmation")
async def send_order_confirmation(confirmation: ConfirmationInput) -> None:
    """No one to tell."""


NOOP_ACTIVITIES: list[Callable[..., Any]] = [
    noop,
    update_status,
    validate_order,
    reserve_stock,
    release_stock,
    process_payment,
    refund_payment,
    send_order_confirmation,
]
