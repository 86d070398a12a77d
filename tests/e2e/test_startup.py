"""A process that cannot start says why in one line, without a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.harness import process_env
from tests.support.services import PROJECT_ROOT, Endpoints


def run(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", module],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def endpoints_env(endpoints: Endpoints) -> dict[str, str]:
    return process_env(
        {},
        KAFKA_BOOTSTRAP_SERVERS=endpoints.kafka_bootstrap,
        DATABASE_URL=endpoints.database_url,
        TEMPORAL_ADDRESS=endpoints.temporal_address,
        TEMPORAL_NAMESPACE=endpoints.namespace,
    )


@pytest.mark.parametrize("module", ["consumer", "worker"])
def test_a_missing_database_url_is_a_configuration_error(module: str) -> None:
    env = {k: v for k, v in process_env({}).items() if k != "DATABASE_URL"}
    result = run(module, env)
    assert result.returncode == 2
    assert result.stderr.strip() == f"{module}: invalid configuration: database_url"


@pytest.mark.parametrize("module", ["consumer", "worker"])
@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        ("DATABASE_URL", "mysql+asyncmy://app:secret-pw@127.0.0.1:1/orders", "database"),
        ("TEMPORAL_ADDRESS", "127.0.0.1:1", "connect"),
    ],
)
def test_an_unreachable_service_stops_the_process_with_one_clear_line(
    endpoints: Endpoints, module: str, variable: str, value: str, says: str
) -> None:
    result = run(module, {**endpoints_env(endpoints), variable: value})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{module} cannot run" in result.stderr
    assert says in result.stderr.lower()
    assert "secret-pw" not in result.stderr


@pytest.mark.parametrize("module", ["consumer", "worker"])
def test_a_secret_can_come_from_a_file_in_secrets_dir(
    endpoints: Endpoints, module: str, tmp_path: Path
) -> None:
    # The file's database is unreachable: the process reads it, and says it cannot connect.
    (tmp_path / "database_url").write_text("mysql+asyncmy://app:file-pw@127.0.0.1:1/orders\n")
    env = {k: v for k, v in endpoints_env(endpoints).items() if k != "DATABASE_URL"}

    result = run(module, {**env, "SECRETS_DIR": str(tmp_path)})

    assert result.returncode == 1, result.stderr
    assert f"{module} cannot run" in result.stderr
    assert "database" in result.stderr.lower()
    assert "file-pw" not in result.stderr
    # A variable set in the environment wins over the file.
    with_variable = run(module, {**env, "SECRETS_DIR": str(tmp_path), "DATABASE_URL": "x"})
    assert with_variable.returncode == 2
    assert with_variable.stderr.strip() == (
        f"{module}: invalid configuration: database_url "
        "(must look like mysql+asyncmy://user:password@host:port/db)"
    )


@pytest.mark.parametrize("module", ["consumer", "worker"])
def test_an_unknown_trace_exporter_is_a_configuration_error(
    endpoints: Endpoints, module: str
) -> None:
    env = {**endpoints_env(endpoints), "TRACING_ENABLED": "true", "OTEL_TRACES_EXPORTER": "zipkin"}
    result = run(module, env)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{module}: invalid configuration: otel_traces_exporter "
        "(Input should be 'otlp', 'console' or 'none')"
    )


@pytest.mark.parametrize(
    ("module", "variable"),
    [("consumer", "ORDERS_TOPIC"), ("consumer", "DLQ_TOPIC"), ("worker", "STATUS_TOPIC")],
)
def test_a_missing_topic_stops_the_process_naming_it_and_its_setting(
    endpoints: Endpoints, module: str, variable: str
) -> None:
    # The brokers create no topic on demand: a misspelt name would leave the consumer reading
    # nothing, or a record retried for ever.
    result = run(module, {**endpoints_env(endpoints), variable: "orders.statsu"})

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"{module} cannot run" in result.stderr
    assert f"Kafka has no topic orders.statsu ({variable})" in result.stderr
