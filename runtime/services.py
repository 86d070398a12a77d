"""The startup kit of a service process: the connections both processes open the same way, and
one bounded shutdown for everything a process opens.

`open_services` binds the metrics ports first (one set on purpose but taken stops the process
before it does any work), starts tracing, connects to Temporal, checks that Kafka lets the
process in (saying why when it does not, before any client is made), starts the process's
Kafka producer and checks that its topics exist. `Closing` closes all of it, and what the
process adds, newest first, each within the process's shutdown bound; `bounded` is that bound,
for a shutdown step a process takes itself (the worker's relay's last pass).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from prometheus_client import CollectorRegistry
from temporalio.client import Client

from runtime.kafka.access import check_access
from runtime.kafka.client import client_options
from runtime.kafka.topics import check_topics
from runtime.settings import ServiceSettings
from runtime.telemetry.exporters import Observability, open_observability
from runtime.telemetry.readiness import Probe
from runtime.telemetry.tracing import Tracing, start_tracing
from runtime.temporal.client import connect

log = logging.getLogger(__name__)


async def bounded(what: str, step: Awaitable[object], seconds: float) -> None:
    """Await a shutdown step for at most `seconds`. One that hangs (a Kafka client's
    stop while the brokers are down, aiokafka#659) or fails is logged and left: what the process
    closes next still runs."""
    try:
        await asyncio.wait_for(step, seconds)
    except TimeoutError:
        log.warning("%s did not end within %s s; left unfinished", what, seconds)
    except Exception as error:
        log.warning("%s failed: %r", what, error)


class Closing:
    """What a process has opened, closed newest first as it ends, each close `bounded`."""

    def __init__(self, timeout: float) -> None:
        self._timeout = timeout
        self._closes: list[tuple[str, Callable[[], Awaitable[object]]]] = []

    def push(self, what: str, close: Callable[[], Awaitable[object]]) -> None:
        self._closes.append((what, close))

    async def close(self) -> None:
        while self._closes:
            what, close = self._closes.pop()
            await bounded(f"closing {what}", close(), self._timeout)


@dataclass(frozen=True)
class Services:
    """The connections a service process shares with the other one."""

    watched: Observability
    tracing: Tracing
    temporal: Client
    producer: AIOKafkaProducer
    closing: Closing

    def ready_when(
        self, *, kafka: Callable[[], Awaitable[object]], mysql: Callable[[], Awaitable[object]]
    ) -> None:
        """Answer `/readyz` from these checks of Kafka and MySQL, and Temporal's health."""
        self.watched.readiness.watch(
            [
                Probe("kafka", kafka),
                Probe("mysql", mysql),
                Probe("temporal", self.temporal.service_client.check_health),
            ]
        )


@asynccontextmanager
async def open_services(
    settings: ServiceSettings,
    process: str,
    registry: CollectorRegistry,
    *,
    topics: Mapping[str, str],
    shutdown_seconds: float,
) -> AsyncIterator[Services]:
    """The process's shared connections, all closed (and whatever it pushes onto
    `services.closing`) when the block ends. `topics` names each topic the process needs by
    the setting that names it, for the message that says which one is missing."""
    closing = Closing(shutdown_seconds)
    try:
        watched = await open_observability(settings, registry)
        closing.push("the metrics endpoints", watched.close)
        tracing = start_tracing(settings, process)
        closing.push("tracing", tracing.close)  # the last spans exported
        temporal = await connect(
            settings, runtime=watched.runtime, interceptors=tracing.interceptors
        )
        await check_access(settings)
        # Idempotent: its retries never reorder or repeat a record.
        producer = AIOKafkaProducer(**client_options(settings), enable_idempotence=True, acks="all")
        await producer.start()
        closing.push("the Kafka producer", producer.stop)
        await check_topics(producer.client, topics)
        yield Services(watched, tracing, temporal, producer, closing)
    finally:
        await closing.close()
        log.info("%s stopped", process)
