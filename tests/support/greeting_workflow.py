"""A trivial workflow, in a module of its own so the sandbox imports nothing else."""

from temporalio import workflow


@workflow.defn(name="StackGreeting")
class StackGreeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return f"hello {name}"
