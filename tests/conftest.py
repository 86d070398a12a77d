"""Real services for the tests, found once per session, with isolated names for each test."""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import databases
import pytest
import pytest_asyncio
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from tests.support.services import (
    Endpoints,
    SecuredEndpoints,
    ServicesUnavailableError,
    discover,
    discover_secured,
)

IN_CI = os.environ.get("CI", "").lower() == "true"

# The whole pipeline as users run it, for the end-to-end and fault tests.
pytest_plugins = ["tests.support.pipeline"]


@pytest.fixture(scope="session")
def endpoints(request: pytest.FixtureRequest) -> Endpoints:
    """The real Kafka, MariaDB and Temporal; a missing service fails the run in CI."""
    needs_secured = any(
        "secured" in getattr(item, "fixturenames", ()) for item in request.session.items
    )
    try:
        return discover(secured=needs_secured)
    except ServicesUnavailableError as error:
        if IN_CI:
            pytest.fail(f"services unavailable in CI: {error}")
        pytest.skip(f"services unavailable: {error}")


@pytest.fixture(scope="session")
def secured(endpoints: Endpoints) -> SecuredEndpoints:
    """The local stack's SASL listeners, CA and TLS-only MySQL user; missing ones fail in CI."""
    try:
        return discover_secured(endpoints)
    except ServicesUnavailableError as error:
        if IN_CI:
            pytest.fail(f"secured endpoints unavailable in CI: {error}")
        pytest.skip(f"secured endpoints unavailable: {error}")


def _with_database(url: str, name: str) -> str:
    return f"{url.rsplit('/', 1)[0]}/{name}"


@pytest_asyncio.fixture(loop_scope="session")
async def database_url(endpoints: Endpoints) -> AsyncIterator[str]:
    """An empty database of its own for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    server = databases.Database(endpoints.database_url)
    await server.connect()
    try:
        await server.execute(f"CREATE DATABASE `{name}`")
        yield _with_database(endpoints.database_url, name)
        await server.execute(f"DROP DATABASE IF EXISTS `{name}`")
    finally:
        await server.disconnect()


def unique_order_id_base() -> int:
    """A first order id no other test run has used, so `order-<id>` workflow ids never meet
    in the shared Temporal namespace (milliseconds since the epoch, times 100,000)."""
    return time.time_ns() // 1_000_000 * 100_000


@pytest_asyncio.fixture(loop_scope="session")
async def migrated_database_url(database_url: str) -> AsyncIterator[str]:
    """A test database with every migration applied and order ids unique to this test."""
    from db.migrate import apply_migrations

    database = databases.Database(database_url)
    await database.connect()
    try:
        await apply_migrations(database)
        await database.execute(f"ALTER TABLE orders AUTO_INCREMENT = {unique_order_id_base()}")
    finally:
        await database.disconnect()
    yield database_url


@dataclass(frozen=True)
class Topics:
    orders: str
    status: str
    dlq: str


@pytest_asyncio.fixture(loop_scope="session")
async def topics(endpoints: Endpoints) -> AsyncIterator[Topics]:
    """The contract's three topics under names of this test's own, 3 partitions each."""
    prefix = f"t{uuid.uuid4().hex[:10]}"
    names = Topics(f"{prefix}.orders.events", f"{prefix}.orders.status", f"{prefix}.dlq")
    admin = AIOKafkaAdminClient(bootstrap_servers=endpoints.kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics(
            [
                NewTopic(name, num_partitions=3, replication_factor=1)
                for name in vars(names).values()
            ]
        )
        yield names
        await admin.delete_topics(list(vars(names).values()))
    finally:
        await admin.close()


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def temporal_client(endpoints: Endpoints) -> Client:
    return await Client.connect(
        endpoints.temporal_address,
        namespace=endpoints.namespace,
        data_converter=pydantic_data_converter,
    )


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
