"""Ending a process that used the Temporal client."""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn


def exit_now(code: int) -> NoReturn:
    """Flush, then skip interpreter finalisation, which the Temporal client's runtime can
    abort with SIGABRT (sdk-python#300): an orderly shutdown has already happened."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
