"""The whole pipeline as users run it: `python -m worker` and `python -m consumer` as processes,
driven through Kafka and checked through Kafka, MySQL and Temporal."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import RecordMetadata

from tests.support.services import PROJECT_ROOT

TERMINAL = frozenset({"COMPLETED", "FAILED", "CANCELLED"})


def order_placed(
    ref: str,
    lines: list[tuple[int, int, str]],
    *,
    token: str = "tok_ok",
    total: str | None = None,
    customer_id: int = 42,
) -> dict[str, Any]:
    computed = sum((Decimal(price) * qty for _, qty, price in lines), Decimal(0))
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "OrderPlaced",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "order": {
            "order_ref": ref,
            "customer_id": customer_id,
            "customer_email": "ada@example.com",
            "currency": "USD",
            "items": [
                {"product_id": p, "quantity": q, "unit_price": price} for p, q, price in lines
            ],
            "total_amount": total if total is not None else f"{computed:.2f}",
            "payment": {"method": "card", "token": token},
        },
    }


def cancellation(ref: str, reason: str = "customer changed mind") -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "OrderCancellationRequested",
        "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "order_ref": ref,
        "reason": reason,
    }


class Processes:
    """The worker and consumer processes of one test; whatever is left is stopped at the end."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}
        self.starts: dict[str, int] = defaultdict(int)

    def start(self, module: str, name: str | None = None, **extra_env: str) -> None:
        name = name or module
        self.starts[name] += 1
        log = (self.logs / f"{name}.{self.starts[name]}.log").open("wb")
        self.running[name] = subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=PROJECT_ROOT,
            env={**self.env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def kill(self, name: str) -> int:
        process = self.running.pop(name)
        process.send_signal(signal.SIGKILL)
        return process.wait(timeout=30)

    def terminate(self, name: str, timeout: float = 60) -> int:
        process = self.running.pop(name)
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.{self.starts[name]}.log").read_text(errors="replace")

    def every_log(self, name: str) -> str:
        """The logs of every start of `name`, oldest first: each start writes its own."""
        return "".join(
            (self.logs / f"{name}.{start}.log").read_text(errors="replace")
            for start in range(1, self.starts[name] + 1)
        )

    def stop_all(self) -> None:
        for name, process in list(self.running.items()):
            try:
                self.terminate(name, timeout=30)
            except subprocess.TimeoutExpired:
                # `terminate` has let go of it already: kill it here, or it outlives the test.
                process.kill()
                process.wait(timeout=30)


@dataclass
class StatusEvents:
    """Every status event of the test's status topic, read in the background."""

    by_ref: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    def statuses(self, ref: str) -> list[str]:
        return [event["status"] for event in self.by_ref.get(ref, [])]

    def final(self, ref: str) -> str | None:
        terminal = [s for s in self.statuses(ref) if s in TERMINAL]
        return terminal[-1] if terminal else None

    async def follow(self, bootstrap: str, topic: str) -> None:
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None
        )
        await consumer.start()
        try:
            async for record in consumer:
                event = json.loads(record.value)
                async with self.changed:
                    self.by_ref[event["order_ref"]].append(event)
                    self.changed.notify_all()
        finally:
            await consumer.stop()

    async def wait_for(self, predicate: Callable[[], bool], within: float = 90) -> None:
        async with asyncio.timeout(within), self.changed:
            await self.changed.wait_for(predicate)

    async def wait_final(self, refs: list[str], within: float = 90) -> dict[str, str | None]:
        await self.wait_for(lambda: all(self.final(ref) for ref in refs), within)
        return {ref: self.final(ref) for ref in refs}


class Publisher:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self._producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        self._topic = topic

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def event(
        self,
        event: dict[str, Any],
        key: str | None = None,
        headers: list[tuple[str, bytes]] | None = None,
    ) -> None:
        ref = key or event.get("order_ref") or event["order"]["order_ref"]
        await self.raw(json.dumps(event).encode(), ref.encode(), headers)

    async def raw(
        self, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]] | None = None
    ) -> RecordMetadata:
        """Publish one record; where the broker stored it (topic, partition, offset)."""
        metadata: RecordMetadata = await self._producer.send_and_wait(
            self._topic, value, key=key, headers=headers
        )
        return metadata


def process_env(base: dict[str, str], **values: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "COV"))}
    return {**env, **base, **values}


class Run(NamedTuple):
    """How a command-line run ended: its exit code and what it wrote."""

    code: int
    out: str
    err: str


async def run_ops(env: dict[str, str], *args: str) -> Run:
    """`python -m tools.ops <args>` as an operator runs it, in the environment given."""
    return await run_module("tools.ops", env, *args)


async def run_module(module: str, env: dict[str, str], *args: str) -> Run:
    """`python -m <module> <args>` run to its end in the environment given."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", module, *args,
        cwd=PROJECT_ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())
