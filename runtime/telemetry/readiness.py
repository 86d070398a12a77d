"""Readiness: whether the services a process works with answer it now.

A `Check` names a service and probes it through the process's own client, so a ready process
is one that can do its work, not one whose servers merely run somewhere. Probes run
concurrently and each within a deadline: a service that hangs is as down as one that refuses.
They run in the background at a fixed interval, and `/readyz` reads their last result: asking
it often does not ask the services any more often.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


class ServiceNotServingError(Exception):
    """The service answered, but said it cannot serve."""


class Check(Protocol):
    @property
    def name(self) -> str: ...

    async def probe(self) -> None:
        """Return when the service answers; raise when it does not."""
        ...


@dataclass(frozen=True)
class Probe:
    """A `Check` made of a name and a call that succeeds when the service answers; a call
    answering `False` (a health check's "not serving") counts as down too."""

    name: str
    call: Callable[[], Awaitable[object]]

    async def probe(self) -> None:
        if await self.call() is False:
            raise ServiceNotServingError(f"{self.name} is not serving")


STARTING = {"startup": "not finished"}


class Readiness:
    """Says which services were down at the last probe, and why in a word.

    The probes run in the background, once per `interval` (after each round ends), from
    `watch` until `close`: asking `down` reads the last round's result, so however often
    `/readyz` is asked, the services see one probe each per interval. Until the first round
    is done, and before `watch` gives it the checks of the clients the process has opened, it
    stands for a process still starting.
    """

    def __init__(
        self,
        *,
        timeout: float,
        interval: float,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._timeout = timeout
        self._interval = interval
        self._sleep = sleep
        self._down: dict[str, str] = dict(STARTING)
        self._task: asyncio.Task[None] | None = None

    def watch(self, checks: Sequence[Check]) -> None:
        """Start probing `checks`, the first round at once; from the running event loop."""
        if self._task is not None:
            raise RuntimeError("already watching")
        self._task = asyncio.create_task(self._probe_every_interval(tuple(checks)))

    async def close(self) -> None:
        """Stop probing, a round in progress included."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def down(self) -> dict[str, str]:
        """Each service that did not answer in time at the last probe, with the class of its
        error; empty when every one answered."""
        return dict(self._down)

    async def _probe_every_interval(self, checks: tuple[Check, ...]) -> None:
        while True:
            self._record(await self._probe(checks))
            await self._sleep(self._interval)

    async def _probe(self, checks: tuple[Check, ...]) -> dict[str, str]:
        results = await asyncio.gather(*(self._failure(check) for check in checks))
        return {
            check.name: failure
            for check, failure in zip(checks, results, strict=True)
            if failure is not None
        }

    def _record(self, down: dict[str, str]) -> None:
        """A service that was down and answers again is logged once each way, not on every
        probe."""
        if down != self._down:
            if down:
                log.warning("not ready: %s", ", ".join(f"{n} ({e})" for n, e in down.items()))
            else:
                log.info("ready: every service answers")
        self._down = down

    async def _failure(self, check: Check) -> str | None:
        try:
            async with asyncio.timeout(self._timeout):
                await check.probe()
        except TimeoutError:
            return "TimeoutError"
        except Exception as error:
            # Only the class: a driver's message may carry a host or a user name.
            return type(error).__name__
        return None
