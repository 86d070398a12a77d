"""Writes of one batch gathered into one statement: the consumer's handlers each store one order,
and the store sends MySQL all the orders asked for in the same turn of the event loop together.

The consume loop hands a batch's records to concurrent tasks (one per key), which all reach
their `insert_order` in the same turn; one transaction with two multi-row INSERTs then replaces
a transaction per order, and one UPDATE records the workflow ids of the starts that finished
together. Each handler still awaits its own order's result, so the handlers stay written for a
single order, and a failure reaches every caller whose order was in the failed statement.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar

from db.errors import OrderNotFoundError
from db.order_rows import NewOrder, OrderInsertResult, OrderRow

Item = TypeVar("Item")
Result = TypeVar("Result")


class Coalescer(Generic[Item, Result]):
    """Calls made in the same turn of the event loop, run as one call of a batch function
    that gives one result per item, in order."""

    def __init__(self, run_batch: Callable[[list[Item]], Awaitable[Sequence[Result]]]) -> None:
        self._run_batch = run_batch
        self._pending: list[tuple[Item, asyncio.Future[Result]]] = []
        self._flushes: set[asyncio.Task[None]] = set()

    async def __call__(self, item: Item) -> Result:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Result] = loop.create_future()
        if not self._pending:
            # The flush runs once every task that is ready in this turn has added its item.
            flush = loop.create_task(self._flush())
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        self._pending.append((item, future))
        return await future

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        waiting = [(item, future) for item, future in batch if not future.cancelled()]
        if not waiting:
            return
        try:
            results = await self._run_batch([item for item, _ in waiting])
        except Exception as error:
            for _, future in waiting:
                if not future.done():
                    future.set_exception(error)
            return
        for (_, future), result in zip(waiting, results, strict=True):
            if not future.done():
                future.set_result(result)


class OrderBatches(Protocol):
    """The batch writes of `db.orders.OrderRepository`."""

    async def insert_orders(self, orders: Sequence[NewOrder]) -> list[OrderInsertResult]: ...
    async def set_workflow_ids(self, started: Sequence[tuple[int, str]]) -> list[bool]: ...
    async def find_by_ref(self, order_ref: str) -> OrderRow | None: ...
    async def record_cancellation(self, order_id: int, reason: str) -> bool: ...


class CoalescedOrderStore:
    """The handlers' `OrderStore`, writing the orders of one turn of the loop together."""

    def __init__(self, repository: OrderBatches) -> None:
        self._repository = repository
        self._insert = Coalescer(repository.insert_orders)
        self._set_workflow_id = Coalescer(repository.set_workflow_ids)

    async def insert_order(self, new: NewOrder) -> OrderInsertResult:
        return await self._insert(new)

    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None:
        if not await self._set_workflow_id((order_id, workflow_id)):
            raise OrderNotFoundError(order_id)

    async def find_by_ref(self, order_ref: str) -> OrderRow | None:
        return await self._repository.find_by_ref(order_ref)

    async def record_cancellation(self, order_id: int, reason: str) -> bool:
        return await self._repository.record_cancellation(order_id, reason)
