"""docker-compose.yml cannot run here (no Docker engine); check what it would run."""

from __future__ import annotations

import yaml

from tests.conftest import ROOT


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_airflow3_services_with_postgres():
    services = _compose()["services"]
    assert {
        "postgres",
        "airflow-apiserver",
        "airflow-scheduler",
        "airflow-dag-processor",
        "airflow-triggerer",
        "airflow-init",
    } <= set(services)
    assert "airflow-webserver" not in services, "Airflow 3 has no webserver command"
    commands = {name: s.get("command") for name, s in services.items() if name.startswith("air")}
    assert commands["airflow-apiserver"] == "api-server"
    assert "airflow db migrate" in " ".join(commands["airflow-init"])
    for banned in ("db upgrade", "users create", "webserver"):
        assert all(banned not in str(c) for c in commands.values()), banned


def test_api_server_health_check_uses_v2_api():
    test = _compose()["services"]["airflow-apiserver"]["healthcheck"]["test"]
    assert any("/api/v2/version" in part for part in test)


def test_no_secrets_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    env = _compose()["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${"), "fernet key must come from .env"
    assert "POSTGRES_PASSWORD:?" in text, "the database password must come from .env"


def test_writer_pool_is_created_by_init():
    init = " ".join(_compose()["services"]["airflow-init"]["command"])
    assert "pools set duckdb_writer 1" in init
