"""Running a service process: its settings read once, logging set, SIGTERM/SIGINT as a stop."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from pydantic import ValidationError

from runtime.telemetry.logs import LogFormat, configure_logging

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

    Invalid settings print one line naming the fields and why (never their values, which may
    be secrets) and give 2; an error of `cannot_run` (a service unreachable at start-up…) is
    logged in one line and gives 1; one of `exit_codes` gives its own code, having been
    logged where it was found.
    """
    try:
        settings = load_settings()
    except ValidationError as error:
        sys.stderr.write(f"{name}: invalid configuration: {invalid_settings(error)}\n")
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


def invalid_settings(error: ValidationError) -> str:
    """The settings refused, each with the reason unless it is simply missing:
    `database_url, kafka_sasl_password (KAFKA_SECURITY_PROTOCOL=SASL_SSL needs ...)`.

    Safe to print: pydantic's messages describe what was expected, never the value given, and
    the project's own validators word theirs the same way.
    """
    described = []
    for problem in error.errors(include_url=False, include_input=False):
        name = ".".join(map(str, problem["loc"]))
        if problem["type"] == "missing":
            described.append(name)
        else:
            described.append(f"{name} ({problem['msg'].removeprefix('Value error, ')})")
    return ", ".join(described)
