"""The CPU a stage costs each process on the machine: what binds, and how busy the cores were."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from devstack import kafka as stack_kafka
from devstack import mariadb as stack_mariadb
from devstack import temporal as stack_temporal
from devstack.config import StackConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BENCH = "bench (load and status reader)"


@dataclass(frozen=True)
class CpuCost:
    ms_per_item: dict[str, float]  # each process's CPU time (user and system) per item
    cores_busy: float  # all of them together over the stage's wall-clock time


class CpuMeter:
    """Started when the stage starts; `cost(items)` once it is over."""

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
        )


def machine_processes(children: dict[str, subprocess.Popen[bytes]]) -> dict[str, psutil.Process]:
    """The stage's own processes, the local stack's servers, and the bench itself."""
    processes = {name: psutil.Process(child.pid) for name, child in children.items()}
    return processes | stack_servers() | {BENCH: psutil.Process()}


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


def stack_servers() -> dict[str, psutil.Process]:
    """The local stack's servers that run on this machine, found by the stack's own pid files
    (so a second stack on other ports is never counted); none when the services are elsewhere."""
    config = StackConfig.from_env(PROJECT_ROOT)
    parts = {
        "temporal server": stack_temporal.part(config),
        "kafka broker": stack_kafka.part(config),
        "mariadb server": stack_mariadb.part(config),
    }
    return {
        name: psutil.Process(pid)
        for name, part in parts.items()
        if (pid := part.running_pid()) is not None
    }
