"""JSON Schema documents of the wire models, rendered the same way on every run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from schemas.events import OrderCancellationRequested, OrderPlaced, OrderStatusChanged

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
WIRE_MODELS: tuple[type[BaseModel], ...] = (
    OrderPlaced,
    OrderCancellationRequested,
    OrderStatusChanged,
)


def json_schema_of(model: type[BaseModel]) -> dict[str, Any]:
    """The schema of the JSON a model writes, which is what travels on the topics."""
    schema = model.model_json_schema(mode="serialization")
    return {"$schema": JSON_SCHEMA_DIALECT, **schema}


def render(schema: dict[str, Any]) -> str:
    # Sorted keys and a fixed indent keep the committed files diffable and byte-stable.
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_file_name(model: type[BaseModel]) -> str:
    return f"{model.__name__}.json"


def export(directory: Path) -> list[Path]:
    """Write one schema file per wire model into `directory`; return the paths written."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for model in WIRE_MODELS:
        path = directory / schema_file_name(model)
        path.write_text(render(json_schema_of(model)), encoding="utf-8")
        written.append(path)
    return written
