"""The consumer's coalescing store: the orders asked for in one turn go to MySQL in one call."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from consumer.coalescing import CoalescedOrderStore, Coalescer
from db.errors import DatabaseUnavailableError, OrderNotFoundError
from db.order_rows import NewOrder, OrderInsertResult, OrderRow
from schemas.order import OrderStatus
from schemas.workflow_io import OrderLine


def new_order(ref: str) -> NewOrder:
    return NewOrder(
        order_ref=ref,
        customer_id=1,
        customer_email="a@example.com",
        currency="USD",
        total_amount=Decimal("5.00"),
        payment_method="card",
        content_fingerprint=hashlib.sha256(ref.encode()).hexdigest(),
        order_date=datetime(2026, 11, 26, tzinfo=UTC),
        items=(OrderLine(product_id=2, quantity=1, unit_price=Decimal("5.00")),),
    )


class RecordingRepository:
    """Batch writes that record each call, answering as MySQL would for new orders."""

    def __init__(self) -> None:
        self.insert_calls: list[list[str]] = []
        self.update_calls: list[list[tuple[int, str]]] = []
        self.fail_with: Exception | None = None
        self.ids = {f"o-{n}": n for n in range(1, 100)}
        self.inserting = asyncio.Event()  # set once a batch is on its way

    async def insert_orders(self, orders: Sequence[NewOrder]) -> list[OrderInsertResult]:
        self.insert_calls.append([order.order_ref for order in orders])
        self.inserting.set()
        await asyncio.sleep(0)  # a statement takes the loop a turn or more
        if self.fail_with is not None:
            raise self.fail_with
        return [
            OrderInsertResult(
                created=True,
                order_id=self.ids[order.order_ref],
                order_ref=order.order_ref,
                content_fingerprint=order.content_fingerprint,
                status=OrderStatus.PENDING,
                temporal_workflow_id=None,
            )
            for order in orders
        ]

    async def set_workflow_ids(self, started: Sequence[tuple[int, str]]) -> list[bool]:
        self.update_calls.append(list(started))
        return [order_id in self.ids.values() for order_id, _ in started]

    async def find_by_ref(self, order_ref: str) -> OrderRow | None:
        return None

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        return True


async def test_inserts_asked_for_in_one_turn_are_one_batch_each_answered_its_own() -> None:
    repository = RecordingRepository()
    store = CoalescedOrderStore(repository)

    results = await asyncio.gather(*(store.insert_order(new_order(f"o-{n}")) for n in (1, 2, 3)))

    assert repository.insert_calls == [["o-1", "o-2", "o-3"]]
    assert [(r.order_ref, r.order_id) for r in results] == [("o-1", 1), ("o-2", 2), ("o-3", 3)]


async def test_an_insert_asked_for_while_a_batch_runs_goes_in_the_next_batch() -> None:
    repository = RecordingRepository()
    store = CoalescedOrderStore(repository)
    first = asyncio.create_task(store.insert_order(new_order("o-1")))
    await repository.inserting.wait()

    second = await store.insert_order(new_order("o-2"))

    assert (await first).order_id == 1
    assert second.order_id == 2
    assert repository.insert_calls == [["o-1"], ["o-2"]]


async def test_a_failed_batch_fails_every_order_in_it_and_the_next_batch_runs() -> None:
    repository = RecordingRepository()
    repository.fail_with = DatabaseUnavailableError("MySQL went away")
    store = CoalescedOrderStore(repository)

    outcomes = await asyncio.gather(
        *(store.insert_order(new_order(f"o-{n}")) for n in (1, 2)), return_exceptions=True
    )
    repository.fail_with = None
    again = await store.insert_order(new_order("o-1"))

    assert [type(outcome) for outcome in outcomes] == [DatabaseUnavailableError] * 2
    assert again.created


async def test_a_caller_that_gave_up_leaves_the_others_their_answers() -> None:
    coalesce: Coalescer[str, str] = Coalescer(_echo)
    abandoned = asyncio.create_task(coalesce("a"))
    kept = asyncio.create_task(coalesce("b"))
    await asyncio.sleep(0)
    abandoned.cancel()

    assert await kept == "B"
    with pytest.raises(asyncio.CancelledError):
        await abandoned


async def _echo(items: list[str]) -> list[str]:
    await asyncio.sleep(0)
    return [item.upper() for item in items]


async def test_workflow_ids_set_together_and_a_missing_order_is_its_callers_error() -> None:
    repository = RecordingRepository()
    store = CoalescedOrderStore(repository)

    outcomes = await asyncio.gather(
        store.set_workflow_id(1, "order-1"),
        store.set_workflow_id(500, "order-500"),
        store.set_workflow_id(2, "order-2"),
        return_exceptions=True,
    )

    assert repository.update_calls == [[(1, "order-1"), (500, "order-500"), (2, "order-2")]]
    assert outcomes[0] is None
    assert outcomes[2] is None
    assert isinstance(outcomes[1], OrderNotFoundError)
