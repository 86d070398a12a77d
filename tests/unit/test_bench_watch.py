"""The bench's waits end when a process they depend on exits, with that process's exit code."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from tools.bench.watch import ProcessExitedError, Watch


async def test_a_wait_fails_with_the_exit_code_of_a_process_that_dies_at_start(
    tmp_path: Path,
) -> None:
    watch = Watch(tmp_path)
    # Exits with code 2 at once: the file it is asked to read does not exist.
    watch.start("noop-worker", "json.tool", dict(os.environ), str(tmp_path / "missing.json"))

    with pytest.raises(ProcessExitedError) as exited:
        async with asyncio.timeout(30):
            await watch.until(asyncio.Event().wait())  # what the process would have done

    assert (exited.value.name, exited.value.code) == ("noop-worker", 2)
    assert str(tmp_path / "noop-worker.log") in str(exited.value)


async def test_a_wait_returns_its_result_while_the_processes_run(tmp_path: Path) -> None:
    watch = Watch(tmp_path)
    watch.start("worker", "timeit", dict(os.environ), "-n1", "-r1", "import time; time.sleep(30)")
    try:
        assert await watch.until(asyncio.sleep(0.6, result="done")) == "done"
    finally:
        watch.stop("worker")
