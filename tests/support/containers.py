"""The same services from Docker images through testcontainers, where a Docker engine runs.

MySQL is reached as root: each test creates a database of its own, which the image's
`MYSQL_USER`, granted its one database only, may not. The contract's topics are created as the
local stack creates them.
"""

from __future__ import annotations

import asyncio
import atexit
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from tests.support.services import PROJECT_ROOT, Endpoints, ServicesUnavailableError
from tools.devstack.config import StackConfig
from tools.devstack.processes import wait_until
from tools.devstack.temporal import serves_namespace
from tools.devstack.topics import ensure_topics

MYSQL_ROOT_PASSWORD = "root"
DATABASE = "ordering_system"
NAMESPACE = "ordering-system"
TEMPORAL_COMMAND = (
    f"server start-dev --ip 0.0.0.0 --namespace {NAMESPACE} --search-attribute OrderRef=Keyword "
    "--search-attribute CustomerId=Int --search-attribute OrderStatus=Keyword"
)


def _container_classes() -> tuple[Any, Any, Any]:
    """DockerContainer, KafkaContainer and MySqlContainer: testcontainers 4.15 moved the last two
    to `testcontainers.community` and warns when they are imported from their old modules."""
    from testcontainers.core.container import DockerContainer

    try:
        from testcontainers.community.kafka import KafkaContainer
        from testcontainers.community.mysql import MySqlContainer
    except ImportError:
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mysql import MySqlContainer
    return DockerContainer, KafkaContainer, MySqlContainer


def _started(container: Any) -> Any:
    """The container, started and stopped when the session ends, even if a later one fails."""
    container.start()
    atexit.register(container.stop)
    return container


def _wait_for_temporal(address: str, timeout: float = 120.0) -> None:
    """Until the frontend answers gRPC for the namespace: the image's log lines differ between
    versions, and its published port accepts connections before the server listens."""
    if not wait_until(lambda: serves_namespace(address, NAMESPACE), timeout, interval=0.5):
        raise TimeoutError(f"Temporal at {address} did not serve {NAMESPACE} in {timeout:.0f}s")


def _create_topics(bootstrap: str) -> None:
    config = StackConfig.from_env(PROJECT_ROOT)
    topics = ensure_topics(bootstrap, config.topics, config.partitions)
    with ThreadPoolExecutor(1) as pool:  # a loop of its own: pytest-asyncio keeps the main one
        pool.submit(asyncio.run, topics).result()


def start_containers() -> Endpoints:
    try:
        docker_container, kafka_container, mysql_container = _container_classes()
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ServicesUnavailableError(f"testcontainers modules missing: {error}") from error
    try:
        mysql = _started(
            mysql_container(
                "mysql:8.0", username="root", password=MYSQL_ROOT_PASSWORD, dbname=DATABASE
            )
        )
        kafka = _started(kafka_container("confluentinc/cp-kafka:7.6.0").with_kraft())
        _create_topics(kafka.get_bootstrap_server())
        temporal = _started(
            docker_container("temporalio/temporal:1.3.0")
            .with_command(TEMPORAL_COMMAND)
            .with_exposed_ports(7233)
        )
        temporal_address = f"{temporal.get_container_host_ip()}:{temporal.get_exposed_port(7233)}"
        _wait_for_temporal(temporal_address)
    except Exception as error:
        raise ServicesUnavailableError(f"Docker did not give the services: {error}") from error
    mysql_address = f"{mysql.get_container_host_ip()}:{mysql.get_exposed_port(3306)}"
    return Endpoints(
        kafka_bootstrap=kafka.get_bootstrap_server(),
        database_url=f"mysql+asyncmy://root:{MYSQL_ROOT_PASSWORD}@{mysql_address}/{DATABASE}",
        temporal_address=temporal_address,
        namespace=NAMESPACE,
    )
