"""The order's workflow: validation, stock, payment and confirmation, compensated on the way out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, NamedTuple, TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError, FailureError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from schemas import failures
    from schemas.order import OrderStatus, can_transition
    from schemas.search_attributes import ORDER_STATUS
    from schemas.steps import (
        AdvanceInput,
        OrderState,
        PaymentStepInput,
        StepInput,
        StopInput,
    )
    from schemas.workflow_io import (
        QUERY_GET_ORDER_STATE,
        SIGNAL_CANCEL_ORDER,
        SIGNAL_UPDATE_ORDER_STATUS,
        STEPS_IN_ONE_ACTIVITY,
        STEPS_RETRIED_BY_THE_SERVER,
        WORKFLOW_TYPE,
        ConfirmationInput,
        OrderWorkflowInput,
        OrderWorkflowResult,
        OrderWorkflowState,
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
    from worker.steps import OrderStepActivities

_T = TypeVar("_T")
_In = TypeVar("_In", bound=BaseModel)
# A step of the order in MySQL, called by reference: its name and its typed result come from
# its definition (`worker.steps`).
_MySQLStep = Callable[[OrderStepActivities, _In], Awaitable[OrderState]]
# An activity of the announcing shape (`worker.activities`), called by reference too.
_Activity = Callable[[Any, _In], Awaitable[_T]]
_OVERRIDE_TARGETS = frozenset({OrderStatus.CANCELLED, OrderStatus.FAILED, OrderStatus.COMPLETED})
_MUST_LAND_MAX_INTERVAL = timedelta(seconds=30)
# A step's attempts as a local activity before the server takes over its retries (orders of
# STEPS_RETRIED_BY_THE_SERVER). A local activity retries inside its workflow task, which the SDK
# keeps open by completing it and starting another every 8 s (80 % of the task's timeout): three
# history events each, 1,350 an hour of outage, and at 51,200 the server ends the workflow,
# uncompensated. The server retries a regular activity without writing any. Five attempts are
# 15 s with the shipped 1 s first interval: a deadlock, a dropped connection or a quick failover
# is over within them, at one heartbeat of the task.
_LOCAL_ATTEMPTS = 5
_BUSINESS_FAILURE_TYPES = [str(failure) for failure in failures.FailureType]

STEPS_ANNOUNCE_PATCH = "steps-announce-statuses"
"""Orders started since this patch have each step's activity announce the statuses before it,
and validate in a local activity: five round trips to the server per order instead of ten.
Orders started before it replay their `update_status` per status and regular validation."""

_ANNOUNCED_BY_VALIDATION = (OrderStatus.PENDING, OrderStatus.VALIDATING)

STEPS_IN_MYSQL_PATCH = "steps-in-mysql"
"""Orders started since this patch have MySQL decide each step (`schemas.steps`): one local
activity per step, one transaction each, guarded by the status it expects; the workflow task
that starts the order usually ends it. Orders started before it run to their end on the
announcing steps below."""


class _Ending(NamedTuple):
    status: OrderStatus
    # None for a step that failed: MySQL names it, from the status the order stands at.
    reason: str | None


class _StepFailedError(Exception):
    """Leaves the order's steps once one has failed; the ending is already recorded."""


@workflow.defn(name=WORKFLOW_TYPE)
class OrderProcessingWorkflow:
    """Takes one order to COMPLETED, or to FAILED or CANCELLED after compensating its steps.

    Each status is announced before its work starts: by the step's own activity, which records
    and publishes it first, or by `update_status` for the statuses that end the order (and for
    every status of orders started before `steps-announce-statuses`). Idempotent: the
    workflow id is fixed per order, so a redelivered order finds this run; status sequences
    are assigned here and kept in history, so a retried or replayed announcement repeats its
    event id; every activity is idempotent by order id, so a retry changes nothing.
    """

    @workflow.init
    def __init__(self, input: OrderWorkflowInput) -> None:
        self._input = input
        self._status = OrderStatus.PENDING
        self._sequence = 0
        self._reason: str | None = None
        self._ending: _Ending | None = None
        self._complete_now = False
        self._stock_attempted = False
        self._stock_reserved = False
        self._payment_attempted = False
        self._payment_id: str | None = None
        self._cancel_requested = False
        self._cancel_reason: str | None = None
        self._rejected_overrides: list[str] = []
        self._steps_announce = False
        self._unannounced: list[StatusChange] = []

    @workflow.run
    async def process_order(self, input: OrderWorkflowInput) -> OrderWorkflowResult:
        # Orders the consumer started with the steps' version in their input take their forward
        # steps in one local activity (`advance_order_step`): one marker in the history where
        # there were four. Orders started before it replay their older shape below.
        if input.steps_version >= STEPS_IN_ONE_ACTIVITY:
            await self._run_steps_in_mysql(in_one_activity=True)
        elif workflow.patched(STEPS_IN_MYSQL_PATCH):
            await self._run_steps_in_mysql(in_one_activity=False)
        else:
            await self._run_announced_steps()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return OrderWorkflowResult(
            order_id=input.order_id,
            order_ref=input.order_ref,
            status=self._status,
            reason=self._reason,
            payment_id=self._payment_id,
        )

    async def _run_steps_in_mysql(self, *, in_one_activity: bool) -> None:
        order = self._input
        step = StepInput(order_id=order.order_id)
        advance = AdvanceInput(
            order_id=order.order_id,
            payment_token=order.payment_token,
            attempts=order.activity_max_attempts,
            initial_interval_seconds=order.activity_initial_interval_seconds,
            # With no cancel window to hold, CONFIRMED goes straight on to COMPLETED.
            complete=order.cancel_window_seconds <= 0,
        )
        state: OrderState | None = None
        with suppress(_StepFailedError):
            if in_one_activity:
                # A stop signalled before the steps ran (or before a lost task ran them again)
                # goes straight to the stop, which compensates whatever MySQL holds.
                if self._ending is None:
                    state = await self._mysql_step(
                        OrderStepActivities.advance_order, advance, steps=4
                    )
            else:
                payment = advance.model_dump(exclude={"complete"})
                state = await self._step_by_step(step, PaymentStepInput.model_validate(payment))
            if state is not None and state.status is OrderStatus.CONFIRMED and state.goes_on:
                state = await self._complete_confirmed(state)
        if state is None or not state.status.is_terminal:
            state = await self._stop(state)
            if not state.status.is_terminal:
                # MySQL refused the stop (`OrderSteps.begin_stop`): the order is CONFIRMED and
                # cannot fail. It goes on as a confirmed order; its second stop can only be a
                # cancellation, which the state machine allows, so there is no third.
                workflow.logger.warning(
                    "Stop of %s refused: the order is %s", order.order_ref, state.status
                )
                self._ending = None
                state = await self._complete_confirmed(state)
                if not state.status.is_terminal:
                    state = await self._stop(state)
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(state.status.value)])

    async def _complete_confirmed(self, state: OrderState) -> OrderState:
        """Hold a CONFIRMED order for its cancel window, then complete it unless a stop came.
        The completion lands whatever the outage: an outage delays a confirmed order and
        never fails it, since FAILED would undo a sale the state machine keeps."""
        if state.goes_on:
            await self._hold_for_cancellation()
        if self._ending is not None or not state.goes_on:
            return state
        step = StepInput(order_id=self._input.order_id)
        return await self._mysql_step(OrderStepActivities.complete_order, step, must_land=True)

    async def _stop(self, state: OrderState | None) -> OrderState:
        """End the order as `_stop_for` says, compensating from MySQL's rows; a stop lands
        whatever the outage."""
        ending, reason = self._stop_for(state)
        stop = StopInput(order_id=self._input.order_id, ending=ending, reason=reason)
        return await self._mysql_step(OrderStepActivities.stop_order, stop, must_land=True)

    async def _step_by_step(self, step: StepInput, payment: PaymentStepInput) -> OrderState | None:
        """The forward steps of orders started without the steps' version in their input (by
        the consumer before it set one): one local activity each, a requested stop honoured
        between them."""
        state: OrderState | None = None
        if self._ending is None:
            state = await self._mysql_step(OrderStepActivities.validate_order, step)
        if self._ending is None and state is not None and state.goes_on:
            state = await self._mysql_step(OrderStepActivities.reserve_stock, step)
        if self._ending is None and state is not None and state.goes_on:
            state = await self._mysql_step(OrderStepActivities.process_payment, payment)
        return state

    def _stop_for(self, state: OrderState | None) -> _Ending:
        """Why a stopping order stops: a signalled stop first, then what MySQL says."""
        if self._ending is not None:
            return self._ending
        if state is not None and state.cancel_requested:
            return _Ending(OrderStatus.CANCELLED, failures.CANCELLED_BY_CUSTOMER)
        if state is not None and state.failure is not None:
            return _Ending(OrderStatus.FAILED, state.failure)
        # MySQL holds the order at a status no step moved on from (a row changed by hand):
        # it is stopped, compensated from its rows, rather than left open for ever.
        status = state.status if state is not None else OrderStatus.PENDING
        return _Ending(OrderStatus.FAILED, failures.step_failed(f"stuck_at_{status.lower()}"))

    async def _mysql_step(
        self, run_step: _MySQLStep[_In], arg: _In, *, must_land: bool = False, steps: int = 1
    ) -> OrderState:
        """`steps` transactions retried through any outage: for the order's outage tolerance,
        or, for a stop (its compensation), for as long as it takes."""
        try:
            state = await self._run_step(run_step, arg, must_land=must_land, steps=steps)
        except FailureError as err:
            if must_land:
                raise
            # The stop names the step that failed (`step_failed:reserve_stock`) from the
            # status MySQL holds the order at: the one-activity steps do not say which it was.
            self._ending = self._ending or _Ending(OrderStatus.FAILED, None)
            raise _StepFailedError(run_step.__name__) from err
        self._status, self._sequence, self._reason = state.status, state.sequence, state.reason
        self._stock_reserved, self._payment_id = state.stock_reserved, state.payment_id
        self._cancel_requested = self._cancel_requested or state.cancel_requested
        workflow.set_current_details(
            f"**{state.status}**" + (f": {state.reason}" if state.reason else "")
        )
        return state

    async def _run_step(
        self, run_step: _MySQLStep[_In], arg: _In, *, must_land: bool, steps: int
    ) -> OrderState:
        """The step as a local activity, then, for orders of `STEPS_RETRIED_BY_THE_SERVER`
        whose step is still failing after `_LOCAL_ATTEMPTS`, as a regular activity retried by
        the server for the order's tolerance. The SDK does not end a local activity's retries
        at its schedule-to-close (with temporalio 1.35, one of 20 s was still retrying a
        minute later): a regular activity's is the server's, and holds."""
        order = self._input
        retry = self._until_it_lands
        start_to_close = timedelta(seconds=order.activity_timeout_seconds * steps)
        tolerance = None if must_land else timedelta(hours=order.outage_tolerance_hours)
        if order.steps_version < STEPS_RETRIED_BY_THE_SERVER:
            # Retried locally for all of an outage, as they began: cut short, a blip fails them.
            return await workflow.execute_local_activity_method(
                run_step,
                arg,
                start_to_close_timeout=start_to_close,
                schedule_to_close_timeout=tolerance,
                retry_policy=retry,
            )
        try:
            return await workflow.execute_local_activity_method(
                run_step,
                arg,
                start_to_close_timeout=start_to_close,
                retry_policy=replace(retry, maximum_attempts=_LOCAL_ATTEMPTS),
            )
        except FailureError as err:
            # The last attempt's own error: MySQL away or a timeout, to be waited out.
            if isinstance(err, CancelledError) or _final(err):
                raise
            workflow.logger.warning("%s retried by the server: %s", run_step.__name__, err)
        return await workflow.execute_activity_method(
            run_step,
            arg,
            start_to_close_timeout=start_to_close,
            schedule_to_close_timeout=tolerance,
            retry_policy=retry,
        )

    async def _run_announced_steps(self) -> None:
        self._steps_announce = workflow.patched(STEPS_ANNOUNCE_PATCH)
        await self._enter(OrderStatus.PENDING)
        with suppress(_StepFailedError):
            await self._run_steps()
        if self._ending is None:
            await self._enter(OrderStatus.COMPLETED)
        else:
            await self._compensate()
            await self._enter(self._ending.status, self._ending.reason)

    @workflow.query(name=QUERY_GET_ORDER_STATE)
    def get_order_state(self) -> OrderWorkflowState:
        return OrderWorkflowState(
            order_id=self._input.order_id,
            order_ref=self._input.order_ref,
            workflow_id=workflow.info().workflow_id,
            status=self._status,
            sequence=self._sequence,
            reason=self._reason,
            stock_reserved=self._stock_reserved,
            payment_id=self._payment_id,
            cancel_requested=self._cancel_requested,
            cancel_reason=self._cancel_reason,
            rejected_overrides=tuple(self._rejected_overrides),
        )

    @workflow.signal(name=SIGNAL_CANCEL_ORDER)
    def cancel_order(self, reason: str) -> None:
        refusal = self._stop_refusal()
        if refusal is not None:
            workflow.logger.info(
                "Cancellation of %s changes nothing: %s", self._input.order_ref, refusal
            )
            return
        self._cancel_requested, self._cancel_reason = True, reason
        self._ending = _Ending(OrderStatus.CANCELLED, failures.CANCELLED_BY_CUSTOMER)

    @workflow.signal(name=SIGNAL_UPDATE_ORDER_STATUS)
    def update_order_status(self, new_status: str) -> None:
        target = OrderStatus(new_status) if new_status in OrderStatus.__members__.values() else None
        refusal = self._override_refusal(target)
        if target is None or refusal is not None:
            note = f"{new_status}: {refusal}"
            workflow.logger.warning("Override of %s rejected: %s", self._input.order_ref, note)
            self._rejected_overrides.append(note)
        elif target is OrderStatus.CANCELLED:
            self._cancel_requested = True
            self._ending = _Ending(target, failures.CANCELLED_BY_OPERATOR)
        elif target is OrderStatus.FAILED:
            self._ending = _Ending(target, failures.FAILED_BY_OPERATOR)
        else:
            self._complete_now = True

    def _stop_refusal(self) -> str | None:
        if self._status.is_terminal:
            return f"the order is already {self._status}"
        if self._ending is not None:
            return f"the order is already ending as {self._ending.status}"
        return None

    def _override_refusal(self, target: OrderStatus | None) -> str | None:
        if target is None:
            return "not an order status"
        if (refusal := self._stop_refusal()) is not None:
            return refusal
        if not can_transition(self._status, target):
            return f"the state machine does not allow {self._status} -> {target}"
        if target not in _OVERRIDE_TARGETS:
            return f"moving to {target} would skip the work of {self._status}"
        return None

    async def _run_steps(self) -> None:
        steps = (
            (OrderStatus.VALIDATING, self._validate),
            (OrderStatus.RESERVING_STOCK, self._reserve_stock),
            (OrderStatus.PROCESSING_PAYMENT, self._take_payment),
            (OrderStatus.CONFIRMED, self._confirm),
        )
        for status, work in steps:
            # A stop is honoured only between activities, never racing the one in flight:
            # a refund then always follows the capture it undoes.
            if self._stops_before(status):
                return
            await self._enter(status)
            if self._stops_before(status):
                return
            await work()

    def _stops_before(self, status: OrderStatus) -> bool:
        """Whether a requested stop ends the order before the step of `status`. Orders whose
        steps announce always validate first: the local validation then runs alike in every
        attempt of the first workflow task, whether or not a signal came in between."""
        if self._ending is None:
            return False
        return not (self._steps_announce and status is OrderStatus.VALIDATING)

    async def _validate(self) -> None:
        o = self._input
        checked = ValidateOrderInput(items=o.items, total_amount=o.total_amount, **self._announcing)
        # Local, when the order's steps announce: it reads the catalogue and announces only
        # PENDING and VALIDATING, whatever it finds, so a workflow task lost with it and run
        # again (after a signal, or a catalogue change) repeats exactly those two events.
        await self._business_step(
            CatalogueActivities.validate_order, checked, local=self._steps_announce
        )

    async def _reserve_stock(self) -> None:
        # Set before the call: an attempt may reserve and then fail to report it.
        self._stock_attempted = True
        reservation = self._stock.model_copy(update={"announce": tuple(self._unannounced)})
        await self._business_step(InventoryActivities.reserve_stock, reservation)
        self._stock_reserved = True

    async def _take_payment(self) -> None:
        order = self._input
        payment = PaymentInput(
            order_ref=order.order_ref,
            amount=order.total_amount,
            currency=order.currency,
            payment_method=order.payment_method,
            payment_token=order.payment_token,
            **self._announcing,
        )
        self._payment_attempted = True
        result = await self._business_step(PaymentActivities.process_payment, payment)
        self._payment_id = result.payment_id

    async def _confirm(self) -> None:
        order = self._input
        confirmation = ConfirmationInput(
            order_ref=order.order_ref, customer_email=order.customer_email, **self._announcing
        )
        try:
            await self._execute(NotificationActivities.send_order_confirmation, confirmation)
            self._unannounced.clear()
        except ActivityError:
            # The order is paid and CONFIRMED has no way to FAILED: a lost notification
            # must not undo a sale, so it is logged for an operator and the order goes on.
            workflow.logger.warning("Confirmation of %s could not be sent", self._input.order_ref)
        await self._hold_for_cancellation()

    async def _hold_for_cancellation(self) -> None:
        """Keep a CONFIRMED order open for its cancel window, or until a stop or an
        operator's completion ends the wait."""
        window = self._input.cancel_window_seconds
        if window > 0:  # a zero timeout would not wait at all, it would time out at once
            with suppress(TimeoutError):
                await workflow.wait_condition(
                    lambda: self._ending is not None or self._complete_now,
                    timeout=window,
                    timeout_summary="cancel_window",
                )

    async def _compensate(self) -> None:
        # Newest first. Both undos are idempotent and do nothing when there is nothing to
        # undo, so an attempted step is reason enough to call them.
        if self._payment_attempted:
            refund = RefundInput(order_id=self._input.order_id)
            await self._execute(PaymentActivities.refund_payment, refund, must_land=True)
        if self._stock_attempted:
            await self._execute(InventoryActivities.release_stock, self._stock, must_land=True)
            self._stock_reserved = False

    @property
    def _announcing(self) -> dict[str, Any]:
        """The fields every step input of the announcing shape has: its order, and the statuses
        its activity announces first."""
        return {"order_id": self._input.order_id, "announce": tuple(self._unannounced)}

    @property
    def _stock(self) -> StockInput:
        return StockInput(order_id=self._input.order_id, items=self._input.items)

    async def _enter(self, status: OrderStatus, reason: str | None = None) -> None:
        previous = self._status if self._sequence else None
        self._status, self._reason = status, reason
        self._sequence += 1
        workflow.upsert_search_attributes([ORDER_STATUS.value_set(status.value)])
        # Shown in the Temporal UI beside the workflow; metadata, not history, so replay-safe.
        workflow.set_current_details(f"**{status}**" + (f": {reason}" if reason else ""))
        change = StatusChange(
            order_id=self._input.order_id,
            order_ref=self._input.order_ref,
            workflow_id=workflow.info().workflow_id,
            sequence=self._sequence,
            previous_status=previous,
            status=status,
            reason=reason,
            occurred_at=self._entered_at(status),
        )
        self._unannounced.append(change)
        if self._steps_announce and not status.is_terminal:
            return  # the next step's activity announces it
        # Statuses a failed step may not have announced go out first, under their own ids.
        for unannounced in self._unannounced:
            await self._execute(OrderStatusActivities.update_status, unannounced, must_land=True)
        self._unannounced.clear()

    def _entered_at(self, status: OrderStatus) -> datetime:
        """When the order entered `status`, as its event says. The statuses the local validation
        announces take the workflow's start: `workflow.now()` would differ in a workflow task run
        again after a crash, and so would the repeats of events already published."""
        if self._steps_announce and status in _ANNOUNCED_BY_VALIDATION:
            return workflow.info().workflow_start_time
        return workflow.now()

    async def _business_step(
        self, activity: _Activity[_In, _T], arg: _In, *, local: bool = False
    ) -> _T:
        try:
            result = await self._execute(activity, arg, local=local)
            self._unannounced.clear()
            return result
        except FailureError as err:
            # A regular activity's failure arrives as ActivityError around the activity's own
            # error (or timeout); a local activity's as that error itself.
            cause = err.cause if isinstance(err, ActivityError) else err
            if isinstance(cause, ApplicationError) and failures.is_business_failure(cause.type):
                # Raised by the step's work, after the statuses it carried were announced.
                self._unannounced.clear()
                reason = cause.message
            else:
                # Its method's name is the name it is registered under (`worker.activities`).
                reason = failures.step_failed(activity.__name__)
            if self._ending is None:  # a stop requested while the step ran came first
                self._ending = _Ending(OrderStatus.FAILED, reason)
            raise _StepFailedError(activity.__name__) from err

    @property
    def _until_it_lands(self) -> RetryPolicy:
        """Retries without an attempt limit from the order's first interval, at most 30 s
        apart: what it retries lands within 30 s of an outage's end."""
        initial = timedelta(seconds=self._input.activity_initial_interval_seconds)
        return RetryPolicy(
            initial_interval=initial, maximum_interval=max(initial, _MUST_LAND_MAX_INTERVAL)
        )

    async def _execute(
        self,
        activity: _Activity[_In, _T],
        arg: _In,
        *,
        must_land: bool = False,
        local: bool = False,
    ) -> _T:
        order = self._input
        if must_land:
            # Status events and compensations retry without an attempt limit: giving up would
            # leave MySQL and the status topic behind the order, or keep the customer's stock
            # or money. They are idempotent, so retrying is safe.
            retry = self._until_it_lands
        else:
            retry = RetryPolicy(
                initial_interval=timedelta(seconds=order.activity_initial_interval_seconds),
                maximum_attempts=order.activity_max_attempts,
                non_retryable_error_types=_BUSINESS_FAILURE_TYPES,
            )
        timeout = timedelta(seconds=order.activity_timeout_seconds)
        if local:
            return await workflow.execute_local_activity_method(
                activity, arg, start_to_close_timeout=timeout, retry_policy=retry
            )
        return await workflow.execute_activity_method(
            activity, arg, start_to_close_timeout=timeout, retry_policy=retry
        )


def _final(err: FailureError) -> bool:
    """Whether an activity's error says no attempt would change it. None of the steps raises
    one: a business outcome is a state MySQL returns."""
    return isinstance(err, ApplicationError) and err.non_retryable
