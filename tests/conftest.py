"""Shared fixtures. Slow tests (dbt, Airflow) share one generated demo dataset per session."""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import pytest

from leadscore.pipeline import DbtSession

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

# Tests never touch a user's ~/airflow, and never phone home.
os.environ.setdefault("AIRFLOW_HOME", str(ROOT / "airflow_home"))
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
# Tests never read or replace a user's published serving copy (the score gate compares with it),
# reports or record of sent signals; the folder goes when the session ends.
_SCRATCH = Path(tempfile.mkdtemp(prefix="leadscore-test-"))
atexit.register(shutil.rmtree, _SCRATCH, ignore_errors=True)
os.environ["LEADSCORE_SERVING_DIR"] = str(_SCRATCH / "serving")
os.environ["LEADSCORE_REPORTS_DIR"] = str(_SCRATCH / "reports")
os.environ["LEADSCORE_NOTIFY_LOG"] = str(_SCRATCH / "notify_log.sqlite")
(_SCRATCH / "serving").mkdir()
(_SCRATCH / "reports").mkdir()
# Gate results, Data Docs and dbt's target/ and logs/ also go to this session's own folder: the
# repository stays clean, and parallel workers (pytest -n) never write the same files.
shutil.copytree(
    ROOT / "expectations", _SCRATCH / "expectations", ignore=shutil.ignore_patterns("uncommitted")
)
os.environ["LEADSCORE_EXPECTATIONS_DIR"] = str(_SCRATCH / "expectations")
os.environ["LEADSCORE_GX_RESULTS_DIR"] = str(_SCRATCH / "gx")
os.environ["DBT_TARGET_PATH"] = str(_SCRATCH / "dbt-target")
os.environ["DBT_LOG_PATH"] = str(_SCRATCH / "dbt-logs")
# Cosmos caches `dbt ls` in Airflow Variables, which needs a metadata DB; tests parse without one.
os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_CACHE_DBT_LS", "False")

#: Small but realistic: enough won and lost deals for a stable AUC, fast enough for CI.
TEST_SCALE = float(os.environ.get("LEADSCORE_TEST_SCALE", "0.3"))
TEST_END = date(2026, 11, 20)
TEST_DAYS = int(os.environ.get("LEADSCORE_TEST_DAYS", "365"))


def quiet_env(**extra: str) -> dict[str, str]:
    """Environment for child processes: telemetry off, project paths set."""
    env = dict(os.environ)
    env.update(
        {
            "LEADSCORE_HOME": str(ROOT),
            "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
            "SCARF_ANALYTICS": "false",
            "DO_NOT_TRACK": "1",
            "GX_ANALYTICS_ENABLED": "False",
            "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
            "PYTHONWARNINGS": "ignore",
        }
    )
    env.update(extra)
    return env


#: How long a test waits for a child process to reach its pause point or to end.
WAIT_SECONDS = 120


def wait_for(predicate, what: str, seconds: float = WAIT_SECONDS) -> None:
    """Poll ``predicate`` until it is true; fail naming ``what`` after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up after {seconds} s waiting for {what}")
        time.sleep(0.05)


def run(cmd: list[str], *, env: dict[str, str], cwd: Path = ROOT, timeout: int = 900):
    """Run a command; on failure show its output tail in the assertion message."""
    proc = subprocess.run(
        cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + "\n" + proc.stderr).splitlines()[-60:])
        raise AssertionError(f"{' '.join(cmd)} failed with {proc.returncode}:\n{tail}")
    return proc


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """A generated landing tree shared by the slow tests (never modified by them)."""
    from leadscore.generate import generate

    out = tmp_path_factory.mktemp("landing")
    generate(out, seed=7, scale=TEST_SCALE, end_date=TEST_END, days=TEST_DAYS)
    return out


def write_delivery(landing: Path, entity, day: date, records: list[dict]) -> Path:
    """Write one day's export file of ``entity`` the way docs/sources.md describes it."""
    import csv
    import json

    folder = landing / entity.source / entity.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day.isoformat()}.{entity.extension}"
    if entity.file_format == "csv":
        with path.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=entity.columns)
            writer.writeheader()
            writer.writerows(records)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def dbt(args: list[str], *, warehouse: Path, project: Path = ROOT / "dbt_project", **env: str):
    return run(
        [str(BIN / "dbt"), *args, "--profiles-dir", str(project), "--project-dir", str(project)],
        env=quiet_env(LEADSCORE_WAREHOUSE=str(warehouse), **env),
        cwd=project,
    )


def copy_project(dest: Path) -> Path:
    """A copy of the dbt project (without build artifacts) that a test may edit."""
    shutil.copytree(
        ROOT / "dbt_project", dest, ignore=shutil.ignore_patterns("target", "logs", ".user.yml")
    )
    return dest


#: The small world the pipeline-safety and bad-input tests run in: ~500 contacts over 120 days.
SMALL_SCALE = 0.05
SMALL_DAYS = 120
#: The small world's history is loaded up to and including BASELINE_DAY, scored and published;
#: tests then run the pipeline for the days after it.
BASELINE_DAY = date(2026, 11, 18)


@dataclass
class World:
    """A landing tree, a warehouse and a serving copy, wired through the environment."""

    root: Path
    landing: Path
    warehouse: Path
    serving: Path

    def env(self) -> dict[str, str]:
        return {
            "LEADSCORE_LANDING_DIR": str(self.landing),
            "LEADSCORE_WAREHOUSE": str(self.warehouse),
            "LEADSCORE_SERVING_DIR": str(self.serving),
            "LEADSCORE_REPORTS_DIR": str(self.root / "reports"),
            "LEADSCORE_NOTIFY_LOG": str(self.root / "notify_log.sqlite"),
        }

    def activate(self, monkeypatch: pytest.MonkeyPatch) -> World:
        for key, value in self.env().items():
            monkeypatch.setenv(key, value)
        return self

    def copy(self, dest: Path) -> World:
        """An independent copy (landing, warehouse, serving) a test may break."""
        shutil.copytree(self.root, dest, symlinks=True)
        return World(dest, dest / "landing", dest / self.warehouse.name, dest / self.serving.name)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory, in_process_dbt) -> World:
    """History through BASELINE_DAY loaded, built, gated and published once per session."""
    from leadscore.generate import generate
    from leadscore.pipeline import run_interval

    root = tmp_path_factory.mktemp("small-world")
    world = World(root, root / "landing", root / "warehouse.duckdb", root / "serving")
    generate(world.landing, seed=3, scale=SMALL_SCALE, end_date=TEST_END, days=SMALL_DAYS)
    first = TEST_END - timedelta(days=SMALL_DAYS - 1)
    with pytest.MonkeyPatch.context() as mp:
        world.activate(mp)
        run_interval(first, BASELINE_DAY + timedelta(days=1), dbt=in_process_dbt)
    return world


def table_contents(path: Path, schema: str = "marts") -> dict[str, list[tuple]]:
    """Every table of ``schema`` in a DuckDB file, rows sorted: equal means same contents."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        names = [
            r[0]
            for r in con.execute(
                "select table_name from duckdb_tables() where schema_name = $s order by 1",
                {"s": schema},
            ).fetchall()
        ]
        return {
            name: sorted(
                con.execute(f"select * from {schema}.{name}").fetchall(), key=lambda r: repr(r)
            )
            for name in names
        }


class InProcessDbt(DbtSession):
    """The pipeline's in-process dbt session, for tests that run the pipeline many times.

    Same project, same SQL as production; builds skip dbt's unit tests (they check SQL logic, not
    data: test_dbt_build and the DAG run them), which saves a second and a half per run. The
    DAG and the end-to-end test still run dbt the production way (a child process per task).
    """

    def __call__(self, score_date: date, command: str = "build", *extra: str) -> None:
        if command == "build":
            extra = ("--exclude-resource-type", "unit_test", *extra)
        super().__call__(score_date, command, *extra)


@pytest.fixture(scope="session")
def in_process_dbt(tmp_path_factory) -> InProcessDbt:
    return InProcessDbt(target=tmp_path_factory.mktemp("dbt-target"))
