"""The environment of each of `WORKER_PROCESSES` worker processes."""

from __future__ import annotations

from pydantic import SecretStr

from worker.processes import process_env
from worker.settings import WorkerSettings

URL = SecretStr("mysql+asyncmy://u:p@db:3306/ordering")


def test_each_process_is_one_worker_with_ports_after_the_first_ones() -> None:
    settings = WorkerSettings(
        _env_file=None, database_url=URL, worker_processes=3, metrics_port=8002
    )

    envs = [process_env(settings, index, {"KEPT": "yes"}) for index in range(3)]

    assert [env["METRICS_PORT"] for env in envs] == ["8002", "8003", "8004"]
    assert [env["TEMPORAL_METRICS_PORT"] for env in envs] == ["9002", "9003", "9004"]
    assert {env["WORKER_PROCESSES"] for env in envs} == {"1"}
    assert all(env["KEPT"] == "yes" for env in envs)


def test_a_port_turned_off_stays_off_in_every_process() -> None:
    settings = WorkerSettings(
        _env_file=None, database_url=URL, metrics_port=0, temporal_metrics_port=0
    )

    env = process_env(settings, 2, {})

    assert (env["METRICS_PORT"], env["TEMPORAL_METRICS_PORT"]) == ("0", "0")
