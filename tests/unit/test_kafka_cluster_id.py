"""The local stack's Kafka cluster ids are made as Kafka's own `random-uuid` makes them."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import pytest

from tools.devstack import kafka

# A UUID whose base64url form starts with `-` (first six bits 111110), then an ordinary one.
DASHED = uuid.UUID(bytes=b"\xf8" + bytes(15))
PLAIN = uuid.UUID(bytes=b"\x10" + bytes(15))


def test_a_cluster_id_is_a_uuid_in_unpadded_base64url() -> None:
    cluster_id = kafka.new_cluster_id()

    assert len(cluster_id) == 22
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_a_uuid_that_would_make_an_id_starting_with_a_dash_is_drawn_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    draws: Iterator[uuid.UUID] = iter([DASHED, DASHED, PLAIN])
    monkeypatch.setattr(uuid, "uuid4", lambda: next(draws))
    assert base64.urlsafe_b64encode(DASHED.bytes).startswith(b"-")

    cluster_id = kafka.new_cluster_id()

    assert cluster_id == base64.urlsafe_b64encode(PLAIN.bytes).rstrip(b"=").decode()
