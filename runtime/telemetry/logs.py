"""Log set-up for every process: text or JSON lines, with the order each line is about.

Library loggers that print payloads or query arguments at DEBUG (aiokafka logs every record it
sends, `databases` every query's arguments) are held at INFO whatever the level asked for, so
customer data and payment tokens never reach the logs. While Kafka is away, aiokafka logs the
same failure tens of times a second: a line of its repeated within 30 s is held back and counted
in the next one let through.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

ORDER_FIELDS = ("order_ref", "order_id", "workflow_id")
_CHATTY_AT_DEBUG = ("aiokafka", "databases", "asyncmy", "temporalio")
_REPEATING = ("aiokafka",)
REPEAT_WINDOW_SECONDS = 30.0

LogFormat = Literal["text", "json"]


class _OrderContext(logging.Formatter):
    """Text lines, ending with the order they are about when the call said so in `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in ORDER_FIELDS if hasattr(record, name)
        )
        return f"{line} [{context}]" if context else line


class RepeatsHeldBack(logging.Filter):
    """Lets through one line of each kind (logger, level and message template, whatever its
    arguments) per window from the loggers named, and says in it how many were held back."""

    def __init__(
        self,
        loggers: tuple[str, ...] = _REPEATING,
        window: float = REPEAT_WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self._loggers, self._window, self._clock = loggers, window, clock
        self._seen: dict[tuple[str, int, object], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self._loggers):
            return True
        kind = (record.name, record.levelno, record.msg)
        now = self._clock()
        shown_at, held = self._seen.get(kind, (None, 0))
        if shown_at is not None and now - shown_at < self._window:
            self._seen[kind] = (shown_at, held + 1)
            return False
        self._seen[kind] = (now, 0)
        if held:
            record.msg = f"{record.msg} ({held} more like it held back since the last one)"
        return True


def configure_logging(level: str, log_format: LogFormat = "json") -> None:
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )
    else:
        handler.setFormatter(_OrderContext("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RepeatsHeldBack())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _CHATTY_AT_DEBUG:
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
