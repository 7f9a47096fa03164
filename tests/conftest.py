"""Shared fixtures. Slow tests (dbt, Airflow) share generated worlds, built once per test run."""

from __future__ import annotations

import atexit
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest
from filelock import FileLock

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
os.environ["LEADSCORE_CRM_SYNC_LOG"] = str(_SCRATCH / "crm_sync_log.sqlite")
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


#: Test files in the order `make test` hands them to its worker processes (xdist's loadfile takes
#: files in collection order with --no-loadscope-reorder): the longest first, so that no long
#: file starts last while the other workers have run out of files. The first two build the shared
#: small world and demo year side by side. Other files with slow tests follow, then the rest, each
#: in their usual order. A file that takes a minute or more belongs here, by its `--durations`.
LONGEST_FIRST = (
    "test_reruns_and_readers.py",  # builds the small world, then clean_day
    "test_calibrate.py",  # builds the demo year (scored_year)
    "test_bad_inputs.py",
    "test_quality.py",
    "test_connectors_end_to_end.py",
    "test_bank_marketing_example.py",
    "test_dbt_build.py",
    "test_shapes.py",
    "test_rules.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    slow_files = {item.path for item in items if item.get_closest_marker("slow")}

    def order(item: pytest.Item) -> int:
        if item.path.name in rank:
            return rank[item.path.name]
        return len(rank) + (item.path not in slow_files)

    items.sort(key=order)  # stable: a file's tests keep their order


def shared_build(tmp_path_factory, name: str, build) -> Path:
    """``build(folder)`` once per test run, whatever the number of worker processes.

    Under pytest-xdist the workers share one folder: the first worker to ask builds while it
    holds a file lock, the others wait for it and reuse the result (pytest-xdist's documented
    recipe). A build that raised is tried again by the next worker to ask. Callers treat the
    folder as read only: copy it to change it.
    """
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, done = shared / f"shared-{name}", shared / f"shared-{name}.done"
    with FileLock(str(shared / f"shared-{name}.lock")):
        if not done.exists():
            shutil.rmtree(folder, ignore_errors=True)  # what a build that raised left behind
            folder.mkdir()
            build(folder)
            done.touch()
    return folder


@pytest.fixture(scope="session")
def demo_landing(tmp_path_factory) -> Path:
    """A generated landing tree shared by the slow tests (never modified by them)."""
    from leadscore.generate import generate

    return shared_build(
        tmp_path_factory,
        "demo-landing",
        lambda out: generate(out, seed=7, scale=TEST_SCALE, end_date=TEST_END, days=TEST_DAYS),
    )


def load_landing(landing: Path, warehouse: Path, end: date) -> None:
    """Extract every source's files of ``landing`` up to ``end`` (excluded) into ``warehouse``."""
    from leadscore.sources import SOURCES
    from leadscore.sources.files import extract_source

    first = min(date.fromisoformat(p.stem) for p in (landing / "web" / "events").iterdir())
    for source in SOURCES:
        extract_source(source, first, end, warehouse=warehouse, landing=landing)


#: The year's monthly cut-offs scored for history (up to TEST_END - 1): 4 of them have a complete
#: outcome window (validation_horizon_days), enough for validation and for calibration's
#: 3 training cut-offs and 1 held out.
YEAR_CUTOFFS = 7


@pytest.fixture(scope="session")
def loaded_year(demo_landing, tmp_path_factory) -> Path:
    """A warehouse holding every file of the demo landing, nothing built (read only: copy it)."""
    folder = shared_build(
        tmp_path_factory,
        "loaded-year",
        lambda out: load_landing(
            demo_landing, out / "warehouse.duckdb", TEST_END + timedelta(days=1)
        ),
    )
    return folder / "warehouse.duckdb"


@dataclass
class ScoredYear:
    warehouse: Path
    cutoffs: list[date]


@pytest.fixture(scope="session")
def scored_year(loaded_year, tmp_path_factory, in_process_dbt) -> ScoredYear:
    """The demo year scored at YEAR_CUTOFFS monthly cut-offs (score_history, rule_history,
    model_validation), then built for TEST_END, as `leadscore history` leaves it (read only)."""
    from leadscore.pipeline import monthly_cutoffs, score_past_dates

    cutoffs = monthly_cutoffs(TEST_END - timedelta(days=1), YEAR_CUTOFFS)

    def build(out: Path) -> None:
        warehouse = out / "warehouse.duckdb"  # the file name is the dbt database name
        shutil.copyfile(loaded_year, warehouse)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
            score_past_dates(cutoffs, current=TEST_END, dbt=in_process_dbt)

    folder = shared_build(tmp_path_factory, "scored-year", build)
    return ScoredYear(folder / "warehouse.duckdb", cutoffs)


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


def writable_serving_copy(serving: Path, folder: Path) -> Path:
    """A writable copy of a published ``scores.duckdb`` in ``folder`` (the original is 0444),
    its kept tables made tables again (a publish makes them views over per-date files), so a
    test can edit any published table."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "scores.duckdb"
    shutil.copyfile(serving / "scores.duckdb", target)
    target.chmod(target.stat().st_mode | stat.S_IWUSR)
    with duckdb.connect(str(target)) as con:
        views = con.execute(
            "select table_name from information_schema.tables "
            "where table_schema = 'marts' and table_type = 'VIEW'"
        ).fetchall()
        for (view,) in views:
            con.execute(f"create table marts.{view}_copy as select * from marts.{view}")
            con.execute(f"drop view marts.{view}")
            con.execute(f"alter table marts.{view}_copy rename to {view}")
    return target


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

    @classmethod
    def at(cls, root: Path) -> World:
        return cls(root, root / "landing", root / "warehouse.duckdb", root / "serving")

    def copy(self, dest: Path) -> World:
        """An independent copy (landing, warehouse, serving) a test may break."""
        shutil.copytree(self.root, dest, symlinks=True)
        return World(dest, dest / "landing", dest / self.warehouse.name, dest / self.serving.name)


@pytest.fixture(scope="session")
def small_world(tmp_path_factory, in_process_dbt) -> World:
    """History through BASELINE_DAY loaded, built, gated and published once per test run; each
    worker process gets its own copy (tests copy it again to change it)."""
    from leadscore.generate import generate
    from leadscore.pipeline import run_interval

    def build(root: Path) -> None:
        world = World.at(root)
        generate(world.landing, seed=3, scale=SMALL_SCALE, end_date=TEST_END, days=SMALL_DAYS)
        first = TEST_END - timedelta(days=SMALL_DAYS - 1)
        with pytest.MonkeyPatch.context() as mp:
            world.activate(mp)
            run_interval(first, BASELINE_DAY + timedelta(days=1), dbt=in_process_dbt)

    built = World.at(shared_build(tmp_path_factory, "small-world", build))
    return built.copy(tmp_path_factory.mktemp("small-world") / "world")


#: The day after the small world's history, and the next: the daily run for DAY scores DAY.
DAY = BASELINE_DAY + timedelta(days=1)
NEXT = DAY + timedelta(days=1)


@pytest.fixture(scope="session")
def clean_day(small_world, tmp_path_factory, in_process_dbt) -> World:
    """The small world after an undisturbed daily run of DAY (built, gated and published), once
    per test run: what reruns and recoveries must end equal to (read only: copy it)."""
    from leadscore.pipeline import run_interval

    def build(root: Path) -> None:
        root.rmdir()
        with pytest.MonkeyPatch.context() as mp:
            small_world.copy(root).activate(mp)
            run_interval(DAY, NEXT, dbt=in_process_dbt)

    return World.at(shared_build(tmp_path_factory, "clean-day", build))


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


@pytest.fixture(scope="session")
def in_process_dbt(tmp_path_factory) -> DbtSession:
    """The daily run's dbt session (parsed once, builds without dbt's unit tests, which
    test_dbt_build runs), shared by the tests that run the pipeline many times."""
    return DbtSession(target=tmp_path_factory.mktemp("dbt-target"), unit_tests=False)
