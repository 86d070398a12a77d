"""Creating the contract's topics on the local broker, once it serves metadata."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from tools.devstack.processes import StackError


async def ensure_topics(
    bootstrap: str, names: Iterable[str], partitions: int, wait_seconds: float = 60.0
) -> None:
    """Create each topic that is missing; existing topics are left as they are."""
    deadline = asyncio.get_running_loop().time() + wait_seconds
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [
                NewTopic(name, num_partitions=partitions, replication_factor=1)
                for name in names
                if name not in existing
            ]
            if missing:
                await admin.create_topics(missing)
            return
        except TopicAlreadyExistsError:
            return
        except KafkaError as error:
            if asyncio.get_running_loop().time() > deadline:
                raise StackError(f"Kafka did not accept topics: {error!r}") from error
            await asyncio.sleep(0.5)
        finally:
            await admin.close()
