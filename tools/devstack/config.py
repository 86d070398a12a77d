"""Where the local stack lives and listens; every port can be moved by an environment variable."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC, STATUS_TOPIC
from tools.devstack.tls import Certificates


class TopicNames(BaseSettings):
    """The contract's topics under the names the consumer and the worker will read: the same
    variables, from the environment or the project's `.env`."""

    model_config = SettingsConfigDict(extra="ignore")

    orders_topic: str = ORDERS_TOPIC
    status_topic: str = STATUS_TOPIC
    dlq_topic: str = DLQ_TOPIC

    @classmethod
    def read(cls, project_root: Path) -> tuple[str, ...]:
        names = cls(_env_file=project_root / ".env")
        return (names.orders_topic, names.status_topic, names.dlq_topic)


@dataclass(frozen=True)
class StackConfig:
    root: Path
    host: str = "127.0.0.1"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    # Unset, they follow the PLAINTEXT port (+2, +3): moving it moves all of Kafka's.
    kafka_sasl_ssl_port: int | None = None
    kafka_sasl_plaintext_port: int | None = None
    kafka_sasl_username: str = "ordering"
    kafka_sasl_password: str = "ordering-kafka-secret"
    mysql_port: int = 13306
    temporal_port: int = 17233
    temporal_ui_port: int = 18233
    database: str = "ordering_system"
    db_user: str = "ordering"
    db_password: str = "ordering"
    db_tls_user: str = "ordering_tls"  # REQUIRE SSL: refused over a plain connection
    namespace: str = "ordering-system"
    topics: tuple[str, ...] = (ORDERS_TOPIC, STATUS_TOPIC, DLQ_TOPIC)
    partitions: int = 3

    @classmethod
    def from_env(cls, project_root: Path) -> StackConfig:
        env = os.environ
        sasl_ssl, sasl_plaintext = (
            env.get("DEVSTACK_KAFKA_SASL_SSL_PORT"),
            env.get("DEVSTACK_KAFKA_SASL_PLAINTEXT_PORT"),
        )
        return cls(
            root=Path(env.get("DEVSTACK_DIR", project_root / ".devstack")).resolve(),
            kafka_port=int(env.get("DEVSTACK_KAFKA_PORT", "19092")),
            kafka_controller_port=int(env.get("DEVSTACK_KAFKA_CONTROLLER_PORT", "19093")),
            kafka_sasl_ssl_port=int(sasl_ssl) if sasl_ssl else None,
            kafka_sasl_plaintext_port=int(sasl_plaintext) if sasl_plaintext else None,
            mysql_port=int(env.get("DEVSTACK_MYSQL_PORT", "13306")),
            temporal_port=int(env.get("DEVSTACK_TEMPORAL_PORT", "17233")),
            temporal_ui_port=int(env.get("DEVSTACK_TEMPORAL_UI_PORT", "18233")),
            namespace=env.get("TEMPORAL_NAMESPACE", "ordering-system"),
            topics=TopicNames.read(project_root),
            partitions=int(env.get("DEVSTACK_PARTITIONS", "3")),
        )

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.host}:{self.kafka_port}"

    @property
    def sasl_ssl_port(self) -> int:
        return self.kafka_sasl_ssl_port or self.kafka_port + 2

    @property
    def sasl_plaintext_port(self) -> int:
        return self.kafka_sasl_plaintext_port or self.kafka_port + 3

    @property
    def certificates(self) -> Certificates:
        return Certificates(self.root / "tls")

    @property
    def database_url(self) -> str:
        return (
            f"mysql+asyncmy://{self.db_user}:{self.db_password}"
            f"@{self.host}:{self.mysql_port}/{self.database}"
        )

    @property
    def tls_only_database_url(self) -> str:
        return self.database_url.replace(f"//{self.db_user}:", f"//{self.db_tls_user}:", 1)

    @property
    def temporal_address(self) -> str:
        return f"{self.host}:{self.temporal_port}"

    @property
    def temporal_ui_url(self) -> str:
        return f"http://{self.host}:{self.temporal_ui_port}"

    def env_lines(self) -> str:
        values: dict[str, object] = {
            "KAFKA_BOOTSTRAP_SERVERS": self.kafka_bootstrap,
            "DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "TEMPORAL_NAMESPACE": self.namespace,
            "TEMPORAL_UI_URL": self.temporal_ui_url,
            # What the TLS and SASL tests need; never read by the processes themselves.
            "DEVSTACK_KAFKA_SASL_SSL_BOOTSTRAP": f"{self.host}:{self.sasl_ssl_port}",
            "DEVSTACK_KAFKA_SASL_PLAINTEXT_BOOTSTRAP": f"{self.host}:{self.sasl_plaintext_port}",
            "DEVSTACK_KAFKA_SASL_USERNAME": self.kafka_sasl_username,
            "DEVSTACK_KAFKA_SASL_PASSWORD": self.kafka_sasl_password,
            "DEVSTACK_TLS_ONLY_DATABASE_URL": self.tls_only_database_url,
            "DEVSTACK_TLS_CA_FILE": self.certificates.ca_file,
            "DEVSTACK_TLS_CLIENT_CERT_FILE": self.certificates.client_cert_file,
            "DEVSTACK_TLS_CLIENT_KEY_FILE": self.certificates.client_key_file,
        }
        return "".join(f"export {name}={value}\n" for name, value in values.items())
