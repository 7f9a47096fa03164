"""The daily DAG end to end: three consecutive days with `airflow dags test`.

Reruns, crashes and backfills are covered in test_reruns_and_readers.py (same steps, no Airflow).
"""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import BIN, FIRST_DAG_DAY, quiet_env, run

pytestmark = pytest.mark.slow

LOGICAL_DATES = [FIRST_DAG_DAY + timedelta(days=i + 1) for i in range(3)]


@pytest.fixture(scope="module")
def pipeline(demo_landing, tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    env = quiet_env(
        AIRFLOW_HOME=str(root / "airflow"),
        LEADSCORE_WAREHOUSE=str(root / "warehouse.duckdb"),
        LEADSCORE_LANDING_DIR=str(demo_landing),
        LEADSCORE_SERVING_DIR=str(root / "serving"),
    )
    for name in ("DBT_TARGET_PATH", "DBT_LOG_PATH"):  # Cosmos runs dbt in its own project copy
        env.pop(name, None)
    run([str(BIN / "airflow"), "db", "migrate"], env=env)
    run([str(BIN / "airflow"), "pools", "set", "duckdb_writer", "1", "one writer"], env=env)
    run([str(BIN / "leadscore"), "extract", "--end", FIRST_DAG_DAY.isoformat()], env=env)
    logs = {}
    for logical in LOGICAL_DATES:
        logs[logical] = run(
            [str(BIN / "airflow"), "dags", "test", "scoring_daily", logical.isoformat()], env=env
        ).stdout
    return {
        "env": env,
        "warehouse": root / "warehouse.duckdb",
        "serving": root / "serving",
        "logs": logs,
    }


def _runs(env) -> dict[str, str]:
    out = run(
        [str(BIN / "airflow"), "dags", "list-runs", "scoring_daily", "-o", "json"], env=env
    ).stdout
    start = out.index("[")
    return {r["logical_date"][:10]: r["state"] for r in json.loads(out[start:])}


def _marts(warehouse: Path, table: str, key: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from marts.{table} order by {key}").df()


def test_three_daily_runs_succeed(pipeline):
    states = _runs(pipeline["env"])
    for logical in LOGICAL_DATES:
        assert states.get(logical.isoformat()) == "success", (logical, states)


def test_each_run_scores_the_day_before_its_logical_date(pipeline):
    leads = _marts(pipeline["warehouse"], "lead_scores", "contact_id")
    assert set(leads.score_date.dt.date) == {LOGICAL_DATES[-1] - timedelta(days=1)}
    with duckdb.connect(str(pipeline["warehouse"]), read_only=True) as con:
        days = con.execute(
            "select distinct file_day from raw.load_log where file_day >= $d order by 1",
            {"d": FIRST_DAG_DAY},
        ).fetchall()
    assert [d[0] for d in days] == [FIRST_DAG_DAY + timedelta(days=i) for i in range(3)]


def test_one_row_per_entity_and_scores_in_range(pipeline):
    leads = _marts(pipeline["warehouse"], "lead_scores", "contact_id")
    accounts = _marts(pipeline["warehouse"], "account_scores", "account_id")
    assert leads.contact_id.is_unique and accounts.account_id.is_unique
    assert leads.lead_score.between(0, 100).all() and accounts.account_score.between(0, 100).all()


def test_the_last_run_published_what_the_gates_checked(pipeline):
    serving = pipeline["serving"] / "scores.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        published = {
            table: con.execute(f"select * from marts.{table} order by all").fetchall()
            for table in ("lead_scores", "account_scores")
        }
        runs = con.execute("select count(distinct published_at) from meta.publish_log").fetchone()
    with duckdb.connect(str(pipeline["warehouse"]), read_only=True) as con:
        for table, rows in published.items():
            assert rows == con.execute(f"select * from marts.{table} order by all").fetchall()
    assert runs == (len(LOGICAL_DATES),), "one publish per run"
    parquet = pipeline["serving"] / "parquet" / "lead_scores" / "lead_scores.parquet"
    assert duckdb.execute(f"select count(*) from '{parquet}'").fetchone()[0] == len(
        published["lead_scores"]
    )


def test_history_loaded_before_the_dag_covers_every_day(pipeline, demo_landing):
    first = min(date.fromisoformat(p.stem) for p in (demo_landing / "web" / "events").iterdir())
    with duckdb.connect(str(pipeline["warehouse"]), read_only=True) as con:
        n_days = con.execute(
            "select count(distinct file_day) from raw.load_log where source = 'web'"
        ).fetchone()[0]
    assert n_days == (LOGICAL_DATES[-1] - first).days


def test_signals_are_kept_per_day_and_new_only_once(pipeline):
    with duckdb.connect(str(pipeline["warehouse"]), read_only=True) as con:
        signals = con.execute("select * from marts.score_signals").df()
        history_days = con.execute(
            "select count(distinct score_date) from marts.score_history"
        ).fetchone()[0]
    days = sorted(set(signals.score_date.dt.date))
    assert len(days) == len(LOGICAL_DATES) == history_days
    key = ["signal", "entity_type", "entity_id"]
    for previous, day in itertools.pairwise(days):
        before = signals[signals.score_date.dt.date == previous].set_index(key)
        today = signals[signals.score_date.dt.date == day].set_index(key)
        assert (today.is_new == ~today.index.isin(before.index)).all()
