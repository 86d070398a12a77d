"""The worker's errors, each naming what the worker does about it.

    WorkerError                       base of everything the worker raises on purpose
    ├── OrderRuleBrokenError          the order breaks a business rule: it fails, never retried
    ├── PaymentDeclinedError          the gateway refused the payment: the order fails
    ├── GatewayUnavailableError       the gateway did not answer: the capture is tried again,
    │                                 and refunded by its key when it stays in doubt
    ├── RelaySendError                the status topic did not take a batch: sent again
    └── WorkerCannotRunError          the process cannot go on: it exits 1 for its supervisor
        ├── RelayEndedError           the relay's task ended while the worker ran
        └── WorkerProcessExitedError  a process of the worker group ended

Lower layers' errors (MySQL's `db.errors`, Kafka's, Temporal's) are met where they are called:
an outage is retried, by the step's activity (locally, then by the server) or the relay's
loop, until it is over.
"""

from __future__ import annotations

from schemas.failures import FailureType


class WorkerError(Exception):
    pass


class OrderRuleBrokenError(WorkerError):
    """An order breaks a business rule: it fails for good, retrying cannot help."""

    def __init__(self, failure_type: FailureType, reason: str) -> None:
        super().__init__(reason)
        self.failure_type = failure_type
        self.reason = reason


class PaymentDeclinedError(WorkerError):
    """The gateway refused the payment: final, never retried."""


class GatewayUnavailableError(WorkerError):
    """The gateway did not answer: the call may be retried."""


class RelaySendError(WorkerError):
    """The status topic did not take a batch; the next try sends it again."""


class WorkerCannotRunError(WorkerError):
    """The worker cannot go on; its supervisor restarts it."""


class RelayEndedError(WorkerCannotRunError):
    """The relay's task ended while the worker ran: status events would no longer leave."""


class WorkerProcessExitedError(WorkerCannotRunError):
    """A worker process ended while the group was running."""
