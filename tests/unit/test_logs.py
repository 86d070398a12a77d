"""Log lines say which order they are about, and libraries never log payloads."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from consumer.settings import ConsumerSettings
from runtime.telemetry.logs import RepeatsHeldBack, configure_logging
from worker.settings import WorkerSettings


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name in ("aiokafka", "databases", "asyncmy", "temporalio"):
        logging.getLogger(name).setLevel(logging.NOTSET)


def test_a_text_line_ends_with_the_order_it_is_about(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    logging.getLogger("consumer").info("started", extra={"order_ref": "web-1", "order_id": 7})
    line = capsys.readouterr().err.strip()
    assert line.endswith("INFO consumer started [order_ref=web-1 order_id=7]")


def test_a_json_line_carries_the_order_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO")
    logging.getLogger("worker").warning("slow", extra={"workflow_id": "order-7"})
    record = json.loads(capsys.readouterr().err)
    assert (record["level"], record["logger"], record["message"]) == ("WARNING", "worker", "slow")
    assert record["workflow_id"] == "order-7"


def test_debug_leaves_the_libraries_that_log_payloads_at_info(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("DEBUG")
    logging.getLogger("aiokafka.producer.producer").debug("Sending value=tok_secret")
    logging.getLogger("databases").debug("Query args: ada@example.com")
    logging.getLogger("consumer").debug("our own debug line")
    err = capsys.readouterr().err
    assert "tok_secret" not in err
    assert "ada@example.com" not in err
    assert "our own debug line" in err


@pytest.mark.parametrize("settings_class", [ConsumerSettings, WorkerSettings])
def test_both_processes_log_json_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[ConsumerSettings | WorkerSettings]
) -> None:
    monkeypatch.delenv("LOG_FORMAT", raising=False)
    monkeypatch.setenv("DATABASE_URL", "mysql+asyncmy://user:secret@db:3306/orders")
    assert settings_class(_env_file=None).log_format == "json"
    monkeypatch.setenv("LOG_FORMAT", "text")
    assert settings_class(_env_file=None).log_format == "text"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def record(name: str, msg: str, *args: object) -> logging.LogRecord:
    return logging.LogRecord(name, logging.ERROR, __file__, 1, msg, args, None)


def test_a_kafka_failure_repeated_during_an_outage_is_one_line_per_window_with_a_count() -> None:
    clock = Clock()
    held_back = RepeatsHeldBack(window=30, clock=clock)
    shown = []
    for n in range(100):  # one a third of a second, as aiokafka retries a dead broker
        clock.now = n / 3
        line = record("aiokafka", "Unable connect to node with id %s: %s", 1, "refused")
        if held_back.filter(line):
            shown.append(line.getMessage())

    assert shown == [
        "Unable connect to node with id 1: refused",
        "Unable connect to node with id 1: refused (89 more like it held back since the last one)",
    ]


def test_other_loggers_and_other_kinds_of_line_pass_as_they_are() -> None:
    held_back = RepeatsHeldBack(window=30, clock=Clock())
    lines = [
        record("consumer.runner", "transient failure at %s", "t:0@1"),
        record("consumer.runner", "transient failure at %s", "t:0@1"),
        record("aiokafka", "Unable connect to node with id %s", 1),
        record("aiokafka.consumer.fetcher", "Failed fetch messages from %s", 1),
    ]

    assert [held_back.filter(line) for line in lines] == [True, True, True, True]
