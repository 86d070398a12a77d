"""In-memory stand-ins for the consumer's and the activities' ports, holding what they were told."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from itertools import count

from consumer.errors import TransientError
from db.catalogue import ProductRow
from db.errors import DatabaseUnavailableError, InsufficientStockError
from db.order_rows import NewOrder, OrderInsertResult, OrderRow, UnstartedOrder
from db.payments import PaymentRow, PaymentStatus
from schemas.events import OrderStatusChanged, status_event
from schemas.order import OrderStatus
from schemas.workflow_io import OrderLine, OrderWorkflowInput, StatusChange
from worker.payments import MockPaymentGateway


class FakeOrderStore:
    """The `orders` table keyed by order_ref, with ids given out from 1 as MySQL would."""

    def __init__(self) -> None:
        self.rows: dict[str, OrderRow] = {}
        self.items: dict[int, tuple[OrderLine, ...]] = {}
        self.cancellations: dict[int, str] = {}  # order id -> the first reason recorded
        self.sealed: dict[int, bytes | None] = {}  # order id -> its sealed secrets
        self.unavailable = False
        self._ids = count(1)

    async def insert_order(self, new: NewOrder) -> OrderInsertResult:
        self._check_available()
        existing = self.rows.get(new.order_ref)
        if existing is not None:
            return _insert_result(existing, created=False)
        row = OrderRow(
            id=next(self._ids),
            order_ref=new.order_ref,
            customer_id=new.customer_id,
            customer_email=new.customer_email,
            currency=new.currency,
            order_date=new.order_date,
            status=OrderStatus.PENDING,
            total_amount=new.total_amount,
            payment_method=new.payment_method,
            content_fingerprint=new.content_fingerprint,
            temporal_workflow_id=None,
            failure_reason=None,
            status_sequence=0,
        )
        self.rows[row.order_ref] = row
        self.items[row.id] = new.items
        self.sealed[row.id] = new.sealed_secrets
        return _insert_result(row, created=True)

    async def unstarted_orders(self, older_than_seconds: int, limit: int) -> list[UnstartedOrder]:
        """Every PENDING order without a workflow, whatever its age: the fake has no clock."""
        self._check_available()
        unstarted = [
            UnstartedOrder(
                id=row.id,
                order_ref=row.order_ref,
                customer_id=row.customer_id,
                customer_email=row.customer_email,
                currency=row.currency,
                total_amount=row.total_amount,
                payment_method=row.payment_method,
                sealed_secrets=self.sealed[row.id],
                items=self.items[row.id],
            )
            for row in sorted(self.rows.values(), key=lambda row: row.id)
            if row.status is OrderStatus.PENDING and row.temporal_workflow_id is None
        ]
        return unstarted[:limit]

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        self._check_available()
        row = self._by_id(order_id)
        self.rows[row.order_ref] = dataclasses.replace(row, temporal_workflow_id=workflow_id)

    async def find_by_ref(self, order_ref: str) -> OrderRow | None:
        self._check_available()
        return self.rows.get(order_ref)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        self._check_available()
        row = self._by_id(order_id)
        self.cancellations.setdefault(order_id, reason)
        return not row.status.is_terminal

    def set_status(self, order_ref: str, status: OrderStatus) -> None:
        """What the worker's `update_status` would have written by now."""
        self.rows[order_ref] = dataclasses.replace(self.rows[order_ref], status=status)

    def _by_id(self, order_id: int) -> OrderRow:
        return next(row for row in self.rows.values() if row.id == order_id)

    def _check_available(self) -> None:
        if self.unavailable:
            raise DatabaseUnavailableError("connection refused", errno=2003)


def _insert_result(row: OrderRow, *, created: bool) -> OrderInsertResult:
    return OrderInsertResult(
        created=created,
        order_id=row.id,
        order_ref=row.order_ref,
        content_fingerprint=row.content_fingerprint,
        status=row.status,
        temporal_workflow_id=row.temporal_workflow_id,
    )


class FakeOrderWorkflows:
    """Temporal as the consumer sees it: workflows started by id, and cancel signals sent."""

    def __init__(self) -> None:
        self.started_as_new: list[bool] = []
        self.started: list[OrderWorkflowInput] = []
        self.signals: list[tuple[str, str]] = []
        self.closed: set[str] = set()
        self._failures_left = 0

    def fail_next_calls(self, times: int) -> None:
        """The next `times` calls raise `TransientError`, as the adapter does when Temporal
        is unreachable."""
        self._failures_left = times

    async def start_order(self, workflow_input: OrderWorkflowInput, *, new: bool) -> None:
        self._maybe_fail()
        self.started.append(workflow_input)
        self.started_as_new.append(new)

    async def cancel_order(self, workflow_id: str, reason: str) -> bool:
        self._maybe_fail()
        if workflow_id in self.closed:
            return False
        self.signals.append((workflow_id, reason))
        return True

    def _maybe_fail(self) -> None:
        if self._failures_left > 0:
            self._failures_left -= 1
            raise TransientError("Temporal unavailable: UNAVAILABLE")


class FakeStatusStore:
    """The orders' status history, as `record_status` leaves it, and the outbox's events with
    their headers, one per status however often it is recorded."""

    def __init__(self) -> None:
        self.changes: list[StatusChange] = []
        self.outbox: list[tuple[OrderStatusChanged, dict[str, str]]] = []
        self.unavailable = False

    async def record_status(
        self, change: StatusChange, headers: Mapping[str, str] | None = None
    ) -> None:
        if self.unavailable:
            raise DatabaseUnavailableError("connection lost", errno=2013)
        if change not in self.changes:
            self.changes.append(change)
            self.outbox.append((status_event(change), dict(headers or {})))


class FakeRelay:
    """Counts how often the relay was told a status's event is waiting."""

    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


class FakeCatalogue:
    def __init__(self, prices: dict[int, Decimal]) -> None:
        self._rows = {
            product_id: ProductRow(
                id=product_id, sku=f"SKU-{product_id}", name=f"Product {product_id}",
                price=price, stock_quantity=100,
            )
            for product_id, price in prices.items()
        }  # fmt: skip

    async def products(self, ids: Iterable[int]) -> dict[int, ProductRow]:
        return {
            product_id: self._rows[product_id] for product_id in ids if product_id in self._rows
        }


class FakeInventory:
    """Free stock per product and the reservations each order holds, all or nothing."""

    def __init__(self, stock: dict[int, int]) -> None:
        self.stock = dict(stock)
        self.reservations: dict[int, list[tuple[int, int]]] = {}

    async def reserve(self, order_id: int, lines: Iterable[tuple[int, int]]) -> bool:
        if order_id in self.reservations:
            return False
        wanted = list(lines)
        for product_id, quantity in wanted:
            available = self.stock.get(product_id, 0)
            if available < quantity:
                raise InsufficientStockError(product_id, requested=quantity, available=available)
        for product_id, quantity in wanted:
            self.stock[product_id] -= quantity
        self.reservations[order_id] = wanted
        return True

    async def release(self, order_id: int) -> bool:
        lines = self.reservations.pop(order_id, None)
        if lines is None:
            return False
        for product_id, quantity in lines:
            self.stock[product_id] += quantity
        return True


class FakePayments:
    """The `payments` table: at most one capture per order, the first one standing."""

    def __init__(self) -> None:
        self.rows: dict[int, PaymentRow] = {}

    async def find(self, order_id: int) -> PaymentRow | None:
        return self.rows.get(order_id)

    async def record_capture(
        self, order_id: int, payment_id: str, amount: Decimal, currency: str
    ) -> PaymentRow:
        return self.rows.setdefault(
            order_id,
            PaymentRow(
                order_id=order_id,
                payment_id=payment_id,
                amount=amount,
                currency=currency,
                status=PaymentStatus.CAPTURED,
                captured_at=datetime.now(UTC),
                refunded_at=None,
            ),
        )

    async def mark_refunded(self, order_id: int) -> bool:
        row = self.rows.get(order_id)
        if row is None or row.status is not PaymentStatus.CAPTURED:
            return False
        self.rows[order_id] = dataclasses.replace(
            row, status=PaymentStatus.REFUNDED, refunded_at=datetime.now(UTC)
        )
        return True


class RecordingGateway(MockPaymentGateway):
    """The mock gateway, keeping a ledger of the captures and refunds it made."""

    def __init__(self) -> None:
        self.captures: list[tuple[str, Decimal]] = []
        self.refunds: list[tuple[str, Decimal]] = []  # (payment id, or the key of none)
        self._by_key: dict[str, str] = {}

    async def capture(
        self, *, idempotency_key: str, amount: Decimal, token: str, attempt: int
    ) -> str:
        payment_id = await super().capture(
            idempotency_key=idempotency_key, amount=amount, token=token, attempt=attempt
        )
        self.captures.append((payment_id, amount))
        self._by_key[idempotency_key] = payment_id
        return payment_id

    async def refund(self, *, idempotency_key: str, amount: Decimal) -> None:
        await super().refund(idempotency_key=idempotency_key, amount=amount)
        self.refunds.append((self._by_key.get(idempotency_key, idempotency_key), amount))


class FakeNotifications:
    """The `notifications` table: one row per (order, kind)."""

    def __init__(self) -> None:
        self.sent: list[tuple[int, str]] = []

    async def record_once(self, order_id: int, kind: str) -> bool:
        if (order_id, kind) in self.sent:
            return False
        self.sent.append((order_id, kind))
        return True
