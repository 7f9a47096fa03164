"""What the ``scoring_daily`` DAG is made of: task callables, the dbt task and (optionally) the
Cosmos task group of one task per dbt node.

The DAG file only wires these together. Data errors (a bad delivery, a failed gate) fail the task
at once with ``AirflowFailException``: retrying cannot fix the data. Anything else (a lock held,
a crash) is retried by the DAG's retry policy.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from leadscore import config

log = logging.getLogger(__name__)

#: Airflow pool with one slot: every task that writes the DuckDB warehouse runs in it.
WRITER_POOL = "duckdb_writer"
#: Published score tables, as Airflow assets other DAGs can be scheduled on (in the serving copy).
SCORE_TABLES = (
    "fit_scores",
    "engagement_scores",
    "financial_scores",
    "lead_scores",
    "account_scores",
    "topic_scores",
    "score_history",
    "score_explanations",
    "score_signals",
    "model_validation",
    "suggested_rules",
    "calibration_summary",
)
#: Jinja for the day the run scores: the last day of its data interval.
SCORE_DATE_TEMPLATE = "{{ macros.ds_add(data_interval_end | ds, -1) }}"


def interval_score_date(data_interval_end: datetime) -> date:
    """The score date of a run: the last day its data interval covers."""
    return (data_interval_end - timedelta(microseconds=1)).date()


def run_extract(
    source: str,
    data_interval_start: datetime | None = None,
    data_interval_end: datetime | None = None,
) -> dict:
    """Task: pull ``source`` from its API connector if it has one, then land its files for the
    run's interval (context injects the interval). Bad files and refused credentials fail the
    task at once; an API that stays unavailable fails it with Airflow's retries."""
    from airflow.exceptions import AirflowFailException

    from leadscore.sources.api import ApiAuthError
    from leadscore.sources.files import ExtractError
    from leadscore.sources.pull import pull_and_land

    try:
        loads = pull_and_land(source, data_interval_start, data_interval_end)
    except (ExtractError, ApiAuthError) as err:
        raise AirflowFailException(str(err)) from err
    return {load.entity: load.rows for load in loads}


def run_raw_gate(
    data_interval_start: datetime | None = None, data_interval_end: datetime | None = None
) -> dict:
    """Task: validate the interval's raw rows of every entity the company delivers."""
    from airflow.exceptions import AirflowFailException

    from leadscore.quality import GateFailed, raw_gate
    from leadscore.sources.files import interval_days

    try:
        report = raw_gate(interval_days(data_interval_start, data_interval_end))
    except GateFailed as err:
        raise AirflowFailException(str(err)) from err
    return {
        "checked": report.tables,
        "quarantined": report.quarantined,
        "released": report.released,  # rows whose company arrived, let in from quarantine
    }


def run_score_gate(
    data_interval_end: datetime | None = None, params: dict[str, Any] | None = None
) -> dict:
    """Task: validate the marts for the run's score date (drift against the last publish)."""
    from airflow.exceptions import AirflowFailException

    from leadscore.quality import GateFailed, score_gate

    accept_drift = bool((params or {}).get("accept_drift", False))
    try:
        report = score_gate(interval_score_date(data_interval_end), accept_drift=accept_drift)
    except GateFailed as err:
        raise AirflowFailException(str(err)) from err
    return report.tables


def run_publish(data_interval_end: datetime | None = None, run_id: str | None = None) -> dict:
    """Task: copy the checked marts to the serving file and swap it in (write-audit-publish)."""
    from leadscore.publish import publish

    report = publish(interval_score_date(data_interval_end), run_id=run_id)
    return {"path": str(report.path), "tables": report.tables}


def run_lock_warehouse(dag_run: Any = None) -> dict:
    """Setup task: hold the warehouse for this DAG run until ``release_warehouse``
    (``leadscore.runlock``); a command-line run in progress fails it, and it is retried."""
    from leadscore import runlock

    holder = runlock.acquire_for_dag_run(dag_run.dag_id, dag_run.run_id)
    return {"lock": str(runlock.lock_path()), "since": holder.since, "pid": holder.pid}


def run_release_warehouse(dag_run: Any = None) -> bool:
    """Teardown task: release the warehouse (Airflow runs it even when a task failed)."""
    from leadscore import runlock

    return runlock.release_for_dag_run(dag_run.dag_id, dag_run.run_id)


def run_calibrate() -> dict:
    """Task: propose rule rows from history (advisory: see ``calibrate_advisory``)."""
    from leadscore.calibrate import calibrate_advisory

    return calibrate_advisory()


# --- dbt ---------------------------------------------------------------------------------------


def run_dbt_build(data_interval_end: datetime | None = None) -> dict:
    """Task: ``dbt build`` (every model and its data tests, seeds to marts) for the run's score
    date, in this process on a manifest parsed once (``pipeline.DbtSession``). A failing model
    or test fails the task naming itself, and dbt skips everything downstream of it; running
    again fails the same way, so it is not retried. dbt stopping for another reason (a crash) is
    retried."""
    from airflow.exceptions import AirflowFailException

    from leadscore.pipeline import DbtFailed, DbtSession

    score_date = interval_score_date(data_interval_end)
    try:
        DbtSession(unit_tests=False)(score_date)
    except DbtFailed as err:
        if err.failed:
            raise AirflowFailException(str(err)) from err
        raise
    return {"score_date": score_date.isoformat()}


def dbt_task_granularity() -> str:
    """``build`` (default: one ``dbt build`` task) or ``model`` (Cosmos: one task per dbt node)."""
    value = os.environ.get("LEADSCORE_DBT_TASKS", "build")
    if value not in ("build", "model"):
        raise ValueError(f"LEADSCORE_DBT_TASKS must be 'build' or 'model', not {value!r}")
    return value


def _dbt_executable() -> str:
    beside_python = Path(sys.executable).with_name("dbt")
    return str(beside_python) if beside_python.exists() else (shutil.which("dbt") or "dbt")


def cosmos_configs() -> dict[str, Any]:
    """Project, profile and execution config, built once and shared by every dbt task."""
    from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig
    from cosmos.constants import InvocationMode

    project_dir = config.dbt_project_dir()
    manifest = project_dir / "target" / "manifest.json"
    return {
        "project_config": ProjectConfig(
            dbt_project_path=project_dir,
            manifest_path=manifest if manifest.exists() else None,
            env_vars={"LEADSCORE_WAREHOUSE": str(config.warehouse_path())},
        ),
        "profile_config": ProfileConfig(
            profile_name="leadscore",
            target_name="duckdb",
            profiles_yml_filepath=project_dir / "profiles.yml",
        ),
        # dbt in its own process: it releases the DuckDB file when it exits, so the gates (and a
        # worker that runs several tasks in one process, as `airflow dags test` does) can open it
        "execution_config": ExecutionConfig(
            dbt_executable_path=_dbt_executable(), invocation_mode=InvocationMode.SUBPROCESS
        ),
    }


def dbt_operator_args() -> dict[str, Any]:
    return {
        "install_deps": False,
        # Cosmos' OpenLineage-style dataset URIs are rejected by Airflow 3; score_gate emits assets
        "emit_datasets": False,
        "vars": {"score_date": SCORE_DATE_TEMPLATE},
        "pool": WRITER_POOL,
    }


def dbt_model_task_group(group_id: str = "dbt") -> Any:
    """One Airflow task per dbt node (model built and tested together)."""
    from cosmos import DbtTaskGroup, RenderConfig
    from cosmos.constants import LoadMode, TestBehavior

    configs = cosmos_configs()
    return DbtTaskGroup(
        group_id=group_id,
        render_config=RenderConfig(
            test_behavior=TestBehavior.BUILD,
            load_method=LoadMode.AUTOMATIC,
        ),
        operator_args=dbt_operator_args(),
        **configs,
    )
