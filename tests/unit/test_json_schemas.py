"""The committed JSON Schema files: current with the models, and true to the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

from schemas.__main__ import main
from schemas.json_schema import WIRE_MODELS, json_schema_of, render, schema_file_name
from tests.support.examples import contract_order_placed

SCHEMA_DIRECTORY = Path(__file__).resolve().parents[2] / "docs" / "schemas"

ORDER_PLACED: dict[str, Any] = contract_order_placed()
CANCELLATION: dict[str, Any] = {
    "event_id": "9d0c4e1a-77f2-4b0e-8d5e-3f1b2c4d5e6f",
    "event_type": "OrderCancellationRequested",
    "schema_version": 1,
    "occurred_at": "2026-11-26T12:05:00Z",
    "order_ref": "web-000123",
    "reason": "customer changed mind",
}
STATUS_CHANGED: dict[str, Any] = {
    "event_id": "order-17:3",
    "event_type": "OrderStatusChanged",
    "schema_version": 1,
    "occurred_at": "2026-11-26T12:00:01.250Z",
    "order_id": 17,
    "order_ref": "web-000123",
    "workflow_id": "order-17",
    "sequence": 3,
    "previous_status": "VALIDATING",
    "status": "RESERVING_STOCK",
    "reason": None,
}


def committed_schema(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads((SCHEMA_DIRECTORY / name).read_text(encoding="utf-8"))
    return schema


def schema_errors(name: str, document: object) -> list[str]:
    validator = Draft202012Validator(committed_schema(name))
    return [error.message for error in validator.iter_errors(document)]


@pytest.mark.parametrize("model", WIRE_MODELS, ids=lambda model: model.__name__)
def test_committed_schema_file_equals_what_the_model_generates(model: type[BaseModel]) -> None:
    path = SCHEMA_DIRECTORY / schema_file_name(model)

    assert path.read_text(encoding="utf-8") == render(json_schema_of(model)), (
        "stale schema file: run `python -m schemas export docs/schemas`"
    )


def test_schema_directory_holds_exactly_one_file_per_wire_model() -> None:
    expected = {schema_file_name(model) for model in WIRE_MODELS}

    assert {path.name for path in SCHEMA_DIRECTORY.glob("*.json")} == expected


@pytest.mark.parametrize("model", WIRE_MODELS, ids=lambda model: model.__name__)
def test_committed_schema_is_a_valid_2020_12_schema(model: type[BaseModel]) -> None:
    Draft202012Validator.check_schema(committed_schema(schema_file_name(model)))


@pytest.mark.parametrize(
    ("name", "document"),
    [
        pytest.param("OrderPlaced.json", ORDER_PLACED, id="order-placed"),
        pytest.param("OrderCancellationRequested.json", CANCELLATION, id="cancellation"),
        pytest.param("OrderStatusChanged.json", STATUS_CHANGED, id="status-changed"),
    ],
)
def test_contract_example_validates_against_its_schema(name: str, document: object) -> None:
    assert schema_errors(name, document) == []


@pytest.mark.parametrize(
    ("name", "document"),
    [
        pytest.param(
            "OrderPlaced.json",
            {**ORDER_PLACED, "order": {**ORDER_PLACED["order"], "total_amount": 44.98}},
            id="money-as-number",
        ),
        pytest.param(
            "OrderPlaced.json",
            {**ORDER_PLACED, "order": {**ORDER_PLACED["order"], "total_amount": "44.985"}},
            id="money-three-places",
        ),
        pytest.param(
            "OrderPlaced.json",
            {**ORDER_PLACED, "order": {**ORDER_PLACED["order"], "items": []}},
            id="no-items",
        ),
        pytest.param("OrderPlaced.json", {**ORDER_PLACED, "schema_version": 2}, id="version-2"),
        pytest.param(
            "OrderCancellationRequested.json",
            {**CANCELLATION, "order_ref": "web-000\u0430123"},
            id="confusable-order-ref",
        ),
        pytest.param(
            "OrderStatusChanged.json",
            {key: value for key, value in STATUS_CHANGED.items() if key != "reason"},
            id="status-without-reason",
        ),
        pytest.param(
            "OrderStatusChanged.json", {**STATUS_CHANGED, "status": "SHIPPED"}, id="bad-status"
        ),
    ],
)
def test_schema_refuses_what_the_contract_refuses(name: str, document: object) -> None:
    assert schema_errors(name, document)


def test_export_command_writes_the_committed_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", str(tmp_path)]) == 0

    written = sorted(path.name for path in tmp_path.iterdir())
    assert written == sorted(schema_file_name(model) for model in WIRE_MODELS)
    for name in written:
        assert (tmp_path / name).read_bytes() == (SCHEMA_DIRECTORY / name).read_bytes()
    assert capsys.readouterr().out.count("\n") == len(WIRE_MODELS)
