"""What a failed activity attempt tells Temporal: the error's type and a short message.

While an activity retries, the server keeps its last failure only up to 2 KiB
(`limit.mutableStateActivityFailureSize.error`); a larger one is replaced by "Failure exceeds
size limit.", and the Temporal UI and `describe` no longer say why the step retries. The SDK
reports an unexpected error with the traceback of every error in its cause chain: a MySQL
outage surfacing through `databases` and asyncmy comes to some 4 KiB. Reported without its
cause chain and with a bounded message, it fits, encrypted or not, and retries exactly as
before; its full traceback still reaches the worker's log.
"""

from __future__ import annotations

import traceback
from typing import Any

from temporalio.exceptions import ApplicationError, FailureError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

MAX_MESSAGE_LENGTH = 200


class CompactFailures(Interceptor):
    """Reports the unexpected errors of the activities of the worker it is given to by their
    type and message, without their cause chain."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _CompactFailingActivity(next)


class _CompactFailingActivity(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        try:
            return await self.next.execute_activity(input)
        except FailureError:
            # Business failures are ApplicationErrors already short; cancellations and the
            # like are acted on by the SDK as they are.
            raise
        except Exception as error:
            raise compact(error) from None


def compact(error: Exception) -> ApplicationError:
    """`error` as the SDK would report it (its class name as the type, retryable) with its
    message bounded and no cause.

    The original traceback, cause chain included, rides along as a note: the SDK's
    "Completing activity as failed" log line prints notes, while failures sent to Temporal
    never carry them.
    """
    reported = ApplicationError(_bounded(str(error)), type=type(error).__name__)
    reported.add_note("Raised by the activity:\n" + "".join(traceback.format_exception(error)))
    return reported


def _bounded(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - 1] + "…"
