"""The order workflow's activities: each keeps MySQL in step and is safe to run again.

Temporal runs an activity at least once, so every one here first looks for its own effect
and does nothing the second time: statuses by (order, sequence), reservations and payments
by order, notifications by (order, kind). A status's event is written to the outbox with the
status itself; the relay (`worker.relay`) sends it, so no activity waits for Kafka.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Protocol

from temporalio import activity
from temporalio.exceptions import ApplicationError

from db.errors import InsufficientStockError
from db.payments import PaymentStatus
from runtime.telemetry.tracing import trace_headers
from schemas import failures
from schemas.failures import FailureType
from schemas.order import OrderStatus
from schemas.workflow_io import (
    PROCESS_PAYMENT_ACTIVITY,
    REFUND_PAYMENT_ACTIVITY,
    RELEASE_STOCK_ACTIVITY,
    RESERVE_STOCK_ACTIVITY,
    SEND_ORDER_CONFIRMATION_ACTIVITY,
    UPDATE_STATUS_ACTIVITY,
    VALIDATE_ORDER_ACTIVITY,
    ConfirmationInput,
    PaymentInput,
    PaymentResult,
    RefundInput,
    StatusChange,
    StockInput,
    ValidateOrderInput,
)
from worker.domain import check_against_catalogue
from worker.errors import OrderRuleBrokenError, PaymentDeclinedError
from worker.payments import PaymentGateway
from worker.ports import Catalogue, Inventory, Notifications, Payments, StatusStore

log = logging.getLogger(__name__)


class Relay(Protocol):
    """Told when a status's event is committed to the outbox (`worker.relay.StatusRelay`)."""

    def wake(self) -> None: ...


class FinishedOrders(Protocol):
    """Counts orders reaching a terminal status (`worker.metrics.WorkerMetrics`)."""

    def order_finished(self, status: OrderStatus, reason: str | None) -> None: ...


class _Uncounted:
    def order_finished(self, status: OrderStatus, reason: str | None) -> None:
        pass


def _trace_context() -> dict[str, str]:
    # The activity's span, when tracing is on: stored with the event, so the order's trace
    # reaches subscribers whenever the relay sends it.
    return {name: value.decode() for name, value in trace_headers()}


def _business_failure(failure_type: FailureType, reason: str) -> ApplicationError:
    return ApplicationError(reason, type=failure_type.value, non_retryable=True)


class Announcer(Protocol):
    """Records the statuses a step carries, with their events (`OrderStatusActivities.announce`)."""

    async def announce(self, changes: Iterable[StatusChange]) -> None: ...


class OrderStatusActivities:
    def __init__(
        self,
        orders: StatusStore,
        relay: Relay,
        finished: FinishedOrders | None = None,
    ) -> None:
        self._orders = orders
        self._relay = relay
        self._finished: FinishedOrders = finished or _Uncounted()

    @activity.defn(name=UPDATE_STATUS_ACTIVITY)
    async def update_status(self, change: StatusChange) -> None:
        """Write the status, its history line and its event to MySQL in one transaction.
        Idempotent: the row keeps the highest sequence, and a repeat writes no second event."""
        await self.announce([change])

    async def announce(self, changes: Iterable[StatusChange]) -> None:
        """`update_status` for each change in turn, inside a step's activity. A retried step
        repeats them and changes nothing: each status's event was written once, with it."""
        for change in changes:
            await self._announce(change)

    async def _announce(self, change: StatusChange) -> None:
        await self._orders.record_status(change, _trace_context())
        self._relay.wake()
        if change.status.is_terminal:
            # Counted once the attempt has done everything, so a failed attempt does not count;
            # a completed one whose completion is lost on the way to Temporal counts again.
            self._finished.order_finished(change.status, change.reason)


class CatalogueActivities:
    def __init__(self, statuses: Announcer, catalogue: Catalogue) -> None:
        self._statuses = statuses
        self._catalogue = catalogue

    @activity.defn(name=VALIDATE_ORDER_ACTIVITY)
    async def validate_order(self, order: ValidateOrderInput) -> None:
        """Check the order against the catalogue; reads only, so it is naturally idempotent."""
        await self._statuses.announce(order.announce)
        products = await self._catalogue.products({line.product_id for line in order.items})
        prices = {product_id: row.price for product_id, row in products.items()}
        try:
            check_against_catalogue(order.items, order.total_amount, prices)
        except OrderRuleBrokenError as violation:
            raise _business_failure(violation.failure_type, violation.reason) from None


class InventoryActivities:
    def __init__(self, statuses: Announcer, inventory: Inventory) -> None:
        self._statuses = statuses
        self._inventory = inventory

    @activity.defn(name=RESERVE_STOCK_ACTIVITY)
    async def reserve_stock(self, stock: StockInput) -> None:
        """Reserve every line or none; a retry finds the reservation and changes nothing."""
        await self._statuses.announce(stock.announce)
        lines = [(line.product_id, line.quantity) for line in stock.items]
        try:
            await self._inventory.reserve(stock.order_id, lines)
        except InsufficientStockError as short:
            reason = failures.insufficient_stock(short.product_id)
            raise _business_failure(FailureType.INSUFFICIENT_STOCK, reason) from None

    @activity.defn(name=RELEASE_STOCK_ACTIVITY)
    async def release_stock(self, stock: StockInput) -> None:
        """Give back what this order reserved, once; with no reservation it does nothing."""
        await self._inventory.release(stock.order_id)


class PaymentActivities:
    def __init__(self, statuses: Announcer, payments: Payments, gateway: PaymentGateway) -> None:
        self._statuses = statuses
        self._payments = payments
        self._gateway = gateway

    @activity.defn(name=PROCESS_PAYMENT_ACTIVITY)
    async def process_payment(self, payment: PaymentInput) -> PaymentResult:
        """Capture the amount once: a retry finds the recorded capture and returns it."""
        await self._statuses.announce(payment.announce)
        existing = await self._payments.find(payment.order_id)
        # Orders on these steps only ever record captures, with the gateway's id.
        if existing is not None and existing.payment_id is not None:
            return PaymentResult(payment_id=existing.payment_id)
        try:
            payment_id = await self._gateway.capture(
                idempotency_key=f"order-{payment.order_id}",
                amount=payment.amount,
                token=payment.payment_token,
                attempt=activity.info().attempt,
            )
        except PaymentDeclinedError:
            raise _business_failure(
                FailureType.PAYMENT_DECLINED, failures.payment_declined()
            ) from None
        row = await self._payments.record_capture(
            payment.order_id, payment_id, payment.amount, payment.currency
        )
        return PaymentResult(payment_id=row.payment_id or payment_id)

    @activity.defn(name=REFUND_PAYMENT_ACTIVITY)
    async def refund_payment(self, refund: RefundInput) -> None:
        """Refund a captured payment once; with no capture it does nothing."""
        existing = await self._payments.find(refund.order_id)
        if existing is not None and existing.status is PaymentStatus.CAPTURED:
            key = f"order-{refund.order_id}"
            await self._gateway.refund(idempotency_key=key, amount=existing.amount)
            await self._payments.mark_refunded(refund.order_id)


class NotificationActivities:
    def __init__(self, statuses: Announcer, notifications: Notifications) -> None:
        self._statuses = statuses
        self._notifications = notifications

    @activity.defn(name=SEND_ORDER_CONFIRMATION_ACTIVITY)
    async def send_order_confirmation(self, confirmation: ConfirmationInput) -> None:
        """Send the confirmation at most once: it is recorded before it is sent (mock)."""
        await self._statuses.announce(confirmation.announce)
        if await self._notifications.record_once(confirmation.order_id, "order_confirmation"):
            log.info("order confirmation sent", extra={"order_ref": confirmation.order_ref})
