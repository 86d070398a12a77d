"""Opening the metrics ports: the endpoints' and the Temporal SDK's own exporter's.

Both listen on `METRICS_HOST`: every interface by default, as a container must be scraped
from another; `127.0.0.1` keeps them to the host. A port set on purpose (its variable is in
the environment) must bind, or the process stops saying which variable to change: a scraper
or a health check waits on it. A default port may already be taken, by a second process of
the same kind on one host, say; the process then logs an error and runs on without that port,
because handling orders matters more than counting them. Port 0 turns either off.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from typing import Annotated

from prometheus_client import CollectorRegistry
from pydantic import BaseModel, Field, IPvAnyAddress
from pydantic_settings import BaseSettings
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

from runtime.telemetry.http import Endpoints
from runtime.telemetry.readiness import Readiness

log = logging.getLogger(__name__)

READINESS_TIMEOUT_SECONDS = 2.0
READINESS_INTERVAL_SECONDS = 5.0  # between the end of one round of probes and the next


MetricsPortNumber = Annotated[int, Field(ge=0, le=65535)]
"""`METRICS_PORT` (`/metrics`, `/healthz`, `/readyz`) or `TEMPORAL_METRICS_PORT` (the Temporal
SDK's own metrics), both on METRICS_HOST; 0 turns one off. A port set on purpose must be free; a
default one that is taken is logged and left unserved. Each process has its own defaults."""


class MetricsSettings(BaseSettings):
    """What every process with metrics ports reads besides the ports (their defaults differ
    from process to process): the address both listen on, an IP address as the Temporal SDK's
    exporter takes no host name."""

    metrics_host: IPvAnyAddress = IPv4Address("0.0.0.0")


class MetricsPortUnavailableError(OSError):
    """A port set on purpose cannot be bound."""


@dataclass(frozen=True)
class MetricsPort:
    variable: str  # the environment variable that sets it, to name in messages
    number: int
    chosen: bool  # set in the environment rather than left at its default

    @classmethod
    def setting(cls, settings: BaseModel, field: str) -> MetricsPort:
        """The port in a settings field, named by its environment variable."""
        return cls(field.upper(), int(getattr(settings, field)), field in settings.model_fields_set)


@dataclass(frozen=True)
class Observability:
    """What a process is watched through: its readiness probes (reporting "starting" until
    the process hands them their checks), the endpoints, and the Temporal runtime to connect
    with (`None`: the SDK's default, without metrics)."""

    readiness: Readiness
    endpoints: Endpoints
    runtime: Runtime | None

    async def close(self) -> None:
        """Stop probing and serving."""
        await self.readiness.close()
        await self.endpoints.close()


async def open_observability(
    settings: MetricsSettings, registry: CollectorRegistry
) -> Observability:
    """Bind both ports from `metrics_port` and `temporal_metrics_port` before anything else
    connects, so a port set on purpose but taken stops the process before it does any work."""
    host = settings.metrics_host
    runtime = temporal_runtime(host, MetricsPort.setting(settings, "temporal_metrics_port"))
    readiness = Readiness(timeout=READINESS_TIMEOUT_SECONDS, interval=READINESS_INTERVAL_SECONDS)
    endpoints = Endpoints(registry, readiness)
    await open_endpoints(endpoints, host, MetricsPort.setting(settings, "metrics_port"))
    return Observability(readiness, endpoints, runtime)


async def open_endpoints(
    endpoints: Endpoints, host: IPv4Address | IPv6Address, port: MetricsPort
) -> bool:
    """Serve `/metrics`, `/healthz` and `/readyz` on host:port; whether they are served."""
    if port.number == 0:
        log.info("metrics and health endpoints off (%s=0)", port.variable)
        return False
    try:
        await endpoints.start(str(host), port.number)
    except OSError as error:
        return _unavailable(host, port, error)
    log.info("metrics and health endpoints on %s", _address(host, endpoints.port))
    return True


def temporal_runtime(host: IPv4Address | IPv6Address, port: MetricsPort) -> Runtime | None:
    """A Temporal runtime exporting the SDK's metrics for Prometheus on host:port; `None` (the
    SDK's default runtime, without metrics) when the port is 0 or a default one is taken."""
    if port.number == 0:
        return None
    exporter = PrometheusConfig(bind_address=_address(host, port.number))
    try:
        runtime = Runtime(telemetry=TelemetryConfig(metrics=exporter))
    except ValueError as error:  # how the SDK reports a port it cannot bind
        _unavailable(host, port, error)
        return None
    log.info("Temporal SDK metrics on %s", _address(host, port.number))
    return runtime


def _address(host: IPv4Address | IPv6Address, port: int) -> str:
    return f"[{host}]:{port}" if host.version == 6 else f"{host}:{port}"


def _unavailable(host: IPv4Address | IPv6Address, port: MetricsPort, error: Exception) -> bool:
    if port.chosen:
        raise MetricsPortUnavailableError(
            f"{port.variable}={port.number} cannot be served on {host} ({error}); set "
            f"{port.variable} to a free port (METRICS_HOST to an address of this host), or 0 "
            "to serve none"
        ) from error
    log.error(
        "default %s=%d cannot be served on %s (%s); running without it: set %s to a free port",
        port.variable, port.number, host, error, port.variable,
    )  # fmt: skip
    return False
