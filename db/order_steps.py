"""The order's steps, each one MySQL transaction that decides.

A step locks the order, checks the status it expects (and whether a cancellation has been
recorded), applies its effects and enters the statuses that follow, with their events, all or
nothing. A step that does not find the status it expects changes nothing and returns the
order as it stands: run again after a lost workflow task, a crash or a timeout, it finds its
own transition made. Stops (FAILED, CANCELLED) compensate from the rows, never from what a
workflow remembers. Only the gateway's capture and refund happen outside MySQL; they sit
between two steps (`begin_payment` / `finish_payment`, `begin_stop` / `finish_stop`).

A refund must follow the capture it undoes, and a stop may run while a capture is in flight
(on a worker whose workflow task was lost, while another runs the stop): the gateway refunds by
the order's key what has been captured by then, so a refund made before the capture takes
nothing back. The refund that counts is made once the capture is recorded: by the stop, when
`finish_stop` finds a capture recorded since `begin_stop`; by the capturing step, when
`finish_payment` finds the order already stopped.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, TypeVar

import databases

from db.connection import retry_conflicts, transaction
from db.errors import InsufficientStockError
from db.inventory import release_stock, summed, take_stock
from db.statements import fetch_in, to_utc_naive
from db.transitions import LockedOrder, enter, lock_order
from schemas import failures
from schemas.order import OrderStatus, can_transition
from schemas.steps import (
    OrderState,
    PaymentDue,
    PaymentOutcome,
    RefundDue,
    payment_idempotency_key,
)
from schemas.workflow_io import OrderLine

T = TypeVar("T")
Headers = Mapping[str, str] | None
# The business rules of validation (worker.domain), given the order's lines, its total and
# the catalogue's prices: the failure's reason, or None when the order holds.
ValidationRule = Callable[[Sequence[OrderLine], Decimal, Mapping[int, Decimal]], str | None]

_INTEND = (
    "INSERT INTO payments (order_id, idempotency_key, amount, currency, status, intended_at)"
    " VALUES (:order_id, :key, :amount, :currency, 'INTENDED', :now)"
)
_CAPTURED = (
    "UPDATE payments SET status = 'CAPTURED', payment_id = :payment_id, captured_at = :now"
    " WHERE order_id = :order_id AND status = 'INTENDED'"
)
_DECLINED = "UPDATE payments SET status = 'DECLINED' WHERE order_id = :order_id"
_REFUNDED = (
    "UPDATE payments SET status = 'REFUNDED', refunded_at = :now"
    " WHERE order_id = :order_id AND status IN ('INTENDED', 'CAPTURED')"
)
# A capture that landed after the stop had refunded the intent (the refund came first and
# took nothing): recorded, so that its own refund follows it.
_CAPTURED_LATE = (
    "UPDATE payments SET status = 'CAPTURED', payment_id = :payment_id, captured_at = :now,"
    " refunded_at = NULL WHERE order_id = :order_id AND status = 'REFUNDED' AND payment_id IS NULL"
)
_STOPPED = (OrderStatus.FAILED, OrderStatus.CANCELLED)
_NOTIFY_ONCE = (
    "INSERT INTO notifications (order_id, kind, sent_at) VALUES (:order_id, :kind, :now)"
    " ON DUPLICATE KEY UPDATE kind = kind"
)
CONFIRMATION = "order_confirmation"
# The step an order at each status waits for: the one that failed when a stop names none.
_NEXT_STEP = {
    OrderStatus.PENDING: "validate_order",
    OrderStatus.VALIDATING: "reserve_stock",
    OrderStatus.RESERVING_STOCK: "process_payment",
    OrderStatus.PROCESSING_PAYMENT: "process_payment",
    OrderStatus.CONFIRMED: "complete_order",
}


def _now() -> datetime:
    return to_utc_naive(datetime.now(UTC))


class OrderSteps:
    """The steps of `schemas.steps`, on MySQL."""

    def __init__(self, database: databases.Database) -> None:
        self._database = database

    async def _step(self, order_id: int, work: Callable[[Any, LockedOrder], Awaitable[T]]) -> T:
        async def attempt() -> T:
            async with transaction(self._database) as conn:
                return await work(conn, await lock_order(conn, order_id))

        return await retry_conflicts(attempt)

    async def begin_order(
        self, order_id: int, rule: ValidationRule, headers: Headers
    ) -> PaymentDue | OrderState:
        """`validate`, `reserve_stock` and `begin_payment` in one transaction: PENDING to
        PROCESSING_PAYMENT with the stock reserved and the payment's intent committed, the
        capture due; or the order where the first step that did not go on left it (FAILED by a
        rule or for want of stock, asked to cancel, or found further on). Each finds its own
        transition made when run again, so a repeat goes on from where the order stands."""

        async def work(conn: Any, order: LockedOrder) -> PaymentDue | OrderState:
            state = await _validate(conn, order, rule, headers)
            if state.goes_on:
                state = await _reserve_stock(conn, order, headers)
            if not state.goes_on:
                return state
            return await _begin_payment(conn, order, headers)

        return await self._step(order_id, work)

    async def validate(self, order_id: int, rule: ValidationRule, headers: Headers) -> OrderState:
        """PENDING → VALIDATING, and FAILED at once when the order breaks a rule."""
        return await self._step(order_id, lambda conn, order: _validate(conn, order, rule, headers))

    async def reserve_stock(self, order_id: int, headers: Headers) -> OrderState:
        """VALIDATING → RESERVING_STOCK with every line reserved, or FAILED with none."""
        return await self._step(order_id, lambda conn, order: _reserve_stock(conn, order, headers))

    async def begin_payment(self, order_id: int, headers: Headers) -> PaymentDue | OrderState:
        """RESERVING_STOCK → PROCESSING_PAYMENT with the intent committed: the capture due.
        Found at PROCESSING_PAYMENT with the capture unknown, the same capture is due again."""
        return await self._step(order_id, lambda conn, order: _begin_payment(conn, order, headers))

    async def finish_payment(
        self,
        order_id: int,
        outcome: PaymentOutcome,
        payment_id: str | None,
        headers: Headers,
        *,
        complete: bool = False,
    ) -> tuple[OrderState, bool] | RefundDue:
        """Record the gateway's answer: a capture → CONFIRMED with the confirmation recorded
        (True when this call recorded it), and COMPLETED too with `complete` (no cancel window
        to hold); a decline → FAILED, stock released. A capture in doubt (the gateway kept
        failing) leaves the intent standing for the stop to refund. A capture that lands on an
        order already stopped (FAILED or CANCELLED) is recorded and its refund returned due:
        the stop's refund came before it and took nothing (`record_refund` records it)."""

        async def work(conn: Any, order: LockedOrder) -> tuple[OrderState, bool] | RefundDue:
            if outcome is PaymentOutcome.CAPTURED and order.status in _STOPPED:
                return await _capture_after_stop(conn, order, payment_id)
            state, notified = await _finish_payment(conn, order, outcome, payment_id, headers)
            if complete and state.status is OrderStatus.CONFIRMED and state.goes_on:
                state = await _complete(conn, order, headers)
            return state, notified

        return await self._step(order_id, work)

    async def record_refund(self, order_id: int) -> OrderState:
        """The refund `finish_payment` returned due, of a capture that landed on a stopped
        order, has been made: record it. Run again, it finds the payment refunded."""

        async def work(conn: Any, order: LockedOrder) -> OrderState:
            if order.status in _STOPPED:
                await conn.execute(_REFUNDED, {"order_id": order.id, "now": _now()})
            return order.state()

        return await self._step(order_id, work)

    async def complete(self, order_id: int, headers: Headers) -> OrderState:
        """CONFIRMED → COMPLETED, unless a cancellation was recorded first or a stop has begun
        (run by a worker that took over the order's workflow while this one was cut off)."""
        return await self._step(order_id, lambda conn, order: _complete(conn, order, headers))

    async def begin_stop(
        self, order_id: int, ending: OrderStatus, reason: str | None, headers: Headers
    ) -> RefundDue | OrderState:
        """Release the order's stock; with a capture that may have happened, the refund due
        (the order ends in `finish_stop`); with none, the order ends here as `ending`.
        Without a reason, the step the order stands before is named as the one that failed.

        A stop the state machine does not allow from where the order stands is refused and
        changes nothing: a CONFIRMED order is paid and confirmed, and FAILED would undo the
        sale, so a stop as FAILED (an outage past the order's tolerance, an operator's FAILED
        sent before the workflow knew the order was confirmed) returns the order as it stands,
        still CONFIRMED, and the workflow goes on with it: its cancel window, then COMPLETED or
        CANCELLED, both of which the state machine allows. An order failing at PENDING, whose
        validation never ran, enters VALIDATING first: that is the step that failed."""

        async def work(conn: Any, order: LockedOrder) -> RefundDue | OrderState:
            if order.status.is_terminal:
                return order.state()
            why = reason or _failed_step(order)
            if order.sequence == 0:  # stopped before its first step: PENDING comes first
                await enter(conn, order, OrderStatus.PENDING, headers)
            if order.status is OrderStatus.PENDING and ending is OrderStatus.FAILED:
                await enter(conn, order, OrderStatus.VALIDATING, headers)
            if not can_transition(order.status, ending):
                return order.state()
            await release_stock(conn, order.id)
            order.stock_reserved = False
            if order.payment_status in ("INTENDED", "CAPTURED"):
                return _refund_due(order)
            await enter(conn, order, ending, headers, why)
            return order.state()

        return await self._step(order_id, work)

    async def finish_stop(
        self,
        order_id: int,
        ending: OrderStatus,
        reason: str | None,
        headers: Headers,
        *,
        refunded_payment_id: str | None,
    ) -> OrderState | RefundDue:
        """The refund `begin_stop` returned due has been made, for the capture it named
        (`refunded_payment_id`; None when only the intent was known): record it and end the
        order as `ending`. A capture recorded since then was in flight when the stop began and
        may have come after the refund: its refund is returned due again, to follow it."""

        async def work(conn: Any, order: LockedOrder) -> OrderState | RefundDue:
            if order.status.is_terminal or not can_transition(order.status, ending):
                return order.state()
            if order.payment_status == "CAPTURED" and order.payment_id != refunded_payment_id:
                return _refund_due(order)
            why = reason or _failed_step(order)
            await release_stock(conn, order.id)
            order.stock_reserved = False
            await conn.execute(_REFUNDED, {"order_id": order.id, "now": _now()})
            await enter(conn, order, ending, headers, why)
            return order.state()

        return await self._step(order_id, work)


# The steps, each in the caller's transaction with the order locked: one transaction may run
# several of them one after the other (`OrderSteps.begin_order`).


async def _validate(
    conn: Any, order: LockedOrder, rule: ValidationRule, headers: Headers
) -> OrderState:
    if order.sequence == 0:
        await enter(conn, order, OrderStatus.PENDING, headers)
    if order.status is not OrderStatus.PENDING or order.cancel_requested:
        return order.state()
    await enter(conn, order, OrderStatus.VALIDATING, headers)
    items = await _items(conn, order)
    prices = await _prices(conn, {line.product_id for line in items})
    failure = rule(items, order.total_amount, prices)
    if failure is not None:
        await enter(conn, order, OrderStatus.FAILED, headers, failure)
    return order.state()


async def _reserve_stock(conn: Any, order: LockedOrder, headers: Headers) -> OrderState:
    if order.status is not OrderStatus.VALIDATING or order.cancel_requested:
        return order.state()
    await enter(conn, order, OrderStatus.RESERVING_STOCK, headers)
    wanted = summed((line.product_id, line.quantity) for line in await _items(conn, order))
    await conn.execute("SAVEPOINT take_stock")
    try:
        await take_stock(conn, order.id, wanted)
    except InsufficientStockError as short:
        await conn.execute("ROLLBACK TO SAVEPOINT take_stock")
        reason = failures.insufficient_stock(short.product_id)
        await enter(conn, order, OrderStatus.FAILED, headers, reason)
        return order.state()
    order.stock_reserved = True
    return order.state()


async def _begin_payment(
    conn: Any, order: LockedOrder, headers: Headers
) -> PaymentDue | OrderState:
    if order.cancel_requested:
        return order.state()
    if order.status is OrderStatus.RESERVING_STOCK:
        await enter(conn, order, OrderStatus.PROCESSING_PAYMENT, headers)
        await conn.execute(_INTEND, _payment_values(order))
    elif order.status is not OrderStatus.PROCESSING_PAYMENT or (order.payment_status != "INTENDED"):
        return order.state()
    elif not order.stock_reserved:
        # A stop has begun (stock released, the intent's refund owed): a step run again
        # after a lost workflow task must not capture again.
        return order.state(failure=failures.step_failed("process_payment"))
    return PaymentDue(
        idempotency_key=payment_idempotency_key(order.id),
        amount=order.total_amount,
        currency=order.currency,
    )


async def _finish_payment(
    conn: Any,
    order: LockedOrder,
    outcome: PaymentOutcome,
    payment_id: str | None,
    headers: Headers,
) -> tuple[OrderState, bool]:
    if order.status is not OrderStatus.PROCESSING_PAYMENT or order.payment_status != "INTENDED":
        return order.state(), False
    if outcome is PaymentOutcome.UNAVAILABLE:
        return order.state(failure=failures.step_failed("process_payment")), False
    if outcome is PaymentOutcome.DECLINED:
        await conn.execute(_DECLINED, {"order_id": order.id})
        await release_stock(conn, order.id)
        order.stock_reserved = False
        reason = failures.payment_declined()
        await enter(conn, order, OrderStatus.FAILED, headers, reason)
        return order.state(), False
    values = {"order_id": order.id, "payment_id": payment_id, "now": _now()}
    await conn.execute(_CAPTURED, values)
    order.payment_status, order.payment_id = "CAPTURED", payment_id
    if order.cancel_requested:
        return order.state(), False
    if not order.stock_reserved:  # a stop has begun: it refunds this capture
        return order.state(failure=failures.step_failed("process_payment")), False
    await enter(conn, order, OrderStatus.CONFIRMED, headers)
    notice = {"order_id": order.id, "kind": CONFIRMATION, "now": _now()}
    return order.state(), await conn.execute(_NOTIFY_ONCE, notice) == 1


async def _complete(conn: Any, order: LockedOrder, headers: Headers) -> OrderState:
    # Without its stock, a CONFIRMED order's stop has begun (an operator's cancellation is a
    # signal only, never recorded here): COMPLETED would keep a sale being refunded.
    if (
        order.status is OrderStatus.CONFIRMED
        and order.stock_reserved
        and not order.cancel_requested
    ):
        await enter(conn, order, OrderStatus.COMPLETED, headers)
    return order.state()


async def _capture_after_stop(
    conn: Any, order: LockedOrder, payment_id: str | None
) -> tuple[OrderState, bool] | RefundDue:
    """A capture that landed on a stopped order: its refund is due, unless it is recorded
    already (`record_refund`)."""
    values = {"order_id": order.id, "payment_id": payment_id, "now": _now()}
    if await conn.execute(_CAPTURED_LATE, values) == 1:
        order.payment_status, order.payment_id = "CAPTURED", payment_id
    if order.payment_status == "CAPTURED":
        return _refund_due(order)
    return order.state(), False


def _refund_due(order: LockedOrder) -> RefundDue:
    return RefundDue(
        idempotency_key=payment_idempotency_key(order.id),
        amount=order.total_amount,
        payment_id=order.payment_id,
    )


def _failed_step(order: LockedOrder) -> str:
    return failures.step_failed(_NEXT_STEP.get(order.status, "stop_order"))


def _payment_values(order: LockedOrder) -> dict[str, object]:
    return {
        "order_id": order.id,
        "key": payment_idempotency_key(order.id),
        "amount": order.total_amount,
        "currency": order.currency,
        "now": _now(),
    }


async def _items(conn: Any, order: LockedOrder) -> list[OrderLine]:
    """The order's lines, read once a transaction: `begin_order` validates them, then
    reserves them."""
    if order.lines is None:
        records = await conn.fetch_all(
            "SELECT product_id, quantity, unit_price FROM order_items"
            " WHERE order_id = :order_id ORDER BY id",
            {"order_id": order.id},
        )
        order.lines = [
            OrderLine(
                product_id=int(r["product_id"]),
                quantity=int(r["quantity"]),
                unit_price=Decimal(r["unit_price"]),
            )
            for r in records
        ]
    return order.lines


_PRICES = "SELECT id, price FROM products WHERE id IN ({placeholders})"


async def _prices(conn: Any, product_ids: set[int]) -> dict[int, Decimal]:
    records = await fetch_in(conn, _PRICES, sorted(product_ids), "p")
    return {int(r["id"]): Decimal(r["price"]) for r in records}
