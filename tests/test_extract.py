"""Extract lands exactly the run's interval, keeps file and row, and reruns replace it."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from leadscore.extract import ExtractError, extract_source, interval_days
from leadscore.sources import entities_of
from tests.conftest import write_delivery

DAYS = [date(2026, 3, 1), date(2026, 3, 2), date(2026, 3, 3)]


def _write_day(landing: Path, day: date, rows_per_entity: int = 3) -> None:
    """A minimal valid delivery of every entity for one day."""
    for source in ("crm", "email", "web"):
        for entity in entities_of(source):
            records = []
            for i in range(rows_per_entity):
                record = {c: f"{entity.name}-{day:%m%d}-{i}" for c in entity.columns}
                record[entity.day_column] = f"{day.isoformat()}T10:00:{i:02d}Z"
                records.append(record)
            write_delivery(landing, entity, day, records)


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    for day in DAYS:
        _write_day(root, day)
    return root


def _rows(warehouse: Path, table: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            f"select * exclude (_loaded_at) from {table} order by _source_file, _row_number"
        ).fetchall()


def test_interval_days_are_half_open():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    assert interval_days(start, datetime(2026, 3, 2, tzinfo=UTC)) == [date(2026, 3, 1)]
    assert interval_days(date(2026, 3, 1), date(2026, 3, 4)) == DAYS
    with pytest.raises(ValueError, match="empty data interval"):
        interval_days(start, start)


def test_loads_only_the_interval_with_file_and_row(landing, tmp_path):
    wh = tmp_path / "wh.duckdb"
    loads = extract_source("crm", date(2026, 3, 2), date(2026, 3, 3), warehouse=wh, landing=landing)
    assert {load.entity: load.rows for load in loads}["crm/contacts"] == 3
    with duckdb.connect(str(wh), read_only=True) as con:
        rows = con.execute(
            "select contact_id, _source_file, _row_number, _file_day, _interval_start "
            "from raw.crm__contacts order by _row_number"
        ).fetchall()
    assert [r[0] for r in rows] == ["contacts-0302-0", "contacts-0302-1", "contacts-0302-2"]
    assert {r[1] for r in rows} == {"crm/contacts/2026-03-02.csv"}
    assert [r[2] for r in rows] == [1, 2, 3], "row numbers within the file, 1-based"
    assert {r[3] for r in rows} == {date(2026, 3, 2)}, "only the interval's day is loaded"
    assert {r[4].date() for r in rows} == {date(2026, 3, 2)}


def test_rerunning_an_interval_replaces_it(landing, tmp_path):
    wh = tmp_path / "wh.duckdb"
    extract_source("email", date(2026, 3, 1), date(2026, 3, 4), warehouse=wh, landing=landing)
    before = _rows(wh, "raw.email__events")
    extract_source("email", date(2026, 3, 2), date(2026, 3, 3), warehouse=wh, landing=landing)
    extract_source("email", date(2026, 3, 2), date(2026, 3, 3), warehouse=wh, landing=landing)
    after = _rows(wh, "raw.email__events")
    strip = [r[:-2] for r in before], [r[:-2] for r in after]  # interval columns differ
    assert strip[0] == strip[1]
    assert len(after) == 9
    with duckdb.connect(str(wh), read_only=True) as con:
        log = con.execute(
            "select file_day, row_count from raw.load_log where entity = 'events' order by 1"
        ).fetchall()
    assert log == [(d, 3) for d in DAYS], "one load-log row per file, replaced on rerun"


def test_row_numbers_follow_the_file_order(tmp_path):
    """row_number() over () follows scan order: pin it on files big enough to be split."""
    landing = tmp_path / "landing"
    _write_day(landing, DAYS[0], rows_per_entity=1)
    path = landing / "crm" / "product_usage" / f"{DAYS[0].isoformat()}.csv"
    n = 150_000
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["company_id", "usage_date", "active_users", "sessions", "feature_events"])
        writer.writerows([f"C{i}", DAYS[0].isoformat(), i, 0, 0] for i in range(1, n + 1))
    wh = tmp_path / "wh.duckdb"
    extract_source("crm", DAYS[0], DAYS[1], warehouse=wh, landing=landing)
    with duckdb.connect(str(wh), read_only=True) as con:
        mismatched = con.execute(
            "select count(*) from raw.crm__product_usage "
            "where cast(active_users as bigint) != _row_number"
        ).fetchone()[0]
        total = con.execute("select count(*) from raw.crm__product_usage").fetchone()[0]
    assert total == n
    assert mismatched == 0


def test_missing_day_file_is_named(landing, tmp_path):
    (landing / "web" / "events" / "2026-03-02.jsonl").unlink()
    with pytest.raises(ExtractError, match=r"web/events/2026-03-02\.jsonl"):
        extract_source(
            "web",
            date(2026, 3, 1),
            date(2026, 3, 4),
            warehouse=tmp_path / "w.duckdb",
            landing=landing,
        )


def test_missing_column_is_named_and_nothing_changes(landing, tmp_path):
    wh = tmp_path / "wh.duckdb"
    extract_source("crm", date(2026, 3, 1), date(2026, 3, 2), warehouse=wh, landing=landing)
    before = _rows(wh, "raw.crm__deals")
    path = landing / "crm" / "deals" / "2026-03-01.csv"
    lines = path.read_text().splitlines()
    lines[0] = lines[0].replace("amount", "amount_usd")
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ExtractError, match=r"crm/deals/2026-03-01\.csv lacks column\(s\) amount"):
        extract_source("crm", date(2026, 3, 1), date(2026, 3, 2), warehouse=wh, landing=landing)
    assert _rows(wh, "raw.crm__deals") == before, "a rejected delivery leaves raw untouched"
