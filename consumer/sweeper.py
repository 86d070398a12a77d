"""The sweeper: orders stored but never started are started from MySQL, without Kafka.

The consumer stores an order, then starts its workflow, then commits the record's offset. A
consumer that dies between the first two leaves the record uncommitted, and its redelivery
normally starts the order. But if the group's offsets were reset, or the record aged out of
the topic's retention while the consumer was down, nothing would redeliver it, and the order
would wait in PENDING for ever. So every few seconds each consumer looks in MySQL for PENDING
orders older than a start takes, with no workflow recorded, and starts them as their records
would have: the same workflow id, the same input, from the order's rows and its sealed secrets
(`db.sealing`).

Several consumers sweeping, or a sweep racing the consume loop's own start of a slow order, is
harmless: the start joins a running workflow of the same order (`consumer.temporal`).

An order stored without its secrets (no payload key, or stored before they were kept) cannot
be started: the sweeper says so once per order and counts them, and `ops reconcile` lists them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from typing import Any, Protocol

from consumer.errors import TransientError, WorkflowIdTakenError
from consumer.handlers import OrderWorkflows, WorkflowOptions
from db.errors import DatabaseUnavailableError
from db.order_rows import UnstartedOrder
from db.sealing import OrderSecrets, Sealer
from runtime.crypto import DecryptionError
from schemas.workflow_io import workflow_id_for

log = logging.getLogger(__name__)

SWEEP_EVERY_SECONDS = 5.0
# Older than any start the consume loop is still making: a start takes milliseconds, and one
# waiting out an outage is harmless to join.
UNSTARTED_AFTER_SECONDS = 20
SWEEP_LIMIT = 100


class UnstartedOrders(Protocol):
    """`db.orders.OrderRepository`."""

    async def unstarted_orders(
        self, older_than_seconds: int, limit: int
    ) -> list[UnstartedOrder]: ...
    async def set_workflow_id(self, order_id: int, workflow_id: str) -> None: ...


class SweepMetrics(Protocol):
    """`consumer.metrics.ConsumerMetrics`."""

    def sweep_done(self, started: int, unstartable: int) -> None: ...


class Sweeper:
    def __init__(
        self,
        store: UnstartedOrders,
        workflows: OrderWorkflows,
        options: WorkflowOptions,
        sealer: Sealer | None,
        metrics: SweepMetrics,
        *,
        every: float = SWEEP_EVERY_SECONDS,
    ) -> None:
        self._store = store
        self._workflows = workflows
        self._options = options
        self._sealer = sealer
        self._metrics = metrics
        self._every = every
        self._reported: set[int] = set()  # unstartable orders already logged

    async def run(self, stop: asyncio.Event) -> None:
        """Sweep every few seconds until `stop`; an outage is waited out, pass by pass."""
        while not stop.is_set():
            try:
                await self.sweep()
            except (DatabaseUnavailableError, TransientError) as error:
                log.warning("sweep put off: %s", error)
            except Exception:
                log.exception("sweep failed; trying again in %g s", self._every)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every)

    async def sweep(self) -> int:
        """Start the unstarted orders found in one pass; how many were started."""
        orders = await self._store.unstarted_orders(UNSTARTED_AFTER_SECONDS, SWEEP_LIMIT)
        started = unstartable = 0
        for order in orders:
            secrets = self._secrets(order)
            if secrets is None:
                unstartable += 1
                continue
            try:
                await self._start(order, secrets)
            except WorkflowIdTakenError as error:
                unstartable += 1
                self._report(order, str(error))
                continue
            started += 1
        self._metrics.sweep_done(started, unstartable)
        return started

    async def _start(self, order: UnstartedOrder, secrets: OrderSecrets) -> None:
        workflow_input = self._options.workflow_input(order.id, order, secrets)
        # Never `new`: the row is not this call's, and the workflow may be running already.
        await self._workflows.start_order(workflow_input, new=False)
        await self._store.set_workflow_id(order.id, workflow_id_for(order.id))
        log.info(
            "sweeper started the order's workflow: its record was not redelivered",
            extra={"order_ref": order.order_ref, "order_id": order.id},
        )

    def _secrets(self, order: UnstartedOrder) -> OrderSecrets | None:
        if order.sealed_secrets is None:
            self._report(
                order,
                "stored without its payment token (no PAYLOAD_ENCRYPTION_KEY when it was"
                " stored): only its record's redelivery can start it",
            )
            return None
        if self._sealer is None:
            self._report(order, "its secrets are sealed and PAYLOAD_ENCRYPTION_KEY is not set")
            return None
        try:
            return self._sealer.open(order.order_ref, order.sealed_secrets)
        except DecryptionError as error:
            self._report(order, f"its secrets cannot be opened: {error}")
            return None

    def _report(self, order: UnstartedOrder, why: str) -> None:
        if order.id in self._reported:
            return
        self._reported.add(order.id)
        log.error(
            "order stored but not started, and the sweeper cannot start it: %s",
            why,
            extra={"order_ref": order.order_ref, "order_id": order.id},
        )


async def beside(main: Coroutine[Any, Any, None], helper: Coroutine[Any, Any, None]) -> None:
    """Run `main` to its end with `helper` beside it; the helper is cancelled as `main`
    returns or raises, and never replaces `main`'s outcome with its own."""
    helping = asyncio.create_task(helper)
    try:
        await main
    finally:
        helping.cancel()
        await asyncio.wait({helping})
