"""docs/asyncapi.yaml: current with the wire models and valid AsyncAPI 3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from schemas.__main__ import render_asyncapi
from schemas.topics import DLQ_TOPIC, ORDERS_TOPIC, STATUS_TOPIC

ROOT = Path(__file__).resolve().parents[2]
DOCUMENT = ROOT / "docs" / "asyncapi.yaml"
SPEC = json.loads((ROOT / "tests" / "data" / "asyncapi-3.0.0.json").read_text())


def load(text: str) -> dict[str, Any]:
    document = yaml.safe_load(text)
    assert isinstance(document, dict)
    return document


def test_the_committed_document_is_what_the_models_generate() -> None:
    assert DOCUMENT.read_text() == render_asyncapi(), (
        "run: python -m schemas asyncapi docs/asyncapi.yaml"
    )


def test_the_document_is_valid_asyncapi_3() -> None:
    jsonschema.Draft7Validator(SPEC).validate(load(DOCUMENT.read_text()))


def test_a_broken_document_is_refused() -> None:
    broken = load(DOCUMENT.read_text())
    broken["channels"]["orderEvents"]["address"] = 42
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SPEC).validate(broken)


def test_the_three_topics_carry_their_messages() -> None:
    channels = load(DOCUMENT.read_text())["channels"]
    assert {c["address"]: sorted(c["messages"]) for c in channels.values()} == {
        ORDERS_TOPIC: ["OrderCancellationRequested", "OrderPlaced"],
        STATUS_TOPIC: ["OrderStatusChanged"],
        DLQ_TOPIC: ["DeadLetter"],
    }


def test_every_reference_resolves() -> None:
    document = load(DOCUMENT.read_text())
    text = json.dumps(document)
    for ref in {part.split('"')[0] for part in text.split('"$ref": "')[1:]}:
        node: Any = document
        for key in ref.removeprefix("#/").split("/"):
            node = node[key]
        assert node, ref
