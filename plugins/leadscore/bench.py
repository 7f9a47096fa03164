"""``make bench``: time each stage of the pipeline at a given scale, in a scratch directory.

Stages: generate the exports, bulk-load the history, full dbt build, a back-test of monthly
cut-offs (``--backtest-months``), one daily DAG run with
``airflow dags test`` (with each task's duration), and the same day's work again without Airflow
(``leadscore run``: extract, gates, dbt, publish), whose difference to the DAG run is the
orchestration overhead. Reports the gates' and the publish's share of the run.
Prints a table and writes ``bench/results/<scale>.json``. Never asserts a time: it measures.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

from leadscore import config
from leadscore.progress import command_line_logging


def _timed(results: dict, name: str, fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    results[name] = round(time.perf_counter() - start, 2)
    print(f"  {name:<34} {results[name]:>8.2f} s", flush=True)
    return value


def _run(cmd: list[str], env: dict[str, str], cwd: Path) -> str:
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout + proc.stderr


def _timed_run(cmd: list[str], env: dict[str, str], cwd: Path) -> float:
    start = time.perf_counter()
    _run(cmd, env, cwd)
    return round(time.perf_counter() - start, 2)


def _task_seconds(airflow_db: Path) -> dict[str, float]:
    """Duration of each task of the (only) DAG run, from the Airflow metadata DB."""
    import sqlite3

    with sqlite3.connect(airflow_db) as con:
        rows = con.execute(
            """select task_id, (julianday(end_date) - julianday(start_date)) * 86400
            from task_instance where dag_id = 'scoring_daily' order by start_date"""
        ).fetchall()
    return {task: round(seconds, 2) for task, seconds in rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="leadscore-bench", description=__doc__)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--end-date", type=date.fromisoformat, default=date(2026, 11, 20))
    parser.add_argument("--days", type=int, default=548)
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    parser.add_argument("--backtest-months", type=int, default=3, help="monthly cut-offs to score")
    args = parser.parse_args(argv)
    command_line_logging()

    from leadscore.generate import generate
    from leadscore.sources import SOURCES
    from leadscore.sources.files import extract_source

    scratch = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    landing, warehouse = scratch / "landing", scratch / "warehouse.duckdb"
    airflow_home = scratch / "airflow"
    env = dict(os.environ)
    env.update(
        LEADSCORE_LANDING_DIR=str(landing),
        LEADSCORE_WAREHOUSE=str(warehouse),
        LEADSCORE_SERVING_DIR=str(scratch / "serving"),
        AIRFLOW_HOME=str(airflow_home),
        AIRFLOW__CORE__DAGS_FOLDER=str(config.PROJECT_ROOT / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(config.PROJECT_ROOT / "plugins"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__COSMOS__ENABLE_TELEMETRY="False",
    )
    bin_dir = Path(sys.executable).parent
    project = config.dbt_project_dir()
    last_day = args.end_date
    history_end = last_day  # history = everything before the benchmarked daily run
    score_day = last_day - timedelta(days=1)
    results: dict = {"scale": args.scale, "days": args.days}
    print(f"bench scale={args.scale} in {scratch}")

    summary = _timed(
        results, "generate", generate, landing, scale=args.scale, end_date=last_day, days=args.days
    )
    results["rows"] = summary.rows
    first_day = summary.start_date
    for source in SOURCES:
        _timed(
            results,
            f"initial load {source}",
            extract_source,
            source,
            first_day,
            history_end - timedelta(days=1),
            warehouse=warehouse,
            landing=landing,
        )
    dbt = [
        str(bin_dir / "dbt"),
        "--quiet",
        "build",
        "--profiles-dir",
        str(project),
        "--project-dir",
        str(project),
        "--vars",
        f"{{score_date: '{score_day - timedelta(days=1)}'}}",
    ]
    _timed(results, "dbt build (full, history)", _run, dbt, env, project)
    # back-test: monthly cut-offs scored into score_history (what validation and calibration use)
    os.environ.update(env)
    from leadscore.pipeline import monthly_cutoffs, score_past_dates

    cutoffs = monthly_cutoffs(score_day - timedelta(days=2), args.backtest_months)
    timings = _timed(
        results,
        f"backtest ({len(cutoffs)} monthly cut-offs)",
        score_past_dates,
        cutoffs,
        current=score_day - timedelta(days=1),
    )
    per_cutoff = [v for k, v in timings.items() if k[:1].isdigit()]
    results["backtest seconds per cut-off"] = round(sum(per_cutoff) / len(per_cutoff), 2)
    # the first daily run, through Airflow: extract, raw gate, dbt (layers), score gate, publish
    _run([str(bin_dir / "airflow"), "db", "migrate"], env, scratch)
    _run([str(bin_dir / "airflow"), "pools", "set", "duckdb_writer", "1", "writer"], env, scratch)
    dag_seconds = _timed(
        results,
        "daily DAG run (airflow dags test)",
        _timed_run,
        [str(bin_dir / "airflow"), "dags", "test", "scoring_daily", last_day.isoformat()],
        env,
        scratch,
    )
    tasks = _task_seconds(airflow_home / "airflow.db")
    results["dag task seconds"] = tasks
    results["dag sum of task seconds"] = round(sum(tasks.values()), 2)

    # the same day's work in one process (rerun of the interval): what the DAG costs without
    # Airflow, so the difference is orchestration overhead
    from leadscore.pipeline import run_interval

    run = run_interval(score_day, last_day)
    work = round(sum(run.seconds.values()), 2)
    results["daily run without Airflow (leadscore run)"] = run.seconds
    results["daily run work seconds"] = work
    results["orchestration overhead seconds"] = round(dag_seconds - work, 2)
    gates = run.seconds["raw_gate"] + run.seconds["score_gate"]
    results["gates seconds"] = round(gates, 2)
    results["gates share of run"] = round(gates / work, 3)
    results["publish seconds"] = run.seconds["publish"]
    results["publish share of run"] = round(run.seconds["publish"] / work, 3)
    for step, seconds in run.seconds.items():
        print(f"    {step:<32} {seconds:>8.2f} s", flush=True)
    overhead = results["orchestration overhead seconds"]
    print(f"  orchestration overhead (DAG wall - work) {overhead:>6.2f} s", flush=True)
    results["peak_rss_mb"] = round(
        max(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
            resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,
        )
        / 1024,
        1,
    )
    results["warehouse_mb"] = round(warehouse.stat().st_size / 2**20, 1)
    print(json.dumps(results, indent=2))
    out = config.PROJECT_ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"scale-{args.scale:g}.json").write_text(json.dumps(results, indent=2))
    if not args.keep:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
