"""`dead-letters list | redrive`: what the dead-letter topic holds and why, and sending chosen
records back to the input topic, original key and bytes untouched.

A message's own bytes are never printed: an order carries the customer's email and payment
token. Re-driving is safe to repeat: the consumer is idempotent by `order_ref`, a cancellation
of a closed order changes nothing, and a record whose cause is not fixed is dead-lettered
again. Identical records (the same key and bytes, e.g. re-dead-lettered by an earlier re-drive)
are sent once per run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from schemas.topics import (
    HEADER_MESSAGE,
    HEADER_REASON,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    HEADER_VALUE_OMITTED,
    TRACE_CONTEXT_HEADERS,
)
from tools.ops.errors import EXIT_NOTHING, EXIT_OK, NotFoundError
from tools.ops.kafka import TopicRecord

# Where a re-driven record came from; the consumer ignores headers it does not know.
HEADER_REDRIVEN_FROM = "tools.ops.redriven_from"
_POSITION = re.compile(r"^([0-9]+):([0-9]+)$")

Position = tuple[int, int]
Send = Callable[[bytes | None, bytes | None, list[tuple[str, bytes]]], Awaitable[Position]]
Write = Callable[[str], None]


@dataclass(frozen=True)
class DeadLetter:
    record: TopicRecord

    @property
    def position(self) -> Position:
        return self.record.partition, self.record.offset

    def header(self, name: str) -> str:
        values = [value for key, value in self.record.headers if key == name]
        return values[-1].decode("utf-8", "replace") if values else "?"

    @property
    def reason(self) -> str:
        return self.header(HEADER_REASON)

    @property
    def dead_lettered_at(self) -> str:
        return datetime.fromtimestamp(self.record.timestamp_ms / 1000, UTC).isoformat()

    def summary(self) -> dict[str, object]:
        r = self.record
        return {
            "partition": r.partition,
            "offset": r.offset,
            "reason": self.reason,
            "message": self.header(HEADER_MESSAGE),
            "source": {
                "topic": self.header(HEADER_SOURCE_TOPIC),
                "partition": self.header(HEADER_SOURCE_PARTITION),
                "offset": self.header(HEADER_SOURCE_OFFSET),
            },
            "key": show_key(r.key),
            "bytes": len(r.value or b""),
            "dead_lettered_at": self.dead_lettered_at,
        }

    def line(self) -> str:
        r = self.record
        source = "/".join(
            self.header(name)
            for name in (HEADER_SOURCE_TOPIC, HEADER_SOURCE_PARTITION, HEADER_SOURCE_OFFSET)
        )
        return (
            f"{r.partition}:{r.offset}  {self.reason}  key {show_key(r.key)}"
            f"  {len(r.value or b'')} bytes  from {source}  at {self.dead_lettered_at}"
            f"\n      {self.header(HEADER_MESSAGE)}"
        )


def position(text: str) -> Position:
    """`P:O`, a dead letter's partition and offset."""
    match = _POSITION.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not PARTITION:OFFSET, e.g. 0:42")
    return int(match.group(1)), int(match.group(2))


def show_key(key: bytes | None) -> str:
    if key is None:
        return "(none)"
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return repr(key)
    return text if text.isprintable() else repr(text)


def list_letters(
    letters: list[DeadLetter], topic: str, *, limit: int | None, as_json: bool, write: Write
) -> int:
    shown = letters[:limit] if limit is not None else letters
    if as_json:
        write(json.dumps([letter.summary() for letter in shown], indent=2))
        return EXIT_OK
    write(f"{topic}: {len(letters)} dead letter(s)" + _showing(len(shown), len(letters)))
    for letter in shown:
        write(letter.line())
    return EXIT_OK


def choose(
    letters: list[DeadLetter], *, positions: list[Position] | None, reason: str | None
) -> list[DeadLetter]:
    """The letters at `positions` (all when None) with `reason` (any when None); a position
    that holds no dead letter is an error, so a typo never re-drives a partial set."""
    if positions is not None:
        held = {letter.position: letter for letter in letters}
        missing = [f"{p}:{o}" for p, o in positions if (p, o) not in held]
        if missing:
            raise NotFoundError(f"no dead letter at {', '.join(missing)}: nothing re-driven")
        letters = [held[p] for p in dict.fromkeys(positions)]
    return [letter for letter in letters if reason is None or letter.reason == reason]


async def redrive(
    chosen: list[DeadLetter], send: Send, *, dlq_topic: str, to_topic: str, dry_run: bool,
    write: Write,
) -> int:  # fmt: skip
    if not chosen:
        write("no dead letters match: nothing re-driven")
        return EXIT_NOTHING
    sent: set[tuple[bytes | None, bytes | None]] = set()
    for letter in chosen:
        r, where = letter.record, f"{letter.position[0]}:{letter.position[1]}"
        what = f"{where} ({letter.reason}, key {show_key(r.key)})"
        if letter.header(HEADER_VALUE_OMITTED) != "?":
            write(f"skipped {what}: {omitted(letter)}")
            continue
        if (r.key, r.value) in sent:
            write(f"skipped {what}: the same key and bytes were re-driven above")
            continue
        sent.add((r.key, r.value))
        if dry_run:
            write(f"would re-drive {what} to {to_topic}")
            continue
        origin = f"{dlq_topic}:{where}".encode()
        # The trace the record was dead-lettered in goes along, so its second run joins it.
        traced = [(k, v) for k, v in r.headers if k in TRACE_CONTEXT_HEADERS]
        partition, offset = await send(r.key, r.value, [(HEADER_REDRIVEN_FROM, origin), *traced])
        write(f"re-drove {what} to {to_topic} as {partition}:{offset}")
    verb = "would re-drive" if dry_run else "re-drove"
    write(f"{verb} {len(sent)} record(s) to {to_topic}" + (" (dry run)" if dry_run else ""))
    return EXIT_OK


def omitted(letter: DeadLetter) -> str:
    """Why a dead letter without its value cannot be re-driven, and where its original is."""
    source = ":".join(letter.header(h) for h in (HEADER_SOURCE_TOPIC, HEADER_SOURCE_PARTITION))
    return (
        f"its {letter.header(HEADER_VALUE_OMITTED)} bytes were too large to copy; the original"
        f" is at {source}@{letter.header(HEADER_SOURCE_OFFSET)}"
    )


def _showing(shown: int, total: int) -> str:
    return f", showing the first {shown}" if shown < total else ""
