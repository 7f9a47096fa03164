"""One run at a time per warehouse: a second run stops at once and says who holds it.

The holder is a real other process: a child stopped at a pause point
(``leadscore.sources.files.pause_point``), here a `leadscore extract` in the middle of its
transaction.
No dbt: the lock is taken before anything else, so a refused run never gets that far.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest

from leadscore import cli, orchestration, runlock
from tests.conftest import BIN, ROOT, WAIT_SECONDS, quiet_env, wait_for

DAG_ID = "scoring_daily"
SINCE = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


def hold_in_child(warehouse: Path, pause: Path, holder: str = "leadscore run --day 2026-11-19"):
    """A child process that holds the warehouse until ``pause`` is deleted (or it is killed)."""
    code = (
        "import sys; from pathlib import Path; from leadscore import runlock; "
        "from leadscore.sources.files import pause_point\n"
        "with runlock.hold(sys.argv[2], warehouse=Path(sys.argv[1])):\n"
        "    pause_point('held')\n"
    )
    env = dict(os.environ, LEADSCORE_PAUSE_AT="held", LEADSCORE_PAUSE_FILE=str(pause))
    proc = subprocess.Popen([sys.executable, "-c", code, str(warehouse), holder], env=env)
    wait_for(pause.exists, "the child to take the lock")
    return proc


def test_a_live_holder_refuses_a_second_run_and_a_dead_one_does_not_block(tmp_path, caplog):
    warehouse = tmp_path / "warehouse.duckdb"
    child = hold_in_child(warehouse, tmp_path / "paused")
    try:
        with (
            pytest.raises(runlock.WarehouseLocked) as locked,
            runlock.hold("second", warehouse=warehouse),
        ):
            pass
        assert re.fullmatch(
            rf"another run holds the warehouse {re.escape(str(warehouse))} since {SINCE}, "
            rf"pid {child.pid} \(leadscore run --day 2026-11-19\): wait for it to finish, "
            "then rerun",
            str(locked.value),
        ), str(locked.value)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=WAIT_SECONDS)

    # killed without releasing: its name is still in the file, but nothing holds the OS lock
    assert f'"pid": {child.pid}' in runlock.lock_path(warehouse).read_text()
    with (
        caplog.at_level(logging.WARNING, logger="leadscore.runlock"),
        runlock.hold("third", warehouse=warehouse),
        runlock.hold("nested", warehouse=warehouse),
    ):  # re-entrant within a process
        assert '"holder": "third"' in runlock.lock_path(warehouse).read_text()
    assert f"took over a stale lock on {warehouse}: pid {child.pid}" in caplog.text
    assert runlock.lock_path(warehouse).read_text() == "", "released: the file names nobody"


def test_a_dag_run_holds_the_warehouse_from_its_first_task_to_its_teardown(
    tmp_path, monkeypatch, caplog
):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
    run = SimpleNamespace(dag_id=DAG_ID, run_id="scheduled__2026-11-20T00:00:00+00:00")
    taken = orchestration.run_lock_warehouse(run)  # setup task
    assert taken["lock"] == str(runlock.lock_path(warehouse))

    # between its tasks no process of the DAG run is alive: a command-line run still waits
    with pytest.raises(runlock.WarehouseLocked) as locked, runlock.hold("cli", warehouse=warehouse):
        pass
    message = str(locked.value)
    assert re.match(
        rf"another run holds the warehouse {re.escape(str(warehouse))} since {SINCE}, "
        rf"pid {os.getpid()} \(Airflow DAG {DAG_ID}, run {re.escape(run.run_id)}\)",
        message,
    ), message
    assert "released when that DAG run ends" in message and "leadscore unlock" in message

    assert orchestration.run_lock_warehouse(run)["since"] == taken["since"]  # a rerun task
    with pytest.raises(runlock.WarehouseLocked, match="Airflow DAG scoring_daily"):
        runlock.acquire_for_dag_run("another_dag", "manual__1")
    other = SimpleNamespace(dag_id=DAG_ID, run_id="manual__2026-11-20T07:00:00+00:00")
    assert orchestration.run_release_warehouse(other) is False  # not its lock: left alone
    assert orchestration.run_release_warehouse(run) is True  # teardown task
    with runlock.hold("cli", warehouse=warehouse):
        pass

    # a run whose teardown never ran: the next run of the same DAG takes over
    orchestration.run_lock_warehouse(run)
    with caplog.at_level(logging.WARNING, logger="leadscore.runlock"):
        orchestration.run_lock_warehouse(other)
    assert f"took over the warehouse lock of DAG run {DAG_ID}/{run.run_id}" in caplog.text
    assert orchestration.run_release_warehouse(other) is True


def test_a_dag_task_fails_while_a_command_line_run_holds_the_warehouse(tmp_path, monkeypatch):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setattr(runlock, "TASK_WAIT_SECONDS", 0.2)
    child = hold_in_child(warehouse, tmp_path / "paused", holder="leadscore backfill")
    try:
        with pytest.raises(runlock.WarehouseLocked, match=rf"pid {child.pid} \(leadscore backfill"):
            runlock.acquire_for_dag_run(DAG_ID, "manual__1", warehouse=warehouse)
    finally:
        (tmp_path / "paused").unlink()
        child.wait(timeout=WAIT_SECONDS)
    assert child.returncode == 0
    runlock.acquire_for_dag_run(DAG_ID, "manual__1", warehouse=warehouse)  # retried: free now


def test_unlock_clears_a_dag_runs_leftover_but_never_a_live_run(tmp_path, monkeypatch, capsys):
    warehouse = tmp_path / "warehouse.duckdb"
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
    assert cli.main(["unlock"]) == 0
    assert "nobody holds the warehouse" in capsys.readouterr().out

    runlock.acquire_for_dag_run(DAG_ID, "manual__gone")
    assert cli.main(["unlock"]) == 0
    assert f"({'Airflow DAG scoring_daily, run manual__gone'})" in capsys.readouterr().out
    with runlock.hold("cli", warehouse=warehouse):
        pass

    child = hold_in_child(warehouse, tmp_path / "paused")
    try:
        assert cli.main(["unlock"]) == 1
        assert f"pid {child.pid} (leadscore run --day 2026-11-19)" in capsys.readouterr().err
    finally:
        (tmp_path / "paused").unlink()
        child.wait(timeout=WAIT_SECONDS)


def test_a_second_run_stops_at_once_with_a_clear_message_and_the_first_completes(tmp_path):
    """The issue's collision: a run started while another is writing used to die with DuckDB's
    raw "Could not set lock on file" traceback, or re-extract the day under the first."""
    from leadscore.generate import generate
    from leadscore.pipeline import run_interval

    day = date(2026, 11, 19)
    landing, warehouse = tmp_path / "landing", tmp_path / "warehouse.duckdb"
    generate(landing, seed=3, scale=0.01, end_date=day + timedelta(days=1), days=2)
    env = {
        "LEADSCORE_LANDING_DIR": str(landing),
        "LEADSCORE_WAREHOUSE": str(warehouse),
        "LEADSCORE_SERVING_DIR": str(tmp_path / "serving"),
    }
    pause = tmp_path / "paused"
    extract = ["extract", "--start", day.isoformat(), "--end", str(day + timedelta(days=1))]
    first = subprocess.Popen(  # writing the warehouse, in the middle of its transaction
        [str(BIN / "leadscore"), *extract],
        cwd=ROOT,
        env=quiet_env(
            **env, LEADSCORE_PAUSE_AT="extract:crm/deals", LEADSCORE_PAUSE_FILE=str(pause)
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for(pause.exists, "the first run to be extracting")
        second = subprocess.run(
            [str(BIN / "leadscore"), "run", "--day", day.isoformat()],
            cwd=ROOT,
            env=quiet_env(**env),
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
            check=False,
        )
        assert second.returncode == 1
        assert "Traceback" not in second.stderr and second.stdout == ""
        assert re.fullmatch(
            rf"error: another run holds the warehouse {re.escape(str(warehouse))} since "
            rf"{SINCE}, pid {first.pid} \(leadscore {' '.join(extract)}\): wait for it to "
            r"finish, then rerun\n",
            second.stderr,
        ), second.stderr

        # the same in Python (a backfill script, the benchmark, a notebook)
        with pytest.MonkeyPatch.context() as mp:
            for key, value in env.items():
                mp.setenv(key, value)
            with pytest.raises(runlock.WarehouseLocked, match=f"pid {first.pid}"):
                run_interval(day, day + timedelta(days=1))
    finally:
        pause.unlink(missing_ok=True)  # the first run goes on
    output, _ = first.communicate(timeout=WAIT_SECONDS)
    assert first.returncode == 0, output[-3000:]
    assert "crm/deals" in output
    assert runlock.lock_path(warehouse).read_text() == "", "released when it ended"
