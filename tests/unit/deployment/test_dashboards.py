"""deploy/: the Grafana dashboard reads only series the processes serve, from the Prometheus
that `docker compose up` runs, which scrapes the ports the consumer and the worker open."""

from __future__ import annotations

import itertools
import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

import promql_parser
import pytest
import yaml
from prometheus_client import CollectorRegistry

from consumer.handlers import Outcome
from consumer.metrics import DEAD_LETTERED, ConsumerMetrics
from db.errors import DatabaseUnavailableError
from schemas.order import OrderStatus
from worker.metrics import WorkerMetrics

ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DEPLOY = ROOT / "deploy"
PROMETHEUS_CONFIG = DEPLOY / "prometheus" / "prometheus.yml"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
DASHBOARD = DASHBOARDS / "ordering.json"
DATASOURCES = DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml"
# Checked against a running worker by tests/e2e/test_metrics.py.
SDK_SERIES = ROOT / "tests" / "data" / "temporal-sdk-series.json"
DASHBOARD_PROVIDERS = DEPLOY / "grafana" / "provisioning" / "dashboards" / "ordering.yml"

APP_PROCESSES = ("consumer", "worker")
METRICS_PORT_VARIABLES = ("METRICS_PORT", "TEMPORAL_METRICS_PORT")

# Grafana's own variables ($__rate_interval, ...), replaced by a duration before Prometheus runs
# the query.
GRAFANA_VARIABLE = re.compile(r"\$__\w+")

# Values a query may select by, where the processes write them from a known set.
WRITTEN_VALUES = {
    ("ordering_orders_finished_total", "status"): {status.value for status in OrderStatus},
    ("ordering_messages_consumed_total", "outcome"): {o.value for o in Outcome} | {DEAD_LETTERED},
}

Document = dict[str, Any]
Panel = dict[str, Any]
Series = dict[str, frozenset[str]]  # sample name -> its label names


def _load_yaml(path: Path) -> Document:
    return cast(Document, yaml.safe_load(path.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def dashboard() -> Document:
    return cast(Document, json.loads(DASHBOARD.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def panels(dashboard: Document) -> list[Panel]:
    """The panels that show data, without the rows that only group them."""
    return [panel for panel in dashboard["panels"] if panel["type"] != "row"]


@pytest.fixture(scope="module")
def services() -> dict[str, Document]:
    return cast(dict[str, Document], _load_yaml(COMPOSE_FILE)["services"])


def _used_registries() -> tuple[CollectorRegistry, ...]:
    """The consumer's and the worker's metrics, each used once: a labelled metric has no series
    until it is first given its labels."""
    consumer_registry, worker_registry = CollectorRegistry(), CollectorRegistry()
    consumer = ConsumerMetrics(consumer_registry)
    consumer.handled(Outcome.STARTED)
    consumer.dead_lettered("invalid_json")
    consumer.retrying(DatabaseUnavailableError("down"))
    consumer.batch_done(records=10, seconds=0.2)
    consumer.partition_lag({("orders.events", 0): 3}, assigned=[("orders.events", 0)])
    consumer.workflow_started(datetime.now(UTC))
    worker = WorkerMetrics(worker_registry)
    worker.order_finished(OrderStatus.FAILED, "insufficient_stock:product=7")
    worker.activity_done("reserve_stock", "completed", 0.01)
    return consumer_registry, worker_registry


@pytest.fixture(scope="module")
def served() -> Series:
    """Every series name the processes serve (`_total`, `_bucket`, `_count`, `_sum`, ...): their
    own, and those of the Temporal SDK's exporter that a running worker is checked to serve."""
    labels: dict[str, set[str]] = {}
    for registry in _used_registries():
        for family in registry.collect():
            for sample in family.samples:
                labels.setdefault(sample.name, set()).update(sample.labels)
    sdk = json.loads(SDK_SERIES.read_text(encoding="utf-8"))["series"]
    for name, names in sdk.items():
        labels.setdefault(name, set()).update(names)
    return {name: frozenset(names) for name, names in labels.items()}


def _expressions(panels: list[Panel]) -> dict[str, str]:
    """Each query of the dashboard, named by its panel's title and its refId."""
    return {
        f"{panel['title']} / {target['refId']}": target["expr"]
        for panel in panels
        for target in panel["targets"]
    }


def _parse(expression: str) -> promql_parser.Expr:
    return promql_parser.parse(GRAFANA_VARIABLE.sub("1m", expression))


Node = TypeVar("Node", bound=promql_parser.Expr)


def _nodes(tree: promql_parser.Expr, kind: type[Node]) -> list[Node]:
    """Every node of the query of that kind, in walking order."""
    found: list[Node] = []

    def visit(node: promql_parser.Expr) -> None:
        if isinstance(node, kind):
            found.append(node)

    promql_parser.walk(tree, visit)
    return found


def _selectors(tree: promql_parser.Expr) -> list[promql_parser.VectorSelector]:
    return _nodes(tree, promql_parser.VectorSelector)


def _aggregations(tree: promql_parser.Expr) -> list[promql_parser.AggregateExpr]:
    return _nodes(tree, promql_parser.AggregateExpr)


def expression_problems(expression: str, served: Series) -> list[str]:
    """What a query asks for that the processes do not serve: a metric, a label it selects by,
    or a label it aggregates by (`by (...)`, `without (...)`)."""
    try:
        tree = _parse(expression)
    except ValueError as error:
        return [f"not PromQL: {error}"]
    problems: list[str] = []
    for selector in _selectors(tree):
        if selector.name not in served:
            problems.append(f"unknown metric {selector.name}")
            continue
        for matcher in selector.matchers.matchers:
            if matcher.name != "__name__" and matcher.name not in served[selector.name]:
                problems.append(f"{selector.name} has no label {matcher.name}")
    for aggregation in _aggregations(tree):
        grouped = aggregation.modifier.labels if aggregation.modifier else []
        for selector, label in itertools.product(_selectors(aggregation.expr), grouped):
            if selector.name in served and label not in served[selector.name]:
                problems.append(f"{selector.name} has no label {label} to aggregate by")
    return problems


def _mounts(service: Document) -> dict[str, tuple[str, str]]:
    """Source on the host -> (path in the container, mode), for the bind mounts of a service."""
    mounts: dict[str, tuple[str, str]] = {}
    for volume in service.get("volumes", []):
        source, target, *mode = str(volume).split(":")
        if source.startswith("."):
            mounts[source] = (target, mode[0] if mode else "rw")
    return mounts


PUBLISHED_ON = "${PUBLISH_ADDRESS:-127.0.0.1}"


def _container_port(service: Document, host_port: str) -> str:
    for port in service.get("ports", []):
        address, host, container = str(port).rsplit(":", 2)
        if address == PUBLISHED_ON and host == host_port:
            return container
    raise AssertionError(f"host port {host_port} is not published on {PUBLISHED_ON}")


def test_every_panel_has_a_title_and_a_query(dashboard: Document, panels: list[Panel]) -> None:
    assert panels
    for panel in dashboard["panels"]:
        assert panel.get("title"), panel["id"]
    for panel in panels:
        assert panel["targets"], panel["title"]
        assert all(target.get("expr") for target in panel["targets"]), panel["title"]


def test_panel_ids_are_unique_and_panels_do_not_overlap(dashboard: Document) -> None:
    ids = [panel["id"] for panel in dashboard["panels"]]
    cells = [
        {
            (x, y)
            for x in range(panel["gridPos"]["x"], panel["gridPos"]["x"] + panel["gridPos"]["w"])
            for y in range(panel["gridPos"]["y"], panel["gridPos"]["y"] + panel["gridPos"]["h"])
        }
        for panel in dashboard["panels"]
    ]

    assert len(set(ids)) == len(ids)
    assert all(x < 24 for panel_cells in cells for x, _ in panel_cells)
    assert sum(map(len, cells)) == len(set().union(*cells))


def test_every_query_reads_series_the_consumer_and_the_worker_serve(
    panels: list[Panel], served: Series
) -> None:
    problems = {
        name: found
        for name, expression in _expressions(panels).items()
        if (found := expression_problems(expression, served))
    }

    assert problems == {}


@pytest.mark.parametrize(
    ("original", "tampered", "reported"),
    [
        ("ordering_orders_finished_total", "ordering_orders_done_total", "unknown metric"),
        ("_seconds_bucket", "_seconds", "unknown metric"),
        ("by (dependency)", "by (service)", "has no label service to aggregate by"),
        ('{status="FAILED"}', '{state="FAILED"}', "has no label state"),
        ("sum by (status) (", "sum by (status) ((", "not PromQL"),
    ],
    ids=[
        "renamed-metric",
        "histogram-without-bucket",
        "unknown-group-label",
        "unknown-matcher",
        "unbalanced-parenthesis",
    ],
)
def test_a_tampered_query_is_reported(
    panels: list[Panel], served: Series, original: str, tampered: str, reported: str
) -> None:
    expression = next(e for e in _expressions(panels).values() if original in e)
    problems = expression_problems(expression.replace(original, tampered), served)

    assert expression_problems(expression, served) == []
    assert any(reported in problem for problem in problems), problems


def test_every_metric_the_processes_register_is_among_the_series_checked() -> None:
    silent = [
        family.name
        for registry in _used_registries()
        for family in registry.collect()
        if not family.samples
    ]

    assert silent == [], "use these metrics in _used_registries, so their labels are checked"


def test_queries_select_values_the_processes_write(panels: list[Panel]) -> None:
    selected = [
        (selector.name or "", matcher.name, matcher.value)
        for expression in _expressions(panels).values()
        for selector in _selectors(_parse(expression))
        for matcher in selector.matchers.matchers
    ]
    checked = [(n, label, value) for n, label, value in selected if (n, label) in WRITTEN_VALUES]

    assert checked
    for name, label, value in checked:
        assert value in WRITTEN_VALUES[(name, label)], f"{name}{{{label}={value!r}}}"


def test_every_panel_reads_the_provisioned_prometheus(panels: list[Panel]) -> None:
    (datasource,) = _load_yaml(DATASOURCES)["datasources"]
    expected = {"type": datasource["type"], "uid": datasource["uid"]}

    for panel in panels:
        assert panel["datasource"] == expected, panel["title"]
        for target in panel["targets"]:
            assert target.get("datasource", expected) == expected, panel["title"]


def test_the_datasource_is_the_prometheus_service_of_compose(
    services: dict[str, Document],
) -> None:
    (datasource,) = _load_yaml(DATASOURCES)["datasources"]
    port = _container_port(services["prometheus"], "9090")

    assert datasource["type"] == "prometheus"
    assert datasource["url"] == f"http://prometheus:{port}"


def test_prometheus_scrapes_both_metrics_ports_of_the_consumer_and_the_worker(
    services: dict[str, Document],
) -> None:
    scraped = {
        target
        for job in _load_yaml(PROMETHEUS_CONFIG)["scrape_configs"]
        for group in job["static_configs"]
        for target in group["targets"]
    }
    served_ports = {
        f"{process}:{services[process]['environment'][variable]}"
        for process in APP_PROCESSES
        for variable in METRICS_PORT_VARIABLES
    }

    assert scraped == served_ports


def test_compose_mounts_the_deploy_files_read_only_where_the_images_read_them(
    services: dict[str, Document],
) -> None:
    assert _mounts(services["prometheus"]) == {
        "./deploy/prometheus/prometheus.yml": ("/etc/prometheus/prometheus.yml", "ro"),
    }
    assert _mounts(services["grafana"]) == {
        **{
            f"./deploy/grafana/provisioning/{kind}": (f"/etc/grafana/provisioning/{kind}", "ro")
            for kind in ("datasources", "dashboards")
        },
        "./deploy/grafana/dashboards": ("/etc/grafana/dashboards", "ro"),
    }
    for source in (*_mounts(services["prometheus"]), *_mounts(services["grafana"])):
        assert (ROOT / source).exists(), source


def test_grafana_provisions_the_dashboards_folder_and_opens_on_the_dashboard(
    services: dict[str, Document],
) -> None:
    (provider,) = _load_yaml(DASHBOARD_PROVIDERS)["providers"]
    mounted_at, _ = _mounts(services["grafana"])["./deploy/grafana/dashboards"]
    home = services["grafana"]["environment"]["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]

    assert provider["type"] == "file"
    assert provider["options"]["path"] == mounted_at
    assert home == f"{mounted_at}/{DASHBOARD.name}"


def test_prometheus_and_grafana_run_pinned_official_images_on_the_readme_ports(
    services: dict[str, Document],
) -> None:
    assert re.fullmatch(r"prom/prometheus:v\d+\.\d+\.\d+", services["prometheus"]["image"])
    assert re.fullmatch(r"grafana/grafana:\d+\.\d+\.\d+", services["grafana"]["image"])
    assert services["prometheus"]["ports"] == [f"{PUBLISHED_ON}:9090:9090"]
    assert services["grafana"]["ports"] == [f"{PUBLISHED_ON}:3000:3000"]
    assert services["grafana"]["depends_on"] == {"prometheus": {"condition": "service_started"}}
