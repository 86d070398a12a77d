"""Finding the real Kafka, MariaDB and Temporal that the tests run against.

In order: services named by environment variables; else testcontainers, when a Docker engine
answers; else the project's local stack (`python -m tools.devstack up`, idempotent, so a stack that
is already up is reused). `TESTS_SERVICES=local` or `=docker` forces one of the last two.
Only the local stack serves Kafka's SASL listeners and a TLS-only MySQL user, so a session with
tests that need them uses it rather than Docker: all its tests then share one set of servers.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


class ServicesUnavailableError(RuntimeError):
    """The real services could not be found or started."""


@dataclass(frozen=True)
class Endpoints:
    kafka_bootstrap: str
    database_url: str
    temporal_address: str
    namespace: str


def _from_env(env: dict[str, str]) -> Endpoints | None:
    names = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "TEMPORAL_ADDRESS")
    if not all(env.get(name) for name in names):
        return None
    return Endpoints(
        kafka_bootstrap=env["KAFKA_BOOTSTRAP_SERVERS"],
        database_url=env["DATABASE_URL"],
        temporal_address=env["TEMPORAL_ADDRESS"],
        namespace=env.get("TEMPORAL_NAMESPACE", "ordering-system"),
    )


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if value:
            values[name.strip()] = value.strip()
    return values


def _local_stack() -> Endpoints:
    result = subprocess.run(
        [sys.executable, "-m", "tools.devstack", "up"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ServicesUnavailableError(f"the local stack did not start:\n{result.stderr}")
    endpoints = _from_env(_read_env_file(PROJECT_ROOT / ".devstack" / "env"))
    if endpoints is None:
        raise ServicesUnavailableError(".devstack/env lacks an endpoint")
    return endpoints


def _testcontainers() -> Endpoints:
    from tests.support.containers import start_containers

    return start_containers()


def _docker_answers() -> bool:
    if not (os.environ.get("DOCKER_HOST") or Path("/var/run/docker.sock").exists()):
        return False
    try:
        import docker

        client = docker.from_env(timeout=3)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@dataclass(frozen=True)
class SecuredEndpoints:
    """What the local stack serves beside its plain endpoints: Kafka's SASL listeners and
    their user, the CA its servers' certificates come from, a client certificate, and a MySQL
    user that may connect over TLS only."""

    kafka_sasl_ssl: str
    kafka_sasl_plaintext: str
    kafka_username: str
    kafka_password: str
    ca_file: str
    client_cert_file: str
    client_key_file: str
    tls_only_database_url: str


_SECURED = {
    "kafka_sasl_ssl": "DEVSTACK_KAFKA_SASL_SSL_BOOTSTRAP",
    "kafka_sasl_plaintext": "DEVSTACK_KAFKA_SASL_PLAINTEXT_BOOTSTRAP",
    "kafka_username": "DEVSTACK_KAFKA_SASL_USERNAME",
    "kafka_password": "DEVSTACK_KAFKA_SASL_PASSWORD",
    "ca_file": "DEVSTACK_TLS_CA_FILE",
    "client_cert_file": "DEVSTACK_TLS_CLIENT_CERT_FILE",
    "client_key_file": "DEVSTACK_TLS_CLIENT_KEY_FILE",
    "tls_only_database_url": "DEVSTACK_TLS_ONLY_DATABASE_URL",
}


def _stack_values(endpoints: Endpoints) -> Iterator[dict[str, str]]:
    """What is known of the stack `endpoints` came from: the environment (`make test` sources
    `.devstack/env`), then `.devstack/env` itself, where they name the same Kafka."""
    env_file = PROJECT_ROOT / ".devstack" / "env"
    sources = [dict(os.environ)] + ([_read_env_file(env_file)] if env_file.exists() else [])
    for values in sources:
        if values.get("KAFKA_BOOTSTRAP_SERVERS") == endpoints.kafka_bootstrap:
            yield values


def discover_temporal_ui(endpoints: Endpoints) -> str:
    """The address of the Temporal UI beside the Temporal of `endpoints`, as `make run` prints
    it: only the local stack serves one."""
    for values in _stack_values(endpoints):
        if values.get("TEMPORAL_UI_URL"):
            return values["TEMPORAL_UI_URL"]
    raise ServicesUnavailableError(
        "no Temporal UI is known for these services: only the local stack "
        "(`python -m tools.devstack up`) serves one"
    )


def discover_secured(endpoints: Endpoints) -> SecuredEndpoints:
    """The secured endpoints of the stack `endpoints` came from."""
    for values in _stack_values(endpoints):
        if all(values.get(name) for name in _SECURED.values()):
            secured = SecuredEndpoints(**{f: values[name] for f, name in _SECURED.items()})
            _check_answers(secured.kafka_sasl_ssl)
            return secured
    raise ServicesUnavailableError(
        "no SASL or TLS endpoints are known for these services: only the local stack "
        "(`python -m tools.devstack up`) serves them"
    )


def _check_answers(address: str) -> None:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=2).close()
    except OSError:
        raise ServicesUnavailableError(
            f"nothing answers on Kafka's SASL_SSL listener {address}: a stack started before "
            "it existed? `python -m tools.devstack down` then `up` restarts it"
        ) from None


def discover(*, secured: bool = False) -> Endpoints:
    """The services for this session; `secured` when some of its tests need the secured
    endpoints, which Docker's services lack."""
    found = _from_env(dict(os.environ))
    if found is not None:
        return found
    choice = os.environ.get("TESTS_SERVICES", "auto")
    if choice == "docker" or (choice == "auto" and not secured and _docker_answers()):
        return _testcontainers()
    return _local_stack()
