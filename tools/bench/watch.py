"""The processes the bench starts, watched: a wait fails with a process's exit code, never hangs.

A worker that dies at start leaves its workflows to no one, and a consumer that dies leaves its
orders in Kafka: whatever the bench was waiting for would then never come. Every wait of a
stage runs through `Watch.until`, which ends it as soon as any watched process exits.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from tools.bench.cpu import PROJECT_ROOT

T = TypeVar("T")
POLL_SECONDS = 0.5


class ProcessExitedError(RuntimeError):
    """A process the bench started ended while a stage still needed it."""

    def __init__(self, name: str, code: int, log: Path | None) -> None:
        where = f"; its log: {log}" if log is not None else ""
        super().__init__(f"{name} exited with code {code}{where}")
        self.name = name
        self.code = code


class Watch:
    """The processes a stage depends on, by name, with the log each writes to."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self._processes: dict[str, tuple[subprocess.Popen[bytes], Path | None]] = {}

    def add(self, name: str, process: subprocess.Popen[bytes], log: Path | None = None) -> None:
        self._processes[name] = (process, log)

    def start(
        self, name: str, module: str, env: dict[str, str], *args: str, stdio: bool = False
    ) -> subprocess.Popen[bytes]:
        """`python -m module args` in the project's root, watched under `name`; with `stdio`,
        its stdin and stdout are pipes to the bench (stderr still goes to its log)."""
        log = self.logs / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", module, *args],
                cwd=PROJECT_ROOT, env=env, stderr=out,
                stdout=subprocess.PIPE if stdio else out,
                stdin=subprocess.PIPE if stdio else subprocess.DEVNULL,
            )  # fmt: skip
        self.add(name, process, log)
        return process

    def processes(self, *names: str) -> dict[str, subprocess.Popen[bytes]]:
        return {name: self._processes[name][0] for name in names}

    def stop(self, *names: str) -> None:
        """SIGTERM each, then wait for it: the worker lets its activities finish first."""
        stopping = [self._processes.pop(name)[0] for name in names if name in self._processes]
        for process in stopping:
            if process.poll() is None:
                process.terminate()
        for process in stopping:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def exited(self) -> ProcessExitedError | None:
        for name, (process, log) in self._processes.items():
            code = process.poll()
            if code is not None:
                return ProcessExitedError(name, code, log)
        return None

    async def until(self, work: Awaitable[T]) -> T:
        """`work`'s result, or `ProcessExitedError` for the first watched process to exit."""
        task = asyncio.ensure_future(work)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=POLL_SECONDS)
                if done:
                    return task.result()
                if (error := self.exited()) is not None:
                    raise error
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def line(self, name: str) -> str:
        """The next line `name` writes to its stdout (started with `stdio`)."""
        process, log = self._processes[name]
        if process.stdout is None:
            raise ValueError(f"{name} was not started with stdio")
        line = await self.until(asyncio.to_thread(process.stdout.readline))
        if not line:  # its stdout closed: it has exited, or is about to
            code = await asyncio.to_thread(process.wait, 10)
            raise ProcessExitedError(name, code, log)
        return line.decode().strip()
