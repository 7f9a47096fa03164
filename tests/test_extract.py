"""Extract lands exactly the run's interval, keeps file and row, and reruns replace it."""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

from leadscore.sources import entities_of
from leadscore.sources.delivery import MAX_FIELD_CHARS
from leadscore.sources.files import ExtractError, extract_source, interval_days
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


# --- what a probe with bad deliveries found (issue 12) ------------------------------------------


def _extract_crm_day(landing: Path, wh: Path) -> None:
    extract_source("crm", DAYS[1], DAYS[2], warehouse=wh, landing=landing)


def test_timestamps_with_an_offset_are_stored_in_utc(landing, tmp_path):
    """The file day is a UTC day: +01:00 is converted, not dropped; anything else stays as is."""
    day = DAYS[1]
    web = entities_of("web")[0]
    delivered = {
        "e-plus-one": ("2026-03-02T09:30:00+01:00", "2026-03-02T08:30:00Z"),
        "e-next-local-day": ("2026-03-03T00:30:00+01:00", "2026-03-02T23:30:00Z"),
        "e-minus-five-fraction": ("2026-03-01T23:30:00.250-05:00", "2026-03-02T04:30:00.250Z"),
        "e-compact-offset": ("2026-03-02T12:15:00+0545", "2026-03-02T06:30:00Z"),
        "e-hours-offset": ("2026-03-02T07:00:00-03", "2026-03-02T10:00:00Z"),
        "e-utc-offset": ("2026-03-02T10:00:00+00:00", "2026-03-02T10:00:00Z"),
        "e-utc": ("2026-03-02T10:00:00Z", "2026-03-02T10:00:00Z"),
        # not a timestamp: kept as delivered for the raw gate to quarantine
        "e-impossible": ("2026-02-30T10:00:00+01:00", "2026-02-30T10:00:00+01:00"),
        "e-no-zone": ("2026-03-02T10:00:00", "2026-03-02T10:00:00"),
    }
    records = [
        {c: f"{c}-{event_id}" for c in web.columns}
        | {"event_id": event_id, "occurred_at": stamp, "page_url": "/p?at=10:00:00+01:00"}
        for event_id, (stamp, _) in delivered.items()
    ]
    write_delivery(landing, web, day, records)
    wh = tmp_path / "wh.duckdb"
    extract_source("web", day, DAYS[2], warehouse=wh, landing=landing)
    with duckdb.connect(str(wh), read_only=True) as con:
        stored = dict(con.execute("select event_id, occurred_at from raw.web__events").fetchall())
        urls = {r[0] for r in con.execute("select page_url from raw.web__events").fetchall()}
    assert stored == {event_id: utc for event_id, (_, utc) in delivered.items()}
    assert urls == {"/p?at=10:00:00+01:00"}, "only timestamp columns are converted"


def _foreign_file(tmp_path: Path) -> Path:
    """A file outside the landing folder, first line like /etc/passwd's."""
    path = tmp_path / "elsewhere" / "passwd"
    path.parent.mkdir()
    path.write_text("root:x:0:0:root:/root:/bin/bash\nsecret-token-7d1f\n")
    return path


def test_a_day_file_linked_outside_the_landing_folder_is_refused(landing, tmp_path):
    foreign = _foreign_file(tmp_path)
    day_file = landing / "crm" / "contacts" / f"{DAYS[1].isoformat()}.csv"
    day_file.unlink()
    day_file.symlink_to(foreign)
    wh = tmp_path / "wh.duckdb"
    with pytest.raises(ExtractError) as refused:
        _extract_crm_day(landing, wh)
    message = str(refused.value)
    assert "crm/contacts: file crm/contacts/2026-03-02.csv is a symbolic link" in message
    assert "outside the landing folder" in message
    assert "root:" not in message and "secret-token" not in message, message
    assert not wh.exists(), "nothing was loaded"


def test_a_linked_folder_outside_the_landing_folder_is_refused(landing, tmp_path):
    folder = landing / "crm" / "deals"
    outside = tmp_path / "elsewhere" / "deals"
    outside.parent.mkdir()
    folder.rename(outside)
    folder.symlink_to(outside, target_is_directory=True)
    with pytest.raises(ExtractError, match=r"file crm/deals/2026-03-02\.csv is a symbolic link"):
        _extract_crm_day(landing, tmp_path / "wh.duckdb")


def test_links_within_the_landing_folder_load(landing, tmp_path):
    day_file = landing / "crm" / "contacts" / f"{DAYS[1].isoformat()}.csv"
    kept = landing / "archive" / "contacts-export.csv"
    kept.parent.mkdir()
    day_file.rename(kept)
    day_file.symlink_to(Path("..", "..", "archive", "contacts-export.csv"))
    wh = tmp_path / "wh.duckdb"
    _extract_crm_day(landing, wh)
    with duckdb.connect(str(wh), read_only=True) as con:
        files = con.execute("select distinct _source_file from raw.crm__contacts").fetchall()
    assert files == [("crm/contacts/2026-03-02.csv",)], "rows name the day file, not the target"


def test_a_field_over_the_csv_limit_names_the_field_the_row_and_the_limit(landing, tmp_path):
    contacts = next(e for e in entities_of("crm") if e.name == "contacts")
    records = [{c: f"{c}-{i}" for c in contacts.columns} for i in range(3)]
    for r in records:
        r["updated_at"] = f"{DAYS[1].isoformat()}T10:00:00Z"
    records[1]["job_title"] = "x" * MAX_FIELD_CHARS  # at the limit: loads
    write_delivery(landing, contacts, DAYS[1], records)
    wh = tmp_path / "wh.duckdb"
    _extract_crm_day(landing, wh)
    with duckdb.connect(str(wh), read_only=True) as con:
        longest = con.execute("select max(length(job_title)) from raw.crm__contacts").fetchone()
    assert longest == (MAX_FIELD_CHARS,)

    records[2]["job_title"] = "y" * (MAX_FIELD_CHARS + 1)
    write_delivery(landing, contacts, DAYS[1], records)
    limit_before = csv.field_size_limit()
    with pytest.raises(ExtractError) as refused:
        _extract_crm_day(landing, wh)
    message = str(refused.value)
    assert (
        "crm/contacts: file crm/contacts/2026-03-02.csv: field job_title of row 3 (ending on "
        "line 4) is 131,073 characters long, longer than the 128 KiB limit (131,072 characters)"
    ) in message, message
    assert "cut off" not in message
    assert csv.field_size_limit() == limit_before, "the csv module's limit is restored"
