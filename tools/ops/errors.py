"""Errors the operator tools report as one line, each with the exit code it ends the run with.

    OpsError
    ├── NotFoundError              exit 1: no such order, dead letter, workflow or topic
    ├── NothingDoneError           exit 1: the command found nothing to act on, or was refused
    └── UnusableError              exit 2: the command cannot run at all
        ├── UsageError             arguments that parse but do not make sense
        └── ServiceUnavailableError  MySQL, Temporal or Kafka unreachable or misconfigured

Lower-layer errors (driver, RPC, Kafka) are translated into these where the tools call out.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_NOTHING = 1
EXIT_UNUSABLE = 2


class OpsError(Exception):
    """Base class of every error the tools report; `exit_code` is what the process returns."""

    exit_code = EXIT_UNUSABLE


class NotFoundError(OpsError):
    exit_code = EXIT_NOTHING


class NothingDoneError(OpsError):
    exit_code = EXIT_NOTHING


class UnusableError(OpsError):
    exit_code = EXIT_UNUSABLE


class UsageError(UnusableError):
    pass


class ServiceUnavailableError(UnusableError):
    pass
