"""Where the local stack lives and listens; every port can be moved by an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC, STATUS_TOPIC

CONTRACT_TOPICS = (ORDERS_TOPIC, STATUS_TOPIC, DLQ_TOPIC)


@dataclass(frozen=True)
class StackConfig:
    root: Path
    host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    mysql_port: int = 13306
    temporal_port: int = 17233
    temporal_ui_port: int = 18233
    database: str = "ordering_system"
    db_user: str = "ordering"
    db_password: str = "ordering"
    namespace: str = "ordering-system"
    partitions: int = 3

    @classmethod
    def from_env(cls, project_root: Path) -> StackConfig:
        env = os.environ
        return cls(
            root=Path(env.get("DEVSTACK_DIR", project_root / ".devstack")).resolve(),
            kafka_port=int(env.get("DEVSTACK_KAFKA_PORT", "19092")),
            kafka_controller_port=int(env.get("DEVSTACK_KAFKA_CONTROLLER_PORT", "19093")),
            mysql_port=int(env.get("DEVSTACK_MYSQL_PORT", "13306")),
            temporal_port=int(env.get("DEVSTACK_TEMPORAL_PORT", "17233")),
            temporal_ui_port=int(env.get("DEVSTACK_TEMPORAL_UI_PORT", "18233")),
            namespace=env.get("TEMPORAL_NAMESPACE", "ordering-system"),
            partitions=int(env.get("DEVSTACK_PARTITIONS", "3")),
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def database_url(self) -> str:
        return (
            f"mysql+asyncmy://{self.db_user}:{self.db_password}"
            f"@{self.host}:{self.mysql_port}/{self.database}"
        )

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str:
        return f"http://{self.host}:{self.temporal_ui_port}"

    def env_lines(self) -> str:
        values = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_UI_URL": self.temporal_ui_url,
        }
        return "".join(f"export {name}={value}\n" for name, value in values.items())
