"""The floor's workflow: what any workflow costs Temporal at least."""

from __future__ import annotations

from temporalio import workflow

EMPTY_WORKFLOW = "BenchEmptyWorkflow"


@workflow.defn(name=EMPTY_WORKFLOW)
class EmptyWorkflow:
    """Started, then completed by its first and only workflow task."""

    @workflow.run
    async def run(self) -> None:
        return None
