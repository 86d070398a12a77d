"""The bounded shutdown every process closes with: a step that hangs or fails is cut short and
logged, and the next one still runs."""

from __future__ import annotations

import asyncio

import pytest

from runtime.services import Closing, bounded


async def test_a_shutdown_step_that_hangs_is_cut_short(caplog: pytest.LogCaptureFixture) -> None:
    never = asyncio.get_running_loop().create_future()  # a producer stop with brokers down

    await bounded("the Kafka producer's stop", never, 0.01)

    assert never.cancelled()
    assert "the Kafka producer's stop did not end within 0.01 s; left unfinished" in caplog.text


async def test_closing_closes_newest_first_and_goes_on_past_a_hang_and_a_failure(
    caplog: pytest.LogCaptureFixture,
) -> None:
    closed: list[str] = []

    async def close(what: str) -> None:
        closed.append(what)

    async def hang() -> None:
        closed.append("the Kafka consumer")
        await asyncio.get_running_loop().create_future()

    async def fail() -> None:
        closed.append("MySQL")
        raise ConnectionResetError("the server went away")

    closing = Closing(0.01)
    closing.push("the metrics endpoints", lambda: close("the metrics endpoints"))
    closing.push("the Kafka consumer", hang)
    closing.push("MySQL", fail)
    closing.push("tracing", lambda: close("tracing"))

    await closing.close()

    assert closed == ["tracing", "MySQL", "the Kafka consumer", "the metrics endpoints"]
    assert "closing MySQL failed: ConnectionResetError('the server went away')" in caplog.text
    assert "closing the Kafka consumer did not end within 0.01 s" in caplog.text
