"""Flow control: the consumer admits orders only while the orders in progress stay under a bound.

Kafka is there to hold a backlog; Temporal is not. Started all at once, a backlog's workflows
would take the Temporal server's and the worker's time from the orders already in flight, and
every order would take longer the bigger the backlog. So before each fetch the consumer asks
MySQL how many orders are in progress (stored and not yet confirmed or ended, whichever
consumer stored them and across restarts), fetches at most the room left under the bound, and
at the bound pauses its partitions until the count is back down to the resume mark. The gap
between the two lets each fetch after a pause carry a large batch.

An order in its cancel window (CONFIRMED) is not counted: it holds only a timer, and counting
it would cap the rate at the bound divided by the window.
"""

from __future__ import annotations

import logging
from typing import Protocol

from db.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)


class OrdersInProgress(Protocol):
    """`db.orders.OrderRepository`."""

    async def count_in_progress(self) -> int: ...


class FlowMetrics(Protocol):
    """`consumer.metrics.ConsumerMetrics`."""

    def flow(self, in_progress: int, paused: bool) -> None: ...


class FlowControl:
    """Decides how many records the next fetch may take: none while paused."""

    def __init__(
        self, orders: OrdersInProgress, metrics: FlowMetrics, *, bound: int, resume_at: int
    ) -> None:
        if not 0 <= resume_at < bound:
            raise ValueError(f"the resume mark ({resume_at}) must lie below the bound ({bound})")
        self._orders = orders
        self._metrics = metrics
        self.bound, self.resume_at = bound, resume_at
        self.paused = False

    async def room(self) -> int:
        """How many more orders may be admitted now. With MySQL away the last decision
        stands: the orders a fetch brings then wait for MySQL in the handlers anyway."""
        try:
            in_progress = await self._orders.count_in_progress()
        except DatabaseUnavailableError as error:
            log.debug("orders in progress unknown: %s", error)
            return 0 if self.paused else self.bound
        was_paused = self.paused
        if in_progress >= self.bound:
            self.paused = True
        elif in_progress <= self.resume_at:
            self.paused = False
        if self.paused != was_paused:
            log.info(
                "%s: %d orders in progress (bound %d, resuming at %d)",
                "pausing the partitions" if self.paused else "resuming the partitions",
                in_progress, self.bound, self.resume_at,
            )  # fmt: skip
        self._metrics.flow(in_progress, self.paused)
        return 0 if self.paused else self.bound - in_progress


class Unbounded:
    """No flow control: every fetch may take its full batch."""

    paused = False

    async def room(self) -> int:
        return 1 << 30
