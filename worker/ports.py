"""What the activities need from MySQL, as ports: the repositories in production, fakes in tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Protocol

from db.catalogue import ProductRow
from db.payments import PaymentRow
from schemas.workflow_io import StatusChange


class StatusStore(Protocol):
    """`db.orders.OrderRepository`: a status, its history line and its event, in one transaction."""

    async def record_status(
        self, change: StatusChange, headers: Mapping[str, str] | None = None
    ) -> None: ...


class Catalogue(Protocol):
    """`db.catalogue.CatalogueRepository`."""

    async def products(self, ids: Iterable[int]) -> dict[int, ProductRow]: ...


class Inventory(Protocol):
    """`db.inventory.InventoryRepository`."""

    async def reserve(self, order_id: int, lines: Iterable[tuple[int, int]]) -> bool: ...
    async def release(self, order_id: int) -> bool: ...


class Payments(Protocol):
    """`db.payments.PaymentRepository`."""

    async def find(self, order_id: int) -> PaymentRow | None: ...
    async def record_capture(
        self, order_id: int, payment_id: str, amount: Decimal, currency: str
    ) -> PaymentRow: ...
    async def mark_refunded(self, order_id: int) -> bool: ...


class Notifications(Protocol):
    """`db.notifications.NotificationRepository`."""

    async def record_once(self, order_id: int, kind: str) -> bool: ...
