"""The local stack's parts are real servers, and its commands behave as the README says."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import databases
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from temporalio.client import Client
from temporalio.worker import Worker

from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC, STATUS_TOPIC
from tests.conftest import Topics
from tests.support.greeting_workflow import StackGreeting
from tests.support.services import PROJECT_ROOT, Endpoints
from tools.devstack import kafka
from tools.devstack.config import StackConfig
from tools.devstack.processes import port_open


async def test_a_produced_message_is_consumed_back_through_kafka(
    endpoints: Endpoints, topics: Topics
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=endpoints.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topics.orders, b"hello", key=b"k1")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topics.orders, bootstrap_servers=endpoints.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        record = await consumer.getone()
    finally:
        await consumer.stop()
    assert (record.key, record.value) == (b"k1", b"hello")


async def test_a_table_written_through_databases_reads_back(database_url: str) -> None:
    database = databases.Database(database_url)
    await database.connect()
    try:
        await database.execute("CREATE TABLE notes (id INT PRIMARY KEY, body VARCHAR(40))")
        await database.execute("INSERT INTO notes VALUES (:id, :body)", {"id": 1, "body": "é'\\;"})
        row = await database.fetch_one("SELECT body FROM notes WHERE id = 1")
    finally:
        await database.disconnect()
    assert row is not None
    assert row._mapping["body"] == "é'\\;"


async def test_a_trivial_workflow_runs_on_temporal(
    temporal_client: Client, task_queue: str
) -> None:
    async with Worker(temporal_client, task_queue=task_queue, workflows=[StackGreeting]):
        result = await temporal_client.execute_workflow(
            StackGreeting.run, "stack", id=f"greeting-{uuid.uuid4()}", task_queue=task_queue
        )
    assert result == "hello stack"


def test_kafka_storage_formats_under_a_cluster_id_that_starts_with_a_dash(tmp_path: Path) -> None:
    """One random cluster id in 64 starts with `-`; the storage tool must not read it as an
    option. Formats with the stack's own Kafka jars."""
    config = StackConfig.from_env(PROJECT_ROOT)
    data = tmp_path / "data"
    properties = tmp_path / "server.properties"
    properties.write_text(
        "process.roles=broker,controller\nnode.id=1\n"
        "controller.quorum.voters=1@127.0.0.1:9\ncontroller.listener.names=CONTROLLER\n"
        "listeners=PLAINTEXT://127.0.0.1:8,CONTROLLER://127.0.0.1:9\n"
        f"log.dirs={data}\n"
    )
    cluster_id = "-" + kafka.new_cluster_id()[1:]

    kafka.format_storage(["java", "-cp", kafka.classpath(config)], properties, cluster_id, [])

    assert f"cluster.id={cluster_id}\n" in (data / "meta.properties").read_text()


async def _partitions(bootstrap: str, topics: Iterable[str]) -> dict[str, int]:
    """Each existing topic's partition count; a missing topic is left out."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return {t["topic"]: len(t["partitions"]) for t in described if t["error_code"] == 0}


async def test_the_stack_serves_the_contract_topics_with_the_configured_partitions(
    endpoints: Endpoints,
) -> None:
    config = StackConfig.from_env(PROJECT_ROOT)
    found = await _partitions(endpoints.kafka_bootstrap, config.topics)
    assert found == dict.fromkeys(config.topics, config.partitions)


def _devstack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.devstack", command],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _stack_pids(root: Path) -> list[int]:
    return [int((root / part / "pid").read_text()) for part in ("kafka", "mysql", "temporal")]


SECOND_STACK_TOPICS = {
    "ORDERS_TOPIC": "second.orders",
    "STATUS_TOPIC": "second.status",
    "DLQ_TOPIC": "second.orders.dlq",
}


@pytest.fixture
def second_stack_env(tmp_path: Path) -> dict[str, str]:
    """A second stack on ports of its own, so stopping it leaves the session's stack alone."""
    root = tmp_path / "stack"
    root.mkdir()
    shared_jars = PROJECT_ROOT / ".devstack" / "kafka-libs"
    if shared_jars.exists():
        (root / "kafka-libs").symlink_to(shared_jars)
    return {
        **os.environ,
        "DEVSTACK_DIR": str(root),
        "DEVSTACK_KAFKA_PORT": "29192",
        "DEVSTACK_KAFKA_CONTROLLER_PORT": "29193",
        "DEVSTACK_KAFKA_SASL_SSL_PORT": "29194",
        "DEVSTACK_KAFKA_SASL_PLAINTEXT_PORT": "29195",
        "DEVSTACK_MYSQL_PORT": "23306",
        "DEVSTACK_TEMPORAL_PORT": "27233",
        "DEVSTACK_TEMPORAL_UI_PORT": "28233",
        **SECOND_STACK_TOPICS,
    }


def test_stack_up_twice_reuses_the_running_parts_and_down_leaves_nothing_behind(
    second_stack_env: dict[str, str],
) -> None:
    root = Path(second_stack_env["DEVSTACK_DIR"])
    try:
        first = _devstack("up", second_stack_env)
        assert first.returncode == 0, first.stderr
        assert port_open("127.0.0.1", 28233), "the Temporal UI does not answer after `up`"
        asked = [*SECOND_STACK_TOPICS.values(), ORDERS_TOPIC, STATUS_TOPIC, DLQ_TOPIC]
        with ThreadPoolExecutor(1) as pool:  # a loop of its own, beside the session's
            created = pool.submit(asyncio.run, _partitions("127.0.0.1:29192", asked)).result()
        assert created == dict.fromkeys(SECOND_STACK_TOPICS.values(), 3)
        pids = _stack_pids(root)
        second = _devstack("up", second_stack_env)
        assert second.returncode == 0, second.stderr
        assert _stack_pids(root) == pids
        assert set(pids) <= set(_processes_naming(root.resolve()))
        written = (root / "env").read_text()
        assert "export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:29192" in written
        assert "export DEVSTACK_KAFKA_SASL_SSL_BOOTSTRAP=127.0.0.1:29194" in written
        assert f"export DEVSTACK_TLS_CA_FILE={root / 'tls' / 'ca.pem'}" in written
        assert _devstack("status", second_stack_env).returncode == 0
    finally:
        down = _devstack("down", second_stack_env)
    assert down.returncode == 0, down.stderr
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid), f"pid {pid} still runs"
    assert _processes_naming(root.resolve()) == {}, "processes of the stopped stack still run"
    after = _devstack("status", second_stack_env)
    assert after.returncode == 1
    assert after.stdout.count("stopped") == 3


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


def _processes_naming(directory: Path) -> dict[int, str]:
    """Every live process whose command line names `directory`, by pid: a child the stack's
    servers started has no pid file of its own."""
    found: dict[int, str] = {}
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            words = cmdline.read_bytes()
        except OSError:  # it has ended since the listing
            continue
        if str(directory).encode() in words:
            found[int(cmdline.parent.name)] = words.replace(b"\0", b" ").decode(errors="replace")
    return found
