"""Reruns, crashes, backfills and readers: what the team running the job and BI users rely on.

- Rerunning any date gives identical tables; a backfill equals the daily runs it replaces (a week
  here, a month in `make test-deploy`).
- A process killed with SIGKILL in the middle of extract or of dbt, then rerun, leaves no
  duplicate and no missing row.
- A failed gate leaves the serving copy exactly as the last good publish.
- A reader holding the serving copy open across a publish keeps a complete old snapshot, new
  readers see the new one, and nobody meets a "Conflicting lock".
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore.orchestration import run_dbt_build
from leadscore.pipeline import StepFailed, run_interval
from leadscore.publish import kept_tables, publish
from leadscore.quality import score_gate
from tests.conftest import (
    BASELINE_DAY,
    BIN,
    DAY,
    NEXT,
    ROOT,
    WAIT_SECONDS,
    World,
    copy_project,
    quiet_env,
    table_contents,
    wait_for,
)

pytestmark = pytest.mark.slow

#: Columns that record when something was loaded, not what: they differ between reruns by design.
LOAD_TIME_COLUMNS = {
    "_loaded_at",
    "_interval_start",
    "_interval_end",
    "loaded_at",
    "interval_start",
    "interval_end",
    "_quarantined_at",
    "calibrated_at",
}

#: Marts that keep a row set per score date (the others hold the current date only).
DATED_MARTS = tuple(sorted(kept_tables()))


def snapshot(
    warehouse: Path, schemas: tuple[str, ...], days: tuple[date, ...] | None = None
) -> dict[str, list[tuple]]:
    """Sorted rows of every table in ``schemas``, without load-time columns; with ``days``, the
    dated marts keep only the rows of those score dates."""
    out = {}
    with duckdb.connect(str(warehouse), read_only=True) as con:
        tables = con.execute(
            """select schema_name, table_name from duckdb_tables()
            where list_contains($schemas, schema_name) order by all""",
            {"schemas": list(schemas)},
        ).fetchall()
        for schema, table in tables:
            columns = [
                r[0]
                for r in con.execute(
                    """select column_name from duckdb_columns()
                    where schema_name = $s and table_name = $t order by column_index""",
                    {"s": schema, "t": table},
                ).fetchall()
                if r[0] not in LOAD_TIME_COLUMNS
            ]
            dated = days is not None and schema == "marts" and table in DATED_MARTS
            rows = con.execute(
                f"select {', '.join(f'{chr(34)}{c}{chr(34)}' for c in columns)} "
                f"from {schema}.{table}"
                + (" where list_contains($days, score_date)" if dated else ""),
                {"days": list(days)} if dated else {},
            ).fetchall()
            out[f"{schema}.{table}"] = sorted(rows, key=repr)
    return out


def assert_same(left: dict[str, list[tuple]], right: dict[str, list[tuple]]) -> None:
    """Same tables with the same rows; a difference names the table and shows a few rows."""
    assert left.keys() == right.keys()
    differ = {}
    for table in left:
        if left[table] != right[table]:
            only_left = [r for r in left[table] if r not in right[table]]
            only_right = [r for r in right[table] if r not in left[table]]
            differ[table] = (
                f"{len(left[table])} vs {len(right[table])} rows; only left ({len(only_left)}): "
                f"{only_left[:3]}; only right ({len(only_right)}): {only_right[:3]}"
            )
    assert not differ, "tables differ:\n" + "\n".join(f"{t}: {d}" for t, d in differ.items())


#: Every table a run writes: landed, quarantined, incremental staging/intermediate, marts.
WAREHOUSE_SCHEMAS = ("raw", "quarantine", "staging", "intermediate", "marts")


def test_rerunning_a_date_gives_identical_tables(clean_day, tmp_path, monkeypatch, in_process_dbt):
    # clean_day: the small world after the run of DAY
    world = clean_day.copy(tmp_path / "world").activate(monkeypatch)
    first = snapshot(world.warehouse, WAREHOUSE_SCHEMAS)
    first_serving = table_contents(world.serving / "scores.duckdb")

    run_interval(DAY, NEXT, dbt=in_process_dbt)  # the same date again, at once
    assert_same(first, snapshot(world.warehouse, WAREHOUSE_SCHEMAS))
    assert table_contents(world.serving / "scores.duckdb") == first_serving

    # a later date, then the earlier one again: point in time, the later delivery does not leak
    run_interval(NEXT, NEXT + timedelta(days=1), gates=False, publish=False, dbt=in_process_dbt)
    run_interval(DAY, NEXT, dbt=in_process_dbt)
    history = snapshot(world.warehouse, ("marts",))["marts.score_history"]
    assert {r[3] for r in history} == {DAY - timedelta(days=1), DAY, NEXT}
    assert_same(
        snapshot(clean_day.warehouse, ("marts",), (DAY,)),
        snapshot(world.warehouse, ("marts",), (DAY,)),
    )


#: How many days the backfill covers: a week by default; a month-long outage in the deploy tier
#: (`make test-deploy`), which has the time for 30 daily runs.
BACKFILL_DAYS = [
    pytest.param(7, id="7_days"),
    pytest.param(
        30,
        id="30_days",
        marks=pytest.mark.skipif(
            os.environ.get("LEADSCORE_TEST_DEPLOY") != "1",
            reason="30 daily runs take minutes: `make test-deploy` runs it (7 days prove the same)",
        ),
    ),
]


@pytest.mark.parametrize("days", BACKFILL_DAYS)
def test_a_backfill_equals_the_daily_runs_it_replaces(
    days, small_world, tmp_path, monkeypatch, in_process_dbt
):
    """One interval of ``days`` days (catching up after an outage) gives what daily runs give.

    The daily runs land each day and advance the incremental models, the only state that
    carries from one run to the next (every other model is rebuilt whole from raw data at each
    run; score_history is compared for the days both paths score); the last day runs the whole
    build, gates and publish. Both paths end in the same tables.
    """
    root = tmp_path / "base"
    root.mkdir()
    (root / "landing").symlink_to(small_world.landing)
    base = World(root, root / "landing", root / "warehouse.duckdb", root / "serving")
    end = NEXT + timedelta(days=1)
    first_backfilled = end - timedelta(days=days)
    first_day = min(date.fromisoformat(p.stem) for p in (base.landing / "web" / "events").iterdir())
    base.activate(monkeypatch)
    run_interval(first_day, first_backfilled, dbt=in_process_dbt)

    daily = base.copy(tmp_path / "daily").activate(monkeypatch)
    for offset in range(days):
        day = first_backfilled + timedelta(days=offset)
        last = day == end - timedelta(days=1)
        run_interval(
            day,
            day + timedelta(days=1),
            gates=last,
            publish=last,
            accept_drift=True,  # the last publish is `days` days old: growth is expected
            dbt=lambda d, last=last: (
                in_process_dbt(d)
                if last
                else in_process_dbt(
                    d,
                    "run",
                    "--select",
                    "config.materialized:incremental",
                    "--exclude",
                    *DATED_MARTS,
                )
            ),
        )
    last = end - timedelta(days=1)
    # history: a backfill interval scores its last day (`leadscore history` fills the days between)
    shared_days = (first_backfilled - timedelta(days=1), last)
    daily_tables = snapshot(daily.warehouse, WAREHOUSE_SCHEMAS, shared_days)

    backfill = base.copy(tmp_path / "backfill").activate(monkeypatch)
    run_interval(first_backfilled, end, accept_drift=True, dbt=in_process_dbt)
    backfill_tables = snapshot(backfill.warehouse, WAREHOUSE_SCHEMAS, shared_days)

    assert len(daily_tables["marts.lead_scores"]) > 0
    assert_same(daily_tables, backfill_tables)
    assert table_contents(daily.serving / "scores.duckdb") == table_contents(
        backfill.serving / "scores.duckdb"
    )


def _start(cmd: list[str], world: World, **env: str) -> subprocess.Popen:
    return subprocess.Popen(
        cmd,
        cwd=ROOT,
        env=quiet_env(**world.env(), **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=WAIT_SECONDS)
    assert proc.returncode == -signal.SIGKILL


@pytest.fixture(scope="module")
def clean_run(clean_day) -> dict:
    """What an undisturbed run of DAY leaves in the warehouse."""
    return snapshot(clean_day.warehouse, WAREHOUSE_SCHEMAS)


def test_extract_killed_midway_then_rerun(
    small_world, tmp_path, monkeypatch, in_process_dbt, clean_run
):
    world = small_world.copy(tmp_path / "killed")
    pause = tmp_path / "paused"
    proc = _start(
        [str(BIN / "leadscore"), "run", "--day", DAY.isoformat()],
        world,
        LEADSCORE_PAUSE_AT="extract:crm/deals",
        LEADSCORE_PAUSE_FILE=str(pause),
    )
    wait_for(pause.exists, "extract to load crm/deals")
    _kill(proc)
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        landed = con.execute(
            "select count(*) from raw.crm__companies where _file_day = $d", {"d": DAY}
        ).fetchone()[0]
    assert landed == 0, "a killed extract must leave nothing of its transaction"

    world.activate(monkeypatch)
    run_interval(DAY, NEXT, dbt=in_process_dbt)
    assert_same(clean_run, snapshot(world.warehouse, WAREHOUSE_SCHEMAS))


def test_dbt_killed_midway_then_retried(
    small_world, tmp_path, monkeypatch, in_process_dbt, clean_run
):
    """The dbt task dies after an incremental model committed; Airflow's retry reruns dbt only."""
    from leadscore.quality import raw_gate
    from leadscore.sources.files import extract_source

    world = small_world.copy(tmp_path / "killed").activate(monkeypatch)
    for source in ("crm", "email", "web"):
        extract_source(source, DAY, NEXT)
    raw_gate([DAY])
    project = ROOT / "dbt_project"
    proc = _start(
        [
            str(BIN / "dbt"),
            "build",
            "--project-dir",
            str(project),
            "--profiles-dir",
            str(project),
            "--target-path",
            str(tmp_path / "target"),
            "--vars",
            f'{{"score_date": "{DAY}"}}',
        ],
        world,
    )
    seen: list[str] = []

    def incremental_committed() -> bool:
        line = proc.stdout.readline()
        seen.append(line)
        if not line and proc.poll() is not None:
            raise AssertionError("dbt ended before stg_email__events:\n" + "".join(seen[-30:]))
        return "stg_email__events" in line and "OK created" in line

    wait_for(incremental_committed, "dbt to build stg_email__events")
    _kill(proc)
    assert not any("Completed successfully" in line for line in seen)

    in_process_dbt(DAY)  # the retry
    assert_same(clean_run, snapshot(world.warehouse, WAREHOUSE_SCHEMAS))


def test_failed_score_gate_leaves_the_serving_copy_untouched(
    small_world, tmp_path, monkeypatch, in_process_dbt
):
    world = small_world.copy(tmp_path / "world").activate(monkeypatch)
    strict = tmp_path / "gates.yml"
    strict.write_text(
        (ROOT / "expectations" / "gates.yml")
        .read_text()
        .replace("max_mean_score_change: 5", "max_mean_score_change: 0")
    )
    monkeypatch.setenv("LEADSCORE_GATES_CONFIG", str(strict))
    serving = world.serving / "scores.duckdb"
    before, before_bytes = table_contents(serving), serving.read_bytes()

    with pytest.raises(StepFailed) as failed:
        run_interval(DAY, NEXT, dbt=in_process_dbt)
    assert failed.value.step == "score_gate"
    assert "mean lead_score within max_mean_score_change of the last publish" in str(failed.value)
    assert serving.read_bytes() == before_bytes
    assert table_contents(serving) == before

    # the change was intended: the scores built by the failed run pass and are published
    score_gate(DAY, accept_drift=True)
    report = publish(DAY)
    # dbt recorded the day it built in meta.kept_dates, so of the kept tables' dates the publish
    # wrote at most that day and linked the history from the last publish
    assert all(written <= 1 for written in report.dates_written.values()), report.dates_written
    assert report.dates_linked["score_history"] > 0
    with duckdb.connect(str(serving), read_only=True) as con:
        dates = con.execute("select distinct score_date from marts.lead_scores").fetchall()
    assert dates == [(DAY,)]


def test_a_failing_dbt_test_fails_the_dag_task_by_name_and_stops_what_is_downstream(
    small_world, tmp_path, monkeypatch
):
    """The DAG's one dbt_build task: a data test that fails names itself in the task's error,
    fails it without a retry (AirflowFailException: it would fail the same way), and dbt builds
    nothing downstream of it: lead_scores keeps the last good day."""
    from airflow.exceptions import AirflowFailException

    world = small_world.copy(tmp_path / "world").activate(monkeypatch)
    project = copy_project(tmp_path / "dbt_project")
    (project / "tests" / "engagement_fails_on_purpose.sql").write_text(
        "select contact_id from {{ ref('int_contact_engagement') }}\n"
    )
    monkeypatch.setenv("LEADSCORE_DBT_PROJECT_DIR", str(project))

    end = datetime.combine(NEXT, time.min, tzinfo=UTC)  # the run whose score date is DAY
    with pytest.raises(AirflowFailException) as failed:
        run_dbt_build(data_interval_end=end)
    assert "test.leadscore.engagement_fails_on_purpose" in str(failed.value)
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        built = con.execute("select distinct score_date from marts.lead_scores").fetchall()
    assert built == [(BASELINE_DAY,)], "lead_scores was rebuilt after a failing upstream test"


def _read_in_new_process(serving: Path) -> str:
    code = (
        "import duckdb, sys; con = duckdb.connect(sys.argv[1], read_only=True); "
        "print(con.execute('select min(score_date) from marts.lead_scores').fetchone()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(serving)], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def test_a_reader_keeps_its_snapshot_across_a_publish(small_world, tmp_path):
    world = small_world.copy(tmp_path / "world")
    serving = world.serving / "scores.duckdb"
    old = table_contents(serving)
    reader = duckdb.connect(str(serving), read_only=True)
    try:
        # the whole daily run, dbt build and publish included, while the reader holds the file
        proc = subprocess.run(
            [str(BIN / "leadscore"), "run", "--day", DAY.isoformat()],
            cwd=ROOT,
            env=quiet_env(**world.env()),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        output = proc.stdout + proc.stderr
        assert proc.returncode == 0, output[-3000:]
        assert "Conflicting lock" not in output

        for table, rows in old.items():
            got = reader.execute(f"select * from marts.{table}").fetchall()
            assert sorted(got, key=repr) == rows, f"the open reader lost its snapshot of {table}"
        assert reader.execute("select distinct score_date from marts.lead_scores").fetchall() == [
            (DAY - timedelta(days=1),)
        ]
    finally:
        reader.close()
    assert _read_in_new_process(serving) == DAY.isoformat(), "a new reader sees the new publish"
    leftovers = [p.name for p in world.serving.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []


def test_an_older_date_never_replaces_newer_published_scores(small_world, tmp_path, monkeypatch):
    world = small_world.copy(tmp_path / "world").activate(monkeypatch)
    serving = world.serving / "scores.duckdb"
    before = serving.read_bytes()
    report = publish(DAY - timedelta(days=2))  # the world published DAY - 1
    assert report.skipped and "already holds newer scores" in report.skipped
    assert serving.read_bytes() == before
    assert publish(DAY - timedelta(days=2), force=True).skipped is None
    assert serving.read_bytes() != before
