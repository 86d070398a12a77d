"""The consumer's errors, each naming what the consumer does about it.

    ConsumerError            base of everything the consumer raises on purpose
    ├── EventRejected        poison: the message can never be an order; dead-letter it, then commit
    ├── TransientError       a dependency (MySQL, Temporal, Kafka) is unavailable: retry the
    │                        message later and do not commit its offset
    └── ConsumerCannotRunError  the consumer cannot go on: it stops, saying why
        ├── WorkflowIdTakenError        the order's workflow id belongs to another order in
        │                               Temporal: a deployment mistake (exit 1)
        ├── DeadLetterTopicRefusedError the dead-letter topic takes no record from this
        │                               consumer: it must stop, not loop (exit 1)
        └── ConsumerStalledError        records pending and nothing progressed for the stall
                                        time: a supervisor restarts it (exit 3)

Lower layers' errors are translated into these at the adapter boundary; anything else that
escapes is a defect and crashes the consumer loudly.
"""

from __future__ import annotations

MAX_MESSAGE_LENGTH = 500


class ConsumerError(Exception):
    pass


class EventRejected(ConsumerError):  # noqa: N818 - named for what happens to the event
    """A message that cannot become an order or a cancellation.

    `reason` is a stable code for the dead-letter headers and metrics; `message` is for a
    human and never holds the message's own values, which may be customer data.
    """

    def __init__(self, reason: str, message: str) -> None:
        if len(message) > MAX_MESSAGE_LENGTH:
            message = message[: MAX_MESSAGE_LENGTH - 1] + "…"
        super().__init__(reason, message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return f"{self.reason}: {self.message}"


class TransientError(ConsumerError):
    pass


class ConsumerCannotRunError(ConsumerError):
    """The consumer cannot go on; it stops, and its supervisor restarts it."""


class DeadLetterTopicRefusedError(ConsumerCannotRunError):
    """The dead-letter topic takes no record from this consumer: it must stop, not loop."""


class ConsumerStalledError(ConsumerCannotRunError):
    """Records were pending and nothing progressed for the stall time."""


class WorkflowIdTakenError(ConsumerCannotRunError):
    """`order-<id>` already names another order's workflow in the namespace.

    Order ids come from MySQL; this happens when a database is recreated while the namespace
    still remembers the orders of the old one. Starting nothing is the only safe choice: the
    new order must not be mistaken for the old one's run.
    """

    def __init__(self, workflow_id: str, order_ref: str) -> None:
        super().__init__(
            f"workflow {workflow_id} exists for another order than {order_ref}: the database's "
            "order ids repeat ones this Temporal namespace has already run; use a fresh "
            "namespace, or set the orders table's AUTO_INCREMENT above the ids already used"
        )
