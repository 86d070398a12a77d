"""docker-compose.yml: valid by the Compose Specification and wired as the README promises."""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from pathlib import Path
from typing import Any, cast

import pytest
import yaml
from jsonschema import Draft7Validator

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
ENV_EXAMPLE = ROOT / ".env.example"
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"

SHARED_NETWORK = "ordering"
SERVERS = ("mysql", "scylladb", "elasticsearch", "temporal", "kafka")
INIT_JOBS = ("kafka-init", "temporal-init", "init")
APP_PROCESSES = ("consumer", "worker")
DASHBOARDS = ("prometheus", "grafana", "jaeger")
STACK = frozenset(
    {*SERVERS, "temporal-admin-tools", "temporal-ui", *INIT_JOBS, *APP_PROCESSES, *DASHBOARDS}
)
CONTRACT_VARIABLES = (
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "TEMPORAL_ADDRESS",
    "TEMPORAL_NAMESPACE",
    "ORDERS_TOPIC",
    "STATUS_TOPIC",
    "DLQ_TOPIC",
    "ORDERING_CANCEL_WINDOW_SECONDS",
)
TOPICS = ("orders.events", "orders.status", "orders.events.dlq")
SEARCH_ATTRIBUTES = {"OrderRef": "Keyword", "CustomerId": "Int", "OrderStatus": "Keyword"}

# `${NAME:-default}`, not preceded by the `$` that escapes it.
DEFAULTED_VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Z][A-Z0-9_]*):-(?P<default>[^}]*)\}")

Document = dict[str, Any]
Service = dict[str, Any]


@pytest.fixture(scope="module")
def compose() -> Document:
    return cast(Document, yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def services(compose: Document) -> dict[str, Service]:
    return cast(dict[str, Service], compose["services"])


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    schema = json.loads(COMPOSE_SCHEMA.read_text(encoding="utf-8"))
    Draft7Validator.check_schema(schema)
    return Draft7Validator(schema)


def _with_defaults(value: str) -> str:
    """The value as Compose reads it when no variable is set: each default, `$$` as `$`."""
    return DEFAULTED_VARIABLE.sub(lambda match: match["default"], value).replace("$$", "$")


def _environment(service: Service) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        pairs = (cast(str, item).partition("=") for item in raw)
        return {name: _with_defaults(value) for name, _, value in pairs}
    return {name: _with_defaults(str(value)) for name, value in cast(dict[str, Any], raw).items()}


def _command(service: Service) -> list[str]:
    raw = service.get("command", [])
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def _script(service: Service) -> str:
    return _with_defaults(" ".join(_command(service)))


def _dependencies(service: Service) -> dict[str, dict[str, Any]]:
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return {name: {} for name in raw}
    return cast(dict[str, dict[str, Any]], raw)


def _networks(service: Service) -> set[str]:
    return set(service.get("networks", []))


def _published(service: Service) -> dict[str, str]:
    """Host port -> container port, from the short (`[IP:]HOST:CONTAINER`) or long syntax."""
    mapping: dict[str, str] = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            mapping[str(port["published"])] = str(port["target"])
        else:
            *_, host, container = str(port).split(":")
            mapping[host] = container.split("/")[0]
    return mapping


def _healthcheck(service: Service) -> str:
    test = service.get("healthcheck", {}).get("test", [])
    return test if isinstance(test, str) else " ".join(test)


def test_compose_file_is_valid_by_the_compose_specification(
    compose: Document, validator: Draft7Validator
) -> None:
    errors = [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(compose)
    ]
    assert errors == []


def test_validator_accepts_a_minimal_compose_document(validator: Draft7Validator) -> None:
    minimal = {"services": {"web": {"image": "nginx", "ports": ["8080:80"]}}}

    assert list(validator.iter_errors(minimal)) == []


@pytest.mark.parametrize(
    ("path", "broken_value"),
    [
        (("services", "web", "ports"), 5),
        (("services", "web", "depends_on"), {"db": {"condition": "service_ready"}}),
        (("services", "web", "restart_policy"), "always"),
        (("services", "web cache"), {"image": "redis"}),
    ],
    ids=["ports-not-a-list", "unknown-condition", "unknown-key", "bad-service-name"],
)
def test_validator_rejects_a_broken_compose_document(
    validator: Draft7Validator, path: tuple[str, ...], broken_value: object
) -> None:
    document: Document = {"services": {"web": {"image": "nginx"}}}
    broken = copy.deepcopy(document)
    parent = broken
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = broken_value

    assert list(validator.iter_errors(broken)) != []


def test_stack_has_every_service_the_readme_lists(services: dict[str, Service]) -> None:
    assert services.keys() >= STACK, f"missing: {sorted(STACK - services.keys())}"


def _image(service: Service) -> tuple[str, str]:
    """Repository and tag, any `${NAME:-default}` read as its default."""
    repository, _, tag = _with_defaults(str(service["image"])).partition(":")
    return repository, tag


def test_mysql_runs_the_mysql_8_0_image(services: dict[str, Service]) -> None:
    assert _image(services["mysql"]) == ("mysql", "8.0")


@pytest.mark.parametrize("service", ["kafka", "kafka-init"])
def test_kafka_runs_the_official_apache_kafka_4_image(
    services: dict[str, Service], service: str
) -> None:
    repository, tag = _image(services[service])
    assert repository == "apache/kafka"
    assert tag.split(".")[0] == "4"


def test_temporal_ui_is_published_on_host_port_8081(services: dict[str, Service]) -> None:
    assert _published(services["temporal-ui"]) == {"8081": "8080"}
    assert _environment(services["temporal-ui"])["TEMPORAL_ADDRESS"] == "temporal:7233"


def test_kafka_is_published_on_host_port_29092_and_advertised_to_both_sides(
    services: dict[str, Service],
) -> None:
    kafka = services["kafka"]
    advertised = _environment(kafka)["KAFKA_ADVERTISED_LISTENERS"].split(",")

    assert _published(kafka)["29092"] == "29092"
    assert {"INTERNAL://kafka:9092", "EXTERNAL://localhost:29092"} <= set(advertised)
    assert "CONTROLLER" in _environment(kafka)["KAFKA_CONTROLLER_LISTENER_NAMES"]


def test_mysql_healthcheck_pings_the_server(services: dict[str, Service]) -> None:
    assert "mysqladmin ping" in _healthcheck(services["mysql"])


@pytest.mark.parametrize("server", SERVERS)
def test_every_server_has_a_healthcheck(services: dict[str, Service], server: str) -> None:
    assert _healthcheck(services[server]) != ""


def test_every_dependency_names_an_existing_service_with_a_condition(
    services: dict[str, Service],
) -> None:
    for name, service in services.items():
        for dependency, options in _dependencies(service).items():
            assert dependency in services, f"{name} depends on unknown {dependency}"
            assert "condition" in options, f"{name} -> {dependency} has no condition"


def test_services_waited_on_as_healthy_have_a_healthcheck(
    services: dict[str, Service],
) -> None:
    for service in services.values():
        for dependency, options in _dependencies(service).items():
            if options.get("condition") == "service_healthy":
                assert _healthcheck(services[dependency]) != "", dependency


@pytest.mark.parametrize("process", APP_PROCESSES)
def test_app_process_builds_from_the_local_dockerfile(
    services: dict[str, Service], process: str
) -> None:
    build = services[process]["build"]
    if isinstance(build, str):
        build = {"context": build}
    context, dockerfile = build["context"], build.get("dockerfile", "Dockerfile")

    assert (ROOT / context).resolve() == ROOT
    assert (ROOT / context / dockerfile).resolve() == DOCKERFILE


@pytest.mark.parametrize("process", APP_PROCESSES)
def test_app_process_runs_its_python_module(services: dict[str, Service], process: str) -> None:
    assert _command(services[process]) == ["python", "-m", process]


@pytest.mark.parametrize("process", APP_PROCESSES)
def test_app_process_waits_for_every_init_job_to_complete(
    services: dict[str, Service], process: str
) -> None:
    dependencies = _dependencies(services[process])

    for job in INIT_JOBS:
        assert dependencies[job]["condition"] == "service_completed_successfully"
    for server in ("mysql", "kafka", "temporal"):
        assert dependencies[server]["condition"] == "service_healthy"


@pytest.mark.parametrize("process", APP_PROCESSES)
def test_app_process_environment_names_every_contract_variable(
    services: dict[str, Service], process: str
) -> None:
    environment = _environment(services[process])

    assert set(CONTRACT_VARIABLES) <= environment.keys()
    assert environment["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert environment["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert environment["TEMPORAL_NAMESPACE"] == "ordering-system"
    assert environment["DATABASE_URL"] == (
        "mysql+asyncmy://user:password@mysql:3306/ordering_system"
    )
    assert (environment["ORDERS_TOPIC"], environment["STATUS_TOPIC"], environment["DLQ_TOPIC"]) == (
        TOPICS
    )


def test_consumer_and_worker_serve_metrics_on_their_own_ports(
    services: dict[str, Service],
) -> None:
    assert _environment(services["consumer"])["METRICS_PORT"] == "8001"
    assert _environment(services["worker"])["METRICS_PORT"] == "8002"


def test_database_url_points_at_the_database_mysql_creates(services: dict[str, Service]) -> None:
    mysql = _environment(services["mysql"])
    url = _environment(services["consumer"])["DATABASE_URL"]

    assert url == (
        f"mysql+asyncmy://{mysql['MYSQL_USER']}:{mysql['MYSQL_PASSWORD']}"
        f"@mysql:3306/{mysql['MYSQL_DATABASE']}"
    )


def test_every_service_is_on_the_shared_network(
    compose: Document, services: dict[str, Service]
) -> None:
    assert SHARED_NETWORK in compose["networks"]
    off_network = sorted(name for name, s in services.items() if SHARED_NETWORK not in _networks(s))
    assert off_network == []


def test_data_services_keep_their_state_in_named_volumes(
    compose: Document, services: dict[str, Service]
) -> None:
    for name in ("mysql", "scylladb", "elasticsearch"):
        volumes = [str(volume).split(":")[0] for volume in services[name]["volumes"]]
        assert volumes, name
        assert set(volumes) <= compose["volumes"].keys(), name


def test_temporal_runs_on_scylla_and_elasticsearch_with_the_ordering_namespace(
    services: dict[str, Service],
) -> None:
    temporal = services["temporal"]
    environment = _environment(temporal)

    assert temporal["image"] == "temporalio/auto-setup:1.26.2"
    assert environment["DB"] == "cassandra"
    assert environment["CASSANDRA_SEEDS"] == "scylladb"
    assert environment["ENABLE_ES"] == "true"
    assert environment["ES_SEEDS"] == "elasticsearch"
    assert environment["ES_VERSION"] == "v7"
    assert environment["DEFAULT_NAMESPACE"] == "ordering-system"
    for backend in ("scylladb", "elasticsearch"):
        assert _dependencies(temporal)[backend]["condition"] == "service_healthy"


def test_kafka_init_creates_the_three_topics_with_three_partitions(
    services: dict[str, Service],
) -> None:
    script = _script(services["kafka-init"])

    assert "kafka-topics.sh" in script
    assert "--create --if-not-exists" in script
    assert "--partitions 3" in script
    for topic in TOPICS:
        assert f'"{topic}"' in script


def test_temporal_init_registers_the_search_attributes(services: dict[str, Service]) -> None:
    script = _script(services["temporal-init"])

    assert "temporal operator search-attribute create" in script
    for name, kind in SEARCH_ATTRIBUTES.items():
        assert f"{name}:{kind}" in script


def test_init_migrates_the_database_with_the_app_image(services: dict[str, Service]) -> None:
    init = services["init"]

    assert _command(init) == ["python", "-m", "db", "migrate"]
    assert init["build"] == services["consumer"]["build"]
    assert "DATABASE_URL" in _environment(init)


def test_every_compose_variable_is_documented_in_env_example_with_its_default() -> None:
    used = {
        match["name"]: match["default"]
        for match in DEFAULTED_VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8"))
    }
    documented = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )

    assert used == documented


def test_every_compose_variable_has_one_default() -> None:
    defaults: dict[str, set[str]] = {}
    for match in DEFAULTED_VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8")):
        defaults.setdefault(match["name"], set()).add(match["default"])

    assert {name: values for name, values in defaults.items() if len(values) > 1} == {}


def test_image_runs_the_worker_as_a_non_root_user() -> None:
    instructions = [
        line.split(maxsplit=1)
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line and not line.startswith((" ", "#"))
    ]
    last = {keyword.upper(): argument for keyword, argument in instructions}

    assert last["FROM"] == "python:3.11-slim"
    assert last["USER"] not in {"root", "0"}
    assert json.loads(last["CMD"]) == ["python", "-m", "worker"]


def test_image_holds_every_package_the_project_installs() -> None:
    """A package missing from the image fails only when a container starts: caught here."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    included = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {pattern.removesuffix("*") for pattern in included}
    copied = {
        argument.split()[0].rstrip("/")
        for keyword, _, argument in (
            line.partition(" ") for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        )
        if keyword == "COPY"
    }

    assert packages - copied == set()


def test_app_processes_send_their_traces_to_jaeger(services: dict[str, Service]) -> None:
    for process in APP_PROCESSES:
        environment = services[process]["environment"]
        endpoint = environment["OTEL_EXPORTER_OTLP_ENDPOINT"]

        assert environment["TRACING_ENABLED"].startswith("${TRACING_ENABLED:-true}")
        assert endpoint == "http://jaeger:4318"
    assert "16686:16686" in services["jaeger"]["ports"]
