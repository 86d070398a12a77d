"""A single-node Apache Kafka broker in KRaft mode, its jars fetched from Maven Central."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

from tools.devstack.config import StackConfig
from tools.devstack.processes import Part, StackError, wait_for_port

POM = Path(__file__).with_name("pom.xml")
SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")


def part(config: StackConfig) -> Part:
    return Part("kafka", config.root / "kafka", marker=str(config.root / "kafka"))


def classpath(config: StackConfig) -> str:
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
    sasl_ssl, sasl_plaintext = config.sasl_ssl_port, config.sasl_plaintext_port
    return "\n".join([
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{host}:{controller}",
        f"listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller},"
        f"SASL_SSL://{host}:{sasl_ssl},SASL_PLAINTEXT://{host}:{sasl_plaintext}",
        f"advertised.listeners=PLAINTEXT://{host}:{port},"
        f"SASL_SSL://{host}:{sasl_ssl},SASL_PLAINTEXT://{host}:{sasl_plaintext}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,"
        "SASL_SSL:SASL_SSL,SASL_PLAINTEXT:SASL_PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        *_secured_listeners(config),
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


def _secured_listeners(config: StackConfig) -> list[str]:
    """SASL (PLAIN and SCRAM) on both secured listeners; TLS with PEM files on SASL_SSL.

    The PLAIN user is declared in the listener's JAAS line; SCRAM users live in the cluster's
    metadata (`_ensure_scram_user`). A client certificate is checked when one is presented.
    """
    plain = (
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
        f'user_{config.kafka_sasl_username}="{config.kafka_sasl_password}";'
    )
    scram = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
    tls = config.certificates
    lines = [f"sasl.enabled.mechanisms=PLAIN,{','.join(SCRAM_MECHANISMS)}"]
    for listener in ("sasl_ssl", "sasl_plaintext"):
        lines.append(f"listener.name.{listener}.plain.sasl.jaas.config={plain}")
        lines += [
            f"listener.name.{listener}.{mechanism.lower()}.sasl.jaas.config={scram}"
            for mechanism in SCRAM_MECHANISMS
        ]
    return [
        *lines,
        "listener.name.sasl_ssl.ssl.keystore.type=PEM",
        f"listener.name.sasl_ssl.ssl.keystore.location={tls.server_keystore_file}",
        "listener.name.sasl_ssl.ssl.truststore.type=PEM",
        f"listener.name.sasl_ssl.ssl.truststore.location={tls.ca_file}",
        "listener.name.sasl_ssl.ssl.client.auth=requested",
    ]


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
    data = kafka.home / "data"
    properties = kafka.home / "server.properties"
    if kafka.running_pid() is not None:
        _warn_if_outdated(config, properties, data)
        return
    jars = classpath(config)
    kafka.home.mkdir(parents=True, exist_ok=True)
    properties.write_text(_properties(config, data))
    log4j = kafka.home / "log4j2.properties"
    log4j.write_text(_LOG4J2)
    java = ["java", f"-Dlog4j2.configurationFile={log4j}", "-cp", jars]
    formatted_now = not (data / "meta.properties").exists()
    if formatted_now:
        scram = [_scram_credential(config, m, named=True) for m in SCRAM_MECHANISMS]
        format_storage(java, properties, new_cluster_id(), scram)
    heap = os.environ.get("DEVSTACK_KAFKA_HEAP", "-Xms256m -Xmx768m").split()
    kafka.spawn([java[0], *heap, *java[1:], "kafka.Kafka", str(properties)])
    wait_for_port(kafka, config.host, config.kafka_port, timeout=90)
    if formatted_now:
        _scram_stamp(config).write_text(_scram_user(config))
    else:
        _ensure_scram_user(config, java)


def new_cluster_id() -> str:
    """A random cluster id as Kafka's `random-uuid` makes one: base64url of a UUID, never
    starting with `-`, which command lines would read as an option."""
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):
            return cluster_id


def format_storage(java: list[str], properties: Path, cluster_id: str, scram: list[str]) -> None:
    """Format the broker's log directories; the id is joined to its option (`--cluster-id=`)
    so that no id, whatever its first character, can be taken for an option."""
    _run(
        [*java, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}",
         f"--config={properties}", *(f"--add-scram={credential}" for credential in scram)],
        "formatting Kafka storage",
    )  # fmt: skip


def _scram_credential(config: StackConfig, mechanism: str, *, named: bool) -> str:
    """`SCRAM-SHA-256=[name=user,password=secret]`, the form both Kafka tools read."""
    name = f"name={config.kafka_sasl_username}," if named else ""
    return f"{mechanism}=[{name}password={config.kafka_sasl_password}]"


def _ensure_scram_user(config: StackConfig, java: list[str]) -> None:
    """The SCRAM user in storage formatted before it existed: set through the PLAINTEXT
    listener, the same password again being a no-op. A stamp skips the JVMs next time."""
    stamp = _scram_stamp(config)
    if stamp.exists() and stamp.read_text() == _scram_user(config):
        return
    for mechanism in SCRAM_MECHANISMS:  # one request may alter a user's credential only once
        _run(
            [*java, "kafka.admin.ConfigCommand", "--bootstrap-server", config.kafka_bootstrap,
             "--alter", "--add-config", _scram_credential(config, mechanism, named=False),
             "--entity-type", "users", "--entity-name", config.kafka_sasl_username],
            f"creating Kafka's {mechanism} user",
        )  # fmt: skip
    stamp.write_text(_scram_user(config))


def _scram_stamp(config: StackConfig) -> Path:
    return part(config).home / "scram-user"


def _scram_user(config: StackConfig) -> str:
    return f"{config.kafka_sasl_username}:{config.kafka_sasl_password}\n"


def _warn_if_outdated(config: StackConfig, properties: Path, data: Path) -> None:
    """A broker started before its configuration changed lacks what the new one adds (the
    SASL listeners): say so, rather than leave clients to find a refused port."""
    current = properties.read_text() if properties.exists() else ""
    if current != _properties(config, data):
        print(
            "stack: kafka runs with another configuration than this `up` would give it (a "
            f"stack started before the SASL_SSL listener on {config.host}:"
            f"{config.sasl_ssl_port} existed?); `python -m tools.devstack down` then `up`"
            " restarts it",
            file=sys.stderr,
        )


def _run(argv: list[str], what: str) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise StackError(f"{what} failed:\n{(result.stderr or result.stdout)[-2000:]}")
