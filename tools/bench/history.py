"""What an order's workflow history holds: the figures its Temporal cost follows."""

from __future__ import annotations

from collections import Counter

import databases
from temporalio.api.enums.v1 import EventType
from temporalio.api.history.v1 import HistoryEvent

from tools.bench.temporal import connect

LOCAL_ACTIVITY_MARKER = "core_local_activity"  # the SDK's name; a patch's marker is another


def history_figures(events: list[HistoryEvent]) -> dict[str, int]:
    """History events, workflow tasks completed, regular activities scheduled, local-activity
    markers, all markers (local activities and patches), search-attribute upserts."""
    kinds = Counter(event.event_type for event in events)
    markers = [e for e in events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    local = [
        m
        for m in markers
        if m.marker_recorded_event_attributes.marker_name == LOCAL_ACTIVITY_MARKER
    ]
    return {
        "events": len(events),
        "workflow_tasks": kinds[EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED],
        "activities": kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED],
        "local_activity_markers": len(local),
        "markers": len(markers),
        "upserts": kinds[EventType.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES],
    }


async def order_history(env: dict[str, str], database_url: str, order_ref: str) -> dict[str, int]:
    """The figures of one order's workflow, found by its row's workflow id."""
    database = databases.Database(database_url)
    await database.connect()
    try:
        workflow_id = await database.fetch_val(
            "SELECT temporal_workflow_id FROM orders WHERE order_ref = :ref", {"ref": order_ref}
        )
    finally:
        await database.disconnect()
    client = await connect(env)
    history = await client.get_workflow_handle(str(workflow_id)).fetch_history()
    return history_figures(list(history.events))
