"""`/metrics`, `/healthz` and `/readyz` on an ephemeral local port, with fake readiness checks
probed at intervals the test steps, asked by the standard library's HTTP client; and what a
process does when its port is taken."""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import logging
import re
import socket
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from email.message import Message
from ipaddress import IPv4Address, IPv6Address

import pytest
from prometheus_client import CollectorRegistry, Counter
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector
from pydantic import ValidationError

from consumer.settings import ConsumerSettings
from runtime.telemetry.exporters import (
    MetricsPort,
    MetricsPortUnavailableError,
    open_endpoints,
    temporal_runtime,
)
from runtime.telemetry.http import Endpoints
from runtime.telemetry.readiness import Check, Probe, Readiness
from worker.settings import WorkerSettings

LOCALHOST = "127.0.0.1"
ALL = IPv4Address("0.0.0.0")
INTERVAL = 5.0
# Straight to the server, whatever proxy the environment names.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class FakeCheck:
    """A service that answers, refuses or hangs, as the test sets it, counting its probes."""

    name: str
    failure: Exception | None = None
    hangs: bool = False
    probes: int = 0
    probed: asyncio.Event = field(default_factory=asyncio.Event)
    cancelled: bool = False

    async def probe(self) -> None:
        self.probes += 1
        self.probed.set()
        if self.hangs:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                self.cancelled = True
                raise
        if self.failure is not None:
            raise self.failure


class Intervals:
    """The readiness probes' clock, stepped by the test: the next round of probes starts when
    the test ends the interval, not when time has passed."""

    def __init__(self) -> None:
        self.slept: list[float] = []
        self._asleep = asyncio.Event()
        self._ended = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self._ended.clear()
        self._asleep.set()
        await self._ended.wait()

    async def round_over(self) -> None:
        """Return once the round of probes under way is over (at once if none is)."""
        await self._asleep.wait()

    async def end(self) -> None:
        """End the interval, and return once the round of probes it starts is over."""
        self._asleep.clear()
        self._ended.set()
        await self._asleep.wait()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: Message
    body: bytes

    @property
    def content_type(self) -> str:
        return str(self.headers.get("Content-Type", ""))

    def json(self) -> object:
        return json.loads(self.body)


def _ask(port: int, path: str, method: str = "GET", accept: str | None = None) -> Answer:
    headers = {"Accept": accept} if accept else {}
    request = urllib.request.Request(
        f"http://{LOCALHOST}:{port}{path}", headers=headers, method=method
    )
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Answer(response.status, response.headers, response.read())
    except urllib.error.HTTPError as error:
        with error:
            return Answer(error.code, error.headers, error.read())


async def ask(port: int, path: str, method: str = "GET", accept: str | None = None) -> Answer:
    return await asyncio.to_thread(_ask, port, path, method, accept)


def _twice_on_one_connection(port: int, path: str) -> tuple[tuple[int, int], bool]:
    """The statuses of two requests sent one after the other, and whether the second went on
    the first one's connection (`http.client` opens a new one if the server closed it)."""
    connection = http.client.HTTPConnection(LOCALHOST, port, timeout=10)
    try:
        statuses = []
        sockets = []
        for _ in range(2):
            connection.request("GET", path)
            with connection.getresponse() as response:
                response.read()
                statuses.append(response.status)
            sockets.append(connection.sock)
        return (statuses[0], statuses[1]), sockets[0] is not None and sockets[0] is sockets[1]
    finally:
        connection.close()


class BrokenCollector(Collector):
    """A collector with a bug: every scrape raises."""

    def collect(self) -> Iterable[Metric]:
        raise RuntimeError("collector bug")


def readiness(intervals: Intervals, *, check_timeout: float = 2.0) -> Readiness:
    return Readiness(timeout=check_timeout, interval=INTERVAL, sleep=intervals.sleep)


@contextlib.asynccontextmanager
async def serving(
    checks: Sequence[Check] = (),
    registry: CollectorRegistry | None = None,
    *,
    intervals: Intervals | None = None,
    check_timeout: float = 2.0,
    read_timeout: float = 5.0,
) -> AsyncIterator[int]:
    """The endpoints, as a process serves them once it watches `checks` and their first round
    of probes is over."""
    intervals = intervals or Intervals()
    probes = readiness(intervals, check_timeout=check_timeout)
    endpoints = Endpoints(registry or CollectorRegistry(), probes, read_timeout=read_timeout)
    await endpoints.start(LOCALHOST, 0)
    probes.watch(checks)
    try:
        await intervals.round_over()
        yield endpoints.port
    finally:
        await probes.close()
        await endpoints.close()


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port some other process is listening on."""
    with socket.socket() as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen()
        yield int(listener.getsockname()[1])


# /healthz


async def test_healthz_answers_200_from_the_loop_that_runs_the_process() -> None:
    async with serving() as port:
        answer = await ask(port, "/healthz")

    assert answer.status == 200
    assert answer.content_type == "application/json"
    assert answer.json() == {"status": "alive"}


# /metrics


async def test_metrics_are_the_registry_in_the_prometheus_text_format() -> None:
    registry = CollectorRegistry()
    consumed = Counter("ordering_things", "Things", ["outcome"], registry=registry)
    consumed.labels("started").inc(3)

    async with serving(registry=registry) as port:
        answer = await ask(port, "/metrics")

    assert answer.status == 200
    assert answer.content_type.startswith("text/plain")
    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(answer.body.decode())
        for sample in family.samples
    }
    assert samples[("ordering_things_total", (("outcome", "started"),))] == 3


async def test_metrics_are_openmetrics_when_the_scraper_asks_for_it() -> None:
    registry = CollectorRegistry()
    Counter("ordering_things", "Things", registry=registry).inc()

    async with serving(registry=registry) as port:
        answer = await ask(port, "/metrics", accept="application/openmetrics-text; version=1.0.0")

    assert answer.content_type.startswith("application/openmetrics-text")
    assert answer.body.endswith(b"# EOF\n")


# /readyz


async def test_readyz_is_503_until_the_first_probes_after_the_process_opened_its_clients() -> None:
    intervals = Intervals()
    probes = readiness(intervals)  # as the processes make it, before `watch`
    endpoints = Endpoints(CollectorRegistry(), probes)
    await endpoints.start(LOCALHOST, 0)
    try:
        starting = await ask(endpoints.port, "/readyz")
        probes.watch([FakeCheck("mysql")])
        await intervals.round_over()
        started = await ask(endpoints.port, "/readyz")
    finally:
        await probes.close()
        await endpoints.close()

    assert (starting.status, starting.json()) == (
        503,
        {"status": "unready", "down": {"startup": "not finished"}},
    )
    assert started.status == 200


async def test_readyz_is_200_when_every_service_answers() -> None:
    checks = [FakeCheck("kafka"), FakeCheck("mysql"), FakeCheck("temporal")]

    async with serving(checks) as port:
        answer = await ask(port, "/readyz")

    assert (answer.status, answer.json()) == (200, {"status": "ready"})


async def test_readyz_is_503_naming_the_service_that_is_down() -> None:
    checks = [
        FakeCheck("kafka"),
        FakeCheck("mysql", failure=ConnectionRefusedError("refused")),
        FakeCheck("temporal"),
    ]

    async with serving(checks) as port:
        answer = await ask(port, "/readyz")

    assert answer.status == 503
    assert answer.content_type == "application/json"
    assert answer.json() == {"status": "unready", "down": {"mysql": "ConnectionRefusedError"}}


async def test_a_service_that_does_not_answer_in_time_is_down() -> None:
    checks = [FakeCheck("kafka", hangs=True), FakeCheck("mysql")]

    async with serving(checks, check_timeout=0.2) as port:
        answer = await ask(port, "/readyz")

    assert answer.status == 503
    assert answer.json() == {"status": "unready", "down": {"kafka": "TimeoutError"}}


async def test_readyz_answers_at_once_while_a_probe_hangs_and_closing_stops_the_probe() -> None:
    kafka = FakeCheck("kafka", hangs=True)
    probes = readiness(Intervals(), check_timeout=3600)
    endpoints = Endpoints(CollectorRegistry(), probes)
    await endpoints.start(LOCALHOST, 0)
    try:
        probes.watch([kafka])
        await kafka.probed.wait()
        answer = await asyncio.wait_for(ask(endpoints.port, "/readyz"), timeout=5)
        await asyncio.wait_for(probes.close(), timeout=5)
    finally:
        await endpoints.close()

    assert answer.status == 503
    assert kafka.cancelled


async def test_readyz_asked_many_times_at_once_probes_each_service_once_per_interval() -> None:
    checks = [FakeCheck("kafka"), FakeCheck("mysql"), FakeCheck("temporal")]
    intervals = Intervals()

    async with serving(checks, intervals=intervals) as port:
        first = await asyncio.gather(*(ask(port, "/readyz") for _ in range(40)))
        probes_in_first_interval = [check.probes for check in checks]
        await intervals.end()
        second = await asyncio.gather(*(ask(port, "/readyz") for _ in range(40)))

    assert {answer.status for answer in first + second} == {200}
    assert probes_in_first_interval == [1, 1, 1]
    assert [check.probes for check in checks] == [2, 2, 2]
    assert intervals.slept == [INTERVAL, INTERVAL]


async def test_readyz_reports_a_service_that_fails_from_the_next_probe_on() -> None:
    mysql = FakeCheck("mysql")
    intervals = Intervals()

    async with serving([mysql], intervals=intervals) as port:
        before = await ask(port, "/readyz")
        mysql.failure = ConnectionRefusedError("refused")
        until_probed = await ask(port, "/readyz")
        await intervals.end()
        after = await ask(port, "/readyz")

    assert (before.status, until_probed.status) == (200, 200)
    assert (after.status, after.json()) == (
        503,
        {"status": "unready", "down": {"mysql": "ConnectionRefusedError"}},
    )


async def test_a_service_answering_that_it_is_not_serving_is_down() -> None:
    async def not_serving() -> bool:
        return False

    async with serving([Probe("temporal", not_serving)]) as port:
        answer = await ask(port, "/readyz")

    assert answer.status == 503
    assert answer.json() == {"status": "unready", "down": {"temporal": "ServiceNotServingError"}}


async def test_readiness_comes_back_when_the_service_does_and_each_change_is_logged_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mysql = FakeCheck("mysql", failure=OSError("gone"))
    intervals = Intervals()

    with caplog.at_level(logging.INFO, logger="runtime.telemetry.readiness"):
        async with serving([mysql], intervals=intervals) as port:
            down = [(await ask(port, "/readyz")).status]
            await intervals.end()
            down.append((await ask(port, "/readyz")).status)
            mysql.failure = None
            up = []
            for _ in range(2):
                await intervals.end()
                up.append((await ask(port, "/readyz")).status)

    assert (down, up) == ([503, 503], [200, 200])
    assert [record.getMessage() for record in caplog.records] == [
        "not ready: mysql (OSError)",
        "ready: every service answers",
    ]


# What is not one of the three routes


async def test_an_unknown_path_is_404_and_a_post_is_405_each_naming_what_is_served() -> None:
    async with serving() as port:
        unknown = await ask(port, "/admin")
        posted = await ask(port, "/metrics", method="POST")

    assert (unknown.status, unknown.body) == (404, b"not found: /metrics, /healthz, /readyz\n")
    assert (posted.status, posted.body) == (405, b"GET or HEAD only\n")
    assert unknown.content_type == posted.content_type == "text/plain; charset=utf-8"


async def test_a_head_request_gets_the_status_without_a_body() -> None:
    async with serving() as port:
        answer = await ask(port, "/healthz", method="HEAD")

    assert (answer.status, answer.body) == (200, b"")


async def test_no_answer_may_be_cached() -> None:
    async with serving() as port:
        answers = [await ask(port, path) for path in ("/healthz", "/readyz", "/admin")]

    assert [answer.headers["Cache-Control"] for answer in answers] == ["no-store"] * 3


async def test_a_collector_that_fails_gives_500_and_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    registry.register(BrokenCollector())

    with caplog.at_level(logging.ERROR, logger="aiohttp.server"):
        async with serving(registry=registry) as port:
            failed = await ask(port, "/metrics")
            answer = await ask(port, "/healthz")

    assert (failed.status, answer.status) == (500, 200)
    [record] = caplog.records
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)


async def test_two_requests_are_answered_on_one_kept_alive_connection() -> None:
    async with serving() as port:
        statuses, reused = await asyncio.to_thread(_twice_on_one_connection, port, "/healthz")

    assert statuses == (200, 200)
    assert reused


async def _raw(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection(LOCALHOST, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), timeout=5)
    except ConnectionResetError:
        return b""  # dropped with the request unread, which the kernel reports as a reset
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def _status(raw_answer: bytes) -> int:
    """The status of a raw HTTP/1.x answer; 0 when there is none."""
    match = re.match(rb"HTTP/1\.[01] (\d{3}) ", raw_answer)
    return int(match[1]) if match else 0


async def test_a_request_that_is_not_http_gets_400_and_the_server_answers_the_next_one() -> None:
    async with serving() as port:
        garbage = await _raw(port, b"hello there\r\n\r\n")
        answer = await ask(port, "/healthz")

    assert _status(garbage) == 400
    assert answer.status == 200


async def test_a_client_that_never_finishes_its_request_is_dropped() -> None:
    async with serving(read_timeout=0.2) as port:
        dropped = await _raw(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n")
        answer = await ask(port, "/healthz")

    assert dropped == b""
    assert answer.status == 200


async def test_an_oversized_request_is_refused_with_400_and_logged_in_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        async with serving() as port:
            refused = await _raw(port, b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\n\r\n")

    assert _status(refused) == 400
    [record] = caplog.records
    assert (record.levelname, record.exc_info) == ("WARNING", None)
    assert "400" in record.getMessage()


# Ports


async def test_port_0_serves_nothing() -> None:
    endpoints = Endpoints(CollectorRegistry(), readiness(Intervals()))

    served = await open_endpoints(endpoints, ALL, MetricsPort("METRICS_PORT", 0, chosen=True))

    assert not served
    assert temporal_runtime(ALL, MetricsPort("TEMPORAL_METRICS_PORT", 0, chosen=True)) is None


async def test_a_taken_port_set_on_purpose_stops_the_process_naming_its_variable(
    taken_port: int,
) -> None:
    endpoints = Endpoints(CollectorRegistry(), readiness(Intervals()))

    with pytest.raises(MetricsPortUnavailableError, match=f"METRICS_PORT={taken_port} "):
        await open_endpoints(endpoints, ALL, MetricsPort("METRICS_PORT", taken_port, chosen=True))
    with pytest.raises(MetricsPortUnavailableError, match=f"TEMPORAL_METRICS_PORT={taken_port} "):
        temporal_runtime(ALL, MetricsPort("TEMPORAL_METRICS_PORT", taken_port, chosen=True))


async def test_a_taken_default_port_is_logged_as_an_error_and_left_unserved(
    taken_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    endpoints = Endpoints(CollectorRegistry(), readiness(Intervals()))

    with caplog.at_level(logging.ERROR, logger="runtime.telemetry.exporters"):
        served = await open_endpoints(
            endpoints, ALL, MetricsPort("METRICS_PORT", taken_port, False)
        )
        runtime = temporal_runtime(ALL, MetricsPort("TEMPORAL_METRICS_PORT", taken_port, False))

    assert (served, runtime) == (False, None)
    assert [record.levelname for record in caplog.records] == ["ERROR", "ERROR"]
    assert f"default METRICS_PORT={taken_port} cannot be served" in caplog.records[0].message


def test_a_port_is_chosen_when_its_variable_is_set_even_to_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("METRICS_PORT", raising=False)
    monkeypatch.setenv("DATABASE_URL", "mysql+asyncmy://user:secret@db:3306/orders")
    monkeypatch.setenv("TEMPORAL_METRICS_PORT", "9001")

    settings = ConsumerSettings(_env_file=None)

    assert MetricsPort.setting(settings, "metrics_port") == MetricsPort("METRICS_PORT", 8001, False)
    assert MetricsPort.setting(settings, "temporal_metrics_port") == MetricsPort(
        "TEMPORAL_METRICS_PORT", 9001, True
    )


@pytest.fixture
def free_port() -> int:
    """A port no one listened on a moment ago."""
    with socket.socket() as probe:
        probe.bind(("0.0.0.0", 0))
        return int(probe.getsockname()[1])


async def test_endpoints_on_a_loopback_metrics_host_answer_there_and_nowhere_else(
    free_port: int,
) -> None:
    # 127.0.0.2 stands for the host's one address; 127.0.0.1 for every other interface.
    endpoints = Endpoints(CollectorRegistry(), readiness(Intervals()))
    port = MetricsPort("METRICS_PORT", free_port, chosen=True)

    served = await open_endpoints(endpoints, IPv4Address("127.0.0.2"), port)
    try:
        answer = await asyncio.to_thread(_get, "127.0.0.2", free_port)
        with pytest.raises(ConnectionRefusedError):
            await asyncio.to_thread(_get, LOCALHOST, free_port)
    finally:
        await endpoints.close()

    assert served
    assert answer == 200


def _get(host: str, port: int) -> int:
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.request("GET", "/healthz")
        with connection.getresponse() as response:
            return response.status
    finally:
        connection.close()


def test_metrics_host_is_every_interface_unless_set_to_an_ip_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("METRICS_HOST", raising=False)
    monkeypatch.setenv("DATABASE_URL", "mysql+asyncmy://user:secret@db:3306/orders")
    default = ConsumerSettings(_env_file=None).metrics_host
    monkeypatch.setenv("METRICS_HOST", "::1")
    loopback = WorkerSettings(_env_file=None).metrics_host
    monkeypatch.setenv("METRICS_HOST", "localhost")

    with pytest.raises(ValidationError, match="metrics_host"):
        ConsumerSettings(_env_file=None)
    assert (default, loopback) == (IPv4Address("0.0.0.0"), IPv6Address("::1"))
