"""`make run` as a person sees it: the migrations, the demo catalogue, then `python -m
tools.devstack.run`, whose printed lines show every demo order reach its final status, and whose
Ctrl-C stops the worker and the consumer it started.

The demo runs against the session's stack under names of its own: a database, topics, a task
queue and a consumer group, and order ids (so workflow ids `order-<id>`) no other run uses in
the shared Temporal namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import databases
import psutil
import pytest

from schemas.topics import HEADER_REASON
from tests.conftest import IN_CI, Topics, unique_order_id_base
from tests.support.harness import process_env, run_module
from tests.support.pipeline import dead_letters
from tests.support.services import (
    PROJECT_ROOT,
    Endpoints,
    ServicesUnavailableError,
    discover_temporal_ui,
)

# How each demo order of tools.devstack.run ends, by its number: the status and reason printed last.
FINAL_STATUSES = {
    1: ("COMPLETED", None),
    2: ("COMPLETED", None),  # tok_flaky: after the payment's transient failures
    3: ("FAILED", "payment_declined"),
    4: ("FAILED", "unknown_product:product=99"),
    5: ("FAILED", "price_mismatch"),
    6: ("CANCELLED", "cancelled_by_customer"),  # its cancellation is sent once CONFIRMED
}
STATUS_LINE = re.compile(
    r"^  (?P<ref>demo-\d{6}-\d+) +(?P<trail>\S.*?)(?: \((?P<reason>[^()]+)\))?$"
)
# tools.devstack.run gives the demo orders 120 s to finish, after the processes' start.
DEMO_WITHIN = 180


@pytest.fixture
def temporal_ui(endpoints: Endpoints) -> str:
    """The Temporal UI of the session's stack, as `make run` reads it from `.devstack/env`."""
    try:
        return discover_temporal_ui(endpoints)
    except ServicesUnavailableError as error:
        if IN_CI:
            pytest.fail(f"Temporal UI unavailable in CI: {error}")
        pytest.skip(f"Temporal UI unavailable: {error}")


@dataclass
class Transcript:
    """What `python -m tools.devstack.run` prints, read line by line as it comes."""

    stream: asyncio.StreamReader
    lines: list[str] = field(default_factory=list)

    async def until(self, pattern: str, within: float = 30) -> re.Match[str]:
        """The first line from here on that matches `pattern`, printed within `within` s."""
        try:
            async with asyncio.timeout(within):
                while line := await self.stream.readline():
                    self.lines.append(line.decode().rstrip("\n"))
                    if found := re.search(pattern, self.lines[-1]):
                        return found
        except TimeoutError:
            pytest.fail(f"no line matched {pattern!r} within {within:.0f} s:\n{self}")
        pytest.fail(f"the output ended before a line matched {pattern!r}:\n{self}")

    async def to_end(self, within: float = 60) -> None:
        """Every line left, up to the end of the output, printed within `within` s."""
        try:
            async with asyncio.timeout(within):
                while line := await self.stream.readline():
                    self.lines.append(line.decode().rstrip("\n"))
        except TimeoutError:
            pytest.fail(f"the output did not end within {within:.0f} s:\n{self}")

    def final_statuses(self) -> dict[str, tuple[str, str | None]]:
        """Each order's last status line: its final status and the reason printed beside it."""
        finals: dict[str, tuple[str, str | None]] = {}
        for line in self.lines:
            if found := STATUS_LINE.match(line):
                finals[found["ref"]] = (found["trail"].split(" → ")[-1], found["reason"])
        return finals

    def __str__(self) -> str:
        return "\n".join(self.lines)


def processes_with(name: str, value: str) -> list[psutil.Process]:
    """The live processes whose environment sets `name` to `value`."""
    found = []
    for process in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if process.environ().get(name) == value and process.status() != psutil.STATUS_ZOMBIE:
                found.append(process)
    return found


def alive(process: psutil.Process) -> bool:
    """Still running: a pid since reused by another process or a zombie does not count."""
    try:
        return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def stopped_cleanly(name: str, log: str) -> bool:
    """Whether the log at the path `tools.devstack.run` printed ends with the process's
    orderly stop."""
    return f"{name} stopped" in Path(log).read_text(errors="replace")


def http_get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return int(response.status), response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def workflows_listed(page: str, refs: list[str], task_queue: str, within: float = 30) -> int:
    """How many workflows of these orders the Temporal UI lists on `page`, through the API the
    page reads, once it lists them all or time is up (visibility lags the workflows a moment).
    The page itself answers 200 at any path: its API says whether the namespace is right.
    Demo refs are named by the second they are published in: the task queue tells this run's."""
    address = urllib.parse.urlsplit(page)
    quoted = ", ".join(f'"{ref}"' for ref in refs)
    query = f'OrderRef IN ({quoted}) AND TaskQueue = "{task_queue}"'
    api = address._replace(
        path=f"/api/v1{address.path}", query=urllib.parse.urlencode({"query": query})
    )
    listed = -1
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while listed != len(refs):
                status, body = await asyncio.to_thread(http_get, urllib.parse.urlunsplit(api))
                assert status == 200, body
                listed = len(json.loads(body).get("executions", []))
                if listed != len(refs):
                    await asyncio.sleep(0.2)
    return listed


async def start_order_ids_apart(database_url: str) -> None:
    """Order ids no other run has used: their workflow ids meet in the shared namespace."""
    database = databases.Database(database_url)
    await database.connect()
    try:
        await database.execute(f"ALTER TABLE orders AUTO_INCREMENT = {unique_order_id_base()}")
    finally:
        await database.disconnect()


@contextlib.asynccontextmanager
async def make_run_demo(env: dict[str, str]) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m tools.devstack.run` as `make run` starts it, in a process group of its own, as a
    terminal's foreground job is; whatever it leaves behind is killed at the end."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tools.devstack.run",
        cwd=PROJECT_ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        yield process
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        for leftover in processes_with("ORDERS_TOPIC", env["ORDERS_TOPIC"]):
            with contextlib.suppress(psutil.Error):
                leftover.kill()


async def test_make_run_shows_every_demo_order_reach_its_final_status_and_ctrl_c_stops_it_all(
    endpoints: Endpoints, database_url: str, topics: Topics, temporal_ui: str, tmp_path: Path
) -> None:
    env = process_env(
        {},
        KAFKA_BOOTSTRAP_SERVERS=endpoints.kafka_bootstrap,
        DATABASE_URL=database_url,
        TEMPORAL_ADDRESS=endpoints.temporal_address,
        TEMPORAL_NAMESPACE=endpoints.namespace,
        TEMPORAL_UI_URL=temporal_ui,
        ORDERS_TOPIC=topics.orders,
        STATUS_TOPIC=topics.status,
        DLQ_TOPIC=topics.dlq,
        ORDERING_TASK_QUEUE=f"make-run-{uuid.uuid4().hex[:10]}",
        KAFKA_CONSUMER_GROUP=f"make-run-{uuid.uuid4().hex[:10]}",
        DEVSTACK_DIR=str(tmp_path),  # the processes' logs
    )
    migrated = await run_module("db", env, "migrate")
    assert migrated.code == 0, migrated
    catalogue = await run_module("db", env, "load-demo-catalogue")
    assert (catalogue.code, catalogue.out.splitlines()[-1]) == (0, "demo catalogue loaded"), (
        catalogue
    )
    await start_order_ids_apart(database_url)

    async with make_run_demo(env) as demo:
        assert demo.stdout is not None
        output = Transcript(demo.stdout)
        started = [
            await output.until(rf"^run: started ({name}) \(pid (\d+), log (.+)\)$")
            for name in ("worker", "consumer")
        ]
        ui_at_start = (await output.until(r"^run: Temporal UI (\S+)$"))[1]
        cancelled = await output.until(
            r"^run: published 6 demo orders and one poison message .*; "
            r"(demo-(\d{6})-6) is cancelled once CONFIRMED$"
        )
        summary = await output.until(
            r"^run: \d+ of \d+ demo orders reached a final status.*$", within=DEMO_WITHIN
        )
        ui_at_end = (await output.until(r"^Temporal UI: (\S+)$"))[1]
        await output.until(r"^run: worker and consumer keep running; Ctrl-C stops them$")

        batch = cancelled[2]
        assert summary[0] == "run: 6 of 6 demo orders reached a final status", str(output)
        assert output.final_statuses() == {
            f"demo-{batch}-{n}": final for n, final in FINAL_STATUSES.items()
        }, str(output)
        dead = await dead_letters(endpoints.kafka_bootstrap, topics.dlq, 1, within=30)
        assert [(r.key, r.value, dict(r.headers).get(HEADER_REASON)) for r in dead] == [
            (b"demo-poison", b"{not json", b"not_json")
        ]
        page = f"{temporal_ui}/namespaces/{endpoints.namespace}/workflows"
        assert ui_at_start == ui_at_end == page, str(output)
        assert (await asyncio.to_thread(http_get, page))[0] == 200
        refs = list(output.final_statuses())
        assert await workflows_listed(page, refs, env["ORDERING_TASK_QUEUE"]) == 6

        # The worker and the consumer, as printed, running as tools.devstack.run's children.
        children = psutil.Process(demo.pid).children(recursive=True)
        printed = {int(line[2]) for line in started}
        assert printed <= {child.pid for child in children if alive(child)}, str(output)
        assert printed <= {p.pid for p in processes_with("ORDERS_TOPIC", topics.orders)}

        os.killpg(demo.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the foreground group

        await output.until(r"^run: stopping$")
        await output.to_end()
        assert await asyncio.wait_for(demo.wait(), timeout=60) == 0, str(output)
        assert [child for child in children if alive(child)] == []
        assert processes_with("ORDERS_TOPIC", topics.orders) == []
        assert [stopped_cleanly(line[1], line[3]) for line in started] == [True, True], str(output)
