"""The DAG loads, has no cycles and follows the house rules (retries, tags, writer pool)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import ROOT, dbt


@pytest.fixture(scope="module")
def dagbag():
    os.environ.setdefault("AIRFLOW__COSMOS__ENABLE_TELEMETRY", "False")
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}, f"DAG import errors: {dagbag.import_errors}"


def test_scoring_daily_shape(dagbag):
    dag = dagbag.dags["scoring_daily"]
    assert dag is not None
    assert dag.max_active_runs == 1, "DuckDB has one writer: runs must not overlap"
    assert dag.catchup is False
    assert dag.doc_md and "score_gate" in dag.doc_md
    assert {"scoring", "dbt"} <= set(dag.tags)
    ids = set(dag.task_ids)
    assert {
        "extract_crm",
        "extract_email",
        "extract_web",
        "raw_gate",
        "score_gate",
        "publish",
    } <= ids
    assert dag.params["accept_drift"] is False, "drift is checked unless a run says otherwise"


def test_every_task_retries_with_delay(dagbag):
    dag = dagbag.dags["scoring_daily"]
    for t in dag.tasks:
        assert t.retries >= 1, f"{t.task_id} has no retries"
        assert t.retry_delay.total_seconds() > 0, f"{t.task_id} retries without delay"


def test_writers_share_the_one_slot_pool(dagbag):
    from leadscore.orchestration import WRITER_POOL

    dag = dagbag.dags["scoring_daily"]
    # raw_gate moves quarantined rows; publish reads the warehouse and writes the serving file
    writers = [
        t
        for t in dag.tasks
        if t.task_id.startswith(("extract_", "dbt_"))
        or t.task_id in ("raw_gate", "calibrate", "publish")
    ]
    assert writers, "no writer tasks found"
    for t in writers:
        assert t.pool == WRITER_POOL, f"{t.task_id} writes DuckDB outside the writer pool"


def test_pipeline_order(dagbag):
    dag = dagbag.dags["scoring_daily"]
    raw_gate = dag.get_task("raw_gate")
    assert {"extract_crm", "extract_email", "extract_web"} == raw_gate.upstream_task_ids
    # every dbt task runs after the raw gate and before the score gate
    for t in dag.tasks:
        if t.task_id.startswith("dbt"):
            assert "raw_gate" in {u.task_id for u in t.get_flat_relatives(upstream=True)}
            assert "score_gate" in {d.task_id for d in t.get_flat_relatives(upstream=False)}
    # write-audit-publish: nothing reaches the serving copy before the score gate passed
    assert dag.get_task("calibrate").upstream_task_ids == {"score_gate"}
    assert dag.get_task("publish").upstream_task_ids == {"calibrate"}
    assert dag.get_task("publish").downstream_task_ids == {"report", "notify_signals", "sync_crm"}


def test_the_run_holds_the_warehouse_lock_from_first_to_last_task(dagbag):
    """leadscore.runlock: a setup task takes the lock for the DAG run, a teardown releases it
    (even when a task failed), so a `leadscore run` meanwhile stops and names the DAG run."""
    dag = dagbag.dags["scoring_daily"]
    lock, release = dag.get_task("lock_warehouse"), dag.get_task("release_warehouse")
    assert lock.is_setup and release.is_teardown
    assert lock.upstream_task_ids == set()
    work = [t for t in dag.tasks if t not in (lock, release)]
    for t in work:  # every task runs inside the lock
        assert lock.task_id in {u.task_id for u in t.get_flat_relatives(upstream=True)}
        assert release.task_id in {d.task_id for d in t.get_flat_relatives(upstream=False)}
    assert release.upstream_task_ids >= {"lock_warehouse", "report", "notify_signals", "sync_crm"}


def test_model_granularity_renders_one_task_per_dbt_node(monkeypatch, tmp_path):
    """LEADSCORE_DBT_TASKS=model renders the dbt project with Cosmos, one task per node."""
    monkeypatch.setenv("LEADSCORE_DBT_TASKS", "model")
    if not (ROOT / "dbt_project" / "target" / "manifest.json").exists():
        # Cosmos renders from the manifest in the project's target/ (`make test` parses first)
        target = ROOT / "dbt_project" / "target"
        dbt(["parse", "--target-path", str(target)], warehouse=tmp_path / "parse.duckdb")
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    dag = bag.dags["scoring_daily"]
    dbt_tasks = [t for t in dag.task_ids if t.startswith("dbt.")]
    assert any("lead_scores" in t for t in dbt_tasks), dbt_tasks
    assert any("stg_email__events" in t for t in dbt_tasks), dbt_tasks


def test_dbt_models_only_read_their_own_or_earlier_layers():
    """The DAG builds staging, intermediate, marts in that order: a model reading a later layer
    would read last run's table (or none)."""
    import re

    layers = {"staging": 0, "intermediate": 1, "marts": 2}
    models = {p.stem: p for p in (ROOT / "dbt_project" / "models").rglob("*.sql")}
    layer = {
        name: layers[p.relative_to(ROOT / "dbt_project" / "models").parts[0]]
        for name, p in models.items()
    }
    inverted = [
        f"{name} ({path.parent.name}) reads {ref}"
        for name, path in models.items()
        for ref in re.findall(r"ref\('(\w+)'\)", path.read_text())
        if ref in layer and layer[ref] > layer[name]
    ]
    assert not inverted, inverted
