"""Running a service process: its settings read once, logging set, SIGTERM/SIGINT as a stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from pydantic import ValidationError

from observability.logs import LogFormat, configure_logging

EXIT_OK = 0
EXIT_CANNOT_RUN = 1
EXIT_CONFIGURATION = 2

Settings = TypeVar("Settings")


async def run_service(
    name: str,
    load_settings: Callable[[], Settings],
    serve: Callable[[Settings, asyncio.Event], Awaitable[None]],
    *,
    log_setup: Callable[[Settings], tuple[str, LogFormat]],
    cannot_run: tuple[type[BaseException], ...],
    exit_codes: Mapping[type[BaseException], int] | None = None,
) -> int:
    """Serve until SIGTERM or SIGINT; the exit code says how it ended.

    Invalid settings print one line naming the fields (never their values, which may be
    secrets) and give 2; an error of `cannot_run` (a service unreachable at start-up…) is
    logged in one line and gives 1; one of `exit_codes` gives its own code, having been
    logged where it was found.
    """
    try:
        settings = load_settings()
    except ValidationError as error:
        fields = ", ".join(".".join(map(str, e["loc"])) for e in error.errors())
        sys.stderr.write(f"{name}: invalid configuration: {fields}\n")
        return EXIT_CONFIGURATION
    configure_logging(*log_setup(settings))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    try:
        await serve(settings, stop)
    except cannot_run as error:
        logging.getLogger(name).error("%s cannot run: %s", name, error)
        return EXIT_CANNOT_RUN
    except BaseException as error:
        for kind, code in (exit_codes or {}).items():
            if isinstance(error, kind):
                return code
        raise
    return EXIT_OK
