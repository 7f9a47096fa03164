"""The Great Expectations gates: committed suites match the code, bad rows are named precisely."""

from __future__ import annotations

import csv
import json
import re
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore import quality, quality_config, sources
from leadscore.quality_config import Freshness, GateConfig
from leadscore.quality_suites import (
    AMOUNT_COLUMNS,
    BOOLEAN_COLUMNS,
    DATE_COLUMNS,
    INTEGER_COLUMNS,
    TIMESTAMP_COLUMNS,
)
from leadscore.sources import ENTITIES
from leadscore.sources.files import ExtractError, extract_source
from tests.conftest import ROOT, write_delivery

DAY = date(2026, 3, 2)


def _value(entity, column: str, i: int, day: date = DAY) -> str:
    if column == entity.day_column:
        if column in DATE_COLUMNS:
            return day.isoformat()
        return f"{day.isoformat()}T08:{i // 60:02d}:{i % 60:02d}Z"
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
    if column == "duration_seconds":
        return str(60 + i)
    allowed = {
        "stage": "prospecting",
        "status": "active",
        "plan": "starter",
        "priority": "low",
        "event_type": "open" if entity.source == "email" else "page_view",
        "activity_type": "call",
        "direction": "inbound",
    }
    if column in allowed and not (entity.name == "invoices" and column == "status"):
        return allowed[column]
    if entity.name == "invoices" and column == "status":
        return "paid"
    return f"{column}-{i}"


def _records(entity, rows: int, day: date = DAY) -> list[dict]:
    return [{c: _value(entity, c, i, day) for c in entity.columns} for i in range(rows)]


def _deliver(landing: Path, rows: int = 3, day: date = DAY, **overrides) -> None:
    """One valid day of every entity; overrides: bad = {(entity, column, row): value}; replace =
    {entity: (records, extra columns)} delivers those records instead (CSV, extra columns last);
    without = entities that deliver nothing (no folder)."""
    replace = overrides.get("replace", {})
    for entity in ENTITIES:
        if entity.qualified in overrides.get("without", ()):
            continue
        if entity.qualified in replace:
            _write_csv(landing, entity, day, *replace[entity.qualified])
            continue
        records = _records(entity, rows, day)
        for (qualified, column, row), value in overrides.get("bad", {}).items():
            if qualified == entity.qualified:
                records[row - 1][column] = value
        write_delivery(landing, entity, day, records)


def _write_csv(landing: Path, entity, day: date, records: list[dict], extras=()) -> Path:
    """A CSV export with columns beyond the documented ones (custom properties) at the end."""
    folder = landing / entity.source / entity.name
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{day.isoformat()}.csv"
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=[*entity.columns, *extras])
        writer.writeheader()
        writer.writerows(records)
    return path


def _extract(
    landing: Path, warehouse: Path, first: date = DAY, last: date = DAY, shape=None
) -> None:
    for source in ("crm", "email", "web"):
        extract_source(
            source,
            first,
            last + timedelta(days=1),
            warehouse=warehouse,
            landing=landing,
            shape=shape,
        )


def _load(tmp_path: Path, **overrides) -> Path:
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    _deliver(landing, **overrides)
    _extract(landing, warehouse)
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


#: entity, column, bad value in row 2, what the gate's message says about it
ONE_BAD_VALUE = [
    ("crm/contacts", "email", "not-an-email", r"column email: 1 of 3 rows .*email address"),
    ("email/events", "event_type", "forwarded", r"column event_type: 1 of 3 rows"),
    ("crm/deals", "amount", "-5", r"column amount: 1 of 3 rows .*non-negative amount"),
    ("crm/companies", "company_id", None, r"column company_id: 1 of 3 rows .*key company_id"),
    ("web/events", "occurred_at", "2026-03-05T10:00:00Z", r"occurred_at falls on the day"),
]


@pytest.fixture(scope="module")
def one_bad_value_each(tmp_path_factory) -> str:
    """The raw gate's message for one delivery holding every ONE_BAD_VALUE, one per entity: the
    gate checks every table before it fails, and names each table's failures on its own line."""
    assert len({entity for entity, *_ in ONE_BAD_VALUE}) == len(ONE_BAD_VALUE)
    bad = {(entity, column, 2): value for entity, column, value, _ in ONE_BAD_VALUE}
    warehouse = _load(tmp_path_factory.mktemp("one-bad-value-each"), bad=bad)
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse)
    return str(failed.value)


@pytest.mark.parametrize(("entity", "column", "value", "expected"), ONE_BAD_VALUE)
def test_raw_gate_names_table_column_count_and_row(
    one_bad_value_each, entity, column, value, expected
):
    source, name = entity.split("/")
    failures = [
        f
        for f in one_bad_value_each.split("\n  - ")[1:]
        if f.startswith(f"raw.{source}__{name} (")  # this table's failures only
    ]
    message = "\n  - ".join(failures)
    assert failures, f"no failure of raw.{source}__{name}:\n{one_bad_value_each}"
    assert re.search(expected, message), message
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


def test_score_table_row_checks_come_from_the_config_and_skip_absent_inputs(tmp_path):
    """No customers yet: financial_scores is empty and every account a prospect. Its row check
    (score.min_rows) applies only to a company that delivers customers (crm/subscriptions)."""
    rows = [
        ("P1", "A1", DAY, 90.0, 85.0, 87.0, "A", "SQL"),
        ("P2", "A1", DAY, 60.0, 50.0, 54.0, "B", "MQL"),
        ("P3", "A1", DAY, 10.0, 0.0, 4.0, "D", "lead"),
    ]
    warehouse = _marts_warehouse(tmp_path, rows)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from marts.financial_scores")
        con.execute("update marts.account_scores set is_customer = false, financial_score = null")
    with pytest.raises(quality.GateFailed) as failed:
        quality.score_gate(DAY, warehouse=warehouse, shape=sources.FULL_SHAPE)
    message = str(failed.value)
    assert "1 check(s) not met" in message, message  # nothing else fails on an empty table
    assert (
        "marts.financial_scores: table: 'financial_scores: holds at least min_rows rows "
        "(score.min_rows)' failed: observed 0, expected >= 1"
    ) in message, message

    leads_only = _shape(*sources.CUSTOMER_ENTITIES)
    report = quality.score_gate(DAY, warehouse=warehouse, shape=leads_only)
    assert report.tables["marts.financial_scores"] == 0
    # the bound is configuration, per table
    with pytest.raises(quality.GateFailed) as failed:
        quality.score_gate(
            DAY,
            warehouse=warehouse,
            shape=leads_only,
            gates=GateConfig(score_min_rows={"lead_scores": 5}),
        )
    assert (
        "marts.lead_scores: table: 'lead_scores: holds at least min_rows rows (score.min_rows)' "
        "failed: observed 3, expected >= 5"
    ) in str(failed.value), failed.value


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
    assert gates.freshness["web"].error_after_days is None  # quiet days only warn
    assert gates.score_min_rows["financial_scores"] == 1
    bad = tmp_path / "gates.yml"
    bad.write_text("raw:\n  max_values:\n    crm/deal.amount: 5\n")
    with pytest.raises(ValueError, match="unknown entity 'crm/deal'"):
        quality_config.load(bad)
    bad.write_text("score:\n  min_rows:\n    financial_score: 1\n")
    with pytest.raises(ValueError, match=r"score\.min_rows: unknown score table 'financial_score'"):
        quality_config.load(bad)


# --- optional entities, custom properties and schema drift (raw gate) ---------------------------

FILE = f"crm/contacts/{DAY.isoformat()}.csv"
CUSTOM = ("lead_origin", "annual_budget")


def _quarantined(warehouse: Path, table: str) -> dict[int, tuple[str, str | None]]:
    """File row -> (reason, _properties) of the rows the gate moved to ``table``."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute(f"select _row_number, _reason, _properties from {table}").fetchall()
    return {row: (reason, properties) for row, reason, properties in rows}


def _raw_count(warehouse: Path, table: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def _contacts(rows: int, day: date = DAY, **columns: list[str]) -> list[dict]:
    """Valid contacts at the three delivered companies; ``columns``: extra column -> values
    cycled over the rows."""
    records = _records(sources.entity("crm/contacts"), rows, day)
    for i, record in enumerate(records):
        record["company_id"] = f"company_id-{i % 3}"
        for column, values in columns.items():
            record[column] = values[i % len(values)]
    return records


def _valid_custom(rows: int, day: date = DAY) -> list[dict]:
    # empty = unknown; enum values are compared trimmed and in any case
    return _contacts(
        rows,
        day,
        lead_origin=["landing_page_form", " Lead_Add_Form ", "chat", "", "API"],
        annual_budget=["8500.0", "-12", "", "1200", " 0.5 "],
    )


def _shape(*absent: str) -> sources.Shape:
    return sources.Shape(frozenset(e.qualified for e in ENTITIES if e.qualified not in absent))


def test_entities_absent_by_design_are_neither_required_nor_stale_nor_checked(tmp_path):
    """A company without CRM activities and without a web tracker: its shape leaves them out."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    shape = _shape("crm/activities", "web/events")
    _deliver(landing, without={"crm/activities", "web/events"})
    _extract(landing, warehouse, shape=shape)
    gates = GateConfig(
        min_rows_per_file={"crm/activities": 1, "web/events": 1},
        freshness={"web": Freshness("web/events", warn_after_days=1, error_after_days=3)},
    )
    report = quality.raw_gate([DAY], warehouse=warehouse, gates=gates, shape=shape)
    assert report.success
    assert "raw.crm__activities" not in report.tables
    assert "raw.web__events" not in report.tables
    assert not [w for w in report.warnings if "activities" in w or "web" in w], report.warnings
    # the raw tables exist, empty, so dbt builds
    assert _raw_count(warehouse, "raw.crm__activities") == 0
    assert _raw_count(warehouse, "raw.web__events") == 0

    # listed in the shape, the entity is required: a missing folder says how to declare it absent
    with pytest.raises(ExtractError) as failed:
        _extract(landing, warehouse, shape=_shape("web/events"))
    assert f"crm/activities/{DAY.isoformat()}.csv. Every entity delivers one file per day" in str(
        failed.value
    )
    assert (
        "There is no folder at all for crm/activities: if your company does not have it, leave "
        "it out of the shape in "
    ) in str(failed.value), failed.value
    # and an empty file of a listed entity is an empty delivery where min_rows_per_file wants rows
    write_delivery(landing, sources.entity("crm/activities"), DAY, [])
    _extract(landing, warehouse, shape=_shape("web/events"))
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse, gates=gates, shape=_shape("web/events"))
    assert f"file(s) crm/activities/{DAY.isoformat()}.csv (0 rows)" in str(failed.value), (
        failed.value
    )


def test_days_without_web_traffic_pass_with_a_freshness_warning(tmp_path):
    """Empty web events files are quiet days, not a broken export (committed gates.yml)."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    quiet = [DAY + timedelta(days=i) for i in range(1, 5)]
    for day in (DAY, *quiet):
        _deliver(landing, day=day)
    for day in quiet:
        write_delivery(landing, sources.entity("web/events"), day, [])
    _extract(landing, warehouse, DAY, quiet[-1])
    report = quality.raw_gate(quiet, warehouse=warehouse, gates=quality_config.load())
    assert report.tables["raw.web__events"] == 0
    assert any(
        w.startswith(f"source web is stale: its newest web/events record ({DAY} 08:00)")
        and "4.7 days before the end of the interval, more than warn_after_days 1" in w
        for w in report.warnings
    ), report.warnings


def test_an_unknown_activity_type_is_quarantined(tmp_path):
    activities = sources.entity("crm/activities")
    records = _records(activities, 60)
    for i, record in enumerate(records):
        record["company_id"] = f"company_id-{i % 3}"
    # the nullable columns may be empty (a note has no duration, no direction, no company)
    records[4].update(company_id="", duration_seconds="", direction="", outcome="")
    records[40]["activity_type"] = "fax"
    warehouse = _load(tmp_path, replace={"crm/activities": (records,)})
    report = quality.raw_gate([DAY], warehouse=warehouse)
    assert report.quarantined == {"raw.crm__activities": 1}, report.warnings
    moved = _quarantined(warehouse, "quarantine.crm__activities")
    assert list(moved) == [41]
    assert moved[41][0] == (
        "crm/activities: activity_type is one of call, meeting, sms, chat, note, email, task"
    )
    assert any(
        w.startswith("raw.crm__activities (crm/activities, ")
        and "column activity_type: 1 of 60 rows" in w
        and "(values 'fax')" in w
        and f"file crm/activities/{DAY.isoformat()}.csv row 41" in w
        for w in report.warnings
    ), report.warnings
    assert _raw_count(warehouse, "raw.crm__activities") == 59


def test_activity_and_web_event_columns_are_checked(tmp_path):
    bad = {
        ("crm/activities", "duration_seconds", 1): "-5",
        ("crm/activities", "duration_seconds", 2): "12.5",
        ("crm/activities", "direction", 3): "sideways",
        ("web/events", "duration_seconds", 1): "12.5",  # a JSON number may have decimals
        ("web/events", "duration_seconds", 2): "-3",
    }
    warehouse = _load(tmp_path, bad=bad)
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse)
    message = str(failed.value)
    for expected in (
        "column duration_seconds: 2 of 3 rows fail 'crm/activities: duration_seconds is a "
        "non-negative whole number of seconds' (expect_column_values_to_match_regex) "
        "(values '-5', '12.5')",
        "column direction: 1 of 3 rows fail 'crm/activities: direction is one of inbound, "
        "outbound' (expect_column_values_to_be_in_set) (values 'sideways')",
        "column duration_seconds: 1 of 3 rows fail 'web/events: duration_seconds is a "
        "non-negative number of seconds like 230' (expect_column_values_to_match_regex) "
        f"(values '-3'); e.g. file web/events/{DAY}.jsonl row 2",
    ):
        assert expected in message, message


def test_custom_property_values_that_do_not_fit_their_type_are_quarantined(tmp_path):
    records = _valid_custom(110)
    records[6]["annual_budget"] = "lots"
    records[11]["lead_origin"] = "carrier_pigeon"
    warehouse = _load(tmp_path, replace={"crm/contacts": (records, CUSTOM)})
    report = quality.raw_gate([DAY], warehouse=warehouse)

    assert report.quarantined == {"raw.crm__contacts": 2}, report.warnings
    moved = _quarantined(warehouse, "quarantine.crm__contacts")
    assert {row: reason for row, (reason, _) in moved.items()} == {
        7: "crm/contacts: custom property annual_budget is a number like -12 or 8500.0 "
        f"(seeds/property_catalogue.csv type number), not 'lots' (file {FILE} row 7)",
        12: "crm/contacts: custom property lead_origin is one of landing_page_form, "
        "lead_add_form, chat, import, api (seeds/property_catalogue.csv type enum), not "
        f"'carrier_pigeon' (file {FILE} row 12)",
    }
    # the record moves whole, custom properties included
    assert json.loads(moved[7][1])["annual_budget"] == "lots"
    where = f"raw.crm__contacts (crm/contacts, {DAY}..{DAY}): quarantined: "
    assert (
        f"{where}custom property annual_budget: 1 of 110 rows fail 'crm/contacts: custom "
        "property annual_budget is a number like -12 or 8500.0 (seeds/property_catalogue.csv "
        "type number)' (expect_column_values_to_match_regex) (values 'lots'); "
        f"e.g. file {FILE} row 7"
    ) in report.warnings, report.warnings
    assert any(
        w.startswith(f"{where}custom property lead_origin: 1 of 110 rows")
        and "(values 'carrier_pigeon'); e.g. file " + FILE + " row 12" in w
        for w in report.warnings
    ), report.warnings
    # the rest of the day loads; declared custom columns are no schema drift
    assert _raw_count(warehouse, "raw.crm__contacts") == 108
    assert not [w for w in report.warnings if w.startswith("schema drift")], report.warnings


def test_too_many_bad_property_values_fail_the_run_and_name_them(tmp_path):
    records = _valid_custom(3)
    records[1]["annual_budget"] = "about " + "x" * 60
    warehouse = _load(tmp_path, replace={"crm/contacts": (records, CUSTOM)})
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse)
    message = str(failed.value)
    assert "raw.crm__contacts (crm/contacts, " in message
    assert "1 of 3 rows (33.3%) fail row checks" in message
    shown = repr(("about " + "x" * 60)[:39] + "…")
    assert (
        f"custom property annual_budget: 1 of 3 rows fail 'crm/contacts: custom property "
        f"annual_budget is a number like -12 or 8500.0 (seeds/property_catalogue.csv type "
        f"number)' (expect_column_values_to_match_regex) (values {shown}); e.g. file {FILE} row 2"
    ) in message, message
    assert _quarantined(warehouse, "quarantine.crm__contacts") == {}


def test_the_catalogue_is_read_at_run_time(tmp_path):
    """A property declared in the catalogue is checked on the next run, no suite rewritten."""
    project = tmp_path / "dbt_project"
    (project / "seeds").mkdir(parents=True)
    committed = (ROOT / "dbt_project" / "seeds" / "property_catalogue.csv").read_text()
    (project / "seeds" / "property_catalogue.csv").write_text(
        committed.rstrip("\n")
        + "\ncontact,is_partner,boolean,,custom,Partner flag"
        + "\ncontact,renewal_date,date,,custom,Next renewal\n"
    )
    records = _contacts(
        110,
        is_partner=["Yes", "no", "1", "FALSE", "", "true", "0"],
        renewal_date=["2026-11-18", "2026-11-18T10:00:00Z", ""],
    )
    records[2]["is_partner"] = "maybe"
    records[4]["renewal_date"] = "18/11/2026"
    extras = ("is_partner", "renewal_date")
    warehouse = _load(tmp_path, replace={"crm/contacts": (records, extras)})

    # as committed, the catalogue does not know them: kept and warned about, never checked
    report = quality.raw_gate([DAY], warehouse=warehouse)
    assert report.quarantined == {}
    drift = [w for w in report.warnings if w.startswith("schema drift")]
    assert drift == [
        "schema drift: crm/contacts: column(s) is_partner, renewal_date are not in "
        "seeds/property_catalogue.csv: kept as text custom properties, not usable in rules "
        f"until declared (file {FILE})"
    ]
    report = quality.raw_gate([DAY], warehouse=warehouse, dbt_project=project)
    assert report.quarantined == {"raw.crm__contacts": 2}, report.warnings
    reasons = {
        row: reason
        for row, (reason, _) in _quarantined(warehouse, "quarantine.crm__contacts").items()
    }
    assert re.fullmatch(
        r"crm/contacts: custom property is_partner is true/false, yes/no or 1/0 .*type "
        rf"boolean\), not 'maybe' \(file {FILE} row 3\)",
        reasons[3],
    ), reasons
    assert "custom property renewal_date is a date like 2026-11-18" in reasons[5], reasons
    assert "not '18/11/2026'" in reasons[5], reasons
    assert not [w for w in report.warnings if w.startswith("schema drift")], report.warnings


def test_undeclared_extra_columns_are_kept_and_warned_about_once_per_entity(tmp_path):
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    later = DAY + timedelta(days=1)
    usage = sources.entity("crm/product_usage")
    for day in (DAY, later):
        contacts = _contacts(3, day, lead_origin=["chat"], favourite_colour=["teal", "red"])
        _deliver(
            landing, day=day, replace={"crm/contacts": (contacts, (*CUSTOM, "favourite_colour"))}
        )
    with_calls = [{**r, "api_calls": "12"} for r in _records(usage, 3, later)]
    _write_csv(landing, usage, later, with_calls, ("api_calls",))
    _extract(landing, warehouse, DAY, later)
    report = quality.raw_gate([DAY, later], warehouse=warehouse)

    drift = [w for w in report.warnings if w.startswith("schema drift")]
    assert drift == [
        "schema drift: crm/contacts: column(s) favourite_colour are not in "
        "seeds/property_catalogue.csv: kept as text custom properties, not usable in rules until "
        f"declared (files {FILE}, crm/contacts/{later}.csv)",
        "schema drift: crm/product_usage: column(s) api_calls are not in "
        "seeds/property_catalogue.csv (it declares no crm/product_usage properties): kept as "
        f"text custom properties, not usable in rules (file crm/product_usage/{later}.csv)",
    ], report.warnings
    assert not any("not loaded" in w for w in report.warnings)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        kept = con.execute(
            "select _properties from raw.crm__contacts where _file_day = $d order by _row_number",
            {"d": later},
        ).fetchall()
        usage_kept = con.execute(
            "select distinct _properties from raw.crm__product_usage"
        ).fetchall()
    assert [json.loads(p) for (p,) in kept] == [
        {"lead_origin": "chat", "annual_budget": None, "favourite_colour": "teal"},
        {"lead_origin": "chat", "annual_budget": None, "favourite_colour": "red"},
        {"lead_origin": "chat", "annual_budget": None, "favourite_colour": "teal"},
    ]
    assert sorted(usage_kept, key=repr) == sorted([(None,), ('{"api_calls":"12"}',)], key=repr)


def test_a_mistake_in_the_catalogue_fails_the_raw_gate_naming_file_and_line(tmp_path):
    project = tmp_path / "dbt_project"
    (project / "seeds").mkdir(parents=True)
    (project / "seeds" / "property_catalogue.csv").write_text(
        "entity,property,type,allowed_values,kind,description\n"
        "contact,annual_budget,float,,custom,Budget\n"
    )
    with pytest.raises(quality.GateFailed, match=r"property_catalogue\.csv line 2: type 'float'"):
        quality.raw_gate([DAY], warehouse=_load(tmp_path), dbt_project=project)


def test_the_committed_catalogue_loads():
    catalogue = quality_config.load_catalogue()
    custom = {p.name: p for p in catalogue.custom("crm/contacts")}
    assert custom["lead_origin"].type == "enum"
    assert "lead_add_form" in custom["lead_origin"].allowed_values
    assert custom["annual_budget"].type == "number"
    assert "lead_source" in catalogue.declared("crm/contacts")  # standard: declared, not custom
    assert "lead_source" not in custom
    assert catalogue.declared("crm/product_usage") == set()


# --- records that arrive before their company (raw gate) ---------------------------------------


def _held(warehouse: Path) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select contact_id, _held_for, _reason from quarantine.crm__contacts"
        ).fetchall()


def test_a_record_whose_company_arrives_later_waits_in_quarantine_and_is_let_in(tmp_path):
    """The day's only new contact names a company the CRM exports the next day but one."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    early = _records(sources.entity("crm/contacts"), 1)
    early[0].update(contact_id="P-early", company_id="C-late")
    _deliver(landing, replace={"crm/contacts": (early, ())})
    _extract(landing, warehouse)
    report = quality.raw_gate([DAY], warehouse=warehouse)  # 1 of 1 rows: not a share to judge
    assert report.quarantined == {"raw.crm__contacts": 1}, report.warnings
    reason = (
        "crm/contacts: company_id C-late names no company the CRM delivered yet; waits until it "
        "arrives"
    )
    assert _held(warehouse) == [("P-early", "C-late", reason)]
    assert any(
        "column company_id: 1 of 1 rows name a company the CRM has not delivered yet "
        f"(values 'C-late'); e.g. file {FILE} row 1. They wait in quarantine.crm__contacts" in w
        for w in report.warnings
    ), report.warnings

    # the next day the company is still missing: the contact waits, and the gate says so
    second, third = DAY + timedelta(days=1), DAY + timedelta(days=2)
    _deliver(landing, day=second)
    _extract(landing, warehouse, second, second)
    report = quality.raw_gate([second], warehouse=warehouse)
    assert report.released == {}
    assert (
        "quarantine.crm__contacts: 1 row(s) from earlier days still wait for their company "
        f"('C-late'), the oldest from {FILE}: is the company missing from the CRM export?"
    ) in report.warnings, report.warnings

    # the company arrives: the run lets the contact in, as delivered, with its file and day
    companies = _records(sources.entity("crm/companies"), 3, third)
    companies[0]["company_id"] = "C-late"
    _deliver(landing, day=third, replace={"crm/companies": (companies, ())})
    _extract(landing, warehouse, third, third)
    report = quality.raw_gate([third], warehouse=warehouse)
    assert report.released == {"raw.crm__contacts": 1}
    assert _held(warehouse) == []
    with duckdb.connect(str(warehouse), read_only=True) as con:
        landed = con.execute(
            "select company_id, _source_file, _row_number, _file_day from raw.crm__contacts "
            "where contact_id = 'P-early'"
        ).fetchall()
    assert landed == [("C-late", FILE, 1, DAY)]


def test_many_records_at_unknown_companies_still_fail_the_run(tmp_path):
    """From known_company_min_rows records on, a share of unknown companies is a broken export."""
    records = _contacts(60)
    for i in (3, 9, 27):  # 3 of 60: 95% known, below known_company_min_share 98%
        records[i]["company_id"] = f"C-gone-{i}"
    warehouse = _load(tmp_path, replace={"crm/contacts": (records, ())})
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse)
    message = str(failed.value)
    assert (
        "column company_id: 3 of 60 rows fail 'crm/contacts: company_id names a company the CRM "
        "delivered (for at least known_company_min_share of the rows)'"
    ) in message, message
    assert "(values 'C-gone-3', 'C-gone-9', 'C-gone-27')" in message, message
    assert _quarantined(warehouse, "quarantine.crm__contacts") == {}


# --- where Great Expectations writes ---------------------------------------------------------


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
    }


def test_gate_results_and_data_docs_go_to_the_data_folder(tmp_path, monkeypatch):
    """The checkout's expectations folder is only read, so it may be read-only."""
    checkout = tmp_path / "checkout" / "expectations"
    shutil.copytree(ROOT / "expectations", checkout, ignore=shutil.ignore_patterns("uncommitted"))
    before = _tree(checkout)
    monkeypatch.delenv("LEADSCORE_GX_RESULTS_DIR", raising=False)
    monkeypatch.setenv("LEADSCORE_DATA_DIR", str(tmp_path / "data"))
    report = quality.raw_gate([DAY], warehouse=_load(tmp_path), expectations=checkout)
    assert _tree(checkout) == before, "the gate wrote into the expectations folder"
    results = tmp_path / "data" / "gx"
    assert report.data_docs == (results / "data_docs" / "local_site" / "index.html").as_uri()
    assert list((results / "validations").rglob("*.json")), "no validation results stored"
