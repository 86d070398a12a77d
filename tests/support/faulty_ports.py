"""The worker's ports with the fault points (`tests.support.fault_points`) around their calls.

A point follows the port call whose completion is its effect (the step's transaction, a
repository's write, the broker's acks), before the activity or the relay goes on; a `slow`
point precedes the call that makes the effect. At the step store (`worker.steps`):

- update_status after `validate` and `begin_order` (the statuses up to PROCESSING_PAYMENT);
- reserve_stock after `reserve_stock` and `begin_order`, slow before them;
- process_payment, then send_order_confirmation, after `finish_payment` (capture recorded,
  CONFIRMED with its confirmation); process_payment slow before the gateway's capture;
- release_stock after `begin_stop`, refund_payment after `finish_stop`.

At the relay's sender, status_relay follows `send_all`: the batch acknowledged, its outbox rows
not yet deleted. The activities of orders started before the steps ran in MySQL take the same
points at their repositories: `record_status`, `reserve` (slow before it too), `release`,
`record_capture`, `mark_refunded` and `record_once`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from db.order_steps import ValidationRule
from db.outbox import OutboxRow
from db.payments import PaymentRow
from schemas.order import OrderStatus
from schemas.steps import OrderState, PaymentDue, PaymentOutcome, RefundDue
from schemas.workflow_io import StatusChange
from tests.support.fault_points import RELAY, FaultPoints
from worker.payments import PaymentGateway
from worker.ports import Inventory, Notifications, Payments, StatusStore
from worker.relay import EventSender
from worker.steps import OrderStepStore

Headers = Mapping[str, str] | None


class FaultyStepStore:
    def __init__(self, store: OrderStepStore, points: FaultPoints) -> None:
        self._store, self._points = store, points

    async def validate(self, order_id: int, rule: ValidationRule, headers: Headers) -> OrderState:
        state = await self._store.validate(order_id, rule, headers)
        self._points.after("update_status")
        return state

    async def reserve_stock(self, order_id: int, headers: Headers) -> OrderState:
        await self._points.before("reserve_stock")
        state = await self._store.reserve_stock(order_id, headers)
        self._points.after("reserve_stock")
        return state

    async def begin_payment(self, order_id: int, headers: Headers) -> PaymentDue | OrderState:
        return await self._store.begin_payment(order_id, headers)

    async def begin_order(
        self, order_id: int, rule: ValidationRule, headers: Headers
    ) -> PaymentDue | OrderState:
        await self._points.before("reserve_stock")
        due = await self._store.begin_order(order_id, rule, headers)
        self._points.after("update_status", "reserve_stock")
        return due

    async def finish_payment(
        self,
        order_id: int,
        outcome: PaymentOutcome,
        payment_id: str | None,
        headers: Headers,
        *,
        complete: bool = False,
    ) -> tuple[OrderState, bool] | RefundDue:
        finished = await self._store.finish_payment(
            order_id, outcome, payment_id, headers, complete=complete
        )
        self._points.after("process_payment", "send_order_confirmation")
        return finished

    async def record_refund(self, order_id: int) -> OrderState:
        return await self._store.record_refund(order_id)

    async def complete(self, order_id: int, headers: Headers) -> OrderState:
        return await self._store.complete(order_id, headers)

    async def begin_stop(
        self, order_id: int, ending: OrderStatus, reason: str | None, headers: Headers
    ) -> RefundDue | OrderState:
        due = await self._store.begin_stop(order_id, ending, reason, headers)
        self._points.after("release_stock")
        return due

    async def finish_stop(
        self,
        order_id: int,
        ending: OrderStatus,
        reason: str | None,
        headers: Headers,
        *,
        refunded_payment_id: str | None,
    ) -> OrderState | RefundDue:
        state = await self._store.finish_stop(
            order_id, ending, reason, headers, refunded_payment_id=refunded_payment_id
        )
        self._points.after("refund_payment")
        return state


class FaultyGateway:
    def __init__(self, gateway: PaymentGateway, points: FaultPoints) -> None:
        self._gateway, self._points = gateway, points

    async def capture(
        self, *, idempotency_key: str, amount: Decimal, token: str, attempt: int
    ) -> str:
        if attempt == 1:  # once per payment, not again for the gateway's transient errors
            await self._points.before("process_payment")
        return await self._gateway.capture(
            idempotency_key=idempotency_key, amount=amount, token=token, attempt=attempt
        )

    async def refund(self, *, idempotency_key: str, amount: Decimal) -> None:
        await self._gateway.refund(idempotency_key=idempotency_key, amount=amount)


class FaultyEventSender:
    def __init__(self, sender: EventSender, points: FaultPoints) -> None:
        self._sender, self._points = sender, points

    async def send_all(self, rows: Sequence[OutboxRow]) -> None:
        await self._sender.send_all(rows)
        self._points.after(RELAY)  # acknowledged; the relay deletes the rows next


class FaultyStatusStore:
    def __init__(self, store: StatusStore, points: FaultPoints) -> None:
        self._store, self._points = store, points

    async def record_status(
        self, change: StatusChange, headers: Mapping[str, str] | None = None
    ) -> None:
        await self._store.record_status(change, headers)
        self._points.after("update_status")


class FaultyInventory:
    def __init__(self, inventory: Inventory, points: FaultPoints) -> None:
        self._inventory, self._points = inventory, points

    async def reserve(self, order_id: int, lines: Iterable[tuple[int, int]]) -> bool:
        await self._points.before("reserve_stock")
        reserved = await self._inventory.reserve(order_id, lines)
        self._points.after("reserve_stock")
        return reserved

    async def release(self, order_id: int) -> bool:
        released = await self._inventory.release(order_id)
        self._points.after("release_stock")
        return released


class FaultyPayments:
    def __init__(self, payments: Payments, points: FaultPoints) -> None:
        self._payments, self._points = payments, points

    async def find(self, order_id: int) -> PaymentRow | None:
        return await self._payments.find(order_id)

    async def record_capture(
        self, order_id: int, payment_id: str, amount: Decimal, currency: str
    ) -> PaymentRow:
        row = await self._payments.record_capture(order_id, payment_id, amount, currency)
        self._points.after("process_payment")
        return row

    async def mark_refunded(self, order_id: int) -> bool:
        refunded = await self._payments.mark_refunded(order_id)
        self._points.after("refund_payment")
        return refunded


class FaultyNotifications:
    def __init__(self, notifications: Notifications, points: FaultPoints) -> None:
        self._notifications, self._points = notifications, points

    async def record_once(self, order_id: int, kind: str) -> bool:
        recorded = await self._notifications.record_once(order_id, kind)
        self._points.after("send_order_confirmation")
        return recorded
