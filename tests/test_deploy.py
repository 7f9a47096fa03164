"""The deployment of docker-compose.yml, run for real with `make serve` and watched through the API.

`make serve` starts PostgreSQL and Airflow's api-server, scheduler, dag-processor and triggerer
(LocalExecutor) with the compose file's settings. The scheduler then runs ``scoring_daily`` on its
own, with catchup, for two logical dates of the small world; the test only unpauses the DAG and
watches through the authenticated REST API v2. `make stop` must leave no process behind.

It starts real services, so `make test` skips it: `make test-deploy` runs it (CI does, after
`make test`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import httpx
import pandas as pd
import pytest

from deploy import serve
from tests.conftest import BASELINE_DAY, ROOT, World, quiet_env, run

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.environ.get("LEADSCORE_TEST_DEPLOY") != "1",
        reason="starts PostgreSQL and the Airflow services: `make test-deploy` runs it",
    ),
]

DAG_ID = "scoring_daily"
#: The scheduler's runs, the two days after the small world's loaded and published history: the
#: run for day D covers [D, D + 1) and scores D (`airflow dags test scoring_daily D+1` runs it).
LOGICAL_DATES = [BASELINE_DAY + timedelta(days=1), BASELINE_DAY + timedelta(days=2)]
#: Bounds of the polls (seconds): the DAG appearing after start, both runs finishing.
DAG_PARSED_TIMEOUT = 300
RUNS_TIMEOUT = 1800
POLL_EVERY = 5


@dataclass
class Deployment:
    url: str
    serve_dir: Path
    pg_dir: Path
    env_file: Path
    make_env: dict[str, str]
    world: World
    start_output: str

    def secrets(self) -> dict[str, str]:
        values = serve.read_env_file(self.env_file)
        return {key: values[key] for key in serve.SECRETS}

    def client(self) -> httpx.Client:
        """An API client with the admin's token (POST /auth/token, as a script would log in)."""
        password = self.secrets()["AIRFLOW_ADMIN_PASSWORD"]
        token = httpx.post(
            f"{self.url}/auth/token", json={"username": "admin", "password": password}, timeout=30
        )
        assert token.status_code == 201, f"login failed: {token.status_code} {token.text[:200]}"
        return httpx.Client(
            base_url=f"{self.url}/api/v2",
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
            timeout=60,
        )


def _make(target: str, env: dict[str, str]) -> str:
    proc = run(["make", "--no-print-directory", target], env=env, timeout=900)
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def deployment(small_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("deploy")
    world = small_world.copy(root / "world")
    # the cluster runs as the `postgres` user when we are root, and pytest's folders are private
    pg_dir = Path(tempfile.mkdtemp(prefix="leadscore-pg-"))
    env = quiet_env(
        **world.env(),
        SERVE_DIR=str(root / "serve"),
        SERVE_ENV_FILE=str(root / "deploy.env"),  # missing: `make serve` writes fresh secrets
        SERVE_PG_DIR=str(pg_dir),
        SERVE_API_PORT=str(serve.free_port()),
        SERVE_PG_PORT=str(serve.free_port()),
        LEADSCORE_SCHEDULE_START=LOGICAL_DATES[0].isoformat(),
        LEADSCORE_SCHEDULE_END=LOGICAL_DATES[-1].isoformat(),
        LEADSCORE_CATCHUP="true",
    )
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):  # Cosmos runs dbt in its own project copy
        env.pop(name, None)
    try:
        output = _make("serve", env)
        yield Deployment(
            url=f"http://127.0.0.1:{env['SERVE_API_PORT']}",
            serve_dir=root / "serve",
            pg_dir=pg_dir,
            env_file=root / "deploy.env",
            make_env=env,
            world=world,
            start_output=output,
        )
    finally:  # also after a failed or timed-out start: nothing may outlive the test
        subprocess.run(["make", "stop"], cwd=ROOT, env=env, capture_output=True, check=False)
        shutil.rmtree(pg_dir, ignore_errors=True)


def _poll(what: str, timeout: float, check):
    """Call ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last and last[0]:
            return last[1]
        time.sleep(POLL_EVERY)
    raise AssertionError(f"{what}: not done after {timeout} s; last seen: {last and last[1]}")


def _task_instances(api: httpx.Client, run_id: str) -> list[dict]:
    response = api.get(f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances", params={"limit": 100})
    response.raise_for_status()
    return response.json()["task_instances"]


def _log_events(api: httpx.Client, run_id: str, task_id: str, try_number: int) -> list[str]:
    """A task's log lines, as the API serves them (structured events, JSON)."""
    response = api.get(
        f"/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}",
        headers={"Accept": "application/json"},
    )
    assert response.status_code == 200, response.text[:300]
    return [
        f"{e.get('level', '')} {e.get('event', '')}" if isinstance(e, dict) else str(e)
        for e in response.json()["content"]
    ]


def _failure_report(api: httpx.Client, run: dict) -> str:
    lines = [f"run {run['dag_run_id']} is {run['state']}"]
    for ti in _task_instances(api, run["dag_run_id"]):
        if ti["state"] not in ("success", "skipped"):
            lines.append(f"  {ti['task_id']}: {ti['state']}")
            if ti["state"] in ("failed", "upstream_failed", "up_for_retry") and ti["try_number"]:
                events = _log_events(api, run["dag_run_id"], ti["task_id"], ti["try_number"])
                lines.extend(f"    {event}" for event in events[-25:])
    return "\n".join(lines)


@pytest.fixture(scope="module")
def scheduled_runs(deployment) -> list[dict]:
    """Unpause the DAG through the API and wait until the scheduler has run both dates."""
    with deployment.client() as api:

        def parsed():
            response = api.get(f"/dags/{DAG_ID}")
            return response.status_code == 200, response.status_code

        _poll("the dag-processor parsing scoring_daily", DAG_PARSED_TIMEOUT, parsed)
        response = api.patch(f"/dags/{DAG_ID}", json={"is_paused": False})
        assert response.status_code == 200, response.text

        def finished():
            response = api.get(f"/dags/{DAG_ID}/dagRuns", params={"order_by": "logical_date"})
            response.raise_for_status()
            runs = response.json()["dag_runs"]
            for run_ in runs:
                if run_["state"] == "failed":
                    raise AssertionError(_failure_report(api, run_))
            done = len(runs) == len(LOGICAL_DATES) and all(r["state"] == "success" for r in runs)
            return done, [(r["logical_date"], r["state"]) for r in runs]

        _poll("both scheduled runs succeeding", RUNS_TIMEOUT, finished)
        runs = api.get(f"/dags/{DAG_ID}/dagRuns", params={"order_by": "logical_date"}).json()
        for run_ in runs["dag_runs"]:
            run_["task_instances"] = _task_instances(api, run_["dag_run_id"])
        return runs["dag_runs"]


def test_make_serve_starts_every_component_healthy(deployment):
    health = httpx.get(f"{deployment.url}/api/v2/monitor/health", timeout=30).json()
    assert {key: health[key]["status"] for key in serve.HEALTH_KEYS} == dict.fromkeys(
        serve.HEALTH_KEYS, "healthy"
    )
    assert "wrote" in deployment.start_output and deployment.env_file.stat().st_mode & 0o077 == 0


def test_the_api_needs_a_login(deployment):
    anonymous = httpx.get(f"{deployment.url}/api/v2/dags", timeout=30)
    assert anonymous.status_code == 401, anonymous.text[:200]
    with deployment.client() as api:
        assert api.get("/dags").status_code == 200


def test_the_scheduler_runs_both_logical_dates(scheduled_runs):
    assert [date.fromisoformat(r["logical_date"][:10]) for r in scheduled_runs] == LOGICAL_DATES
    ends = [date.fromisoformat(r["data_interval_end"][:10]) for r in scheduled_runs]
    assert ends == [day + timedelta(days=1) for day in LOGICAL_DATES]
    assert [(r["run_type"], r["state"]) for r in scheduled_runs] == [("scheduled", "success")] * 2


def test_every_task_of_both_runs_succeeded(deployment, scheduled_runs, capsys):
    with deployment.client() as api:
        tasks = api.get(f"/dags/{DAG_ID}/tasks").json()["tasks"]
    task_ids = {t["task_id"] for t in tasks}
    rows = []
    for run_ in scheduled_runs:
        states = {ti["task_id"]: ti["state"] for ti in run_["task_instances"]}
        assert set(states) == task_ids, f"{run_['dag_run_id']}: tasks {sorted(states)}"
        assert set(states.values()) == {"success"}, f"{run_['dag_run_id']}: {states}"
        rows += [
            (run_["logical_date"][:10], ti["task_id"], ti["duration"] or 0.0)
            for ti in sorted(run_["task_instances"], key=lambda ti: ti["start_date"])
        ]
    with capsys.disabled():  # the scheduled runs' task durations, for comparing with dags test
        print("\nscheduled runs, task durations (s):")
        for logical, task_id, seconds in rows:
            print(f"  {logical}  {task_id:<24} {seconds:7.1f}")
        for run_ in scheduled_runs:
            start, end = (datetime.fromisoformat(run_[k]) for k in ("start_date", "end_date"))
            seconds = (end - start).total_seconds()
            print(f"  {run_['logical_date'][:10]}  {'whole run':<24} {seconds:7.1f}")


def test_each_run_published_its_day(deployment, scheduled_runs):
    serving = deployment.world.serving / "scores.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        published = set(
            con.execute("select distinct score_date, run_id from meta.publish_log").fetchall()
        )
    for run_ in scheduled_runs:
        score_date = date.fromisoformat(run_["logical_date"][:10])
        assert (score_date, run_["dag_run_id"]) in published, (score_date, published)


def _marts(warehouse: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from marts.{table}").df()


def test_each_run_landed_and_scored_its_own_day(deployment, scheduled_runs):
    warehouse = deployment.world.warehouse
    with duckdb.connect(str(warehouse), read_only=True) as con:
        days = con.execute(
            "select distinct file_day from raw.load_log where file_day > $d order by 1",
            {"d": BASELINE_DAY},
        ).fetchall()
        history = con.execute(
            "select distinct score_date from marts.score_history where score_date > $d order by 1",
            {"d": BASELINE_DAY},
        ).fetchall()
    assert [d[0] for d in days] == LOGICAL_DATES
    assert [d[0] for d in history] == LOGICAL_DATES
    leads = _marts(warehouse, "lead_scores")
    assert set(leads.score_date.dt.date) == {LOGICAL_DATES[-1]}
    assert warehouse.with_name(warehouse.name + ".lock").read_text() == "", (
        "each run's release_warehouse teardown releases the lock"
    )


def test_one_row_per_entity_and_scores_in_range(deployment, scheduled_runs):
    leads = _marts(deployment.world.warehouse, "lead_scores")
    accounts = _marts(deployment.world.warehouse, "account_scores")
    assert leads.contact_id.is_unique and accounts.account_id.is_unique
    assert leads.lead_score.between(0, 100).all() and accounts.account_score.between(0, 100).all()


def test_the_last_run_published_what_the_gates_checked(deployment, scheduled_runs):
    serving = deployment.world.serving
    with (
        duckdb.connect(str(serving / "scores.duckdb"), read_only=True) as published,
        duckdb.connect(str(deployment.world.warehouse), read_only=True) as working,
    ):
        for table in ("lead_scores", "account_scores"):
            sql = f"select * from marts.{table} order by all"
            assert published.execute(sql).fetchall() == working.execute(sql).fetchall(), table
        rows = published.execute("select count(*) from marts.lead_scores").fetchone()[0]
    parquet = serving / "current" / "lead_scores.parquet"
    assert duckdb.execute(f"select count(*) from '{parquet}'").fetchone()[0] == rows


def test_signals_are_kept_per_day_and_new_only_once(deployment, scheduled_runs):
    signals = _marts(deployment.world.warehouse, "score_signals")
    days = sorted(set(signals.score_date.dt.date))
    assert days[-len(LOGICAL_DATES) :] == LOGICAL_DATES
    key = ["signal", "entity_type", "entity_id"]
    for previous, day in itertools.pairwise(days):
        before = signals[signals.score_date.dt.date == previous].set_index(key)
        today = signals[signals.score_date.dt.date == day].set_index(key)
        assert (today.is_new == ~today.index.isin(before.index)).all(), day


def test_a_task_log_reads_through_the_api(deployment, scheduled_runs):
    with deployment.client() as api:
        events = _log_events(api, scheduled_runs[-1]["dag_run_id"], "publish", 1)
    assert any("scores.duckdb" in event for event in events), events[-20:]


def test_no_secret_in_any_log_or_output(deployment, scheduled_runs):
    secrets_ = deployment.secrets()
    texts = {"make serve output": deployment.start_output}
    for folder in (deployment.serve_dir / "logs", deployment.serve_dir / "airflow" / "logs"):
        texts.update({str(p): p.read_text(errors="replace") for p in folder.rglob("*.log")})
    leaks = [
        (where, key) for where, text in texts.items() for key, v in secrets_.items() if v in text
    ]
    assert len(texts) > len(serve.COMPONENTS) and not leaks, leaks


def test_make_stop_leaves_no_process(deployment, scheduled_runs):
    _make("stop", deployment.make_env)
    assert serve.stragglers(deployment.serve_dir) == []
    import psutil

    postgres = [
        p.pid
        for p in psutil.process_iter(["cmdline"])
        if str(deployment.pg_dir) in " ".join(p.info["cmdline"] or [])
    ]
    assert postgres == [], "PostgreSQL still running"
    for port in (deployment.make_env["SERVE_API_PORT"], deployment.make_env["SERVE_PG_PORT"]):
        assert serve.port_free(int(port)), f"something still listens on port {port}"
