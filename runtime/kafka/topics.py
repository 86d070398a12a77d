"""Whether the topics a process reads and writes exist, asked once at start.

The brokers create no topic on demand (the compose file and the local stack make them), so a
misspelt or forgotten topic would otherwise show only as a consumer that reads nothing, or a
producer retrying one record for ever.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka.errors import KafkaError


class MissingTopicError(KafkaError):  # type: ignore[misc]
    """A topic the process needs is not on the brokers; the message names it and its setting."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "a topic is missing"


async def check_topics(client: Any, wanted: Mapping[str, str]) -> None:
    """`MissingTopicError` naming each of `wanted` ({setting: topic}) the cluster lacks, asked
    through a started client's own metadata request (`producer.client`)."""
    existing = (await client.fetch_all_metadata()).topics()
    missing = [f"{topic} ({setting})" for setting, topic in wanted.items() if topic not in existing]
    if missing:
        raise MissingTopicError(
            f"Kafka has no topic {', '.join(missing)}: create it, or correct the setting"
        )
