"""docker-compose.yml: valid by the Compose Specification and wired as the README promises."""

from __future__ import annotations

import base64
import copy
import json
import os
import re
import shlex
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple, cast
from urllib.parse import urlsplit

import pytest
import yaml
from jsonschema import Draft7Validator

from consumer.settings import ConsumerSettings
from runtime.temporal.client import encryption_codec
from runtime.temporal.settings import TemporalSettings
from tools.ops.settings import OpsSettings
from worker.settings import WorkerSettings

ROOT = Path(__file__).resolve().parents[3]
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
    {
        *SERVERS,
        "temporal-admin-tools",
        "temporal-ui",
        "codec-server",
        *INIT_JOBS,
        *APP_PROCESSES,
        *DASHBOARDS,
    }
)
# Every process that reads or writes Temporal's payloads, with the settings it reads them by.
PAYLOAD_KEY_HOLDERS: dict[str, type[TemporalSettings]] = {
    "consumer": ConsumerSettings,
    "worker": WorkerSettings,
    "codec-server": OpsSettings,
}
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

# `${NAME}`, `${NAME:-default}` or `${NAME:?message}`, not preceded by the `$` that escapes it.
VARIABLE = re.compile(r"(?<!\$)\$\{(?P<name>[A-Z][A-Z0-9_]*)(?:(?P<kind>:-|:\?)(?P<text>[^}]*))?\}")
# The host address of every published port, and where it listens when `.env` does not say.
PUBLISH_ADDRESS = "${PUBLISH_ADDRESS:-127.0.0.1}"
LOOPBACK = "127.0.0.1"
# Names of variables and settings that hold something to keep secret (not a path to one).
SECRET_NAME = re.compile(r"(PASSWORD|SECRET|TOKEN|KEY)$")
# The values a user's `.env` gives the variables that have no default, as these tests read it.
REQUIRED_VALUES = {
    "MYSQL_ROOT_PASSWORD": "root-Secret_1",
    "MYSQL_PASSWORD": "user-Secret_2",
    "GRAFANA_ADMIN_PASSWORD": "grafana-Secret_3",
    "PAYLOAD_ENCRYPTION_KEY": base64.b64encode(bytes(range(32))).decode(),
}

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


class MissingVariableError(Exception):
    """A `${NAME:?message}` whose variable is unset or empty: Compose refuses to start."""


def _interpolated(value: str, variables: Mapping[str, str] = REQUIRED_VALUES) -> str:
    """The value as Compose reads it with these variables set (`.env`), `$$` as `$`."""

    def resolve(match: re.Match[str]) -> str:
        given = variables.get(match["name"], "")
        if match["kind"] == ":?" and not given:
            raise MissingVariableError(f"{match['name']}: {match['text']}")
        return given or (match["text"] if match["kind"] == ":-" else "")

    return VARIABLE.sub(resolve, value).replace("$$", "$")


def _raw_environment(service: Service) -> dict[str, str]:
    raw = service.get("environment", {})
    if isinstance(raw, list):
        pairs = (cast(str, item).partition("=") for item in raw)
        return {name: value for name, _, value in pairs}
    return {name: str(value) for name, value in cast(dict[str, Any], raw).items()}


def _environment(service: Service) -> dict[str, str]:
    return {name: _interpolated(value) for name, value in _raw_environment(service).items()}


def _command(service: Service) -> list[str]:
    raw = service.get("command", [])
    return shlex.split(raw) if isinstance(raw, str) else [str(part) for part in raw]


def _script(service: Service) -> str:
    return _interpolated(" ".join(_command(service)))


def _dependencies(service: Service) -> dict[str, dict[str, Any]]:
    raw = service.get("depends_on", {})
    if isinstance(raw, list):
        return {name: {} for name in raw}
    return cast(dict[str, dict[str, Any]], raw)


def _networks(service: Service) -> set[str]:
    return set(service.get("networks", []))


class Port(NamedTuple):
    address: str
    host: str
    container: str


def _port(port: str | dict[str, Any]) -> Port:
    """A port as written, from the short (`[ADDRESS:]HOST:CONTAINER`) or the long syntax."""
    if isinstance(port, dict):
        return Port(str(port.get("host_ip", "")), str(port["published"]), str(port["target"]))
    *address, host, container = port.rsplit(":", 2)
    return Port("".join(address), host, container.split("/")[0])


def _written_ports(service: Service) -> list[Port]:
    return [_port(port) for port in service.get("ports", [])]


def _ports(service: Service, variables: Mapping[str, str] = REQUIRED_VALUES) -> list[Port]:
    """Each published port as Compose reads it with these variables set."""
    return [
        Port(*(_interpolated(part, variables) for part in port)) for port in _written_ports(service)
    ]


def _published(service: Service) -> dict[str, str]:
    """Host port -> container port."""
    return {port.host: port.container for port in _ports(service)}


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
    repository, _, tag = _interpolated(str(service["image"])).partition(":")
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
        f"mysql+asyncmy://user:{REQUIRED_VALUES['MYSQL_PASSWORD']}@mysql:3306/ordering_system"
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


def _variables() -> list[re.Match[str]]:
    return list(VARIABLE.finditer(COMPOSE_FILE.read_text(encoding="utf-8")))


def _env_example() -> dict[str, str]:
    return dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    )


def _required() -> set[str]:
    return {match["name"] for match in _variables() if match["kind"] == ":?"}


def test_every_compose_variable_is_documented_in_env_example_with_its_default() -> None:
    """A required variable is there too, empty: a copied `.env.example` does not start."""
    used = {match["name"]: match["text"] if match["kind"] == ":-" else "" for match in _variables()}

    assert used == _env_example()


def test_every_compose_variable_has_a_default_or_is_required() -> None:
    """A bare `${NAME}` would start the stack with an empty value."""
    assert [match[0] for match in _variables() if match["kind"] is None] == []


def test_every_compose_variable_has_one_default_or_one_message() -> None:
    forms: dict[str, set[tuple[str, str]]] = {}
    for match in _variables():
        forms.setdefault(match["name"], set()).add((match["kind"], match["text"]))

    assert {name: values for name, values in forms.items() if len(values) > 1} == {}


def test_every_password_and_key_in_compose_is_required_with_a_message_saying_how() -> None:
    secret_variables = {
        match["name"] for match in _variables() if SECRET_NAME.search(match["name"])
    }
    unguarded = [
        match[0]
        for match in _variables()
        if match["name"] in secret_variables
        and not (
            match["kind"] == ":?" and match["name"] in match["text"] and ".env" in match["text"]
        )
    ]

    assert secret_variables >= REQUIRED_VALUES.keys()
    assert unguarded == []


def test_no_service_is_given_a_password_compose_makes_up(services: dict[str, Service]) -> None:
    """Each secret in a service's environment is a required variable, whole."""
    made_up = [
        f"{name}.{setting}"
        for name, service in services.items()
        for setting, value in _raw_environment(service).items()
        if SECRET_NAME.search(setting)
        and not ((match := VARIABLE.fullmatch(value)) and match["kind"] == ":?")
    ]
    url = _raw_environment(services["consumer"])["DATABASE_URL"]

    assert made_up == []
    assert "${MYSQL_PASSWORD:?" in url


@pytest.mark.parametrize("variable", sorted(REQUIRED_VALUES))
def test_compose_refuses_to_start_without_each_required_variable(variable: str) -> None:
    text = COMPOSE_FILE.read_text(encoding="utf-8")
    unset = {name: value for name, value in REQUIRED_VALUES.items() if name != variable}

    _interpolated(text)  # with every one set, nothing is missing
    with pytest.raises(MissingVariableError, match=f"^{variable}: set {variable} in .env"):
        _interpolated(text, unset)
    with pytest.raises(MissingVariableError, match=f"^{variable}: "):
        _interpolated(text, {**unset, variable: ""})


def test_env_example_has_no_password_or_key_to_copy() -> None:
    secrets = {name: value for name, value in _env_example().items() if SECRET_NAME.search(name)}

    assert secrets.keys() >= REQUIRED_VALUES.keys()
    assert {name: value for name, value in secrets.items() if value} == {}
    assert secrets.keys() <= _required()


def test_env_example_says_how_to_make_the_passwords_and_the_key() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")

    assert "secrets.token_urlsafe(" in text
    assert "base64.b64encode(os.urandom(32))" in text


def test_every_port_is_published_on_publish_address_only(services: dict[str, Service]) -> None:
    addresses = {
        f"{name}: {address}"
        for name, service in services.items()
        for address, _, _ in _written_ports(service)
        if address != PUBLISH_ADDRESS
    }

    assert addresses == set()


def test_nothing_is_open_to_the_network_unless_publish_address_says_so(
    services: dict[str, Service],
) -> None:
    by_default = {port.address for service in services.values() for port in _ports(service, {})}
    chosen = {
        port.address
        for service in services.values()
        for port in _ports(service, {"PUBLISH_ADDRESS": "192.0.2.7"})
    }
    published = {name for name, service in services.items() if _ports(service)}

    assert by_default == {LOOPBACK}
    assert chosen == {"192.0.2.7"}
    assert published >= {"kafka", "mysql", "temporal", "temporal-ui", "codec-server", "grafana"}


@pytest.mark.parametrize("process", sorted(PAYLOAD_KEY_HOLDERS))
def test_process_reads_the_payload_key_from_its_secret_file_never_its_environment(
    compose: Document,
    services: dict[str, Service],
    process: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The secret is written where SECRETS_DIR looks, under the name the settings read."""
    environment = _environment(services[process])
    secrets_dir = tmp_path / "secrets"
    for grant in services[process].get("secrets", []):
        source, target = grant["source"], grant.get("target", grant["source"])
        # Some Compose versions make it 0440, root's: unreadable by the image's user.
        assert int(grant["mode"], 8) & 0o004, "readable by others"
        mounted = Path("/run/secrets") / target
        variable = compose["secrets"][source]["environment"]
        assert str(mounted.parent) == environment["SECRETS_DIR"]
        secrets_dir.mkdir(exist_ok=True)
        (secrets_dir / mounted.name).write_text(REQUIRED_VALUES[variable] + "\n")
    settings_class = PAYLOAD_KEY_HOLDERS[process]
    monkeypatch.chdir(tmp_path)  # away from the checkout's `.env`
    for name in os.environ.keys() & {field.upper() for field in settings_class.model_fields}:
        monkeypatch.delenv(name)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    settings = settings_class(_secrets_dir=secrets_dir)

    assert not any(SECRET_NAME.search(name) for name in environment)
    assert encryption_codec(settings) is not None


def test_payload_key_is_required_before_any_container_starts(compose: Document) -> None:
    """Compose reads a secret's variable only as it starts a container that lists it."""
    secret = compose["secrets"]["payload_encryption_key"]

    assert secret["environment"] == "PAYLOAD_ENCRYPTION_KEY"
    match = VARIABLE.fullmatch(secret["x-required"])
    assert match is not None
    assert (match["name"], match["kind"]) == ("PAYLOAD_ENCRYPTION_KEY", ":?")


def test_temporal_ui_and_cli_decode_payloads_through_the_codec_server(
    services: dict[str, Service],
) -> None:
    codec = services["codec-server"]
    command = _command(codec)
    listening = command[command.index("--port") + 1]
    (port,) = _ports(codec)
    (ui_port,) = _ports(services["temporal-ui"])
    browser_endpoint = urlsplit(_environment(services["temporal-ui"])["TEMPORAL_CODEC_ENDPOINT"])
    cli_endpoint = _environment(services["temporal-admin-tools"])["TEMPORAL_CODEC_ENDPOINT"]
    origins = _environment(codec)["CODEC_CORS_ORIGINS"].split(",")
    hosts = _environment(codec)["CODEC_ALLOWED_HOSTS"].split(",")

    assert command[:4] == ["python", "-m", "tools.ops", "codec-server"]
    assert command[command.index("--host") + 1] == "0.0.0.0"  # the published port reaches it
    assert port.container == listening
    assert (browser_endpoint.hostname, str(browser_endpoint.port)) == ("localhost", port.host)
    assert cli_endpoint == f"http://codec-server:{listening}"
    assert {f"http://localhost:{ui_port.host}", f"http://{LOOPBACK}:{ui_port.host}"} <= set(origins)
    assert {browser_endpoint.netloc, urlsplit(cli_endpoint).netloc} <= set(hosts)


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
    assert _published(services["jaeger"]) == {"16686": "16686"}
