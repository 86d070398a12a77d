"""The same services from Docker images through testcontainers, where a Docker engine runs."""

from __future__ import annotations

import atexit
from typing import Any

from tests.services import Endpoints, ServicesUnavailableError


def start_containers() -> Endpoints:
    try:
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.waiting_utils import wait_for_logs
        from testcontainers.kafka import KafkaContainer
        from testcontainers.mysql import MySqlContainer
    except ImportError as error:  # pragma: no cover - depends on the installed extras
        raise ServicesUnavailableError(f"testcontainers modules missing: {error}") from error
    try:
        mysql: Any = MySqlContainer("mysql:8.0", username="ordering", password="ordering",
                                    dbname="ordering_system", root_password="root")  # fmt: skip
        mysql.start()
        kafka: Any = KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft()
        kafka.start()
        temporal: Any = (
            DockerContainer("temporalio/temporal:1.3.0")
            .with_command("server start-dev --ip 0.0.0.0 --namespace ordering-system "
                          "--search-attribute OrderRef=Keyword --search-attribute CustomerId=Int "
                          "--search-attribute OrderStatus=Keyword")
            .with_exposed_ports(7233)
        )  # fmt: skip
        temporal.start()
        wait_for_logs(temporal, "Temporal Server", timeout=120)
    except Exception as error:
        raise ServicesUnavailableError(f"Docker did not give the services: {error}") from error
    for container in (temporal, kafka, mysql):
        atexit.register(container.stop)
    host = mysql.get_container_host_ip()
    return Endpoints(
        kafka_bootstrap=kafka.get_bootstrap_server(),
        database_url=(
            f"mysql+asyncmy://ordering:ordering@{host}:{mysql.get_exposed_port(3306)}"
            "/ordering_system"
        ),
        temporal_address=f"{host}:{temporal.get_exposed_port(7233)}",
        namespace="ordering-system",
    )
