"""What the figures were measured on: the machine, and the Temporal dev server's storage."""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

from tools.bench.cpu import PROJECT_ROOT
from tools.devstack.temporal import DYNAMIC_CONFIG, binary


def describe(temporal_database: Path) -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_gb": round(psutil.virtual_memory().total / 1024**3, 1),
        "load_average_at_start": [round(load, 2) for load in psutil.getloadavg()],
        "python": platform.python_version(),
        "system": platform.platform(),
        "temporal": _temporal(temporal_database),
        "temporal_dynamic_config": list(DYNAMIC_CONFIG),
        "commit": _commit(),
    }


def _cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _temporal(database: Path) -> str:
    """The CLI's version line, and whether its SQLite file runs in WAL mode: the dev server's
    throughput roughly doubles with it, and some CLI versions ignored the pragma silently."""
    version = subprocess.run(
        [binary(), "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    wal = Path(f"{database}-wal").exists()
    return f"{version}, dev server on SQLite ({'WAL' if wal else 'no WAL file found'})"


def _commit() -> str:
    def git(*args: str) -> str:
        run = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True)
        return run.stdout.strip() if run.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD") or "unknown"
    # Changes to tracked files only: the bench's own untracked results are no change to the code.
    changed = git("status", "--porcelain", "--untracked-files=no")
    return f"{head} with local changes" if changed else head
