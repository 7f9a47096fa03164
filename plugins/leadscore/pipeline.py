"""The daily run without Airflow: extract, raw gate, dbt build, score gate, calibrate, publish,
report and signals.

The DAG runs the same steps as separate tasks; this module runs them in order in one process for
``leadscore run`` / ``leadscore backfill``, tests and the benchmark, and times each step.
A step that fails stops the run: later steps do not run, so nothing is published.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from leadscore import config
from leadscore.progress import track

log = logging.getLogger(__name__)


class StepFailed(RuntimeError):
    """A step of the run failed; the message names the step and what went wrong."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step} failed: {message}")
        self.step = step


@dataclass
class RunResult:
    start: date
    end: date
    score_date: date
    seconds: dict[str, float] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class DbtSession:
    """dbt in this process, the project parsed once: every daily run, the DAG's dbt task and
    commands that run dbt many times (history, rule back-tests).

    A dbt child process spends most of its time importing dbt and parsing the project, and a
    ``--vars`` that changes (``score_date`` does, every day) makes dbt's partial parsing start
    over: 8.4 s of parse per process at demo scale, against 5.3 s when nothing changed. A session
    parses without vars (partial parsing keeps what the last parse left), then runs each command
    on that manifest with the day's vars, which dbt applies when it compiles the SQL. After each
    command it closes dbt-duckdb's process-wide DuckDB instance, so the file is free again for
    the gates (or another process).

    ``unit_tests=False`` leaves dbt's unit tests out of ``build``: they check the SQL's logic on
    fixed inputs, not the day's data, so a daily run repeating them spends seconds proving
    nothing new (dbt recommends running them in development and CI only; ``make test`` does).
    The daily run and the DAG build without them; data tests always run.
    """

    def __init__(
        self, *, project: Path | None = None, target: Path | None = None, unit_tests: bool = True
    ) -> None:
        self.project = project or config.dbt_project_dir()
        self.target = target or self.project / "target"
        self.unit_tests = unit_tests
        self.manifest: Any = None

    def _args(self, command: str, *extra: str) -> list[str]:
        return [
            command,
            "--project-dir",
            str(self.project),
            "--profiles-dir",
            str(self.project),
            "--target-path",
            str(self.target),
            "--quiet",
            *extra,
        ]

    def __call__(self, score_date: date, command: str = "build", *extra: str) -> None:
        import json

        from dbt.cli.main import dbtRunner

        # the profile reads the warehouse path from the environment (relative default otherwise)
        os.environ["LEADSCORE_WAREHOUSE"] = str(config.warehouse_path())
        if self.manifest is None:
            self.manifest = dbtRunner().invoke(self._args("parse")).result
        variables = json.dumps({"score_date": score_date.isoformat()})
        if command == "build" and not self.unit_tests:
            extra = ("--exclude-resource-type", "unit_test", *extra)
        try:
            result = dbtRunner(manifest=self.manifest).invoke(
                self._args(command, "--vars", variables, *extra)
            )
        finally:
            _release_dbt_duckdb()
        if not result.success:
            failed = [
                f"{r.node.unique_id}: {r.message}"
                for r in (getattr(result.result, "results", None) or [])
                if str(r.status) in ("error", "fail")
            ]
            raise DbtFailed(command, failed, result.exception)


class DbtFailed(StepFailed):
    """A dbt command failed. ``failed`` names each model or test that failed, with dbt's
    message (a data or SQL problem: running again fails the same way); empty when dbt itself
    stopped (``exception``: a lock, a crash), which a retry may get past."""

    def __init__(self, command: str, failed: list[str], exception: BaseException | None) -> None:
        super().__init__(f"dbt {command}", "; ".join(failed) or str(exception))
        self.failed = failed


def _release_dbt_duckdb() -> None:
    """Close dbt-duckdb's process-wide DuckDB instance (it keeps one per process between
    commands), so this process or another can open the file again."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    with DuckDBConnectionManager._LOCK:
        if DuckDBConnectionManager._ENV is not None:
            DuckDBConnectionManager._ENV.close()
            DuckDBConnectionManager._ENV = None


def run_interval(
    start: date,
    end: date,
    *,
    gates: bool = True,
    publish: bool = True,
    accept_drift: bool = False,
    dbt: Callable[[date], Any] | None = None,
    holder: str | None = None,
) -> RunResult:
    """Score the interval ``[start, end)``: the score date is its last day.

    The whole run holds the warehouse (``leadscore.runlock``): while another run holds it, this
    raises ``WarehouseLocked`` before touching anything. ``holder`` is what the lock file says
    holds it (default ``run_interval <start>..<score date>``).
    """
    from leadscore import runlock

    score_date = end - timedelta(days=1)
    with runlock.hold(holder or f"run_interval {start}..{score_date}"):
        return _run_interval(
            start, end, gates=gates, publish=publish, accept_drift=accept_drift, dbt=dbt
        )


def _run_interval(
    start: date,
    end: date,
    *,
    gates: bool,
    publish: bool,
    accept_drift: bool,
    dbt: Callable[[date], Any] | None,
) -> RunResult:
    from leadscore.calibrate import calibrate_advisory
    from leadscore.outputs.crm_sync import CrmSyncError, sync_crm
    from leadscore.outputs.crm_sync import load_settings as load_crm_sync_settings
    from leadscore.outputs.notify import notify_signals as notify
    from leadscore.outputs.report import render_report
    from leadscore.publish import publish as publish_scores
    from leadscore.quality import GateFailed, raw_gate, score_gate
    from leadscore.sources import SOURCES
    from leadscore.sources.api import ApiError
    from leadscore.sources.files import ExtractError
    from leadscore.sources.pull import pull_and_land

    score_date = end - timedelta(days=1)
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    result = RunResult(start, end, score_date)

    def step(name: str, fn: Callable[[], Any]) -> Any:
        began = time.perf_counter()
        try:
            value = fn()
        except (ExtractError, ApiError, GateFailed, CrmSyncError) as err:
            raise StepFailed(name, str(err)) from err
        result.seconds[name] = round(time.perf_counter() - began, 2)
        return value

    for source in SOURCES:
        step(f"extract_{source}", lambda s=source: pull_and_land(s, start, end))
    if gates:
        result.details["raw_gate"] = step("raw_gate", lambda: raw_gate(days))
    step("dbt", lambda: (dbt or DbtSession(unit_tests=False))(score_date))
    if gates:
        result.details["score_gate"] = step(
            "score_gate", lambda: score_gate(score_date, accept_drift=accept_drift)
        )
    if gates:  # advisory: short history writes empty suggestions, never fails the run
        result.details["calibrate"] = step("calibrate", calibrate_advisory)
    if publish:
        published = step("publish", lambda: publish_scores(score_date))
        result.details["publish"] = published
        if not published.skipped:
            # the published copy's report and the day's new signals, as the DAG's last tasks
            result.details["report"] = step("report", lambda: render_report(score_date))
            result.details["notify_signals"] = step("notify_signals", lambda: notify(score_date))
            if load_crm_sync_settings()[0].enabled:
                result.details["sync_crm"] = step("sync_crm", sync_crm)
    log.info("run %s..%s: %s", start, score_date, result.seconds)
    return result


#: What scoring a past date builds: the models behind the history tables (no tests, no publish).
HISTORY_SELECTOR = "+score_history +rule_history +lead_handovers"


def monthly_cutoffs(last_day: date, months: int, day_of_month: int | None = None) -> list[date]:
    """The ``day_of_month`` of each of the ``months`` months up to ``last_day``, oldest first
    (default: dbt var validation_day_of_month, the day validation and rule_history keep)."""
    if day_of_month is None:
        day_of_month = int(config.dbt_vars().get("validation_day_of_month") or 1)
    cutoffs = []
    year, month = last_day.year, last_day.month
    while len(cutoffs) < months:
        candidate = date(year, month, day_of_month)
        if candidate <= last_day:
            cutoffs.append(candidate)
        year, month = (year - 1, 12) if month == 1 else (year, month - 1)
    return sorted(cutoffs)


def score_past_dates(
    dates: list[date],
    *,
    current: date,
    dbt: Callable[..., Any] | None = None,
) -> dict[str, float]:
    """Fill score_history, rule_history and lead_handovers for past ``dates``, then rebuild
    ``current``.

    Staging is point in time (rows delivered by the score date), so a past date is scored from
    what was known then: history filled this way is what daily runs would have written. The
    marts are left for ``current``, the day the daily runs are at. Needs the raw data of the
    dates loaded; one writer, so not while the DAG runs.
    """
    dbt = dbt or DbtSession()
    timings: dict[str, float] = {}
    began = time.perf_counter()
    dbt(current, "seed")  # the points tables as they are now score every date
    timings["seed"] = round(time.perf_counter() - began, 2)
    for day in track(sorted(dates), "scoring past dates", unit="dates"):
        began = time.perf_counter()
        dbt(day, "run", "--select", *HISTORY_SELECTOR.split())
        timings[day.isoformat()] = round(time.perf_counter() - began, 2)
        log.warning("scored %s for history in %.1f s", day, timings[day.isoformat()])
    began = time.perf_counter()
    dbt(current)
    timings[f"current {current}"] = round(time.perf_counter() - began, 2)
    return timings
