"""Publish swaps in one whole day for every reader: the DuckDB file and every Parquet file.

A tiny warehouse (three marts tables, a few rows) stands in for a scored one: what matters here
is which day each published file holds, not the scores. A "kill" is a real SIGKILL of a child
process stopped at a pause point inside ``publish`` (``leadscore.sources.files.pause_point``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore.publish import CURRENT, PUBLISHES, SERVING_FILE, kept_tables, publish
from tests.conftest import ROOT

DAY = date(2026, 11, 18)
NEXT = DAY + timedelta(days=1)
TABLES = ("account_scores", "lead_scores", "score_history")
KEPT = kept_tables()
#: How long a test waits for the child process to reach its pause point.
WAIT_SECONDS = 60


def make_warehouse(path: Path, day: date) -> Path:
    with duckdb.connect(str(path)) as con:
        con.execute("create schema marts")
        for table in TABLES:
            con.execute(
                f"create table marts.{table} as select 'E' || i::varchar as entity_id, "
                f"$day::date as score_date from range(50) t(i)",
                {"day": day},
            )
    return path


def set_day(warehouse: Path, day: date) -> None:
    """The warehouse now holds ``day``'s scores (as a daily run would leave it)."""
    with duckdb.connect(str(warehouse)) as con:
        for table in TABLES:
            con.execute(f"update marts.{table} set score_date = $day", {"day": day})


def days_readers_see(serving: Path) -> dict[str, frozenset[date]]:
    """The score dates a reader opening each published file now gets."""
    seen = {}
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as con:
        for table in TABLES:
            rows = con.execute(f"select distinct score_date from marts.{table}").fetchall()
            seen[f"duckdb {table}"] = frozenset(r[0] for r in rows)
    for table in TABLES:
        # a kept table is a folder of one file per score date
        parquet = serving / CURRENT / (f"{table}/*" if table in KEPT else table)
        rows = duckdb.execute(f"select distinct score_date from '{parquet}.parquet'").fetchall()
        seen[f"parquet {table}"] = frozenset(r[0] for r in rows)
    return seen


def leftovers(serving: Path) -> list[str]:
    return sorted(str(p.relative_to(serving)) for p in serving.rglob("*") if ".tmp" in p.name)


@pytest.fixture
def world(tmp_path, monkeypatch) -> dict[str, Path]:
    warehouse = make_warehouse(tmp_path / "warehouse.duckdb", DAY)
    serving = tmp_path / "serving"
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    return {"warehouse": warehouse, "serving": serving}


def test_every_reader_path_shows_the_new_day_and_two_publishes_are_kept(world):
    serving = world["serving"]
    first = publish(DAY)
    assert set(days_readers_see(serving).values()) == {frozenset({DAY})}
    assert first.path == serving / SERVING_FILE
    assert sorted(first.parquet) == sorted(TABLES)
    assert all(p.parent == serving / PUBLISHES / first.publish_id for p in first.parquet.values())

    set_day(world["warehouse"], NEXT)
    second = publish(NEXT)
    assert set(days_readers_see(serving).values()) == {frozenset({NEXT})}
    assert (serving / CURRENT).resolve() == serving / PUBLISHES / second.publish_id
    # the previous publish stays for readers that resolved `current` just before the switch
    assert sorted(p.name for p in (serving / PUBLISHES).iterdir()) == sorted(
        [first.publish_id, second.publish_id]
    )

    third = publish(NEXT)
    assert sorted(p.name for p in (serving / PUBLISHES).iterdir()) == sorted(
        [second.publish_id, third.publish_id]
    )
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as con:
        publishes = con.execute("select count(distinct published_at) from meta.publish_log")
        assert publishes.fetchone()[0] == 3, "the publish log carries every earlier publish"
    assert leftovers(serving) == []


def _start_publish(world: dict[str, Path], day: date, pause_at: str, pause: Path):
    code = "import sys, datetime; from leadscore.publish import publish; " + (
        "publish(datetime.date.fromisoformat(sys.argv[1]))"
    )
    env = dict(os.environ)
    env.update(
        LEADSCORE_WAREHOUSE=str(world["warehouse"]),
        LEADSCORE_SERVING_DIR=str(world["serving"]),
        LEADSCORE_PAUSE_AT=pause_at,
        LEADSCORE_PAUSE_FILE=str(pause),
    )
    return subprocess.Popen(
        [sys.executable, "-c", code, day.isoformat()],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _kill_at_pause(proc: subprocess.Popen, pause: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not pause.exists():
        if proc.poll() is not None:
            raise AssertionError(f"publish ended before its pause point:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"gave up after {WAIT_SECONDS} s waiting for the pause point")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=WAIT_SECONDS)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.parametrize(
    ("pause_at", "day_seen"),
    [
        # the first Parquet file written (tables go in name order: account_scores first)
        ("publish:parquet:account_scores", DAY),
        # every file written, the pointer not yet switched
        ("publish:switch", DAY),
        # switched, the old publishes not yet cleaned up
        ("publish:cleanup", NEXT),
    ],
    ids=["after-the-first-parquet-file", "before-the-switch", "before-the-clean-up"],
)
def test_a_kill_during_publish_leaves_readers_on_one_day(world, tmp_path, pause_at, day_seen):
    serving = world["serving"]
    publish(DAY)
    set_day(world["warehouse"], NEXT)
    pause = tmp_path / "paused"

    _kill_at_pause(_start_publish(world, NEXT, pause_at, pause), pause)

    seen = days_readers_see(serving)
    assert all(days == {day_seen} for days in seen.values()), seen
    if pause_at.startswith("publish:parquet"):
        assert leftovers(serving), "the kill left a half-written publish behind"

    # the next publish cleans up whatever the killed one left
    report = publish(NEXT)
    assert leftovers(serving) == []
    assert all(days == {NEXT} for days in days_readers_see(serving).values())
    kept = sorted(p.name for p in (serving / PUBLISHES).iterdir())
    assert report.publish_id in kept and len(kept) <= 2


def test_the_old_layout_is_replaced_and_its_temp_files_removed(world):
    """Serving folders written before per-publish folders: a plain scores.duckdb, one folder per
    table under parquet/, and the temp files a killed publish left."""
    serving = world["serving"]
    (serving / "parquet" / "lead_scores").mkdir(parents=True)
    with duckdb.connect(str(serving / SERVING_FILE)) as con:
        con.execute("attach $p as wh (read_only)", {"p": str(world["warehouse"])})
        con.execute("create schema marts")
        con.execute("create table marts.lead_scores as from wh.marts.lead_scores")
        con.execute("create schema meta")
        con.execute(
            "create table meta.publish_log as select now() as published_at, "
            "$d::date as score_date, null::varchar as run_id, 'lead_scores' as table_name, "
            "50::bigint as row_count",
            {"d": DAY},
        )
        con.execute(
            f"copy marts.lead_scores to '{serving}/parquet/lead_scores/lead_scores.parquet'"
        )
    (serving / "parquet" / "lead_scores" / ".lead_scores.parquet.0123abcd.tmp").write_bytes(b"x")
    (serving / ".scores.duckdb.4567cdef.tmp").write_bytes(b"x")

    set_day(world["warehouse"], NEXT)
    publish(NEXT)

    assert (serving / SERVING_FILE).is_symlink()
    assert not (serving / "parquet").exists(), "stale Parquet under the old paths would mislead"
    assert leftovers(serving) == []
    assert all(days == {NEXT} for days in days_readers_see(serving).values())
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as con:
        logged = con.execute("select distinct score_date from meta.publish_log order by 1")
        assert [r[0] for r in logged.fetchall()] == [DAY, NEXT]


def test_a_kept_table_publishes_only_the_dates_its_builds_changed(tmp_path, monkeypatch):
    """Publish cost follows the day: a kept table's dates whose build record
    (meta.kept_dates) is unchanged are hard links to the last publish's files; only the
    rebuilt and the new dates are written. Readers see every date, as the warehouse holds it."""
    warehouse, serving = tmp_path / "warehouse.duckdb", tmp_path / "serving"
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    days = [DAY - timedelta(days=n) for n in (2, 1, 0)]

    def build(day: date, score: int) -> None:
        """What a dbt build of ``day`` leaves: its rows replaced, its build recorded."""
        with duckdb.connect(str(warehouse)) as con:
            con.execute("create schema if not exists marts")
            con.execute("create schema if not exists meta")
            con.execute(
                "create table if not exists marts.score_history "
                "(entity_id varchar, score_date date, score integer)"
            )
            con.execute(
                "create table if not exists meta.kept_dates "
                "(table_name varchar, score_date date, changed_at timestamp)"
            )
            con.execute("delete from marts.score_history where score_date = $d", {"d": day})
            con.execute(
                "insert into marts.score_history "
                "select 'E' || i::varchar, $d, $s from range(20) t(i)",
                {"d": day, "s": score},
            )
            con.execute(
                "delete from meta.kept_dates where table_name = 'score_history' "
                "and score_date = $d",
                {"d": day},
            )
            con.execute(
                "insert into meta.kept_dates values ('score_history', $d, now())", {"d": day}
            )

    for day in days:
        build(day, 1)
    first = publish(DAY)
    assert (first.dates_written, first.dates_linked) == ({"score_history": 3}, {"score_history": 0})

    build(DAY, 2)  # today's rerun changed it
    build(NEXT, 3)  # and the next day was scored
    second = publish(NEXT)
    assert second.dates_written == {"score_history": 2}
    assert second.dates_linked == {"score_history": 2}
    old, new = (serving / PUBLISHES / r.publish_id / "score_history" for r in (first, second))
    oldest = f"{days[0].isoformat()}.parquet"
    assert (old / oldest).stat().st_ino == (new / oldest).stat().st_ino, "a linked date is a copy"

    query = "select score_date, count(*), max(score) from marts.score_history group by 1 order by 1"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        expected = con.execute(query).fetchall()
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as con:
        assert con.execute(query).fetchall() == expected
    parquet = serving / CURRENT / "score_history" / "*.parquet"
    assert duckdb.execute(query.replace("marts.score_history", f"'{parquet}'")).fetchall() == (
        expected
    )
    assert second.tables["score_history"] == 80

    third = publish(NEXT)  # nothing changed: every date linked, the second publish's files kept
    assert third.dates_written == {"score_history": 0}
    assert sorted(p.name for p in (serving / PUBLISHES).iterdir()) == sorted(
        [second.publish_id, third.publish_id]
    )
    with duckdb.connect(str(serving / SERVING_FILE), read_only=True) as con:
        assert con.execute(query).fetchall() == expected
