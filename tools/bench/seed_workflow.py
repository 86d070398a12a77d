"""The seed design's workflow ported straight: what a team porting the seed naively would ship.

A regular `update_status` activity for every status the order enters, and validation, stock,
payment and the confirmation each a regular activity of its own (their `announce` lists
empty), with the retry options of the seed (30 s, 3 attempts, 1 s apart, from the order's
input as the consumer fills it in). The OrderStatus search attribute is upserted at every
status, as the seed's operators would need to filter by it. It is registered under the
project's workflow type, so the project's consumer starts it unchanged, and the project's
activities do the work: the same rows and the same status events as the shipped workflow.
Signals and the query are left out: the bench never sends them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas import failures
    from schemas.order import OrderStatus
    from schemas.search_attributes import ORDER_STATUS
    from schemas.workflow_io import (
        WORKFLOW_TYPE,
        ConfirmationInput,
        OrderWorkflowInput,
        OrderWorkflowResult,
        PaymentInput,
        RefundInput,
        StatusChange,
        StockInput,
        ValidateOrderInput,
    )
    from worker.activities import (
        CatalogueActivities,
        InventoryActivities,
        NotificationActivities,
        OrderStatusActivities,
        PaymentActivities,
    )

_T = TypeVar("_T")
_In = TypeVar("_In", bound=BaseModel)
S = OrderStatus


@workflow.defn(name=WORKFLOW_TYPE)
class SeedOrderWorkflow:
    """Status, step, status, step…: ten activities and as many workflow tasks per order."""

    @workflow.init
    def __init__(self, order: OrderWorkflowInput) -> None:
        self._order = order
        self._status: OrderStatus | None = None
        self._sequence = 0
        self._payment_id: str | None = None

    @workflow.run
    async def process_order(self, order: OrderWorkflowInput) -> OrderWorkflowResult:
        await self._enter(S.PENDING)
        stock = StockInput(order_id=order.order_id, items=order.items)
        try:
            await self._enter(S.VALIDATING)
            validation = ValidateOrderInput(
                order_id=order.order_id, items=order.items, total_amount=order.total_amount
            )
            await self._call(CatalogueActivities.validate_order, validation)
            await self._enter(S.RESERVING_STOCK)
            await self._call(InventoryActivities.reserve_stock, stock)
            await self._enter(S.PROCESSING_PAYMENT)
            payment = await self._call(PaymentActivities.process_payment, self._payment)
            self._payment_id = payment.payment_id
            await self._enter(S.CONFIRMED)
            await self._call(NotificationActivities.send_order_confirmation, self._confirmation)
        except ActivityError as failed:
            return await self._fail(failed, stock)
        await self._enter(S.COMPLETED)
        return self._result(None)

    @property
    def _payment(self) -> PaymentInput:
        o = self._order
        return PaymentInput(
            order_id=o.order_id, order_ref=o.order_ref, amount=o.total_amount,
            currency=o.currency, payment_method=o.payment_method, payment_token=o.payment_token,
        )  # fmt: skip

    @property
    def _confirmation(self) -> ConfirmationInput:
        o = self._order
        return ConfirmationInput(
            order_id=o.order_id, order_ref=o.order_ref, customer_email=o.customer_email
        )

    async def _fail(self, failed: ActivityError, stock: StockInput) -> OrderWorkflowResult:
        """Undo what the steps before may have done (both undos are idempotent), then FAILED."""
        cause = failed.cause
        if isinstance(cause, ApplicationError) and failures.is_business_failure(cause.type):
            reason = cause.message
        else:
            reason = failures.step_failed(failed.activity_type)
        if self._status in (S.PROCESSING_PAYMENT, S.CONFIRMED):
            await self._call(PaymentActivities.refund_payment, RefundInput(order_id=stock.order_id))
        if self._status in (S.RESERVING_STOCK, S.PROCESSING_PAYMENT, S.CONFIRMED):
            await self._call(InventoryActivities.release_stock, stock)
        await self._enter(S.FAILED, reason)
        return self._result(reason)

    def _result(self, reason: str | None) -> OrderWorkflowResult:
        status = self._status or S.PENDING
        o = self._order
        return OrderWorkflowResult(
            order_id=o.order_id, order_ref=o.order_ref, status=status, reason=reason,
            payment_id=self._payment_id,
        )  # fmt: skip

    async def _enter(self, status: OrderStatus, reason: str | None = None) -> None:
        previous, self._status = self._status, status
        self._sequence += 1
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        change = StatusChange(
            order_id=self._order.order_id,
            order_ref=self._order.order_ref,
            workflow_id=workflow.info().workflow_id,
            sequence=self._sequence,
            previous_status=previous,
            status=status,
            reason=reason,
            occurred_at=workflow.now(),
        )
        await self._call(OrderStatusActivities.update_status, change)

    async def _call(self, activity: Callable[[Any, _In], Awaitable[_T]], arg: _In) -> _T:
        o = self._order
        return await workflow.execute_activity_method(
            activity,
            arg,
            start_to_close_timeout=timedelta(seconds=o.activity_timeout_seconds),
            retry_policy=RetryPolicy(
                initial_interval=timedelta(seconds=o.activity_initial_interval_seconds),
                maximum_attempts=o.activity_max_attempts,
                non_retryable_error_types=[str(kind) for kind in failures.FailureType],
            ),
        )
