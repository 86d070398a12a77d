"""In-memory stand-ins for the order activities, recording what the workflow asked of them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import count
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from schemas import failures
from schemas.failures import FailureType
from schemas.workflow_io import (
    ConfirmationInput,
    OrderLine,
    OrderWorkflowInput,
    PaymentInput,
    PaymentResult,
    RefundInput,
    StatusChange,
    StockInput,
    ValidateOrderInput,
)

CATALOGUE = {1: Decimal("19.99"), 7: Decimal("5.00")}
DECLINED_TOKEN = "tok_decline"
FLAKY_TOKEN = "tok_flaky"  # fails twice, then succeeds
WAIT_SECONDS = 10.0
_order_ids = count(1)


def fresh_order_id() -> int:
    """An order id no other test in the session uses, so workflow ids never collide."""
    return next(_order_ids)


def an_order(
    order_id: int,
    *,
    lines: tuple[tuple[int, int, str], ...] = ((1, 2, "19.99"), (7, 1, "5.00")),
    total: str = "44.98",
    token: str = "tok_ok",
    cancel_window_seconds: float = 0.0,
) -> OrderWorkflowInput:
    """An order of (product, quantity, unit price) lines, with retries short enough for tests."""
    return OrderWorkflowInput(
        order_id=order_id,
        order_ref=f"web-{order_id:06d}",
        customer_id=42,
        customer_email="ada@example.com",
        currency="USD",
        items=tuple(
            OrderLine(product_id=product, quantity=quantity, unit_price=Decimal(price))
            for product, quantity, price in lines
        ),
        total_amount=Decimal(total),
        payment_method="card",
        payment_token=token,
        cancel_window_seconds=cancel_window_seconds,
        activity_timeout_seconds=WAIT_SECONDS,
        activity_initial_interval_seconds=0.05,
    )


@dataclass
class Hold:
    """Keeps one activity in flight until the test releases it."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_entered(self) -> None:
        async with asyncio.timeout(WAIT_SECONDS):
            await self.entered.wait()

    def release(self) -> None:
        self.released.set()


def _business_failure(failure: FailureType, reason: str) -> ApplicationError:
    return ApplicationError(reason, type=failure, non_retryable=True)


class FakeOrderActivities:
    """The seven activities, with a catalogue, stock and payment gateway held in memory.

    `journal` lists every attempt in order: activity names, and `update_status:<STATUS>`
    for status announcements.
    """

    def __init__(self, stock: dict[int, int] | None = None, broken: frozenset[str] = frozenset()):
        self.stock = dict(stock if stock is not None else {1: 100, 7: 100})
        self.broken = broken
        self.journal: list[str] = []
        self.status_changes: list[StatusChange] = []
        self.reserved: dict[int, tuple[OrderLine, ...]] = {}
        self.captured: list[int] = []
        self.refunded: list[int] = []
        self._holds: dict[str, Hold] = {}
        self._seen: dict[str, asyncio.Event] = {}

    @property
    def activities(self) -> list[Callable[..., Any]]:
        return [
            self.update_status,
            self.validate_order,
            self.reserve_stock,
            self.release_stock,
            self.process_payment,
            self.refund_payment,
            self.send_order_confirmation,
        ]

    def hold(self, step: str) -> Hold:
        """Holds `step` (an activity name or `update_status:<STATUS>`) before it does anything."""
        return self._holds.setdefault(step, Hold())

    async def wait_seen(self, step: str) -> None:
        """Waits until `step` has been attempted."""
        async with asyncio.timeout(WAIT_SECONDS):
            await self._seen.setdefault(step, asyncio.Event()).wait()

    async def _attempt(self, step: str) -> None:
        hold = self._holds.get(step)
        if hold is not None:
            hold.entered.set()
            await hold.released.wait()
        self.journal.append(step)
        self._seen.setdefault(step, asyncio.Event()).set()
        if step in self.broken:
            raise RuntimeError(f"{step} is unavailable")

    @activity.defn(name="update_status")
    async def update_status(self, change: StatusChange) -> None:
        await self._announce((change,))

    async def _announce(self, changes: tuple[StatusChange, ...]) -> None:
        """What `update_status` does, for each status a step's input carries."""
        for change in changes:
            await self._attempt(f"update_status:{change.status}")
            self.status_changes.append(change)

    @activity.defn(name="validate_order")
    async def validate_order(self, order: ValidateOrderInput) -> None:
        await self._announce(order.announce)
        await self._attempt("validate_order")
        for line in order.items:
            price = CATALOGUE.get(line.product_id)
            if price is None:
                reason = failures.unknown_product(line.product_id)
                raise _business_failure(FailureType.UNKNOWN_PRODUCT, reason)
            if price != line.unit_price:
                raise _business_failure(FailureType.PRICE_MISMATCH, failures.price_mismatch())
        if sum(line.unit_price * line.quantity for line in order.items) != order.total_amount:
            raise _business_failure(FailureType.TOTAL_MISMATCH, failures.total_mismatch())

    @activity.defn(name="reserve_stock")
    async def reserve_stock(self, order: StockInput) -> None:
        await self._announce(order.announce)
        await self._attempt("reserve_stock")
        if order.order_id in self.reserved:
            return
        for line in order.items:
            if self.stock.get(line.product_id, 0) < line.quantity:
                reason = failures.insufficient_stock(line.product_id)
                raise _business_failure(FailureType.INSUFFICIENT_STOCK, reason)
        for line in order.items:
            self.stock[line.product_id] -= line.quantity
        self.reserved[order.order_id] = order.items

    @activity.defn(name="release_stock")
    async def release_stock(self, order: StockInput) -> None:
        await self._attempt("release_stock")
        for line in self.reserved.pop(order.order_id, ()):
            self.stock[line.product_id] += line.quantity

    @activity.defn(name="process_payment")
    async def process_payment(self, payment: PaymentInput) -> PaymentResult:
        await self._announce(payment.announce)
        await self._attempt("process_payment")
        if payment.payment_token == DECLINED_TOKEN:
            raise _business_failure(FailureType.PAYMENT_DECLINED, failures.payment_declined())
        if payment.payment_token == FLAKY_TOKEN and activity.info().attempt <= 2:
            raise RuntimeError("payment gateway timed out")
        if payment.order_id not in self.captured:
            self.captured.append(payment.order_id)
        return PaymentResult(payment_id=f"pay-{payment.order_id}")

    @activity.defn(name="refund_payment")
    async def refund_payment(self, refund: RefundInput) -> None:
        await self._attempt("refund_payment")
        if refund.order_id in self.captured and refund.order_id not in self.refunded:
            self.refunded.append(refund.order_id)

    @activity.defn(name="send_order_confirmation")
    async def send_order_confirmation(self, confirmation: ConfirmationInput) -> None:
        await self._announce(confirmation.announce)
        await self._attempt("send_order_confirmation")
