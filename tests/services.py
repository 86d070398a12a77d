"""Finding the real Kafka, MariaDB and Temporal that the tests run against.

In order: services named by environment variables; else testcontainers, when a Docker engine
answers; else the project's local stack (`python -m devstack up`, idempotent, so a stack that
is already up is reused). `TESTS_SERVICES=local` or `=docker` forces one of the last two.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


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
        [sys.executable, "-m", "devstack", "up"],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if result.returncode != 0:
        raise ServicesUnavailableError(f"the local stack did not start:\n{result.stderr}")
    endpoints = _from_env(_read_env_file(PROJECT_ROOT / ".devstack" / "env"))
    if endpoints is None:
        raise ServicesUnavailableError(".devstack/env lacks an endpoint")
    return endpoints


def _testcontainers() -> Endpoints:
    from tests.containers import start_containers

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


def discover() -> Endpoints:
    found = _from_env(dict(os.environ))
    if found is not None:
        return found
    choice = os.environ.get("TESTS_SERVICES", "auto")
    if choice == "docker" or (choice == "auto" and _docker_answers()):
        return _testcontainers()
    return _local_stack()
