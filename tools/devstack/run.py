"""`make run`: the worker and the consumer, a short stream of demo orders, their statuses live.

Starts both processes as users start them (`python -m worker`, `python -m consumer`), publishes
demo orders (some complete, some fail, one is cancelled, one is poison), prints each order's
statuses as its events come back, then keeps the processes running until Ctrl-C.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import databases
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from schemas.topics import ORDERS_TOPIC, STATUS_TOPIC

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED"}


def _order(ref: str, lines: list[tuple[int, int, Decimal]], token: str) -> dict[str, Any]:
    total = sum((price * qty for _, qty, price in lines), Decimal(0))
    items = [{"product_id": p, "quantity": q, "unit_price": f"{u:.2f}"} for p, q, u in lines]
    return {
        "event_id": str(uuid.uuid4()), "event_type": "OrderPlaced", "schema_version": 1,
        "occurred_at": datetime.now(UTC).isoformat(),
        "order": {"order_ref": ref, "customer_id": 42, "customer_email": "ada@example.com",
                  "currency": "USD", "items": items, "total_amount": f"{total:.2f}",
                  "payment": {"method": "card", "token": token}},
    }  # fmt: skip


async def _catalogue(database_url: str) -> list[tuple[int, Decimal]]:
    database = databases.Database(database_url)
    await database.connect()
    try:
        rows = await database.fetch_all("SELECT id, price FROM products ORDER BY id LIMIT 3")
    finally:
        await database.disconnect()
    return [(int(r._mapping["id"]), Decimal(r._mapping["price"])) for r in rows]


def cancellation(ref: str) -> dict[str, Any]:
    return {"event_id": str(uuid.uuid4()), "event_type": "OrderCancellationRequested",
            "schema_version": 1, "occurred_at": datetime.now(UTC).isoformat(),
            "order_ref": ref, "reason": "customer changed mind"}  # fmt: skip


def demo_events(
    batch: str, products: list[tuple[int, Decimal]]
) -> list[tuple[str, dict[str, Any]]]:
    """Two that complete (one after payment retries), three that fail, one to be cancelled."""
    (a, pa), (b, pb) = products[0], products[1]
    refs = [f"demo-{batch}-{n}" for n in range(1, 7)]
    return [
        (refs[0], _order(refs[0], [(a, 2, pa), (b, 1, pb)], "tok_ok")),
        (refs[1], _order(refs[1], [(a, 1, pa)], "tok_flaky")),
        (refs[2], _order(refs[2], [(b, 1, pb)], "tok_decline")),
        (refs[3], _order(refs[3], [(99, 1, Decimal("1.00"))], "tok_ok")),
        (refs[4], _order(refs[4], [(a, 1, pa + Decimal("1.00"))], "tok_ok")),
        (refs[5], _order(refs[5], [(a, 1, pa)], "tok_ok")),
    ]


async def publish_and_watch(env: dict[str, str]) -> None:
    bootstrap = env["KAFKA_BOOTSTRAP_SERVERS"]
    status_topic = env.get("STATUS_TOPIC", STATUS_TOPIC)
    batch = datetime.now(UTC).strftime("%H%M%S")
    events = demo_events(batch, await _catalogue(env["DATABASE_URL"]))
    watcher = AIOKafkaConsumer(
        status_topic, bootstrap_servers=bootstrap, auto_offset_reset="latest"
    )
    await watcher.start()
    await watcher.seek_to_end()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    orders_topic = env.get("ORDERS_TOPIC", ORDERS_TOPIC)
    try:

        async def publish(ref: str, event: dict[str, Any]) -> None:
            await producer.send_and_wait(orders_topic, json.dumps(event).encode(), key=ref.encode())

        for ref, event in events:
            await publish(ref, event)
        await producer.send_and_wait(orders_topic, b"{not json", key=b"demo-poison")
        to_cancel = events[-1][0]
        print(
            f"run: published {len(events)} demo orders and one poison message (it goes to "
            f"the dead-letter topic); {to_cancel} is cancelled once CONFIRMED\n",
            flush=True,
        )

        async def on_status(ref: str, status: str) -> None:
            if ref == to_cancel and status == "CONFIRMED":
                await publish(ref, cancellation(ref))

        refs = {ref for ref, _ in events}
        await _watch(watcher, refs, on_status, deadline=time.monotonic() + 120)
    finally:
        await producer.stop()
        await watcher.stop()


async def _watch(
    watcher: AIOKafkaConsumer,
    refs: set[str],
    on_status: Callable[[str, str], Awaitable[None]],
    deadline: float,
) -> None:
    trail: dict[str, list[str]] = {ref: [] for ref in refs}
    seen: set[str] = set()  # a publish retried by its activity repeats the event and its id
    done: set[str] = set()
    while done != refs and time.monotonic() < deadline:
        batch = await watcher.getmany(timeout_ms=500)
        for records in batch.values():
            for record in records:
                event = json.loads(record.value)
                ref = event["order_ref"]
                if ref not in trail or event["event_id"] in seen:
                    continue
                seen.add(event["event_id"])
                trail[ref].append(event["status"])
                reason = f" ({event['reason']})" if event.get("reason") else ""
                print(f"  {ref:18} {' → '.join(trail[ref])}{reason}", flush=True)
                await on_status(ref, event["status"])
                if event["status"] in TERMINAL:
                    done.add(ref)
    missing = refs - done
    print(f"\nrun: {len(done)} of {len(refs)} demo orders reached a final status"
          + (f"; still open: {sorted(missing)}" if missing else ""))  # fmt: skip


def _workflows_page(env: dict[str, str]) -> str:
    ui = env.get("TEMPORAL_UI_URL", "http://localhost:8233")
    return f"{ui}/namespaces/{env.get('TEMPORAL_NAMESPACE', 'ordering-system')}/workflows"


def _logs_folder(env: dict[str, str]) -> Path:
    """Where the processes' logs go: beside the local stack's own, under `DEVSTACK_DIR` when it
    is set as for `make stack-up`, else `.devstack/logs`."""
    return Path(env.get("DEVSTACK_DIR", PROJECT_ROOT / ".devstack")).resolve() / "logs"


def _shown(path: Path) -> str:
    """`path` as a person in the project's folder reads it."""
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def main() -> int:
    if isinstance(sys.stdout, io.TextIOWrapper):
        # Every line shows as it is printed, through `| tee` or a pipe as on a terminal.
        sys.stdout.reconfigure(line_buffering=True)
    # Ctrl-C, and a SIGTERM too, stop the processes below; even when started where SIGINT was
    # ignored (in the background of a script), which Python would otherwise keep.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    env = {**os.environ}
    env.setdefault("ORDERING_CANCEL_WINDOW_SECONDS", "5")
    env.setdefault("LOG_FORMAT", "text")  # the demo's logs are read by a person
    logs = _logs_folder(env)
    logs.mkdir(parents=True, exist_ok=True)
    processes: list[subprocess.Popen[bytes]] = []
    for name in ("worker", "consumer"):
        with (logs / f"{name}.log").open("ab") as log:
            processes.append(subprocess.Popen([sys.executable, "-m", name], env=env,
                                              stdout=log, stderr=subprocess.STDOUT,
                                              start_new_session=True))  # fmt: skip
        shown = _shown(logs / f"{name}.log")
        print(f"run: started {name} (pid {processes[-1].pid}, log {shown})")
    print(f"run: Temporal UI {_workflows_page(env)}\n", flush=True)
    try:
        asyncio.run(publish_and_watch(env))
        print(f"\nTemporal UI: {_workflows_page(env)}")
        print("run: worker and consumer keep running; Ctrl-C stops them")
        while all(p.poll() is None for p in processes):
            time.sleep(0.5)
        print(f"run: a process exited; see {_shown(logs)}/", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nrun: stopping")
        return 0
    finally:
        for process in processes:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()


if __name__ == "__main__":
    sys.exit(main())
