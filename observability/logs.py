"""Log set-up for every process: text or JSON lines, with the order each line is about.

Library loggers that print payloads or query arguments at DEBUG (aiokafka logs every record it
sends, `databases` every query's arguments) are held at INFO whatever the level asked for, so
customer data and payment tokens never reach the logs.
"""

from __future__ import annotations

import logging
import sys
from typing import Literal

from pythonjsonlogger.json import JsonFormatter

ORDER_FIELDS = ("order_ref", "order_id", "workflow_id")
_CHATTY_AT_DEBUG = ("aiokafka", "databases", "asyncmy", "temporalio")

LogFormat = Literal["text", "json"]


class _OrderContext(logging.Formatter):
    """Text lines, ending with the order they are about when the call said so in `extra`."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{name}={getattr(record, name)}" for name in ORDER_FIELDS if hasattr(record, name)
        )
        return f"{line} [{context}]" if context else line


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
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _CHATTY_AT_DEBUG:
        logging.getLogger(name).setLevel(max(root.level, logging.INFO))
