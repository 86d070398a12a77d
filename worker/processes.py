"""`WORKER_PROCESSES=N`: one `python -m worker` running N worker processes, for the cores one
Python process cannot use (its workflow tasks and activities share one interpreter lock).

Each process is a whole worker on the same task queue, with its own connections and relay (the
outbox's lease lets one send at a time), and metrics and health ports of its own: the first
keeps `METRICS_PORT` and `TEMPORAL_METRICS_PORT`, the next ones take the ports after them. The
parent only watches them: SIGTERM or SIGINT is passed to every one and awaited; one that ends on
its own takes the others down, for the supervisor to restart the group as it would one worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Mapping

from worker.errors import WorkerProcessExitedError
from worker.settings import WorkerSettings

log = logging.getLogger(__name__)


def process_env(settings: WorkerSettings, index: int, env: Mapping[str, str]) -> dict[str, str]:
    """The environment of worker process `index` (from 0): one process, its own ports."""

    def port(number: int) -> str:
        return str(number + index if number else 0)  # 0, no port, stays 0

    return {
        **env,
        "WORKER_PROCESSES": "1",
        "WORKER_PROCESS_INDEX": str(index),
        "METRICS_PORT": port(settings.metrics_port),
        "TEMPORAL_METRICS_PORT": port(settings.temporal_metrics_port),
    }


async def run_processes(settings: WorkerSettings, stop: asyncio.Event) -> None:
    """Run `settings.worker_processes` workers until `stop`, then stop them all and wait."""
    count = settings.worker_processes
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "worker", env=process_env(settings, index, os.environ)
        )
        for index in range(count)
    ]
    log.info("%d worker processes started: pids %s", count, [p.pid for p in processes])
    exits = {asyncio.ensure_future(p.wait()): p for p in processes}
    stopping = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait([stopping, *exits], return_when=asyncio.FIRST_COMPLETED)
    ended = [exits[task] for task in done if task in exits]
    for process in processes:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
    await asyncio.gather(*exits)
    stopping.cancel()
    if ended and not stop.is_set():
        first = ended[0]
        raise WorkerProcessExitedError(
            f"worker process {first.pid} exited with code {first.returncode}; "
            "the others were stopped"
        )
