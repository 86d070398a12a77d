"""Sending the outbox's `OrderStatusChanged` events to the status topic, keyed by `order_ref`."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from db.outbox import OutboxRow
from worker.errors import RelaySendError

log = logging.getLogger(__name__)


class StatusPublisher:
    """The relay's side of Kafka: one idempotent producer (`enable_idempotence=True`,
    `acks="all"`), so the broker drops the producer's own retries and keeps each partition's
    records in the order they were sent."""

    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def reachable(self) -> None:
        """Ask the cluster for its metadata through the producer's own client: the readiness
        probe of Kafka, raising `KafkaError` when no broker answers."""
        await self._producer.client.fetch_all_metadata()

    async def send_all(self, rows: Sequence[OutboxRow]) -> None:
        """Send the rows in their order and return once the broker has acknowledged each one;
        `RelaySendError` when it refused or could not be reached for one of them."""
        # Queued one after another, then awaited together: a round trip per batch, not per
        # event, and the order of the calls is the order on each partition.
        acks: list[asyncio.Future[object]] = []
        try:
            for row in rows:
                acks.append(await self._producer.send(self._topic, **_record(row)))
        except KafkaError as error:
            for ack in acks:  # their outcome no longer matters: the batch is sent again
                ack.add_done_callback(_ignore_outcome)
            raise RelaySendError(f"{type(error).__name__}: {error}") from error
        # Every outcome collected, so no failed ack is left unretrieved.
        outcomes = await asyncio.gather(*acks, return_exceptions=True)
        failures = [outcome for outcome in outcomes if isinstance(outcome, BaseException)]
        if failures:
            first = failures[0]
            raise RelaySendError(f"{type(first).__name__}: {first}") from first
        log.debug("sent %d status events, last %s", len(rows), rows[-1].event_id if rows else "")


def _record(row: OutboxRow) -> dict[str, object]:
    return {
        "key": row.message_key.encode(),
        "value": row.payload.encode(),
        # The trace of the activity that wrote the status: the order's trace reaches
        # subscribers.
        "headers": [(name, value.encode()) for name, value in row.headers.items()],
    }


def _ignore_outcome(ack: asyncio.Future[object]) -> None:
    if not ack.cancelled():
        ack.exception()
