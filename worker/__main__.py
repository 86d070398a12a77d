"""`python -m worker`: the composition root. Settings, then the connections both processes
open alike (`runtime.services`) and MySQL, then the worker (`worker.wiring`) until SIGTERM;
everything opened is closed on the way out, each step within the shutdown bound. With
WORKER_PROCESSES above 1 it runs a group of worker processes instead (`worker.processes`)."""

from __future__ import annotations

import asyncio
import functools

from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.service import RPCError

from db.connection import connect_database
from db.errors import DatabaseUnavailableError
from runtime.exit import exit_now
from runtime.process import run_service
from runtime.services import open_services
from worker.errors import WorkerCannotRunError
from worker.port_wrappers import UNWRAPPED, PortWrappers
from worker.processes import run_processes
from worker.relay_lifecycle import STOP_SECONDS
from worker.settings import WorkerSettings
from worker.wiring import work


async def serve(
    settings: WorkerSettings, stop: asyncio.Event, *, wrappers: PortWrappers = UNWRAPPED
) -> None:
    if settings.worker_processes > 1:
        await run_processes(settings, stop)
        return
    # With an external relay (change data capture) the worker sends nothing to Kafka.
    topics = {"STATUS_TOPIC": settings.status_topic} if settings.status_relay == "builtin" else {}
    async with open_services(
        settings, "worker", REGISTRY, topics=topics, shutdown_seconds=STOP_SECONDS
    ) as services:
        database = await connect_database(settings)
        services.closing.push("MySQL", database.disconnect)
        await work(settings, services, database, stop, wrappers)


async def main(*, wrappers: PortWrappers = UNWRAPPED) -> int:
    """Run the worker until SIGTERM; `wrappers` go around its ports as they are wired. They
    reach this process only: with WORKER_PROCESSES above 1, each is a plain `python -m worker`."""
    return await run_service(
        "worker",
        WorkerSettings.load,
        functools.partial(serve, wrappers=wrappers),
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(
            OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError,
            WorkerCannotRunError,
        ),
    )  # fmt: skip


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
