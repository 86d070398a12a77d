"""A second local stack of its own for the tests that kill servers, so the session's stack,
which other tests use at the same time, is never touched.

It is `python -m tools.devstack up` under `DEVSTACK_DIR=<a temporary directory>` on free ports below
the ephemeral range, with the Kafka jars of the project's stack linked in rather than fetched
again. Its parts are found by the pid files under that directory only, and each pid is checked
against the directory in its command line before it is signalled.
"""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from tests.support.services import PROJECT_ROOT, Endpoints
from tools.devstack import kafka, mariadb, temporal
from tools.devstack.config import StackConfig
from tools.devstack.processes import Part

Server = Literal["kafka", "mariadb", "temporal"]
SERVERS: tuple[Server, ...] = ("kafka", "mariadb", "temporal")


class PrivateStackError(RuntimeError):
    """The private stack could not be started, restarted or found."""


@dataclass(frozen=True)
class PrivateStack:
    root: Path
    env: dict[str, str]
    config: StackConfig

    @property
    def endpoints(self) -> Endpoints:
        c = self.config
        return Endpoints(c.kafka_bootstrap, c.database_url, c.temporal_address, c.namespace)

    def _part(self, server: Server) -> Part:
        parts = {"kafka": kafka.part, "mariadb": mariadb.part, "temporal": temporal.part}
        return parts[server](self.config)

    def pid(self, server: Server) -> int:
        """The running server's pid; it must be one this stack started."""
        pid = self._part(server).running_pid()
        if pid is None:
            raise PrivateStackError(f"{server} of the private stack is not running")
        return pid

    async def kill(self, server: Server) -> int:
        """kill -9 the server and wait until it is gone; its pid."""
        pid = self.pid(server)
        os.kill(pid, signal.SIGKILL)
        try:
            async with asyncio.timeout(30):
                while True:
                    if self._part(server).running_pid() != pid:
                        break
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise PrivateStackError(f"{server} (pid {pid}) survived SIGKILL") from None
        return pid

    def freeze(self, server: Server) -> int:
        """SIGSTOP: the server keeps its sockets open but answers nothing."""
        pid = self.pid(server)
        os.kill(pid, signal.SIGSTOP)
        return pid

    def thaw(self, server: Server) -> None:
        pid = self._part(server).running_pid()
        if pid is not None:
            os.kill(pid, signal.SIGCONT)

    def up(self) -> None:
        """`python -m tools.devstack up`: starts what is not running, waits until it answers."""
        result = _devstack("up", self.env)
        if result.returncode != 0:
            raise PrivateStackError(f"the private stack did not start:\n{result.stderr}")

    async def restart(self) -> None:
        """`up` without holding up the event loop: the pipeline's clients keep running."""
        await asyncio.to_thread(self.up)

    def heal(self) -> None:
        """Everything running and answering again, whatever a test froze or killed."""
        for server in SERVERS:
            self.thaw(server)
        self.up()

    def down(self) -> None:
        for server in SERVERS:
            self.thaw(server)  # a stopped process would sit out SIGTERM
        _devstack("down", self.env)


def _devstack(command: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tools.devstack", command],
        cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def _port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> list[int]:
    """`count` consecutive free ports below the ephemeral range (32768 up), where no outgoing
    connection can take one while a killed server is down."""
    for _ in range(100):
        base = random.randrange(20_000, 32_000 - count)
        ports = list(range(base, base + count))
        if all(_port_free(port) for port in ports):
            return ports
    raise PrivateStackError("no free ports for the private stack")


@contextmanager
def private_stack() -> Iterator[PrivateStack]:
    """A second stack, up for the duration of the block, then stopped and removed."""
    root = Path(tempfile.mkdtemp(prefix="faults-stack-")).resolve()
    shared_jars = PROJECT_ROOT / ".devstack" / "kafka-libs"
    if shared_jars.exists():
        (root / "kafka-libs").symlink_to(shared_jars)
    ports = free_ports(7)
    kafka_port, controller_port, sasl_ssl_port, sasl_plaintext_port = ports[:4]
    mysql_port, temporal_port, ui_port = ports[4:]
    config = StackConfig(
        root=root,
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        kafka_sasl_ssl_port=sasl_ssl_port,
        kafka_sasl_plaintext_port=sasl_plaintext_port,
        mysql_port=mysql_port,
        temporal_port=temporal_port,
        temporal_ui_port=ui_port,
        namespace=os.environ.get("TEMPORAL_NAMESPACE", StackConfig.namespace),
    )
    env = {
        **os.environ,
        "DEVSTACK_DIR": str(root),
        "DEVSTACK_KAFKA_PORT": str(kafka_port),
        "DEVSTACK_KAFKA_CONTROLLER_PORT": str(controller_port),
        "DEVSTACK_KAFKA_SASL_SSL_PORT": str(sasl_ssl_port),
        "DEVSTACK_KAFKA_SASL_PLAINTEXT_PORT": str(sasl_plaintext_port),
        "DEVSTACK_MYSQL_PORT": str(mysql_port),
        "DEVSTACK_TEMPORAL_PORT": str(temporal_port),
        "DEVSTACK_TEMPORAL_UI_PORT": str(ui_port),
    }
    stack = PrivateStack(root, env, config)
    try:
        stack.up()
        yield stack
    finally:
        stack.down()
        with suppress(OSError):
            shutil.rmtree(root)
