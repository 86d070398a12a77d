"""Orders found by ref or id, and everything the operator tools read and write around them,
through the repositories of `db` (`db.audit` holds the reads only the tools make)."""

from __future__ import annotations

import re

import databases

from db.audit import AuditRepository, Candidate, NotificationRow, ReservationRow
from db.order_rows import ItemRow, OrderRow, StatusRow
from db.orders import OrderRepository
from db.payments import PaymentRepository, PaymentRow
from schemas.workflow_io import StatusChange
from tools.ops.errors import NotFoundError

_ORDER_ID = re.compile(r"^(?:order-)?([0-9]{1,18})$")


class OrderRecords:
    """Read access to an order's rows, plus the writes of reconcile (a status) and cancel."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database
        self._orders = OrderRepository(database)
        self._payments = PaymentRepository(database)
        self._audit = AuditRepository(database)

    async def resolve(self, reference: str) -> OrderRow:
        """The order whose `order_ref` is `reference`; else, for digits (or `order-<digits>`,
        a workflow id), the order with that id."""
        order = await self._orders.find_by_ref(reference)
        if order is None and (number := _ORDER_ID.match(reference)):
            order = await self._orders.get(int(number.group(1)))
        if order is None:
            raise NotFoundError(f"no order has ref or id {reference!r}")
        return order

    async def get(self, order_id: int) -> OrderRow | None:
        return await self._orders.get(order_id)

    async def items(self, order_id: int) -> list[ItemRow]:
        return await self._orders.items(order_id)

    async def history(self, order_id: int) -> list[StatusRow]:
        return await self._orders.status_history(order_id)

    async def last_status(self, order_id: int) -> StatusRow | None:
        return await self._audit.last_status(order_id)

    async def put_back_status(self, order_id: int) -> StatusRow | None:
        return await self._audit.put_back_status(order_id)

    async def payment(self, order_id: int) -> PaymentRow | None:
        return await self._payments.find(order_id)

    async def reservations(self, order_id: int) -> list[ReservationRow]:
        return await self._audit.reservations(order_id)

    async def notifications(self, order_id: int) -> list[NotificationRow]:
        return await self._audit.notifications(order_id)

    async def candidates(self, *, include_terminal: bool) -> list[Candidate]:
        return await self._audit.candidates(include_terminal=include_terminal)

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        await self._orders.set_workflow_id(order_id, workflow_id)

    async def record_status(self, change: StatusChange) -> None:
        await self._orders.record_status(change)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        """The customer's cancellation on the order, as the consumer records it before it
        signals: False when the order has already ended."""
        return await self._orders.record_cancellation(order_id, reason)
