"""The Great Expectations gates: committed suites match the code, bad rows are named precisely."""

from __future__ import annotations

import csv
import json
import re
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore import quality, quality_config, sources
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


def _extract(landing: Path, warehouse: Path, first: date = DAY, last: date = DAY) -> None:
    for source in ("crm", "email", "web"):
        extract_source(
            source, first, last + timedelta(days=1), warehouse=warehouse, landing=landing
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


def test_a_landing_without_crm_activities_passes_the_raw_gate(tmp_path):
    """A company without CRM activities: no folder, nothing expected, not even min_rows_per_file."""
    landing, warehouse = tmp_path / "landing", tmp_path / "wh.duckdb"
    _deliver(landing, without={"crm/activities"})
    _extract(landing, warehouse)
    gates = GateConfig(min_rows_per_file={"crm/activities": 1, "web/events": 1})
    report = quality.raw_gate([DAY], warehouse=warehouse, gates=gates)
    assert report.success
    assert report.tables["raw.crm__activities"] == 0
    assert not [w for w in report.warnings if "activities" in w], report.warnings
    # once the folder exists, its files count: an empty one is an empty delivery
    write_delivery(landing, sources.entity("crm/activities"), DAY, [])
    _extract(landing, warehouse)
    with pytest.raises(quality.GateFailed) as failed:
        quality.raw_gate([DAY], warehouse=warehouse, gates=gates)
    assert f"file(s) crm/activities/{DAY.isoformat()}.csv (0 rows)" in str(failed.value), (
        failed.value
    )


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
