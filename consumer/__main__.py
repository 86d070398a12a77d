"""`python -m consumer`: the composition root. Settings, then the connections both processes
open alike (`runtime.services`) and MySQL, then the consumer (`consumer.wiring`) until SIGTERM;
everything opened is closed on the way out, each step within the shutdown bound."""

from __future__ import annotations

import asyncio
from functools import partial

from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.service import RPCError

from consumer.errors import ConsumerStalledError, DeadLetterTopicRefusedError, WorkflowIdTakenError
from consumer.settings import ConsumerSettings
from consumer.watchdog import EXIT_STALLED
from consumer.wiring import UNWRAPPED, PortWrappers, consume
from db.connection import connect_database
from db.errors import DatabaseUnavailableError
from runtime.exit import exit_now
from runtime.process import run_service
from runtime.services import open_services


async def serve(
    settings: ConsumerSettings, stop: asyncio.Event, *, wrappers: PortWrappers = UNWRAPPED
) -> None:
    topics = {"ORDERS_TOPIC": settings.orders_topic, "DLQ_TOPIC": settings.dlq_topic}
    async with open_services(
        settings, "consumer", REGISTRY, topics=topics,
        shutdown_seconds=settings.shutdown_timeout_seconds,
    ) as services:  # fmt: skip
        database = await connect_database(settings)
        services.closing.push("MySQL", database.disconnect)
        await consume(settings, services, database, stop, wrappers)


async def main(*, wrappers: PortWrappers = UNWRAPPED) -> int:
    return await run_service(
        "consumer",
        ConsumerSettings.load,
        partial(serve, wrappers=wrappers),
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(
            OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError,
            WorkflowIdTakenError, DeadLetterTopicRefusedError,
        ),
        exit_codes={ConsumerStalledError: EXIT_STALLED},
    )  # fmt: skip


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
