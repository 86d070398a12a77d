"""What one input event does: persist the order and start its workflow, or signal a cancel.

The handlers are the consumer's pure core. They take their collaborators as ports, return an
explicit outcome for every event, and raise `TransientError` when the work must be retried.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from consumer.decoding import decode_event
from consumer.errors import EventRejected, TransientError
from db.errors import DatabaseUnavailableError
from db.order_rows import NewOrder, OrderContent, OrderInsertResult, OrderRow
from db.sealing import OrderSecrets, Sealer
from schemas.events import (
    OrderCancellationRequested,
    OrderPlaced,
    order_content_fingerprint,
)
from schemas.workflow_io import (
    STEPS_RETRIED_BY_THE_SERVER,
    OrderLine,
    OrderWorkflowInput,
    workflow_id_for,
)

log = logging.getLogger(__name__)


class OrderStore(Protocol):
    """`consumer.coalescing.CoalescedOrderStore`, over `db.orders.OrderRepository`."""

    async def insert_order(self, new: NewOrder) -> OrderInsertResult: ...
    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None: ...
    async def find_by_ref(self, order_ref: str) -> OrderRow | None: ...
    async def record_cancellation(self, order_id: int, reason: str) -> bool: ...


class OrderWorkflows(Protocol):
    """`consumer.temporal.TemporalOrders`."""

    async def start_order(self, workflow_input: OrderWorkflowInput, *, new: bool) -> None: ...
    async def cancel_order(self, workflow_id: str, reason: str) -> bool: ...


class StartMetrics(Protocol):
    """`consumer.metrics.ConsumerMetrics`: each start, and how long after its event."""

    def workflow_started(self, occurred_at: datetime | None) -> None: ...


class _Unmeasured:
    def workflow_started(self, occurred_at: datetime | None) -> None:
        pass


class Outcome(StrEnum):
    STARTED = "started"
    DUPLICATE = "duplicate"
    CANCEL_SIGNALLED = "cancel_signalled"
    CANCEL_IGNORED = "cancel_ignored"


@dataclass(frozen=True)
class WorkflowOptions:
    """Settings that travel in each workflow's input, recorded in its history."""

    cancel_window_seconds: float = 0.0
    activity_timeout_seconds: float = 30.0
    activity_max_attempts: int = 3
    outage_tolerance_hours: float = 24.0
    activity_initial_interval_seconds: float = 1.0

    def workflow_input(
        self, order_id: int, order: OrderContent, secrets: OrderSecrets
    ) -> OrderWorkflowInput:
        """The input that starts an order's workflow, from the order and these options."""
        return OrderWorkflowInput(
            order_id=order_id,
            order_ref=order.order_ref,
            customer_id=order.customer_id,
            customer_email=secrets.customer_email,
            currency=order.currency,
            items=order.items,
            total_amount=order.total_amount,
            payment_method=order.payment_method,
            payment_token=secrets.payment_token,
            cancel_window_seconds=self.cancel_window_seconds,
            activity_timeout_seconds=self.activity_timeout_seconds,
            activity_max_attempts=self.activity_max_attempts,
            outage_tolerance_hours=self.outage_tolerance_hours,
            activity_initial_interval_seconds=self.activity_initial_interval_seconds,
            steps_version=STEPS_RETRIED_BY_THE_SERVER,
        )


class OrderEventHandler:
    def __init__(
        self,
        store: OrderStore,
        workflows: OrderWorkflows,
        options: WorkflowOptions,
        max_message_bytes: int,
        accepted_currencies: frozenset[str],
        sealer: Sealer | None,
        *,
        metrics: StartMetrics | None = None,
    ) -> None:
        self._store = store
        self._metrics = metrics or _Unmeasured()
        self._sealer = sealer
        self._workflows = workflows
        self._options = options
        self._max_bytes = max_message_bytes
        self._currencies = accepted_currencies

    async def handle(self, key: bytes | None, value: bytes | None) -> Outcome:
        """Handle one record; `EventRejected` means dead-letter it, `TransientError` retry it."""
        event = decode_event(key, value, max_bytes=self._max_bytes)
        try:
            if isinstance(event, OrderPlaced):
                return await self._place(event)
            return await self._cancel(event)
        except DatabaseUnavailableError as error:
            raise TransientError(f"MySQL unavailable: {error}") from error

    async def _place(self, event: OrderPlaced) -> Outcome:
        if event.order.currency not in self._currencies:
            # Catalogue prices carry no currency of their own: they are in the accepted ones.
            raise EventRejected(
                "unsupported_currency",
                f"Currency is not one this system accepts ({', '.join(sorted(self._currencies))})",
            )
        fingerprint = order_content_fingerprint(event.order)
        secrets = OrderSecrets(event.order.customer_email, event.order.payment.token)
        new = self._new_order(event, fingerprint, secrets)
        stored = await self._store.insert_order(new)
        log_extra = {"order_ref": event.order.order_ref, "order_id": stored.order_id}
        if not stored.created and stored.content_fingerprint != fingerprint:
            raise EventRejected(
                "conflicting_duplicate",
                "an order with this order_ref exists with different content; the first stands",
            )
        if stored.temporal_workflow_id is not None:
            # MySQL remembers the start beyond the namespace's retention.
            log.info("order already started; redelivery ignored", extra=log_extra)
            return Outcome.DUPLICATE
        await self._workflows.start_order(
            self._options.workflow_input(stored.order_id, new, secrets), new=stored.created
        )
        self._metrics.workflow_started(event.occurred_at)
        await self._store.set_workflow_id(stored.order_id, workflow_id_for(stored.order_id))
        log.info("order workflow started", extra=log_extra)
        return Outcome.STARTED

    async def _cancel(self, event: OrderCancellationRequested) -> Outcome:
        order = await self._store.find_by_ref(event.order_ref)
        if order is None:
            raise EventRejected(
                "unknown_order", "no order with this order_ref has been placed (yet)"
            )
        log_extra = {"order_ref": event.order_ref, "order_id": order.id}
        if order.status.is_terminal:
            log.info("cancellation ignored: order already %s", order.status, extra=log_extra)
            return Outcome.CANCEL_IGNORED
        if order.temporal_workflow_id is None:
            # Its OrderPlaced precedes it on the same partition and is still being retried.
            raise TransientError("order persisted but its workflow is not started yet")
        # Recorded before it is signalled: a step committing after this sees it, whether or
        # not the workflow has taken the signal yet.
        if not await self._store.record_cancellation(order.id, event.reason):
            log.info("cancellation ignored: order has ended", extra=log_extra)
            return Outcome.CANCEL_IGNORED
        signalled = await self._workflows.cancel_order(order.temporal_workflow_id, event.reason)
        if not signalled:
            log.info("cancellation ignored: workflow already closed", extra=log_extra)
            return Outcome.CANCEL_IGNORED
        log.info("cancellation signalled", extra=log_extra)
        return Outcome.CANCEL_SIGNALLED

    def _new_order(self, event: OrderPlaced, fingerprint: str, secrets: OrderSecrets) -> NewOrder:
        order = event.order
        # Sealed, the email and the token are kept for the sweeper and neither is in clear.
        sealed = self._sealer.seal(order.order_ref, secrets) if self._sealer else None
        return NewOrder(
            order_ref=order.order_ref,
            customer_id=order.customer_id,
            customer_email=None if sealed else order.customer_email,
            currency=order.currency,
            total_amount=order.total_amount,
            payment_method=order.payment.method,
            content_fingerprint=fingerprint,
            order_date=event.occurred_at,
            items=order_lines(event),
            sealed_secrets=sealed,
        )


def order_lines(event: OrderPlaced) -> tuple[OrderLine, ...]:
    return tuple(
        OrderLine(product_id=i.product_id, quantity=i.quantity, unit_price=i.unit_price)
        for i in event.order.items
    )
