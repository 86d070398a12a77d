"""Which offset of a partition may be committed: the end of its finished prefix."""

from __future__ import annotations


class PartitionProgress:
    """Tracks finished offsets of one fetched batch, which finish out of order."""

    def __init__(self, offsets: list[int]) -> None:
        self._pending = sorted(offsets)
        self._done: set[int] = set()

    def finish(self, offset: int) -> None:
        self._done.add(offset)

    def committable(self) -> int | None:
        """The next offset to read after the longest finished prefix, or None if none is."""
        next_offset: int | None = None
        for offset in self._pending:
            if offset not in self._done:
                break
            next_offset = offset + 1
        return next_offset
