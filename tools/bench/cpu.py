"""The CPU a stage costs each process on the machine: what binds, and how busy the cores were."""

from __future__ import annotations

import asyncio
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from tools.devstack import kafka as stack_kafka
from tools.devstack import mariadb as stack_mariadb
from tools.devstack.config import StackConfig

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BENCH = "bench (load and status reader)"
TEMPORAL = "temporal server"
KAFKA = "kafka broker"
MARIADB = "mariadb server"


@dataclass(frozen=True)
class CpuCost:
    ms_per_item: dict[str, float]  # each process's CPU time (user and system) per item
    cores_busy: float  # all of them together over the stage's wall-clock time
    seconds: float  # the stage's wall-clock time

    def stack_ms(self) -> float:
        """What an item cost the stack's own processes: everything but the bench's load."""
        return sum(ms for name, ms in self.ms_per_item.items() if name != BENCH)


class CpuMeter:
    """Started when the stage's measured part starts; `cost(items)` once it is over."""

    def __init__(self, processes: dict[str, psutil.Process]) -> None:
        self._processes = processes
        self._before = {name: cpu_seconds(process) for name, process in processes.items()}
        self._started = time.monotonic()

    def cost(self, items: int) -> CpuCost:
        spent = {
            name: cpu_seconds(process) - self._before[name]
            for name, process in self._processes.items()
        }
        wall = time.monotonic() - self._started
        return CpuCost(
            {name: seconds * 1000 / items for name, seconds in spent.items()},
            sum(spent.values()) / wall,
            wall,
        )


def processes(
    children: dict[str, subprocess.Popen[bytes]], *servers: str
) -> dict[str, psutil.Process]:
    """The stage's own processes, the named servers (`TEMPORAL` is the one in `children`, the
    bench's own; Kafka and MariaDB the local stack's), and the bench itself."""
    measured = {name: psutil.Process(child.pid) for name, child in children.items()}
    stack = stack_servers()
    measured |= {name: stack[name] for name in servers if name in stack}
    return measured | {BENCH: psutil.Process()}


async def settled(
    process: psutil.Process, *, busy_below: float = 0.05, window: float = 1.0, limit: float = 60
) -> float:
    """Wait until `process` spends less than `busy_below` of a core over `window` seconds, at
    most `limit` seconds; the seconds waited. The Temporal server goes on with the last stage's
    background work (visibility, deletions) after its workflows close: a stage started
    meanwhile would pay for it."""
    began = time.monotonic()
    while time.monotonic() - began < limit:
        before = cpu_seconds(process)
        await asyncio.sleep(window)
        if cpu_seconds(process) - before < busy_below * window:
            break
    return time.monotonic() - began


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def stack_servers() -> dict[str, psutil.Process]:
    """Kafka and MariaDB of the local stack when they run on this machine, found by the stack's
    own pid files (so a second stack on other ports is never counted); none when elsewhere."""
    config = StackConfig.from_env(PROJECT_ROOT)
    parts = {KAFKA: stack_kafka.part(config), MARIADB: stack_mariadb.part(config)}
    return {
        name: psutil.Process(pid)
        for name, part in parts.items()
        if (pid := part.running_pid()) is not None
    }
