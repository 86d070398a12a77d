"""`ops dead-letters redrive` and a dead letter whose value was too large to copy."""

from __future__ import annotations

from tools.ops.dead_letters import DeadLetter, redrive
from tools.ops.kafka import TopicRecord


def letter(offset: int, value: bytes | None, *headers: tuple[str, bytes]) -> DeadLetter:
    base = (("dlq.reason", b"too_large"), ("dlq.source.topic", b"orders.events"))
    source = (("dlq.source.partition", b"2"), ("dlq.source.offset", b"41"))
    return DeadLetter(TopicRecord(0, offset, b"big-1", value, (*base, *source, *headers), 0))


async def test_a_letter_without_its_value_is_skipped_with_where_its_original_lies() -> None:
    sent: list[bytes | None] = []
    lines: list[str] = []

    async def send(
        key: bytes | None, value: bytes | None, headers: list[tuple[str, bytes]]
    ) -> tuple[int, int]:
        sent.append(value)
        return 0, len(sent)

    chosen = [letter(7, None, ("dlq.value_omitted", b"1048504")), letter(8, b"{}")]
    await redrive(
        chosen, send, dlq_topic="orders.events.dlq", to_topic="orders.events", dry_run=False,
        write=lines.append,
    )  # fmt: skip

    assert sent == [b"{}"]
    assert lines[0] == (
        "skipped 0:7 (too_large, key big-1): its 1048504 bytes were too large to copy;"
        " the original is at orders.events:2@41"
    )
    assert lines[-1] == "re-drove 1 record(s) to orders.events"
