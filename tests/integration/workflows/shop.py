"""A shop of one test's own on the real MariaDB: the catalogue, the orders as the consumer stores
them, and the step activities on MySQL, with a gateway that keeps a ledger.

The step store can be held at a step (`ControlledSteps.hold`), or made to find MySQL away a
number of times or until the test ends it (`ControlledSteps.outage`): both are wrappers of the
port, put in at composition time, as a fault test would.
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import databases

from db.errors import DatabaseUnavailableError
from db.order_rows import NewOrder
from db.order_steps import OrderSteps, ValidationRule
from db.orders import OrderRepository
from schemas.order import OrderStatus
from schemas.steps import OrderState, PaymentDue, PaymentOutcome, RefundDue
from schemas.workflow_io import OrderWorkflowInput
from tests.support.fakes import RecordingGateway
from worker.errors import GatewayUnavailableError

Headers = Mapping[str, str] | None
STOCK = 100


@dataclass
class Hold:
    """Keeps one step from starting its transaction until the test releases it."""

    entered: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait_entered(self) -> None:
        async with asyncio.timeout(10):
            await self.entered.wait()

    def release(self) -> None:
        self.released.set()


class ControlledSteps:
    """`OrderSteps` that a test can hold at a step or send through an outage of MySQL."""

    def __init__(self, inner: OrderSteps) -> None:
        self._inner = inner
        self._holds: dict[str, Hold] = {}
        self._outages: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()

    def hold(self, step: str) -> Hold:
        self._holds[step] = Hold()
        return self._holds[step]

    def outage(self, step: str, failures: int | None = None) -> None:
        """The next `failures` calls of `step` find MySQL away, as in an outage; with no number,
        every call until `end_outage`."""
        self._outages[step] = sys.maxsize if failures is None else failures

    def end_outage(self, step: str) -> None:
        self._outages[step] = 0

    async def _enter(self, step: str) -> None:
        self.calls[step] += 1
        if self._outages[step] > 0:
            self._outages[step] -= 1
            raise DatabaseUnavailableError("database unavailable: connection refused", errno=2003)
        hold = self._holds.pop(step, None)
        if hold is not None:
            hold.entered.set()
            await hold.released.wait()

    async def validate(self, order_id: int, rule: ValidationRule, headers: Headers) -> OrderState:
        await self._enter("validate")
        return await self._inner.validate(order_id, rule, headers)

    async def reserve_stock(self, order_id: int, headers: Headers) -> OrderState:
        await self._enter("reserve_stock")
        return await self._inner.reserve_stock(order_id, headers)

    async def begin_payment(self, order_id: int, headers: Headers) -> PaymentDue | OrderState:
        await self._enter("begin_payment")
        return await self._inner.begin_payment(order_id, headers)

    async def begin_order(
        self, order_id: int, rule: ValidationRule, headers: Headers
    ) -> PaymentDue | OrderState:
        await self._enter("begin_order")
        return await self._inner.begin_order(order_id, rule, headers)

    async def finish_payment(
        self,
        order_id: int,
        outcome: PaymentOutcome,
        payment_id: str | None,
        headers: Headers,
        *,
        complete: bool = False,
    ) -> tuple[OrderState, bool] | RefundDue:
        await self._enter("finish_payment")
        return await self._inner.finish_payment(
            order_id, outcome, payment_id, headers, complete=complete
        )

    async def record_refund(self, order_id: int) -> OrderState:
        await self._enter("record_refund")
        return await self._inner.record_refund(order_id)

    async def complete(self, order_id: int, headers: Headers) -> OrderState:
        await self._enter("complete")
        return await self._inner.complete(order_id, headers)

    async def begin_stop(
        self, order_id: int, ending: OrderStatus, reason: str | None, headers: Headers
    ) -> RefundDue | OrderState:
        await self._enter("begin_stop")
        return await self._inner.begin_stop(order_id, ending, reason, headers)

    async def finish_stop(
        self,
        order_id: int,
        ending: OrderStatus,
        reason: str | None,
        headers: Headers,
        *,
        refunded_payment_id: str | None,
    ) -> OrderState | RefundDue:
        await self._enter("finish_stop")
        return await self._inner.finish_stop(
            order_id, ending, reason, headers, refunded_payment_id=refunded_payment_id
        )


class Shop:
    """One test's database: a catalogue of products 1 (19.99) and 7 (5.00), orders stored as
    the consumer stores them, and what the steps did to them."""

    def __init__(self, database: databases.Database) -> None:
        self.database = database

    async def stock_up(self, first_order_id: int) -> None:
        await self.database.execute(f"ALTER TABLE orders AUTO_INCREMENT = {first_order_id}")
        for product_id, price in ((1, "19.99"), (7, "5.00")):
            await self.database.execute(
                "INSERT INTO products (id, sku, name, price, stock_quantity)"
                " VALUES (:id, :sku, :name, :price, :stock)",
                {"id": product_id, "sku": f"SKU-{product_id}", "name": f"product {product_id}",
                 "price": Decimal(price), "stock": STOCK},
            )  # fmt: skip

    async def place(self, order: OrderWorkflowInput) -> OrderWorkflowInput:
        """Store the order as the consumer does; the same order under the id MySQL gave it."""
        stored = await OrderRepository(self.database).insert_order(
            NewOrder(
                order_ref=order.order_ref,
                customer_id=order.customer_id,
                customer_email=order.customer_email,
                currency=order.currency,
                total_amount=order.total_amount,
                payment_method=order.payment_method,
                content_fingerprint=hashlib.sha256(order.order_ref.encode()).hexdigest(),
                order_date=datetime.now(UTC),
                items=order.items,
            )
        )
        return order.model_copy(update={"order_id": stored.order_id})

    async def set_stock(self, product_id: int, units: int) -> None:
        await self.database.execute(
            "UPDATE products SET stock_quantity = :units WHERE id = :id",
            {"units": units, "id": product_id},
        )

    async def stock(self, product_id: int) -> int:
        value = await self.database.fetch_val(
            "SELECT stock_quantity FROM products WHERE id = :id", {"id": product_id}
        )
        return int(value)

    async def statuses(self, order_id: int) -> list[tuple[int, str, str | None]]:
        """(sequence, status, reason) of every status the order entered, from its history."""
        history = await self._rows(
            "SELECT sequence, status, reason FROM order_status_history"
            " WHERE order_id = :id ORDER BY sequence",
            order_id,
        )
        return [(int(r["sequence"]), str(r["status"]), r["reason"]) for r in history]

    async def outbox(self, order_id: int) -> list[int]:
        """The sequences of the order's events waiting in the outbox, in the order sent."""
        rows = await self._rows(
            "SELECT sequence FROM status_outbox WHERE order_id = :id ORDER BY id", order_id
        )
        return [int(r["sequence"]) for r in rows]

    async def payment(self, order_id: int) -> dict[str, Any] | None:
        rows = await self._rows("SELECT * FROM payments WHERE order_id = :id", order_id)
        return rows[0] if rows else None

    async def _rows(self, query: str, order_id: int) -> list[dict[str, Any]]:
        records = await self.database.fetch_all(query, {"id": order_id})
        return [dict(record._mapping) for record in records]


class AnswerLosingGateway(RecordingGateway):
    """A gateway that takes every payment and loses every answer: the capture is in doubt."""

    async def capture(
        self, *, idempotency_key: str, amount: Decimal, token: str, attempt: int
    ) -> str:
        await super().capture(
            idempotency_key=idempotency_key, amount=amount, token=token, attempt=attempt
        )
        raise GatewayUnavailableError(f"gateway timed out after taking it (attempt {attempt})")


class HeldCaptureGateway(RecordingGateway):
    """A gateway whose capture waits for the test before it takes the money: a capture in
    flight on a worker cut off from Temporal."""

    def __init__(self) -> None:
        super().__init__()
        self.capture_hold = Hold()

    async def capture(
        self, *, idempotency_key: str, amount: Decimal, token: str, attempt: int
    ) -> str:
        self.capture_hold.entered.set()
        await self.capture_hold.released.wait()
        return await super().capture(
            idempotency_key=idempotency_key, amount=amount, token=token, attempt=attempt
        )


class NoRelay:
    """The relay's wake-up, with no relay to wake: the tests read MySQL's rows."""

    def wake(self) -> None:
        pass


class Uncounted:
    def order_finished(self, status: OrderStatus, reason: str | None) -> None:
        pass
