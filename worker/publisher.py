"""Publishing `OrderStatusChanged` events to the status topic, keyed by `order_ref`."""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaProducer

from observability.tracing import trace_headers
from schemas.events import OrderStatusChanged
from schemas.workflow_io import StatusChange, status_event_id

log = logging.getLogger(__name__)


def status_event(change: StatusChange) -> OrderStatusChanged:
    """The event for a status change; its id comes from the workflow and the sequence, so a
    retried publish carries the same id and subscribers can drop the repeat."""
    return OrderStatusChanged(
        event_id=status_event_id(change.workflow_id, change.sequence),
        occurred_at=change.occurred_at,
        order_id=change.order_id,
        order_ref=change.order_ref,
        workflow_id=change.workflow_id,
        sequence=change.sequence,
        previous_status=change.previous_status,
        status=change.status,
        reason=change.reason,
    )


class StatusPublisher:
    def __init__(self, producer: AIOKafkaProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    async def reachable(self) -> None:
        """Ask the cluster for its metadata through the producer's own client: the readiness
        probe of Kafka, raising `KafkaError` when no broker answers."""
        await self._producer.client.fetch_all_metadata()

    async def publish(self, event: OrderStatusChanged) -> None:
        """Wait for the broker's ack, so the activity completes only once the event is out."""
        await self._producer.send_and_wait(
            self._topic,
            key=event.order_ref.encode(),
            value=event.model_dump_json().encode(),
            # The activity's span, when tracing is on: the order's trace reaches subscribers.
            headers=trace_headers(),
        )
        log.debug(
            "published %s (%s)",
            event.event_id,
            event.status,
            extra={"order_ref": event.order_ref, "workflow_id": event.workflow_id},
        )
