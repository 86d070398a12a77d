"""`make run`'s progress lines: one status per event, a republished event shown once."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import pytest

from tools.devstack.run import _watch


@dataclass(frozen=True)
class Record:
    value: bytes


class FakeWatcher:
    """Hands out the given status events as one batch, then nothing."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self._batches = [{"orders.status-0": [Record(json.dumps(e).encode()) for e in events]}]

    async def getmany(self, timeout_ms: int) -> dict[str, list[Record]]:
        return self._batches.pop(0) if self._batches else {}


def _status(sequence: int, status: str) -> dict[str, Any]:
    return {"event_id": f"order-1:{sequence}", "order_ref": "demo-1", "status": status}


async def _no_action(ref: str, status: str) -> None:
    return None


async def test_a_status_event_published_twice_is_shown_once(
    capsys: pytest.CaptureFixture[str],
) -> None:
    retried = _status(2, "VALIDATING")
    watcher: Any = FakeWatcher([_status(1, "PENDING"), retried, retried, _status(3, "FAILED")])

    await _watch(watcher, {"demo-1"}, _no_action, deadline=time.monotonic() + 5)

    last_line = [line for line in capsys.readouterr().out.splitlines() if "demo-1" in line][-1]
    assert last_line.split() == ["demo-1", "PENDING", "→", "VALIDATING", "→", "FAILED"]
