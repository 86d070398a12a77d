"""`python -m tools.bench.seed_worker`: the seed-shaped workflow on the project's real activities.

Built by the worker's own wiring (`worker.wiring.work`): the same settings, connections,
activities, status outbox and relay, interceptors and limits; only the workflow differs
(`tools.bench.seed_workflow`), so whatever changes in how the worker is built reaches both.
The bench points it and the project's consumer at a task queue of their own.
"""

from __future__ import annotations

import asyncio

from aiokafka.errors import KafkaError
from prometheus_client import REGISTRY
from temporalio.service import RPCError

from db.connection import connect_database
from db.errors import DatabaseUnavailableError
from runtime.exit import exit_now
from runtime.process import run_service
from runtime.services import open_services
from tools.bench.seed_workflow import SeedOrderWorkflow
from worker.errors import WorkerCannotRunError
from worker.relay_lifecycle import STOP_SECONDS
from worker.settings import WorkerSettings
from worker.wiring import work


async def serve(settings: WorkerSettings, stop: asyncio.Event) -> None:
    topics = {"STATUS_TOPIC": settings.status_topic}
    async with open_services(
        settings, "seed-worker", REGISTRY, topics=topics, shutdown_seconds=STOP_SECONDS
    ) as services:
        database = await connect_database(settings)
        services.closing.push("MySQL", database.disconnect)
        await work(settings, services, database, stop, workflow=SeedOrderWorkflow)


async def main() -> int:
    return await run_service(
        "seed-worker",
        WorkerSettings.load,
        serve,
        log_setup=lambda settings: (settings.log_level, settings.log_format),
        cannot_run=(
            OSError, RuntimeError, KafkaError, DatabaseUnavailableError, RPCError,
            WorkerCannotRunError,
        ),
    )  # fmt: skip


if __name__ == "__main__":
    exit_now(asyncio.run(main()))
