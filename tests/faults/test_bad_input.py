"""Bad input: a stream of good orders with every kind of bad record mixed in, through the real
consumer. Each bad record is one dead letter with its own reason and its bytes untouched, and
leaves no row, workflow or stock change; the good orders around it are unaffected; the consumer
stays up; and no error text quotes what the bad records carried."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

from aiokafka import AIOKafkaProducer

from tests.support.harness import cancellation, order_placed
from tests.support.oracle import Expected, check, describe
from tests.support.pipeline import Pipeline

# Planted in the bad records: none of it may come back in a header or a log line.
PLANTED = "zebracorn"
PLANTED_EMAIL = f"{PLANTED}.lovelace@example.com"
PLANTED_TOKEN = f"tok_{PLANTED}_4242"
GOOD_ORDERS = 50
ITEM = {"product_id": 1, "quantity": 1, "unit_price": "19.99"}


@dataclass(frozen=True)
class Bad:
    case: str
    key: bytes | None
    value: bytes | None
    reason: str


def planted_order(ref: str) -> dict[str, Any]:
    event = order_placed(ref, [(1, 2, "19.99")], token=PLANTED_TOKEN)
    event["order"]["customer_email"] = PLANTED_EMAIL
    return event


def _set(document: dict[str, Any], path: str, value: object) -> None:
    *parents, last = path.split(".")
    target: Any = document
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if value is _DELETE:
        del target[last]
    elif isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value


_DELETE = object()


def with_(path: str, value: object) -> Callable[[str], bytes]:
    def build(ref: str) -> bytes:
        document = planted_order(ref)
        _set(document, path, value)
        return json.dumps(document).encode()

    return build


def without(path: str) -> Callable[[str], bytes]:
    return with_(path, _DELETE)


def text_with(old: str, new: str) -> Callable[[str], bytes]:
    """The planted order's JSON text with one fragment replaced, for what json cannot write."""

    def build(ref: str) -> bytes:
        text = json.dumps(planted_order(ref))
        assert old in text
        return text.replace(old, new, 1).encode()

    return build


def raw(value: bytes | None) -> Callable[[str], bytes | None]:
    return lambda _: value


def _encoded(ref: str) -> bytes:
    return json.dumps(planted_order(ref)).encode()


def _ref_of(ref: str) -> Callable[[str], bytes]:
    return lambda _: ref.encode()


CASES: list[tuple[str, Callable[[str], bytes | None], str]] = [
    ("latin1-byte", lambda ref: _encoded(ref).replace(b"lovelace", b"lovelac\xe9"), "not_utf8"),
    ("truncated-json", lambda ref: _encoded(ref)[:-25], "not_json"),
    ("trailing-garbage", lambda ref: _encoded(ref) + f" {PLANTED}".encode(), "not_json"),
    ("single-quotes", raw(f"{{'token': '{PLANTED_TOKEN}'}}".encode()), "not_json"),
    ("lone-surrogate", text_with('"card"', '"\\ud800"'), "not_json"),
    ("byte-order-mark", lambda ref: "\ufeff".encode() + _encoded(ref), "not_json"),
    ("array", lambda ref: json.dumps([planted_order(ref)]).encode(), "not_an_object"),
    ("nan", text_with('"total_amount": "39.98"', '"total_amount": NaN'), "invalid_number"),
    ("1e309", text_with('"total_amount": "39.98"', '"total_amount": 1e309'), "invalid_number"),
    ("5000-digit-int", text_with('"customer_id": 42', '"customer_id": ' + "9" * 5000),
     "invalid_number"),
    ("5000-deep-arrays", raw(b"[" * 5000 + f'"{PLANTED}"'.encode() + b"]" * 5000), "too_deep"),
    ("5000-deep-objects", raw(b'{"a":' * 5000 + f'"{PLANTED}"'.encode() + b"}" * 5000),
     "too_deep"),
    ("duplicate-keys", text_with('"customer_id"', f'"customer_email": "{PLANTED}@x.io", '
                                 '"customer_id"'), "duplicate_key"),
    ("duplicate-item-keys", text_with('"quantity": 2', '"quantity": 2, "quantity": 3'),
     "duplicate_key"),
    ("missing-payment", without("order.payment"), "schema_violation"),
    ("missing-event-id", without("event_id"), "schema_violation"),
    ("customer-id-string", with_("order.customer_id", "42"), "schema_violation"),
    ("items-object", with_("order.items", ITEM), "schema_violation"),
    ("quantity-zero", with_("order.items.0.quantity", 0), "schema_violation"),
    ("quantity-negative", with_("order.items.0.quantity", -3), "schema_violation"),
    ("float-money", text_with('"unit_price": "19.99"', '"unit_price": 19.99'),
     "schema_violation"),
    ("three-decimal-price", with_("order.items.0.unit_price", "19.999"), "schema_violation"),
    ("negative-price", with_("order.items.0.unit_price", "-19.99"), "schema_violation"),
    ("money-over-decimal-10-2", with_("order.total_amount", "123456789.00"),
     "schema_violation"),
    ("currency-lowercase", with_("order.currency", "usd"), "schema_violation"),
    ("currency-symbol", with_("order.currency", "US$"), "schema_violation"),
    ("currency-unknown", with_("order.currency", "ZZZ"), "unsupported_currency"),
    ("unknown-event-type", with_("event_type", "OrderShipped"), "unknown_event_type"),
    ("schema-version-2", with_("schema_version", 2), "unsupported_schema_version"),
    ("bad-email", with_("order.customer_email", f"{PLANTED}@@example.com"), "schema_violation"),
    ("zero-width-email", with_("order.customer_email", f"{PLANTED}\u200b@example.com"),
     "schema_violation"),
    ("naive-occurred-at", with_("occurred_at", "2026-11-26T12:00:00"), "schema_violation"),
    ("occurred-at-past-9999-in-utc", with_("occurred_at", "9999-12-31T23:00:00-05:00"),
     "schema_violation"),
    ("token-over-128", with_("order.payment.token", PLANTED_TOKEN * 10), "schema_violation"),
    ("101-items", with_("order.items", [ITEM] * 101), "schema_violation"),
    ("10000-items", with_("order.items", [ITEM] * 10_000), "too_large"),
    ("over-64-kib", with_("pad", PLANTED * 8_000), "too_large"),
    ("empty", raw(b""), "empty"),
    ("tombstone", raw(None), "empty"),
    ("wrong-key", lambda ref: _encoded(f"{ref}-other"), "key_mismatch"),
    ("unseen-order-cancellation", lambda ref: json.dumps(
        cancellation(ref, reason=f"{PLANTED} changed mind")).encode(), "unknown_order"),
    ("cancellation-reason-over-500", lambda ref: json.dumps(
        cancellation(ref, reason=PLANTED * 60)).encode(), "schema_violation"),
]  # fmt: skip
# The order_ref itself is the bad part: the key carries the same text, so only the ref is wrong.
BAD_REFS = [
    ("cyrillic-a-in-order-ref", "bad-\u0430-ref", "schema_violation"),
    ("zero-width-in-order-ref", "bad-\u200b-ref", "schema_violation"),
    ("order-ref-over-64", "bad-" + PLANTED * 7, "schema_violation"),
]


def bad_records() -> list[Bad]:
    records = [
        Bad(case, f"bad-{n:02d}".encode(), build(f"bad-{n:02d}"), reason)
        for n, (case, build, reason) in enumerate(CASES)
    ]
    records += [Bad(case, ref.encode(), _encoded(ref), reason) for case, ref, reason in BAD_REFS]
    records.append(Bad("missing-key", None, _encoded("bad-nokey"), "key_mismatch"))
    return records


async def test_bad_records_mixed_into_a_stream_of_good_orders_are_each_dead_lettered(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    bad = bad_records()
    good = [f"good-{n:02d}" for n in range(GOOD_ORDERS)]
    for n, ref in enumerate(good):
        await pipeline.publish.event(order_placed(ref, [(1 + n % 2, 1 + n % 3, _price(n))]))
        for record in bad[n::GOOD_ORDERS]:
            # A tombstone's value is None, which the producer sends as such.
            await pipeline.publish.raw(cast(bytes, record.value), record.key)
    # Well-formed but over the gateway's limit: a FAILED order, not a dead letter.
    await pipeline.publish.event(planted_order_over_limit("over-limit"))
    # A conflicting duplicate of a good order: the first one stands.
    await pipeline.publish.event(order_placed(good[0], [(2, 9, "5.00")], token=PLANTED_TOKEN))
    await pipeline.publish.event(order_placed("marker", [(2, 1, "5.00")]))
    finals = await pipeline.statuses.wait_final([*good, "over-limit", "marker"], within=180)

    expected_letters = Counter(record.reason for record in bad) + Counter(conflicting_duplicate=1)
    orders = {*good, "over-limit", "marker"}
    problems = await check(
        pipeline,
        Expected(
            orders=orders,
            dead_letters=expected_letters,
            statuses={ref: "COMPLETED" for ref in good} | {"over-limit": "FAILED"},
        ),
    )
    letters = await pipeline.dead_letters(expected=sum(expected_letters.values()))
    queue = pipeline.processes.env["ORDERING_TASK_QUEUE"]
    workflows = await pipeline.search(f"TaskQueue = '{queue}'", expected=len(orders))

    assert problems == [], describe(problems)
    assert len({record.case for record in bad}) == len(bad) >= 40
    assert len(bad) / (len(bad) + len(orders)) >= 0.10
    # Each bad record is exactly one dead letter, its key and bytes as they were sent.
    [conflict] = [letter for letter in letters if letter.key == good[0].encode()]
    letters.remove(conflict)
    assert _headers(conflict)["dlq.reason"] == "conflicting_duplicate"
    sent = Counter((record.key, record.value) for record in bad)
    assert Counter((letter.key, letter.value) for letter in letters) == sent
    reasons = {(letter.key, letter.value): _headers(letter)["dlq.reason"] for letter in letters}
    assert {r.case: reasons[(r.key, r.value)] for r in bad} == {r.case: r.reason for r in bad}
    assert {_headers(letter)["dlq.source.topic"] for letter in letters} == {pipeline.topics.orders}
    assert finals["over-limit"] == "FAILED"
    assert pipeline.statuses.by_ref["over-limit"][-1]["reason"] == "payment_declined"
    assert workflows == len(orders)
    # The same consumer process took the whole stream.
    assert pipeline.processes.starts["consumer"] == 1
    assert pipeline.processes.running["consumer"].poll() is None
    consumer_log = pipeline.processes.log("consumer")
    assert consumer_log.count("dead-lettering") >= sum(expected_letters.values())
    assert "Traceback" not in consumer_log
    leaks = [
        text
        for text in [consumer_log, pipeline.processes.log("worker")]
        + [value for letter in [*letters, conflict] for value in _headers(letter).values()]
        if PLANTED in text.lower() or "lovelace" in text
    ]
    assert leaks == []


def _price(n: int) -> str:
    return "19.99" if n % 2 == 0 else "5.00"


def planted_order_over_limit(ref: str) -> dict[str, Any]:
    event = order_placed(ref, [(1, 501, "19.99")], token=PLANTED_TOKEN)  # 10014.99
    event["order"]["customer_email"] = PLANTED_EMAIL
    return event


def _headers(letter: Any) -> dict[str, str]:
    return {name: value.decode() for name, value in letter.headers}


# Under the broker's limit on one record (1,048,588 bytes with its overhead), so an upstream
# producer allowed large requests gets it in; with the dead-letter headers, a copy is over the
# producer's own limit (1,048,576).
LARGEST_UPSTREAM_VALUE = 1_048_504


async def test_a_record_too_large_to_copy_is_dead_lettered_without_its_value_and_blocks_nothing(
    pipeline: Pipeline,
) -> None:
    pipeline.processes.start("worker")
    pipeline.processes.start("consumer")
    upstream = AIOKafkaProducer(
        bootstrap_servers=pipeline.endpoints.kafka_bootstrap, max_request_size=2 * 1024 * 1024
    )
    await upstream.start()
    try:
        big = await upstream.send_and_wait(
            pipeline.topics.orders, b"x" * LARGEST_UPSTREAM_VALUE, key=b"big-1"
        )
    finally:
        await upstream.stop()
    # The same key next: behind the big record on its partition.
    await pipeline.publish.event(order_placed("big-1", [(2, 1, "5.00")]))
    finals = await pipeline.statuses.wait_final(["big-1"])
    [letter] = await pipeline.dead_letters(expected=1)
    headers = _headers(letter)

    assert finals == {"big-1": "COMPLETED"}
    assert letter.key == b"big-1"
    assert letter.value is None
    assert headers["dlq.reason"] == "too_large"
    assert headers["dlq.value_omitted"] == str(LARGEST_UPSTREAM_VALUE)
    assert (headers["dlq.source.partition"], headers["dlq.source.offset"]) == (
        str(big.partition),
        str(big.offset),
    )
    assert pipeline.processes.running["consumer"].poll() is None
