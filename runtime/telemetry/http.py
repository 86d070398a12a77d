"""The metrics and health endpoints: `/metrics`, `/healthz` and `/readyz` over HTTP/1.1.

They are served from the process's own event loop on purpose: an answer from `/healthz` then
proves that the loop doing the process's work is running, where a server thread (as
`prometheus_client.start_http_server` runs) would keep answering with that loop blocked, and
could not probe clients that belong to the loop. aiohttp's server runs on that loop, started by
`web.AppRunner` and `web.TCPSite`, which leave SIGTERM and SIGINT to the processes; its
maintained parser handles keep-alive, chunked bodies, size limits and malformed requests, and
a handler's unexpected exception is logged (logger `aiohttp.server`) and answered with 500,
while a request it cannot parse is answered with 400 and logged as one warning. The exposition
format is prometheus-client's.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from runtime.telemetry.readiness import Readiness

SHUTDOWN_TIMEOUT_SECONDS = 5.0  # for requests in flight to finish when the server closes
NOT_FOUND = "not found: /metrics, /healthz, /readyz\n"
NOT_ALLOWED = "GET or HEAD only\n"


async def serve(app: web.Application, host: str, port: int, **settings: Any) -> web.AppRunner:
    """Serve `app` on host:port from the running loop until the runner is cleaned up; `OSError`
    when the port cannot be had. `settings` go to aiohttp's request handler (`keepalive_timeout`,
    say). No access log: a scraper's every request is not news."""
    runner = web.AppRunner(
        app, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS, **settings
    )
    await runner.setup()
    try:
        await web.TCPSite(runner, host, port).start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


class _ClientErrorsInOneLine(logging.Filter):
    """A request aiohttp cannot parse (too long, malformed) is the client's mistake, answered
    with 400: logged as one warning, where aiohttp logs an error with a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and 400 <= (error.code or 0) < 500:
            record.msg = f"{record.getMessage()}: {error.code} {error.message}"
            record.args = None
            record.exc_info = record.exc_text = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


_SERVER_LOG = logging.getLogger("aiohttp.server")
_SERVER_LOG.addFilter(_ClientErrorsInOneLine())


def bound_port(runner: web.AppRunner) -> int:
    """The port `serve` bound: the one asked for, or the one the system chose for port 0."""
    return int(runner.addresses[0][1])


class Endpoints:
    """The three routes, and the server that answers them once `start` has bound its port.

    `read_timeout` is how long a connection may go without a whole request, on its first one
    or between keep-alive requests, before it is closed.
    """

    def __init__(
        self, registry: CollectorRegistry, readiness: Readiness, *, read_timeout: float = 5.0
    ) -> None:
        self._registry = registry
        self._readiness = readiness
        self._read_timeout = read_timeout
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        """Bind and serve; `OSError` when the port cannot be had."""
        app = web.Application(middlewares=[_plain_errors])
        app.add_routes(
            [
                web.get("/healthz", self._healthz),
                web.get("/readyz", self._readyz),
                web.get("/metrics", self._metrics),
            ]
        )
        app.on_response_prepare.append(_not_cached)
        self._runner = await serve(app, host, port, keepalive_timeout=self._read_timeout)

    @property
    def port(self) -> int:
        """The bound port: the one asked for, or the one the system chose for port 0."""
        assert self._runner is not None, "not started"
        return bound_port(self._runner)

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        # Answering at all is the proof: this runs on the loop that does the work.
        return _json(200, {"status": "alive"})

    async def _readyz(self, request: web.Request) -> web.Response:
        # The last background probe's result: a request never reaches the services itself.
        down = self._readiness.down()
        if down:
            return _json(503, {"status": "unready", "down": down})
        return _json(200, {"status": "ready"})

    async def _metrics(self, request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        return web.Response(body=encode(self._registry), headers={"Content-Type": content_type})


def _json(status: int, document: object) -> web.Response:
    body = json.dumps(document).encode() + b"\n"
    return web.Response(status=status, body=body, content_type="application/json")


@web.middleware
async def _plain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """A 404 or 405 names what is served, where aiohttp's would only give the status."""
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as error:
        raise web.HTTPMethodNotAllowed(
            error.method, error.allowed_methods, text=NOT_ALLOWED
        ) from None
    except web.HTTPNotFound:
        raise web.HTTPNotFound(text=NOT_FOUND) from None


async def _not_cached(request: web.Request, response: web.StreamResponse) -> None:
    """Health and metrics are of this moment: no cache between the scraper and the process may
    answer for it."""
    response.headers["Cache-Control"] = "no-store"
