"""A single-node Apache Kafka broker in KRaft mode, its jars fetched from Maven Central."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from devstack.config import StackConfig
from devstack.processes import Part, StackError, wait_for_port

POM = Path(__file__).with_name("pom.xml")


def part(config: StackConfig) -> Part:
    return Part("kafka", config.root / "kafka", marker=str(config.root / "kafka"))


def _classpath(config: StackConfig) -> str:
    home = os.environ.get("KAFKA_HOME")
    if home:
        return f"{home}/libs/*"
    libs = config.root / "kafka-libs"
    stamp = libs / ".pom-sha256"
    digest = hashlib.sha256(POM.read_bytes()).hexdigest()
    if not (stamp.exists() and stamp.read_text() == digest):
        if shutil.which("mvn") is None:
            raise StackError("mvn not found: Maven fetches the Kafka broker from Maven Central")
        shutil.rmtree(libs, ignore_errors=True)
        result = subprocess.run(
            ["mvn", "-q", "-B", "-f", str(POM), "dependency:copy-dependencies",
             f"-DoutputDirectory={libs}", "-DincludeScope=runtime"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"fetching Kafka with Maven failed:\n{result.stdout[-2000:]}")
        stamp.write_text(digest)
    return f"{libs}/*"


def _properties(config: StackConfig, data: Path) -> str:
    host, port, controller = config.host, config.kafka_port, config.kafka_controller_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{controller}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller}",
        f"advertised.listeners=PLAINTEXT://{host}:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data}",
        f"num.partitions={config.partitions}",
        "offsets.topic.replication.factor=1",
        "offsets.topic.num.partitions=3",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "auto.create.topics.enable=false",
        "",
    ])  # fmt: skip


_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = console
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.console.ref = console
logger.server.name = kafka.server.KafkaServer
logger.server.level = INFO
"""


def up(config: StackConfig) -> None:
    kafka = part(config)
    if kafka.running_pid() is not None:
        return
    classpath = _classpath(config)
    kafka.home.mkdir(parents=True, exist_ok=True)
    data = kafka.home / "data"
    properties = kafka.home / "server.properties"
    properties.write_text(_properties(config, data))
    log4j = kafka.home / "log4j2.properties"
    log4j.write_text(_LOG4J2)
    java = ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    if not (data / "meta.properties").exists():
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        result = subprocess.run(
            [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(properties)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage failed:\n{result.stderr[-2000:]}")
    heap = os.environ.get("DEVSTACK_KAFKA_HEAP", "-Xms256m -Xmx768m").split()
    kafka.spawn([java[0], *heap, *java[1:], "kafka.Kafka", str(properties)])
    wait_for_port(kafka, config.host, config.kafka_port, timeout=90)
