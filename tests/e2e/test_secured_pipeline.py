"""The consumer and the worker on SASL_SSL Kafka and TLS-only MySQL, configured by environment
variables alone, as an operator would: orders still come out COMPLETED, and a wrong Kafka
password stops each process with one line."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.support.harness import order_placed, process_env
from tests.support.pipeline import Pipeline
from tests.support.services import PROJECT_ROOT, Endpoints, SecuredEndpoints


def secured_env(secured: SecuredEndpoints, database_url: str) -> dict[str, str]:
    """Kafka only through its SASL_SSL listener, MySQL as a user refused without TLS: a
    process that ignored any of these settings could not work at all."""
    tls_only_server = secured.tls_only_database_url.rsplit("/", 1)[0]
    return {
        "KAFKA_BOOTSTRAP_SERVERS": secured.kafka_sasl_ssl,
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "KAFKA_SASL_USERNAME": secured.kafka_username,
        "KAFKA_SASL_PASSWORD": secured.kafka_password,
        "KAFKA_SSL_CA_FILE": secured.ca_file,
        "DATABASE_URL": f"{tls_only_server}/{database_url.rsplit('/', 1)[1]}",
        "DATABASE_TLS_CA_FILE": secured.ca_file,
    }


async def test_an_order_completes_with_kafka_over_sasl_ssl_and_mysql_over_tls(
    pipeline: Pipeline, secured: SecuredEndpoints, migrated_database_url: str
) -> None:
    env = secured_env(secured, migrated_database_url)
    pipeline.processes.start("worker", **env)
    pipeline.processes.start("consumer", **env)

    await pipeline.publish.event(order_placed("e2e-secured", [(1, 2, "19.99")]))
    finals = await pipeline.statuses.wait_final(["e2e-secured"])

    assert finals == {"e2e-secured": "COMPLETED"}
    row = await pipeline.order_row("e2e-secured")
    assert row is not None
    assert row["status"] == "COMPLETED"
    assert await pipeline.stock(1) == 1000 - 2


@pytest.mark.parametrize("module", ["consumer", "worker"])
async def test_a_wrong_kafka_password_stops_the_process_with_one_line(
    endpoints: Endpoints, secured: SecuredEndpoints, database_url: str, module: str
) -> None:
    env = process_env(
        secured_env(secured, database_url),
        KAFKA_SASL_PASSWORD="not-the-password-4711",
        TEMPORAL_ADDRESS=endpoints.temporal_address,
        TEMPORAL_NAMESPACE=endpoints.namespace,
        METRICS_PORT="0",
        TEMPORAL_METRICS_PORT="0",
        LOG_FORMAT="text",
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module,
        cwd=PROJECT_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    output = out.decode()

    assert process.returncode == 1, output
    assert "Traceback" not in output
    assert "not-the-password-4711" not in output
    [error] = [line for line in output.splitlines() if " ERROR " in line]
    assert error.endswith(
        f"{module} cannot run: Kafka at {secured.kafka_sasl_ssl} refused the credentials of "
        f"KAFKA_SASL_USERNAME={secured.kafka_username} (SCRAM-SHA-512): check KAFKA_SASL_PASSWORD"
    )
