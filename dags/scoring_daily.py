"""
### scoring_daily: land the day's CRM, email and web data, check it, score it, check the scores

Each run covers one day: the data interval `[data_interval_start, data_interval_end)`, and scores
its last day (`score_date`). A scheduled run with logical date D covers `[D, D + 1)`, scores D
and starts at the next midnight UTC; a manual run or `airflow dags test scoring_daily D` covers
the day before D.

0. **lock_warehouse** (setup) … **release_warehouse** (teardown): the run holds
   `<warehouse>.lock` from its first task to its last, so a `leadscore run` started meanwhile
   stops at once and names this run; the teardown releases it even when a task failed.
1. **extract_<source>**: a source configured to come from an API (`extract:` in
   `expectations/sources.yml`: HubSpot, Mailchimp) is pulled first and written as the interval's
   landing files; then the interval's files are loaded into `raw.<source>__<entity>` (a rerun
   pulls and replaces the interval; nothing is duplicated).
2. **raw_gate**: Great Expectations suites on the interval's raw rows; a failure names the
   table, column, count and file/row, and stops the run.
   Rows failing a row-level check are moved to `quarantine.*` while they are few.
3. **dbt_build**: `dbt build` (models and their tests) seeds → staging → intermediate → marts in
   one dbt session; a failing model or test fails the task naming itself, and dbt skips
   everything downstream of it. `LEADSCORE_DBT_TASKS=model` renders one task per dbt node
   (Cosmos) instead, at the cost of a dbt process and a project parse per node.
4. **score_gate**: ranges, one row per entity, stages and tiers consistent with thresholds, drift
   against the last publish. After an intended rule change, trigger the day with the run param
   `accept_drift` (UI: trigger with config and a logical date), or use
   `leadscore run --day D --accept-drift`.
5. **calibrate**: proposed rule rows and thresholds learned from history (`marts.suggested_rules`,
   `marts.calibration_summary`), once a month when a new cut-off's outcomes are complete;
   advisory, never adopted by itself (`leadscore adopt`).
6. **publish**: copy the marts into a new publish folder (DuckDB file + Parquet) and switch
   `data/serving/current` to it in one rename (`scores.duckdb` links to it). A failed gate never
   reaches it: BI keeps the last good publish. A rerun of an older date does not publish over
   newer scores.
7. **report** and **notify_signals** (read the serving copy): the day's HTML report
   (`data/reports/<date>.html`, `latest.html`) and the new signals to the log, and to the webhook
   or email configured by `LEADSCORE_SIGNALS_WEBHOOK` / `LEADSCORE_SIGNALS_EMAIL_TO`.
8. **sync_crm** (when `crm_sync.enabled` in `expectations/sources.yml`): write the scores that
   changed since the last sync onto the HubSpot contact and company records. It only reads the
   serving copy: a failed sync is retried and never unpublishes anything.

Every task that writes a DuckDB file runs in the one-slot `duckdb_writer` pool and
`max_active_runs=1`: DuckDB allows one writer per file. Business logic lives in
`plugins/leadscore`; this file only wires it together.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Asset, Param, dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from leadscore import orchestration as orch
from leadscore.schedule import dag_schedule_args
from leadscore.sources import SOURCES


@dag(
    dag_id="scoring_daily",
    # one run per day D: interval [D, D + 1), logical date D, started at its end. First and last
    # D and catchup come from LEADSCORE_SCHEDULE_START / _END and LEADSCORE_CATCHUP.
    schedule=CronDataIntervalTimetable("@daily", timezone="UTC"),
    **dag_schedule_args(),
    max_active_runs=1,
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": True,
    },
    tags=["scoring", "dbt", "duckdb", "great_expectations"],
    params={
        "accept_drift": Param(
            False, type="boolean", description="skip the score gate's drift check for this run"
        )
    },
    doc_md=__doc__,
)
def scoring_daily():
    lock = task(task_id="lock_warehouse")(orch.run_lock_warehouse)()
    release = task(task_id="release_warehouse")(orch.run_release_warehouse)()

    extracts = [
        task(
            task_id=f"extract_{source}",
            pool=orch.WRITER_POOL,
            doc_md=f"Load the interval's `{source}` exports into `raw.{source}__*`.",
        )(orch.run_extract)(source=source)
        for source in SOURCES
    ]

    raw_gate = task(task_id="raw_gate", pool=orch.WRITER_POOL)(orch.run_raw_gate)()

    if orch.dbt_task_granularity() == "model":
        dbt_first = dbt_last = orch.dbt_model_task_group()
    else:
        dbt_first = dbt_last = task(
            task_id="dbt_build",
            pool=orch.WRITER_POOL,
            retries=1,
            doc_md="`dbt build`: seeds, staging, intermediate and marts with their tests, in "
            "one dbt session (the project parsed once).",
        )(orch.run_dbt_build)()

    score_gate = task(task_id="score_gate")(orch.run_score_gate)()

    calibrate = task(
        task_id="calibrate",
        pool=orch.WRITER_POOL,
        doc_md="Propose rule rows and thresholds from history: `marts.suggested_rules` and "
        "`marts.calibration_summary`, when a new cut-off completed (advisory; `leadscore adopt` "
        "applies a proposal).",
    )(orch.run_calibrate)()

    publish = task(
        task_id="publish",
        pool=orch.WRITER_POOL,
        outlets=[Asset(f"duckdb://serving/marts/{table}") for table in orch.SCORE_TABLES],
    )(orch.run_publish)()

    lock >> extracts >> raw_gate >> dbt_first

    @task(task_id="report")
    def report(data_interval_end=None) -> str:
        """Write data/reports/<score_date>.html and latest.html from the serving copy."""
        from leadscore.outputs.report import run_report_task

        return run_report_task(data_interval_end)

    @task(task_id="notify_signals")
    def notify_signals(data_interval_end=None) -> dict:
        """Log the day's new signals; send them to the webhook / email the env configures."""
        from leadscore.outputs.notify import run_notify_task

        return run_notify_task(data_interval_end)

    @task(task_id="sync_crm")
    def sync_crm(data_interval_end=None) -> dict:
        """Write changed scores onto the CRM records (HubSpot), if the write-back is enabled."""
        from leadscore.outputs.crm_sync import run_sync_crm_task

        return run_sync_crm_task(data_interval_end)

    dbt_last >> score_gate >> calibrate >> publish
    outputs = [report(), notify_signals(), sync_crm()]
    publish >> outputs
    outputs >> release.as_teardown(setups=lock)


scoring_daily()
