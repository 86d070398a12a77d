"""The decoder: a Kafka record's key and value in, an inbound event or a rejection out."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from consumer.errors import MAX_MESSAGE_LENGTH, EventRejected
from schemas.events import OrderCancellationRequested, OrderPlaced

MAX_DEPTH = 32
# The json module's parser recurses once per level, so a document nested past this is
# refused before it is parsed, whatever else may be wrong with it.
_PARSER_DEPTH_LIMIT = 256
# Far beyond any id we take, and short of the interpreter's own limit on int() of a string.
_MAX_INTEGER_DIGITS = 100
_SUPPORTED_SCHEMA_VERSION = 1

_EVENT_MODELS: dict[str, type[OrderPlaced] | type[OrderCancellationRequested]] = {
    "OrderPlaced": OrderPlaced,
    "OrderCancellationRequested": OrderCancellationRequested,
}

# A string (closed or not) is skipped whole, so brackets inside it do not count as nesting.
_STRUCTURE = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"?|[\[\]{}]', re.DOTALL)

# pydantic error kinds whose message is built from the schema alone, never from the input.
_INPUT_FREE_KINDS = frozenset(
    {
        "missing", "model_type", "model_attributes_type", "dict_type", "list_type",
        "string_type", "string_too_short", "string_too_long", "string_pattern_mismatch",
        "int_type", "int_from_float", "int_parsing", "bool_type", "literal_error", "enum",
        "greater_than", "greater_than_equal", "less_than", "less_than_equal",
        "too_short", "too_long", "datetime_type", "datetime_parsing",
        "datetime_from_date_parsing", "timezone_aware", "datetime_out_of_range",
        "union_tag_not_found",
        "money_type", "money_format", "email_invalid",
    }
)  # fmt: skip


def decode_event(
    key: bytes | None, value: bytes | None, *, max_bytes: int = 65536
) -> OrderPlaced | OrderCancellationRequested:
    """Decode one record, or raise `EventRejected` with the first problem found.

    Reasons, in the order they are checked: too_large, empty, not_utf8, not_json,
    duplicate_key, invalid_number, too_deep, not_an_object, unknown_event_type,
    unsupported_schema_version, schema_violation, key_mismatch. One exception: a value nested
    too deeply for the parser to take safely is refused as too_deep before it is parsed.
    """
    if value is not None and len(value) > max_bytes:
        raise EventRejected("too_large", f"Value is {len(value)} bytes, over the {max_bytes} limit")
    if value is None or not value.strip():
        raise EventRejected("empty", "Value is empty")
    document = _parse(_utf8_text(value))
    model = _event_model(document)
    event = _validate(model, value)
    if key is None:
        raise EventRejected("key_mismatch", "Kafka key is missing; it must be the order_ref")
    if key != event.order_ref.encode("utf-8"):
        raise EventRejected("key_mismatch", "Kafka key is not the event's order_ref")
    return event


def _utf8_text(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
    # Raised outside the handler so no chained error carries the input along.
    raise EventRejected("not_utf8", f"Value is not valid UTF-8 (bad byte at offset {offset})")


class _Findings:
    """What the parser's hooks saw that JSON allows but the contract does not."""

    def __init__(self) -> None:
        self.duplicate_key = False
        self.invalid_number: str | None = None

    def object_from_pairs(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        document = dict(pairs)
        if len(document) != len(pairs):
            self.duplicate_key = True
        return document

    def constant(self, name: str) -> float:
        self.invalid_number = self.invalid_number or f"{name} is not a JSON number"
        return math.nan

    def float_number(self, text: str) -> float:
        number = float(text)
        if not math.isfinite(number):
            self.invalid_number = self.invalid_number or "A number is too large for a float"
        return number

    def int_number(self, text: str) -> int:
        if len(text.lstrip("-")) > _MAX_INTEGER_DIGITS:
            self.invalid_number = self.invalid_number or (
                f"An integer has more than {_MAX_INTEGER_DIGITS} digits"
            )
            return 0
        return int(text)


def _parse(text: str) -> object:
    depth = _nesting_depth(text)
    if depth > _PARSER_DEPTH_LIMIT:
        raise EventRejected("too_deep", f"Value nests deeper than {_PARSER_DEPTH_LIMIT} levels")
    findings = _Findings()
    document = _load(text, findings)
    if findings.duplicate_key:
        raise EventRejected("duplicate_key", "A JSON object holds the same key more than once")
    if findings.invalid_number is not None:
        raise EventRejected("invalid_number", findings.invalid_number)
    if depth > MAX_DEPTH:
        raise EventRejected("too_deep", f"Value nests deeper than {MAX_DEPTH} levels")
    return document


def _load(text: str, findings: _Findings) -> object:
    try:
        return json.loads(
            text,
            object_pairs_hook=findings.object_from_pairs,
            parse_constant=findings.constant,
            parse_float=findings.float_number,
            parse_int=findings.int_number,
        )
    except json.JSONDecodeError as error:
        problem = f"{error.msg} (line {error.lineno}, column {error.colno})"
    raise EventRejected("not_json", f"Value is not JSON: {problem}")


def _nesting_depth(text: str) -> int:
    """How deeply arrays and objects nest, found without recursion and stopping early."""
    depth = deepest = 0
    for token in _STRUCTURE.finditer(text):
        bracket = text[token.start()]
        if bracket in "[{":
            depth += 1
            deepest = max(deepest, depth)
            if deepest > _PARSER_DEPTH_LIMIT:
                break
        elif bracket in "]}":
            depth -= 1
    return deepest


def _event_model(document: object) -> type[OrderPlaced] | type[OrderCancellationRequested]:
    if not isinstance(document, dict):
        raise EventRejected(
            "not_an_object", f"Value is a JSON {_json_kind(document)}, not an object"
        )
    event_type = document.get("event_type")
    model = _EVENT_MODELS.get(event_type) if isinstance(event_type, str) else None
    if model is None:
        known = ", ".join(_EVENT_MODELS)
        problem = "is missing" if "event_type" not in document else f"is not one of {known}"
        raise EventRejected("unknown_event_type", f"event_type {problem}")
    version = document.get("schema_version")
    if (
        isinstance(version, int | float)
        and not isinstance(version, bool)
        and version != _SUPPORTED_SCHEMA_VERSION
    ):
        raise EventRejected(
            "unsupported_schema_version",
            f"schema_version is not supported; {event_type} is read at version "
            f"{_SUPPORTED_SCHEMA_VERSION}",
        )
    return model


def _json_kind(document: object) -> str:
    kinds = {list: "array", str: "string", int: "number", float: "number", bool: "boolean"}
    return kinds.get(type(document), "null")


def _validate(
    model: type[OrderPlaced] | type[OrderCancellationRequested], value: bytes
) -> OrderPlaced | OrderCancellationRequested:
    try:
        return model.model_validate_json(value)
    except ValidationError as error:
        errors = error.errors(include_input=False, include_url=False)
    # The validator parses again, and refuses a few things json.loads lets by (such as an
    # unpaired surrogate escape); its message describes the fault, not the text.
    unreadable = [error["msg"] for error in errors if error["type"] == "json_invalid"]
    if unreadable:
        raise EventRejected("not_json", f"Value is not JSON the validator accepts: {unreadable[0]}")
    raise EventRejected("schema_violation", _describe(errors))


def _describe(errors: Sequence[ErrorDetails]) -> str:
    """`path: problem` per error, as many as fit in a dead-letter header."""
    lines = [f"{_path(error['loc'])}: {_input_free_message(error)}" for error in errors]
    text = lines[0]
    for shown, line in enumerate(lines[1:], start=1):
        rest = f"; and {len(lines) - shown} more"
        if len(text) + len(line) + 2 + len(rest) > MAX_MESSAGE_LENGTH:
            return text + rest
        text = f"{text}; {line}"
    return text


def _path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(event)"


def _input_free_message(error: ErrorDetails) -> str:
    kind = error["type"]
    if kind not in _INPUT_FREE_KINDS:
        return f"Input is not valid ({kind})"
    if kind in {"too_short", "too_long"}:
        # These end with ", not <actual length>": a count taken from the input.
        return error["msg"].partition(", not ")[0]
    return error["msg"]
