"""The Great Expectations gates: committed suites match the code, bad rows are named precisely."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import duckdb
import pytest

from leadscore import quality, quality_config
from leadscore.extract import extract_source
from leadscore.quality_config import Freshness, GateConfig
from leadscore.quality_suites import (
    AMOUNT_COLUMNS,
    BOOLEAN_COLUMNS,
    DATE_COLUMNS,
    INTEGER_COLUMNS,
    TIMESTAMP_COLUMNS,
)
from leadscore.sources import ENTITIES
from tests.conftest import ROOT, write_delivery

DAY = date(2026, 3, 2)


def _value(entity, column: str, i: int) -> str:
    if column == entity.day_column:
        return DAY.isoformat() if column in DATE_COLUMNS else f"{DAY.isoformat()}T08:00:{i:02d}Z"
    if column in TIMESTAMP_COLUMNS:
        return "2025-01-01T00:00:00Z"
    if column in DATE_COLUMNS:
        return "2026-01-01"
    if column in INTEGER_COLUMNS:
        return str(i + 1)
    if column in AMOUNT_COLUMNS:
        return "100.50"
    if column in BOOLEAN_COLUMNS:
        return "false"
    if column == "email":
        return f"person{i}@example.com"
    allowed = {
        "stage": "prospecting",
        "status": "active",
        "plan": "starter",
        "priority": "low",
        "event_type": "open" if entity.source == "email" else "page_view",
    }
    if column in allowed and not (entity.name == "invoices" and column == "status"):
        return allowed[column]
    if entity.name == "invoices" and column == "status":
        return "paid"
    return f"{column}-{i}"


def _deliver(landing: Path, rows: int = 3, **overrides) -> None:
    """One valid day of every entity; overrides = {(entity, column, row): value}."""
    for entity in ENTITIES:
        records = [{c: _value(entity, c, i) for c in entity.columns} for i in range(rows)]
        for (qualified, column, row), value in overrides.get("bad", {}).items():
            if qualified == entity.qualified:
                records[row - 1][column] = value
        write_delivery(landing, entity, DAY, records)


def _load(tmp_path: Path, **bad) -> Path:
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    _deliver(landing, bad=bad.get("bad", {}))
    for source in ("crm", "email", "web"):
        extract_source(source, DAY, date(2026, 3, 3), warehouse=warehouse, landing=landing)
    return warehouse


def _strip_ids(node):
    if isinstance(node, dict):
        return {k: _strip_ids(v) for k, v in node.items() if k not in ("id", "notes")}
    if isinstance(node, list):
        return [_strip_ids(v) for v in node]
    return node


def test_committed_suites_match_the_code(tmp_path):
    quality.write_expectations(tmp_path)
    generated = sorted((tmp_path / "gx" / "expectations").glob("*.json"))
    committed_dir = ROOT / "expectations" / "gx" / "expectations"
    assert [p.name for p in generated] == sorted(p.name for p in committed_dir.glob("*.json"))
    for path in generated:
        fresh = _strip_ids(json.loads(path.read_text()))
        committed = _strip_ids(json.loads((committed_dir / path.name).read_text()))
        assert fresh == committed, f"{path.name} is stale: run `make expectations` and commit"


def test_raw_gate_passes_a_valid_delivery(tmp_path):
    report = quality.raw_gate([DAY], warehouse=_load(tmp_path))
    assert report.success
    assert report.tables["raw.crm__contacts"] == 3


@pytest.mark.parametrize(
    ("entity", "column", "value", "expected"),
    [
        ("crm/contacts", "email", "not-an-email", r"column email: 1 of 3 rows .*email address"),
        ("email/events", "event_type", "forwarded", r"column event_type: 1 of 3 rows"),
        ("crm/deals", "amount", "-5", r"column amount: 1 of 3 rows .*non-negative amount"),
        ("crm/companies", "company_id", None, r"column company_id: 1 of 3 rows .*key company_id"),
        ("web/events", "occurred_at", "2026-03-05T10:00:00Z", r"occurred_at falls on the day"),
    ],
)
def test_raw_gate_names_table_column_count_and_row(tmp_path, entity, column, value, expected):
    warehouse = _load(tmp_path, bad={(entity, column, 2): value})
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse)
    message = str(failed.value)
    source, name = entity.split("/")
    assert f"raw.{source}__{name}" in message
    assert __import__("re").search(expected, message), message
    extension = "csv" if source == "crm" else "jsonl"
    assert f"file {entity}/{DAY.isoformat()}.{extension} row 2" in message, message


def _marts_warehouse(tmp_path: Path, lead_rows: list[tuple]) -> Path:
    warehouse = tmp_path / "fixture.duckdb"
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema marts")
        con.execute(
            "create table marts.lead_scores (contact_id varchar, account_id varchar, "
            "score_date date, fit_score double, engagement_score double, lead_score double, "
            "grade varchar, lifecycle_stage varchar)"
        )
        con.executemany("insert into marts.lead_scores values (?, ?, ?, ?, ?, ?, ?, ?)", lead_rows)
        # every contact in the default segment, with its thresholds on the row
        con.execute(
            "alter table marts.lead_scores add column segment varchar default 'default'; "
            "alter table marts.lead_scores add column mql_threshold double default 50; "
            "alter table marts.lead_scores add column sql_threshold double default 80"
        )
        con.execute(
            "create table marts.fit_scores as select 'contact' as entity_type, "
            "contact_id as entity_id, score_date, fit_score from marts.lead_scores"
        )
        con.execute(
            "create table marts.engagement_scores as select contact_id, score_date, "
            "engagement_score from marts.lead_scores"
        )
        con.execute(
            "create table marts.financial_scores as select 'A1' as account_id, "
            "score_date, 50.0 as financial_score from marts.lead_scores limit 1"
        )
        con.execute(
            "create table marts.account_scores as select 'A1' as account_id, score_date, "
            "true as is_customer, 50.0 as fit_score, 50.0 as engagement_score, "
            "50.0 as financial_score, 55.0 as account_score, 'Growth' as tier "
            "from marts.lead_scores limit 1"
        )
        con.execute(
            "create table marts.score_history as select 'contact' as entity_type, "
            "contact_id as entity_id, account_id, score_date, fit_score, engagement_score, "
            "null::double as financial_score, lead_score as score, lifecycle_stage as stage "
            "from marts.lead_scores"
        )
    return warehouse


def test_score_gate_passes_consistent_scores(tmp_path):
    rows = [
        ("P1", "A1", DAY, 90.0, 85.0, 87.0, "A", "SQL"),
        ("P2", "A1", DAY, 60.0, 50.0, 54.0, "B", "MQL"),
        ("P3", "A1", DAY, 10.0, 0.0, 4.0, "D", "lead"),
    ]
    report = quality.score_gate(DAY, warehouse=_marts_warehouse(tmp_path, rows))
    assert report.tables["marts.lead_scores"] == 3


def test_score_gate_rejects_a_stage_below_its_threshold(tmp_path):
    rows = [
        ("P1", "A1", DAY, 90.0, 85.0, 87.0, "A", "SQL"),
        ("P2", "A1", DAY, 60.0, 40.0, 48.0, "B", "MQL"),
    ]
    with pytest.raises(quality.GateFailed) as failed:
        quality.score_gate(DAY, warehouse=_marts_warehouse(tmp_path, rows))
    message = str(failed.value)
    assert "marts.lead_scores: column lead_score vs mql_threshold: 1 of" in message, message
    assert "lifecycle_stage MQL means lead_score >= mql_threshold" in message, message
    assert "contact_id=P2" in message


def test_score_gate_rejects_scores_for_another_date(tmp_path):
    rows = [("P1", "A1", date(2026, 3, 1), 90.0, 85.0, 87.0, "A", "SQL")]
    with pytest.raises(quality.GateFailed, match="every row is for the run's score date"):
        quality.score_gate(DAY, warehouse=_marts_warehouse(tmp_path, rows))


def _freshness_config(on_error: str) -> GateConfig:
    return GateConfig(
        freshness={"crm": Freshness("crm/contacts", warn_after_days=1, error_after_days=3)},
        freshness_on_error=on_error,
    )


def test_a_stale_source_fails_the_raw_gate(tmp_path):
    """Files kept arriving (header only), but the CRM's newest contact change is 5 days old."""
    warehouse = _load(tmp_path)
    two_days_later = date(2026, 3, 4)  # 2.7 days old: a warning only
    report = quality.raw_gate(
        [two_days_later], warehouse=warehouse, gates=_freshness_config("fail"), sources=("crm",)
    )
    assert any("more than warn_after_days 1" in w for w in report.warnings), report.warnings
    with pytest.raises(quality.GateFailed, match=r"source crm is stale: its newest crm/contacts "):
        quality.raw_gate(
            [date(2026, 3, 7)],
            warehouse=warehouse,
            gates=_freshness_config("fail"),
            sources=["crm"],
        )


def test_a_stale_source_only_warns_when_configured(tmp_path):
    warehouse = _load(tmp_path)
    report = quality.raw_gate(
        [date(2026, 3, 7)], warehouse=warehouse, gates=_freshness_config("warn"), sources=["crm"]
    )
    assert any("more than error_after_days 3" in w for w in report.warnings), report.warnings


def test_the_committed_gate_config_loads_and_rejects_mistakes(tmp_path):
    gates = quality_config.load()
    assert 0 < gates.quarantine_max_share < 1
    assert gates.max_value("crm/deals", "amount") > 0
    bad = tmp_path / "gates.yml"
    bad.write_text("raw:\n  max_values:\n    crm/deal.amount: 5\n")
    with pytest.raises(ValueError, match="unknown entity 'crm/deal'"):
        quality_config.load(bad)
