"""Readiness: whether the services a process works with answer it now.

A `Check` names a service and probes it through the process's own client, so a ready process
is one that can do its work, not one whose servers merely run somewhere. Probes run
concurrently and each within a deadline: a service that hangs is as down as one that refuses.
"""

from __future__ import annotations

import asyncio
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
    """Probes every check on demand and says which services are down, and why in a word.

    Made without checks, it stands for a process still starting: not ready until `watch`
    gives it the checks of the clients it has opened.
    """

    def __init__(self, checks: Sequence[Check] | None = None, *, timeout: float) -> None:
        self._checks = tuple(checks) if checks is not None else None
        self._timeout = timeout
        self._down: dict[str, str] = {}

    def watch(self, checks: Sequence[Check]) -> None:
        self._checks = tuple(checks)

    async def down(self) -> dict[str, str]:
        """Each service that did not answer in time, with the class of its error; a service
        that was down and answers again is logged once each way, not on every probe."""
        if self._checks is None:
            return dict(STARTING)
        results = await asyncio.gather(*(self._failure(check) for check in self._checks))
        down = {
            check.name: failure
            for check, failure in zip(self._checks, results, strict=True)
            if failure is not None
        }
        if down != self._down:
            if down:
                log.warning("not ready: %s", ", ".join(f"{n} ({e})" for n, e in down.items()))
            else:
                log.info("ready: every service answers")
            self._down = down
        return down

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
