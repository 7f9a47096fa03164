"""Land one data interval of a source's exports into ``raw.<source>__<entity>``.

Every value is kept as delivered (text) next to load metadata: the file it came from, its row in
that file (1-based, header excluded), the file's day, when it was loaded and the run's interval.
Loading an interval first deletes that interval's rows, inside one transaction, so rerunning an
interval replaces it and never duplicates it.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from leadscore import config
from leadscore.sources import LOAD_METADATA_COLUMNS, Entity, entities_of

log = logging.getLogger(__name__)


class ExtractError(RuntimeError):
    """A delivery that cannot be loaded; the message names source, entity, file and what to do."""


@dataclass(frozen=True)
class EntityLoad:
    entity: str
    files: int
    rows: int


def interval_days(start: date | datetime, end: date | datetime) -> list[date]:
    """The calendar days (UTC) covered by the half-open interval ``[start, end)``."""
    first = _as_utc(start)
    last = _as_utc(end)
    if last <= first:
        raise ValueError(
            f"empty data interval: start {first.isoformat()} >= end {last.isoformat()}"
        )
    day = first.date()
    days = []
    while datetime.combine(day, datetime.min.time(), UTC) < last:
        days.append(day)
        day += timedelta(days=1)
    return days


def expected_files(entity: Entity, days: list[date], landing: Path) -> list[Path]:
    folder = landing / entity.source / entity.name
    return [folder / f"{day.isoformat()}.{entity.extension}" for day in days]


def extract_source(
    source: str,
    interval_start: date | datetime,
    interval_end: date | datetime,
    *,
    warehouse: Path | None = None,
    landing: Path | None = None,
    loaded_at: datetime | None = None,
) -> list[EntityLoad]:
    """Load every entity of ``source`` for the days in ``[interval_start, interval_end)``."""
    warehouse = warehouse or config.warehouse_path()
    landing = (landing or config.landing_dir()).resolve()
    loaded_at = loaded_at or datetime.now(UTC)
    start, end = _as_utc(interval_start), _as_utc(interval_end)
    days = interval_days(start, end)
    entities = entities_of(source)

    plans = [(e, expected_files(e, days, landing)) for e in entities]
    missing = [str(f.relative_to(landing)) for _, files in plans for f in files if not f.exists()]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ExtractError(
            f"source {source}: {len(missing)} expected file(s) missing under {landing}: {shown}. "
            "Every entity delivers one file per day (header-only when nothing changed); "
            "wait for the delivery or rerun the export, then rerun this interval."
        )
    for e, files in plans:
        if e.file_format == "csv":
            for f in files:
                _check_csv_header(e, f, landing)

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists raw")
        _create_load_log(con)
        con.execute("begin transaction")
        try:
            for e, files in plans:
                results.append(_load_entity(con, e, files, landing, days, start, end, loaded_at))
            con.execute("commit")
        except duckdb.Error as err:
            con.execute("rollback")
            raise ExtractError(f"source {source}: load failed, nothing was changed: {err}") from err
    for r in results:
        log.info("loaded %s: %d rows from %d files", r.entity, r.rows, r.files)
    return results


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, datetime.min.time(), UTC)


def _check_csv_header(entity: Entity, path: Path, landing: Path) -> None:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), None)
    except UnicodeDecodeError as err:
        raise ExtractError(
            f"{entity.qualified}: file {path.relative_to(landing)} is not UTF-8 "
            f"(byte {err.start} of the header line); re-export it as UTF-8."
        ) from err
    if header is None:
        raise ExtractError(
            f"{entity.qualified}: file {path.relative_to(landing)} is empty (no header row); "
            f"expected at least the header {','.join(entity.columns)}."
        )
    header = [h.strip() for h in header]
    absent = [c for c in entity.columns if c not in header]
    if absent:
        raise ExtractError(
            f"{entity.qualified}: file {path.relative_to(landing)} lacks column(s) "
            f"{', '.join(absent)} (header has {', '.join(header)}); see docs/sources.md."
        )
    extra = [h for h in header if h not in entity.columns]
    if extra:
        log.warning(
            "%s: file %s has extra column(s) %s; they are not loaded",
            entity.qualified,
            path.relative_to(landing),
            ", ".join(extra),
        )


def _create_load_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create table if not exists raw.load_log (
            source varchar, entity varchar, source_file varchar, file_day date, row_count bigint,
            loaded_at timestamptz, interval_start timestamptz, interval_end timestamptz
        )
        """
    )


def _reader_sql(entity: Entity) -> str:
    """A DuckDB table function over the list bound to ``$files``, every column as text."""
    if entity.file_format == "csv":
        return "read_csv($files, header = true, all_varchar = true, union_by_name = true)"
    columns = ", ".join(f"'{c}': 'VARCHAR'" for c in entity.columns)
    return f"read_json($files, format = 'newline_delimited', columns = {{{columns}}})"


def _load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: list[Path],
    landing: Path,
    days: list[date],
    start: datetime,
    end: datetime,
    loaded_at: datetime,
) -> EntityLoad:
    columns = ", ".join(f'"{c}" varchar' for c in entity.columns)
    con.execute(
        f"""
        create table if not exists {entity.raw_table} (
            {columns}, _source_file varchar, _row_number bigint, _file_day date,
            _loaded_at timestamptz, _interval_start timestamptz, _interval_end timestamptz
        )
        """
    )
    con.execute(
        f"delete from {entity.raw_table} where _file_day >= $first and _file_day <= $last",
        {"first": days[0], "last": days[-1]},
    )
    selected = ", ".join(f'"{c}"' for c in entity.columns)
    prefix_len = len(str(landing)) + 2  # strip "<landing>/" so paths read crm/contacts/<day>.csv
    # row_number() over () follows scan order (insertion order is preserved), so subtracting each
    # file's first scan row gives the row within the file; tests/test_extract.py pins this.
    con.execute(
        f"""
        insert into {entity.raw_table} ({selected}, {", ".join(LOAD_METADATA_COLUMNS)})
        with scanned as (
            select {selected}, filename as _file, row_number() over () as _scan_row
            from {_reader_sql(entity)}
        )
        select
            {selected},
            substr(_file, {prefix_len}) as _source_file,
            _scan_row - min(_scan_row) over (partition by _file) + 1 as _row_number,
            cast(regexp_extract(_file, '(\\d{{4}}-\\d{{2}}-\\d{{2}})\\.[a-z]+$', 1) as date),
            $loaded_at, $start, $end
        from scanned
        """,
        {"files": [str(f) for f in files], "loaded_at": loaded_at, "start": start, "end": end},
    )
    counts = dict(
        con.execute(
            f"""select _source_file, count(*) from {entity.raw_table}
            where _file_day >= $first and _file_day <= $last group by all""",
            {"first": days[0], "last": days[-1]},
        ).fetchall()
    )
    relative = [str(f.relative_to(landing)) for f in files]
    con.execute(
        "delete from raw.load_log where source = $s and entity = $e "
        "and file_day >= $first and file_day <= $last",
        {"s": entity.source, "e": entity.name, "first": days[0], "last": days[-1]},
    )
    con.executemany(
        "insert into raw.load_log values (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (entity.source, entity.name, rel, day, counts.get(rel, 0), loaded_at, start, end)
            for rel, day in zip(relative, days, strict=True)
        ],
    )
    return EntityLoad(entity.qualified, len(files), sum(counts.values()))
