"""docker-compose.yml cannot run here (no Docker engine): check what it would run, and that
`make serve` (deploy/serve.py, run for real by tests/test_deploy.py) runs it with the same settings.
"""

from __future__ import annotations

import base64
import re
import stat
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

from deploy import serve
from leadscore.schedule import dag_schedule_args
from tests.conftest import ROOT

#: docker-compose.yml's long-running Airflow services, by the component `make serve` starts.
SERVICES = {
    "api-server": "airflow-apiserver",
    "scheduler": "airflow-scheduler",
    "dag-processor": "airflow-dag-processor",
    "triggerer": "airflow-triggerer",
}
AIRFLOW_SERVICES = (*SERVICES.values(), "airflow-init")
#: Settings whose values depend on where a component runs, a container or a local process: the
#: only values allowed to differ between docker-compose.yml and `make serve`.
WHERE_IT_RUNS = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "the database's host and port",
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": "the api-server's host and port",
    "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": "a path",
    "LEADSCORE_HOME": "a path",
    "LEADSCORE_WAREHOUSE": "a path",
    "LEADSCORE_LANDING_DIR": "a path",
}
#: Settings only `make serve` sets: in the containers the image's defaults give them (paths, the
#: address and ports servers bind: 0.0.0.0 in a container, 127.0.0.1 here), plus the mark `make
#: stop` finds the deployment's processes by.
SERVE_ONLY = {
    "AIRFLOW_HOME",
    "AIRFLOW__CORE__DAGS_FOLDER",
    "AIRFLOW__CORE__PLUGINS_FOLDER",
    "AIRFLOW__API__HOST",
    "AIRFLOW__API__PORT",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST",
    "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT",
    "LEADSCORE_SERVE_DIR",
}
#: What the test's .env holds: every secret, and a setting of the user's.
DOTENV = {**{key: f"<{key.lower()}>" for key in serve.SECRETS}, "LEADSCORE_CATCHUP": "true"}


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _interpolate(value: str, dotenv: dict[str, str]) -> str:
    """What docker compose makes of ``${NAME}``, ``${NAME:?error}`` and ``${NAME:-default}``."""

    def one(match: re.Match) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        if dotenv.get(name):
            return dotenv[name]
        if op == ":?":
            raise AssertionError(f"compose would stop: {arg}")
        return arg or ""

    return re.sub(r"\$\{(\w+)(?:(:[?-])([^}]*))?\}", one, str(value))


def _compose_env(service: dict, dotenv: dict[str, str]) -> dict[str, str]:
    env: dict[str, str] = {}
    for name in service["env_file"]:
        env.update(dotenv if name == ".env" else serve.read_env_file(ROOT / name))
    env.update({k: _interpolate(v, dotenv) for k, v in service["environment"].items()})
    return env


def _serve_env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    for key in ("LEADSCORE_HOME", "LEADSCORE_WAREHOUSE", "LEADSCORE_LANDING_DIR"):
        monkeypatch.delenv(key, raising=False)
    settings = serve.Settings(
        dir=tmp_path,
        env_file=tmp_path / ".env",
        api_port=8080,
        pg_port=5433,
        pg_dir=tmp_path / "pg",
        health_port=8974,
    )
    return serve.airflow_env(settings, DOTENV)


def test_airflow3_services_with_postgres():
    services = _compose()["services"]
    assert {"postgres", *AIRFLOW_SERVICES} <= set(services)
    assert "airflow-webserver" not in services, "Airflow 3 has no webserver command"
    commands = {name: s.get("command") for name, s in services.items() if name.startswith("air")}
    assert commands["airflow-apiserver"] == "api-server"
    for banned in ("db upgrade", "users create", "webserver"):
        assert all(banned not in str(c) for c in commands.values()), banned
    # `make serve` starts the same components with the same commands
    assert list(serve.COMPONENTS) == list(SERVICES)
    for component, service in SERVICES.items():
        assert commands[service] == serve.COMPONENTS[component][0], component


def test_api_server_health_check_uses_v2_api():
    test = _compose()["services"]["airflow-apiserver"]["healthcheck"]["test"]
    assert any("/api/v2/version" in part for part in test)


def test_no_secrets_in_the_compose_file():
    text = (ROOT / "docker-compose.yml").read_text()
    env = _compose()["services"]["airflow-scheduler"]["environment"]
    assert env["AIRFLOW__CORE__FERNET_KEY"].startswith("${"), "fernet key must come from .env"
    assert "POSTGRES_PASSWORD:?" in text, "the database password must come from .env"
    shared = serve.read_env_file(serve.SHARED_ENV)
    assert not set(shared) & set(serve.SECRETS), "deploy/airflow.env is committed: no secrets"


def test_every_component_shares_one_jwt_secret_from_env():
    """Without it each component makes its own, and every task fails with "Invalid auth token:
    Signature verification failed" (apache/airflow#49646)."""
    services = _compose()["services"]
    for name in AIRFLOW_SERVICES:
        value = services[name]["environment"].get("AIRFLOW__API_AUTH__JWT_SECRET", "")
        assert value.startswith("${AIRFLOW__API_AUTH__JWT_SECRET:?"), name
    with pytest.raises(AssertionError, match="JWT_SECRET"):
        _compose_env(services["airflow-scheduler"], {**DOTENV, "AIRFLOW__API_AUTH__JWT_SECRET": ""})


def test_compose_and_make_serve_use_the_same_settings(tmp_path, monkeypatch):
    services = _compose()["services"]
    compose = _compose_env(services["airflow-scheduler"], DOTENV)
    for name in AIRFLOW_SERVICES:  # no service adds or drops a setting of its own
        assert _compose_env(services[name], DOTENV) == compose, name
    assert services["airflow-scheduler"]["env_file"] == ["deploy/airflow.env", ".env"]
    assert serve.SHARED_ENV == ROOT / "deploy" / "airflow.env"
    local = _serve_env(tmp_path, monkeypatch)
    assert set(local) >= SERVE_ONLY
    only_compose = sorted(set(compose) - set(local))
    only_serve = sorted(set(local) - set(compose) - SERVE_ONLY)
    assert (only_compose, only_serve) == ([], []), "settings one deployment lacks"
    differ = {k: (compose[k], local[k]) for k in compose if k not in WHERE_IT_RUNS}
    assert {k: v for k, v in differ.items() if v[0] != v[1]} == {}
    # the database URL differs by its host only (`make serve` quotes the password, as URLs need)
    urls = [urlsplit(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]) for env in (compose, local)]
    assert len({(u.scheme, u.username, unquote(u.password), u.path) for u in urls}) == 1, urls


def test_init_script_is_what_compose_and_make_serve_run():
    init = _compose()["services"]["airflow-init"]
    assert init["command"] == ["/opt/leadscore/deploy/airflow-init.sh"]
    assert "./deploy:/opt/leadscore/deploy:ro" in init["volumes"]
    assert serve.INIT_SCRIPT == ROOT / "deploy" / "airflow-init.sh"
    script = serve.INIT_SCRIPT.read_text()
    assert "airflow db migrate" in script
    assert 'pools set duckdb_writer 1 "' in script


def test_new_env_file_has_fresh_secrets_and_is_private(tmp_path):
    first, second = tmp_path / "a.env", tmp_path / "b.env"
    serve.new_env_file(first)
    serve.new_env_file(second)
    values, other = serve.read_env_file(first), serve.read_env_file(second)
    assert all(values[key] and values[key] != other[key] for key in serve.SECRETS)
    assert len(base64.urlsafe_b64decode(values["AIRFLOW__CORE__FERNET_KEY"])) == 32
    assert stat.S_IMODE(first.stat().st_mode) == 0o600
    example = serve.read_env_file(ROOT / ".env.example")
    assert set(serve.SECRETS) <= set(example), ".env.example lists every secret"
    assert {k: v for k, v in values.items() if k not in serve.SECRETS} == {
        k: v for k, v in example.items() if k not in serve.SECRETS
    }
    with pytest.raises(FileExistsError):
        serve.new_env_file(first)


def test_an_env_file_without_a_secret_is_refused_by_name(tmp_path):
    path = tmp_path / ".env"
    serve.new_env_file(path)
    kept = [
        line
        for line in path.read_text().splitlines()
        if not line.startswith("AIRFLOW__API_AUTH__JWT_SECRET=")
    ]
    path.write_text("\n".join(kept) + "\n")
    with pytest.raises(serve.ServeError, match=rf"{path} has no value for AIRFLOW__API_AUTH__"):
        serve.load_dotenv_checked(path)


def test_redactor_masks_every_secret():
    redact = serve.Redactor(["s3cr3t-value", "short"])
    assert (
        redact("url postgresql://airflow:s3cr3t-value@host") == "url postgresql://airflow:***@host"
    )


def test_dag_schedule_comes_from_the_environment(monkeypatch):
    for key in ("LEADSCORE_SCHEDULE_START", "LEADSCORE_SCHEDULE_END", "LEADSCORE_CATCHUP"):
        monkeypatch.delenv(key, raising=False)
    assert dag_schedule_args() == {
        "start_date": datetime(2025, 1, 1, tzinfo=UTC),
        "end_date": None,
        "catchup": False,
    }
    monkeypatch.setenv("LEADSCORE_SCHEDULE_START", "2026-11-20")
    monkeypatch.setenv("LEADSCORE_SCHEDULE_END", "2026-11-21")
    monkeypatch.setenv("LEADSCORE_CATCHUP", "true")
    assert dag_schedule_args() == {
        "start_date": datetime(2026, 11, 20, tzinfo=UTC),
        "end_date": datetime(2026, 11, 21, tzinfo=UTC),
        "catchup": True,
    }
    monkeypatch.setenv("LEADSCORE_SCHEDULE_END", "21/11/2026")
    with pytest.raises(ValueError, match="LEADSCORE_SCHEDULE_END='21/11/2026' is not an ISO date"):
        dag_schedule_args()
    monkeypatch.setenv("LEADSCORE_SCHEDULE_END", "2026-11-01")
    with pytest.raises(ValueError, match="is before LEADSCORE_SCHEDULE_START"):
        dag_schedule_args()
