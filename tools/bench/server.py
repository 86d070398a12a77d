"""The bench's own Temporal dev server, fresh for each run.

The local stack's server keeps every workflow the test suite and earlier runs left (7 days'
retention, a SQLite file in the hundreds of MB after a test run), and its figures moved with
that history. This one starts on an empty SQLite file, with the stack's flags (WAL, the
namespace and its search attributes, the production search-attribute cache), on free ports.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from tools.bench.cpu import TEMPORAL, settled
from tools.bench.watch import Watch
from tools.devstack.temporal import server_argv, serves_namespace

HOST = "127.0.0.1"
START_SECONDS = 120


@dataclass(frozen=True)
class Server:
    address: str
    process: subprocess.Popen[bytes]
    database: Path  # its SQLite file


@contextlib.asynccontextmanager
async def fresh_server(watch: Watch, namespace: str) -> AsyncIterator[Server]:
    """A dev server serving `namespace`, watched as `TEMPORAL`; stopped and deleted after."""
    home = Path(tempfile.mkdtemp(prefix="bench-temporal-"))
    port = _free_port()
    database = home / "temporal.db"
    log = watch.logs / "temporal-server.log"
    process = _spawn(server_argv(HOST, port, database, namespace, ["--headless"]), log)
    watch.add(TEMPORAL, process, log)
    try:
        address = f"{HOST}:{port}"
        await watch.until(_until_serving(address, namespace))
        yield Server(address, process, database)
    finally:
        watch.stop(TEMPORAL)
        shutil.rmtree(home, ignore_errors=True)


async def server_quiet(watch: Watch) -> float:
    """Wait for the bench's Temporal server to finish the last stage's background work before
    the next stage starts (at most a minute); the seconds waited."""
    return await settled(psutil.Process(watch.processes(TEMPORAL)[TEMPORAL].pid))


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )


async def _until_serving(address: str, namespace: str) -> None:
    deadline = time.monotonic() + START_SECONDS
    while not await asyncio.to_thread(serves_namespace, address, namespace):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the bench's Temporal server did not serve {namespace}")
        await asyncio.sleep(0.5)


def _free_port() -> int:
    """A port free now; the server takes it a moment later, so a clash is possible but rare."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])
