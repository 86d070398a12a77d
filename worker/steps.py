"""The step activities of orders whose steps MySQL decides (`schemas.steps`).

Each is a local activity, and during an outage that outlasts its few local attempts a regular
one that the server retries (`worker.workflows`): the same method either way. A local
activity's result reaches the workflow's history only when the workflow task completes, so a
lost task runs it again, as a regular attempt whose answer is lost runs again. That is
harmless because each step is a transaction guarded by the status it expects
(`db.order_steps`): run again, it finds its transition made and returns the order as it
stands. The gateway is called between two such transactions, with the order's idempotency key,
so a repeated capture or refund is the same one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Protocol

from temporalio import activity

from db.order_steps import ValidationRule
from runtime.telemetry.tracing import trace_headers
from schemas.order import OrderStatus
from schemas.steps import (
    ADVANCE_ORDER_STEP,
    COMPLETE_ORDER_STEP,
    PROCESS_PAYMENT_STEP,
    RESERVE_STOCK_STEP,
    STOP_ORDER_STEP,
    VALIDATE_ORDER_STEP,
    AdvanceInput,
    OrderState,
    PaymentDue,
    PaymentOutcome,
    PaymentStepInput,
    RefundDue,
    StepInput,
    StopInput,
)
from schemas.workflow_io import OrderLine
from worker.activities import FinishedOrders, Relay
from worker.domain import check_against_catalogue
from worker.errors import GatewayUnavailableError, OrderRuleBrokenError, PaymentDeclinedError
from worker.payments import PaymentGateway

log = logging.getLogger(__name__)
Headers = Mapping[str, str] | None


class OrderStepStore(Protocol):
    """The step transactions (`db.order_steps.OrderSteps`)."""

    async def validate(
        self, order_id: int, rule: ValidationRule, headers: Headers
    ) -> OrderState: ...
    async def reserve_stock(self, order_id: int, headers: Headers) -> OrderState: ...
    async def begin_payment(self, order_id: int, headers: Headers) -> PaymentDue | OrderState: ...
    async def begin_order(
        self, order_id: int, rule: ValidationRule, headers: Headers
    ) -> PaymentDue | OrderState: ...
    async def finish_payment(
        self,
        order_id: int,
        outcome: PaymentOutcome,
        payment_id: str | None,
        headers: Headers,
        *,
        complete: bool = False,
    ) -> tuple[OrderState, bool] | RefundDue: ...
    async def record_refund(self, order_id: int) -> OrderState: ...
    async def complete(self, order_id: int, headers: Headers) -> OrderState: ...
    async def begin_stop(
        self, order_id: int, ending: OrderStatus, reason: str | None, headers: Headers
    ) -> RefundDue | OrderState: ...
    async def finish_stop(
        self,
        order_id: int,
        ending: OrderStatus,
        reason: str | None,
        headers: Headers,
        *,
        refunded_payment_id: str | None,
    ) -> OrderState | RefundDue: ...


def catalogue_rule(
    lines: Sequence[OrderLine], total: Decimal, prices: Mapping[int, Decimal]
) -> str | None:
    """`worker.domain`'s rules as the validation step applies them: the reason, or None."""
    try:
        check_against_catalogue(lines, total, prices)
    except OrderRuleBrokenError as broken:
        return broken.reason
    return None


def _headers() -> dict[str, str]:
    # The step's span, when tracing is on: stored with its events, so the order's trace
    # reaches subscribers whenever the relay sends them.
    return {name: value.decode() for name, value in trace_headers()}


class OrderStepActivities:
    def __init__(
        self,
        steps: OrderStepStore,
        gateway: PaymentGateway,
        relay: Relay,
        finished: FinishedOrders,
    ) -> None:
        self._steps = steps
        self._gateway = gateway
        self._relay = relay
        self._finished = finished

    def _committed(self, state: OrderState, *, ends_it: bool = True) -> OrderState:
        """Wake the relay for the events the step wrote; count an order that has ended (a
        step run again after a lost workflow task counts it again)."""
        self._relay.wake()
        if ends_it and state.status.is_terminal:
            self._finished.order_finished(state.status, state.reason)
        return state

    @activity.defn(name=ADVANCE_ORDER_STEP)
    async def advance_order(self, advance: AdvanceInput) -> OrderState:
        """The order's forward steps in two transactions around the gateway's capture: the
        first validates, reserves and commits the payment's intent (`begin_order`), the second
        records the capture and confirms (and, with `complete`, completes). Run again, each
        finds its transitions made, so a repeat takes up where the attempt before it stopped."""
        headers = _headers()
        due = await self._steps.begin_order(advance.order_id, catalogue_rule, headers)
        state = await self._pay(due, advance, headers, complete=advance.complete)
        if advance.complete and state.status is OrderStatus.CONFIRMED and state.goes_on:
            # Confirmed by an attempt before this one, whose completion did not follow.
            state = self._committed(await self._steps.complete(advance.order_id, headers))
        return state

    @activity.defn(name=VALIDATE_ORDER_STEP)
    async def validate_order(self, step: StepInput) -> OrderState:
        """PENDING → VALIDATING against the catalogue, or FAILED with the rule it breaks."""
        state = await self._steps.validate(step.order_id, catalogue_rule, _headers())
        return self._committed(state)

    @activity.defn(name=RESERVE_STOCK_STEP)
    async def reserve_stock(self, step: StepInput) -> OrderState:
        """VALIDATING → RESERVING_STOCK with every line reserved, or FAILED with none."""
        state = await self._steps.reserve_stock(step.order_id, _headers())
        return self._committed(state)

    @activity.defn(name=PROCESS_PAYMENT_STEP)
    async def process_payment(self, step: PaymentStepInput) -> OrderState:
        """Commit the intent, capture once by the order's key, then CONFIRMED (with the
        confirmation recorded once) or FAILED on a decline. Run again, the intent is found
        and the gateway, called with the same key, returns the same capture."""
        headers = _headers()
        due = await self._steps.begin_payment(step.order_id, headers)
        return await self._pay(due, step, headers)

    @activity.defn(name=COMPLETE_ORDER_STEP)
    async def complete_order(self, step: StepInput) -> OrderState:
        """CONFIRMED → COMPLETED, unless a cancellation was recorded first."""
        return self._committed(await self._steps.complete(step.order_id, _headers()))

    async def _pay(
        self,
        due: PaymentDue | OrderState,
        step: PaymentStepInput,
        headers: Headers,
        *,
        complete: bool = False,
    ) -> OrderState:
        """The capture due, by the gateway, then its answer recorded (`finish_payment`); a
        capture that landed on an order stopped meanwhile refunded after it, by its key."""
        if isinstance(due, OrderState):
            return self._committed(due)
        self._relay.wake()
        outcome, payment_id = await self._capture(due, step)
        recorded = await self._steps.finish_payment(
            step.order_id, outcome, payment_id, headers, complete=complete
        )
        if isinstance(recorded, RefundDue):
            log.warning("capture after the stop: refunding", extra={"order_id": step.order_id})
            await self._gateway.refund(
                idempotency_key=recorded.idempotency_key, amount=recorded.amount
            )
            return await self._steps.record_refund(step.order_id)
        state, notified = recorded
        if notified:
            log.info("order confirmation sent", extra={"order_id": step.order_id})
        return self._committed(state)

    async def _capture(
        self, due: PaymentDue, step: PaymentStepInput
    ) -> tuple[PaymentOutcome, str | None]:
        """The gateway's answer, its transient errors retried within the payment's attempts:
        what the business may give up on (then the capture is in doubt and refunded)."""
        for attempt in range(1, step.attempts + 1):
            try:
                payment_id = await self._gateway.capture(
                    idempotency_key=due.idempotency_key,
                    amount=due.amount,
                    token=step.payment_token,
                    attempt=attempt,
                )
            except PaymentDeclinedError:
                return PaymentOutcome.DECLINED, None
            except GatewayUnavailableError as error:
                log.warning("payment gateway: %s", error, extra={"order_id": step.order_id})
                if attempt < step.attempts:
                    await asyncio.sleep(step.initial_interval_seconds * 2 ** (attempt - 1))
                continue
            return PaymentOutcome.CAPTURED, payment_id
        return PaymentOutcome.UNAVAILABLE, None

    @activity.defn(name=STOP_ORDER_STEP)
    async def stop_order(self, stop: StopInput) -> OrderState:
        """Release the stock, refund by the order's key whenever a capture may have happened,
        then FAILED or CANCELLED. An ended order is left as it is (COMPLETED stays final)."""
        headers = _headers()
        due = await self._steps.begin_stop(stop.order_id, stop.ending, stop.reason, headers)
        # Twice at most: again when a capture in flight as the stop began landed meanwhile,
        # so that its refund follows it (`finish_stop` then names it).
        while isinstance(due, RefundDue):
            self._relay.wake()
            await self._gateway.refund(idempotency_key=due.idempotency_key, amount=due.amount)
            due = await self._steps.finish_stop(
                stop.order_id,
                stop.ending,
                stop.reason,
                headers,
                refunded_payment_id=due.payment_id,
            )
        # A stop finding the order COMPLETED (it raced the completion) ended nothing.
        return self._committed(due, ends_it=due.status is not OrderStatus.COMPLETED)
