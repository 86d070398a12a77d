"""Temporal over TLS, mTLS and with an API key, through the processes' own `connect`, against
the local stack's Temporal behind a TLS-terminating proxy that serves the stack's certificate
(the dev server has no TLS of its own): trusted servers are reached, untrusted ones refused,
and a process stops with one line when it cannot trust Temporal."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest, DescribeTaskQueueRequest
from temporalio.client import Client

from runtime.temporal.client import connect
from runtime.temporal.settings import TemporalSettings
from tests.conftest import IN_CI
from tests.support.harness import process_env
from tests.support.services import PROJECT_ROOT, Endpoints, SecuredEndpoints
from tests.support.tls_proxy import server_context, tls_proxy
from tools.devstack.tls import Authority, Certificates, certificate_pem


@pytest.fixture(scope="module")
def certificates(secured: SecuredEndpoints) -> Certificates:
    """The stack's certificates, its server's among them, beside the CA `.devstack/env` names."""
    certificates = Certificates(Path(secured.ca_file).parent)
    missing = [str(path) for path in certificates.files() if not path.exists()]
    if missing:
        if IN_CI:
            pytest.fail(f"the local stack's certificates are missing in CI: {missing}")
        pytest.skip(f"the local stack's certificates are missing: {missing}")
    return certificates


@pytest_asyncio.fixture
async def tls_frontend(endpoints: Endpoints, certificates: Certificates) -> AsyncIterator[str]:
    """The stack's Temporal frontend over TLS, with the stack's server certificate."""
    context = server_context(certificates.server_cert_file, certificates.server_key_file)
    async with tls_proxy(endpoints.temporal_address, context) as address:
        yield address


@pytest_asyncio.fixture
async def mtls_frontend(endpoints: Endpoints, certificates: Certificates) -> AsyncIterator[str]:
    """The same, refusing clients without a certificate the stack's CA signed."""
    context = server_context(
        certificates.server_cert_file,
        certificates.server_key_file,
        client_ca_file=certificates.ca_file,
    )
    async with tls_proxy(endpoints.temporal_address, context) as address:
        yield address


@pytest.fixture
def untrusted_ca(tmp_path: Path) -> Path:
    """A CA the stack's certificates do not come from."""
    path = tmp_path / "other-ca.pem"
    path.write_bytes(certificate_pem(Authority.create("some other CA").certificate))
    return path


def settings(endpoints: Endpoints, address: str, **values: object) -> TemporalSettings:
    return TemporalSettings.model_validate(
        {"temporal_address": address, "temporal_namespace": endpoints.namespace, **values}
    )


async def namespace_served(settings: TemporalSettings) -> str:
    """The name of the namespace the server describes to a client made from `settings`."""
    client = await connect(settings)
    assert await client.service_client.check_health()
    described = await client.workflow_service.describe_namespace(
        DescribeNamespaceRequest(namespace=settings.temporal_namespace)
    )
    return described.namespace_info.name


async def test_a_client_trusting_the_stacks_ca_reaches_temporal_over_tls(
    endpoints: Endpoints, certificates: Certificates, tls_frontend: str
) -> None:
    over_tls = settings(endpoints, tls_frontend, temporal_tls_ca_file=certificates.ca_file)
    assert await namespace_served(over_tls) == endpoints.namespace
    # The same frontend in the clear, so the connection above is known to have been TLS.
    with pytest.raises(RuntimeError, match="Failed client connect"):
        await connect(settings(endpoints, tls_frontend))


async def test_mutual_tls_admits_a_client_presenting_a_certificate_of_the_ca(
    endpoints: Endpoints, certificates: Certificates, mtls_frontend: str
) -> None:
    mutual = settings(
        endpoints,
        mtls_frontend,
        temporal_tls_ca_file=certificates.ca_file,
        temporal_tls_cert_file=certificates.client_cert_file,
        temporal_tls_key_file=certificates.client_key_file,
    )
    assert await namespace_served(mutual) == endpoints.namespace


async def test_mutual_tls_refuses_a_client_without_a_certificate(
    endpoints: Endpoints, certificates: Certificates, mtls_frontend: str
) -> None:
    # asyncio ends a failed handshake without sending TLS's alert: the client sees the
    # connection end (a broken pipe, or closed), never a reason it could name.
    with pytest.raises(RuntimeError, match=r"^Failed client connect: "):
        await connect(settings(endpoints, mtls_frontend, temporal_tls_ca_file=certificates.ca_file))


@pytest.mark.parametrize("trust", ["another CA", "the system's roots"])
async def test_a_server_certificate_the_client_does_not_trust_is_refused(
    endpoints: Endpoints, tls_frontend: str, untrusted_ca: Path, trust: str
) -> None:
    values: dict[str, object] = (
        {"temporal_tls_ca_file": untrusted_ca} if trust == "another CA" else {"temporal_tls": True}
    )
    with pytest.raises(RuntimeError, match=r"^Failed client connect: .*UnknownIssuer"):
        await connect(settings(endpoints, tls_frontend, **values))


async def test_the_certificate_is_checked_against_the_configured_server_name(
    endpoints: Endpoints, certificates: Certificates, tls_frontend: str
) -> None:
    assert tls_frontend.startswith("127.0.0.1:")
    as_localhost = settings(
        endpoints,
        tls_frontend,
        temporal_tls_ca_file=certificates.ca_file,
        temporal_tls_server_name="localhost",
    )
    assert await namespace_served(as_localhost) == endpoints.namespace
    elsewhere = as_localhost.model_copy(update={"temporal_tls_server_name": "elsewhere.example"})
    with pytest.raises(RuntimeError, match=r"NotValidForName.*elsewhere\.example"):
        await connect(elsewhere)


async def test_a_client_with_an_api_key_connects_over_tls_and_only_over_tls(
    endpoints: Endpoints, certificates: Certificates, tls_frontend: str
) -> None:
    # The dev server ignores the key; what is shown is that the key turns TLS on.
    with_key = settings(
        endpoints,
        tls_frontend,
        temporal_tls_ca_file=certificates.ca_file,
        temporal_api_key="an-api-key-4711",
    )
    assert await namespace_served(with_key) == endpoints.namespace
    to_the_clear_frontend = with_key.model_copy(
        update={"temporal_address": endpoints.temporal_address}
    )
    with pytest.raises(RuntimeError, match="InvalidContentType") as refused:
        await connect(to_the_clear_frontend)
    assert "an-api-key-4711" not in str(refused.value)


def tls_env(endpoints: Endpoints, address: str, ca_file: Path, **values: str) -> dict[str, str]:
    values.setdefault("DATABASE_URL", endpoints.database_url)
    return process_env(
        {},
        KAFKA_BOOTSTRAP_SERVERS=endpoints.kafka_bootstrap,
        TEMPORAL_ADDRESS=address,
        TEMPORAL_NAMESPACE=endpoints.namespace,
        TEMPORAL_TLS_CA_FILE=str(ca_file),
        METRICS_PORT="0",
        TEMPORAL_METRICS_PORT="0",
        LOG_FORMAT="text",
        **values,
    )


async def start(module: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", module,
        cwd=PROJECT_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip


async def read_until(process: asyncio.subprocess.Process, text: str, within: float = 60) -> str:
    """The process's output up to the first line holding `text`; fails if it ends first."""
    assert process.stdout is not None
    lines: list[str] = []
    async with asyncio.timeout(within):
        while line := (await process.stdout.readline()).decode():
            lines.append(line)
            if text in line:
                return "".join(lines)
    raise AssertionError(f"no {text!r} before the output ended:\n{''.join(lines)}")


async def wait_for_poller(
    client: Client, namespace: str, task_queue: str, pid: int, within: float = 30
) -> None:
    """Until the frontend lists the process `pid` among the workflow pollers of `task_queue`."""
    async with asyncio.timeout(within):
        while True:
            identities = await pollers(client, namespace, task_queue)
            if any(identity.startswith(f"{pid}@") for identity in identities):
                return
            await asyncio.sleep(0.2)


async def pollers(client: Client, namespace: str, task_queue: str) -> list[str]:
    described = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(
            namespace=namespace,
            task_queue=TaskQueue(name=task_queue),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
    )
    return [poller.identity for poller in described.pollers]


async def test_the_worker_polls_through_tls_and_stops_cleanly_on_sigterm(
    endpoints: Endpoints,
    certificates: Certificates,
    tls_frontend: str,
    temporal_client: Client,
    task_queue: str,
    migrated_database_url: str,
) -> None:
    # A migrated database: the worker's status relay stops it loudly on a missing table.
    env = tls_env(
        endpoints,
        tls_frontend,
        certificates.ca_file,
        ORDERING_TASK_QUEUE=task_queue,
        DATABASE_URL=migrated_database_url,
    )
    worker = await start("worker", env)
    try:
        await read_until(worker, "worker polling")
        # Seen by the frontend itself, in the clear: the worker's long polls pass the proxy.
        await wait_for_poller(temporal_client, endpoints.namespace, task_queue, worker.pid)
        worker.send_signal(signal.SIGTERM)
        out, _ = await asyncio.wait_for(worker.communicate(), timeout=60)
    finally:
        if worker.returncode is None:
            worker.kill()
            await worker.wait()

    assert worker.returncode == 0, out.decode()
    assert "worker stopped" in out.decode()


@pytest.mark.parametrize("module", ["consumer", "worker"])
async def test_a_process_that_does_not_trust_temporals_certificate_stops_with_one_line(
    endpoints: Endpoints, tls_frontend: str, untrusted_ca: Path, module: str
) -> None:
    process = await start(module, tls_env(endpoints, tls_frontend, untrusted_ca))
    out, _ = await asyncio.wait_for(process.communicate(), timeout=90)
    output = out.decode()

    assert process.returncode == 1, output
    assert "Traceback" not in output
    [error] = [line for line in output.splitlines() if " ERROR " in line]
    assert f"{module} cannot run: Failed client connect: " in error
    assert "UnknownIssuer" in error
