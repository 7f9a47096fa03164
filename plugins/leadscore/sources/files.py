"""Land one data interval of a source's exports into ``raw.<source>__<entity>``.

Every value is kept as delivered (text) next to load metadata: the file it came from, its row in
that file (1-based, header excluded), the file's day, when it was loaded and the run's interval.
One exception: a timestamp delivered with an offset from UTC (``2026-11-19T09:30:00+01:00``) is
stored converted to UTC (``2026-11-19T08:30:00Z``), because a file's day is a UTC day; the raw
gate, staging and everything after them then read one form of timestamp. Loading an interval first
deletes that interval's rows, inside one transaction, so rerunning an interval replaces it and
never duplicates it. Files are read only from inside the landing folder: a symbolic link that
leads out of it is refused.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb

from leadscore import config
from leadscore.progress import track
from leadscore.sources import LOAD_METADATA_COLUMNS, Entity, Shape, entities_of, load_shape
from leadscore.sources.delivery import (
    OFFSET_TIMESTAMP_REGEX,
    TIMESTAMP_COLUMNS,
    DeliveryError,
    FileCheck,
    inspect_file,
)

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
    shape: Shape | None = None,
) -> list[EntityLoad]:
    """Load every entity of ``source`` for the days in ``[interval_start, interval_end)``.

    Entities the company's shape (``expectations/sources.yml``) leaves out are absent by design:
    no file is expected, and their raw tables are created empty so dbt builds all the same.
    """
    warehouse = warehouse or config.warehouse_path()
    try:
        shape = shape or load_shape()
    except ValueError as err:
        raise ExtractError(f"source {source}: {err}") from err
    landing = (landing or config.landing_dir()).resolve()
    loaded_at = loaded_at or datetime.now(UTC)
    start, end = _as_utc(interval_start), _as_utc(interval_end)
    days = interval_days(start, end)
    entities = entities_of(source)

    plans = [(e, expected_files(e, days, landing) if shape.has(e) else []) for e in entities]
    for e, _ in plans:
        if not shape.has(e):
            _log_absent(e, landing, shape)
    _refuse_links_out_of(landing, source, plans)
    missing = [str(f.relative_to(landing)) for _, files in plans for f in files if not f.exists()]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise ExtractError(
            f"source {source}: {len(missing)} expected file(s) missing under {landing}: {shown}. "
            "Every entity delivers one file per day (header-only when nothing changed); "
            "wait for the delivery or rerun the export, then rerun this interval."
            + _absent_hint(plans, shape)
        )
    checks = {}
    inspected = track(
        [(e, f) for e, files in plans for f in files], f"inspecting {source} files", unit="files"
    )
    for e, f in inspected:
        try:
            checks[f] = inspect_file(e, f, str(f.relative_to(landing)))
        except DeliveryError as err:
            raise ExtractError(f"source {source}: {err}") from err
        if checks[f].extra_columns:
            log.info(
                "%s: file %s has column(s) %s beyond the documented ones; kept as custom "
                "properties",
                e.qualified,
                f.relative_to(landing),
                ", ".join(checks[f].extra_columns),
            )

    warehouse.parent.mkdir(parents=True, exist_ok=True)
    results = []
    with duckdb.connect(str(warehouse)) as con:
        con.execute("create schema if not exists raw")
        con.execute("create schema if not exists quarantine")
        _create_load_log(con)
        con.execute("begin transaction")
        try:
            for e, files in track(plans, f"loading {source}", unit="entities"):
                results.append(
                    _load_entity(con, e, files, checks, landing, days, start, end, loaded_at)
                )
                pause_point(f"extract:{e.qualified}")
            con.execute("commit")
        except (duckdb.Error, ExtractError) as err:
            con.execute("rollback")
            if isinstance(err, ExtractError):
                raise
            raise ExtractError(f"source {source}: load failed, nothing was changed: {err}") from err
    for r in results:
        log.info("loaded %s: %d rows from %d files", r.entity, r.rows, r.files)
    return results


def pause_point(name: str) -> None:
    """Test seam for crash tests: stop here when ``LEADSCORE_PAUSE_AT`` names this point.

    The process touches ``LEADSCORE_PAUSE_FILE`` and waits (at most a minute), so a test can kill
    it with SIGKILL at a known place, or delete the file to let it go on. Without the variables
    this does nothing.
    """
    if os.environ.get("LEADSCORE_PAUSE_AT") != name:
        return
    marker = Path(os.environ["LEADSCORE_PAUSE_FILE"])
    marker.write_text(name)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and marker.exists():
        time.sleep(0.1)


def _refuse_links_out_of(
    landing: Path, source: str, plans: list[tuple[Entity, list[Path]]]
) -> None:
    """A day file that is, or lies in a folder that is, a symbolic link leading out of the
    (resolved) landing folder is refused before anything reads it: its content is never shown."""
    for e, files in plans:
        for f in files:
            target = f.resolve()
            if not target.is_relative_to(landing):
                raise ExtractError(
                    f"source {source}: {e.qualified}: file {f.relative_to(landing)} is a symbolic "
                    f"link, or lies in a linked folder, that leads outside the landing folder "
                    f"{landing} (to {target}). Files are read only from inside the landing folder: "
                    "put the export itself there (links within the folder are fine), then rerun "
                    "the interval."
                )


def _log_absent(entity: Entity, landing: Path, shape: Shape) -> None:
    """An entity absent by design loads nothing. Files of it are ignored, which a user may not
    have meant (a source added to the landing folder but not to the shape): say so."""
    folder = landing / entity.source / entity.name
    if folder.is_dir() and any(folder.iterdir()):
        log.warning(
            "%s is not in the shape (%s), so its files under %s are ignored; list it there to "
            "score it",
            entity.qualified,
            shape.path or "sources configuration",
            folder,
        )
    else:
        log.info("%s: absent by design (not in the company's shape)", entity.qualified)


def _absent_hint(plans: list[tuple[Entity, list[Path]]], shape: Shape) -> str:
    """For a listed entity without any landing folder: how to declare it absent."""
    none = [e.qualified for e, files in plans if files and not files[0].parent.is_dir()]
    if not none:
        return ""
    return (
        f" There is no folder at all for {', '.join(none)}: if your company does not have "
        f"{'these' if len(none) > 1 else 'it'}, leave {'them' if len(none) > 1 else 'it'} out of "
        f"the shape in {shape.path or 'the sources configuration'} (LEADSCORE_SOURCES_CONFIG)."
    )


def _as_utc(value: date | datetime) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.combine(value, datetime.min.time(), UTC)


def _create_load_log(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        """
        create table if not exists raw.load_log (
            source varchar, entity varchar, source_file varchar, file_day date, row_count bigint,
            loaded_at timestamptz, interval_start timestamptz, interval_end timestamptz,
            content_sha256 varchar, extra_columns varchar
        )
        """
    )
    # warehouses created before these columns existed
    for column in ("content_sha256", "extra_columns"):
        con.execute(f"alter table raw.load_log add column if not exists {column} varchar")


def _reader_sql(entity: Entity, extras: list[str]) -> str:
    """A DuckDB table function over the list bound to ``$files``, every column as text."""
    if entity.file_format == "csv":
        # the dialect is fixed (files were inspected strictly): the sniffer never guesses
        return (
            "read_csv($files, header = true, all_varchar = true, union_by_name = true, "
            "delim = ',', quote = '\"', escape = '\"', strict_mode = true)"
        )
    columns = ", ".join(f"{_literal(c)}: 'VARCHAR'" for c in (*entity.columns, *extras))
    return f"read_json($files, format = 'newline_delimited', columns = {{{columns}}})"


def _delivered_sql(entity: Entity) -> str:
    """The documented columns as stored: as delivered, timestamps with an offset in UTC."""
    return ", ".join(
        f"{_utc_timestamp_sql(c)} as {_identifier(c)}" if c in TIMESTAMP_COLUMNS else _identifier(c)
        for c in entity.columns
    )


def _utc_timestamp_sql(column: str) -> str:
    """SQL: an ISO 8601 timestamp with an offset from UTC as ``YYYY-MM-DDTHH:MM:SS[.fff]Z`` in UTC.

    Any other text, a UTC ``Z`` timestamp or a malformed value, stays as delivered (the raw gate
    quarantines what is malformed). So does an impossible local time like February 30.
    """
    value, pattern = _identifier(column), _literal(OFFSET_TIMESTAMP_REGEX)
    fraction = f"regexp_extract({value}, {pattern}, 2)"  # kept as delivered
    utc = f"strftime(timezone('UTC', try_cast({value} as timestamptz)), '%Y-%m-%dT%H:%M:%S')"
    return (
        f"coalesce(case when regexp_full_match({value}, {pattern}) "
        f"then {utc} || {fraction} || 'Z' end, {value})"
    )


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _properties_sql(extras: list[str]) -> str:
    """The extra columns as one JSON object of text values (null when the record has none)."""
    if not extras:
        return "cast(null as varchar)"
    known = " or ".join(f"{_identifier(c)} is not null" for c in extras)
    pairs = ", ".join(f"{_literal(c)}, {_identifier(c)}" for c in extras)
    return f"case when {known} then cast(json_object({pairs}) as varchar) end"


def _load_entity(
    con: duckdb.DuckDBPyConnection,
    entity: Entity,
    files: list[Path],
    checks: dict[Path, FileCheck],
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
            {columns}, _properties varchar, _source_file varchar, _row_number bigint,
            _file_day date, _loaded_at timestamptz, _interval_start timestamptz,
            _interval_end timestamptz
        )
        """
    )
    # warehouses created before custom properties were kept
    con.execute(f"alter table {entity.raw_table} add column if not exists _properties varchar")
    con.execute(
        f"create table if not exists {entity.quarantine_table} as "
        f"select *, null::varchar as _reason, null::timestamptz as _quarantined_at "
        f"from {entity.raw_table} limit 0"
    )
    con.execute(
        f"alter table {entity.quarantine_table} add column if not exists _properties varchar"
    )
    # a rerun replaces the interval: its raw rows and the rows the raw gate quarantined from it
    for table in (entity.raw_table, entity.quarantine_table):
        con.execute(
            f"delete from {table} where _file_day >= $first and _file_day <= $last",
            {"first": days[0], "last": days[-1]},
        )
    if not files:  # absent by design (not in the company's shape): its table stays empty
        return EntityLoad(entity.qualified, 0, 0)
    selected = ", ".join(f'"{c}"' for c in entity.columns)
    extras = sorted({c for f in files for c in checks[f].extra_columns})
    prefix_len = len(str(landing)) + 2  # strip "<landing>/" so paths read crm/contacts/<day>.csv
    # row_number() over () follows scan order (insertion order is preserved), so subtracting each
    # file's first scan row gives the row within the file; tests/test_extract.py pins this.
    con.execute(
        f"""
        insert into {entity.raw_table} ({selected}, {", ".join(LOAD_METADATA_COLUMNS)})
        with scanned as (
            select
                {selected}, {_properties_sql(extras)} as _properties, filename as _file,
                row_number() over () as _scan_row
            from {_reader_sql(entity, extras)}
        )
        select
            {_delivered_sql(entity)},
            _properties,
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
        "insert into raw.load_log (source, entity, source_file, file_day, row_count, loaded_at, "
        "interval_start, interval_end, content_sha256, extra_columns) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                entity.source,
                entity.name,
                rel,
                day,
                counts.get(rel, 0),
                loaded_at,
                start,
                end,
                checks[f].sha256,
                ",".join(checks[f].extra_columns) or None,
            )
            for f, rel, day in zip(files, relative, days, strict=True)
        ],
    )
    _reject_repeated_delivery(con, entity)
    return EntityLoad(entity.qualified, len(files), sum(counts.values()))


def _reject_repeated_delivery(con: duckdb.DuckDBPyConnection, entity: Entity) -> None:
    """The same non-empty export under two days' names: a re-sent file, not that day's data."""
    repeated = con.execute(
        """
        select a.source_file, b.source_file, b.loaded_at
        from raw.load_log as a
        inner join raw.load_log as b
            on a.source = b.source and a.entity = b.entity
            and a.content_sha256 = b.content_sha256 and a.file_day > b.file_day
        where a.source = $s and a.entity = $e and a.row_count > 0
        order by a.file_day
        limit 1
        """,
        {"s": entity.source, "e": entity.name},
    ).fetchone()
    if repeated:
        later, earlier, loaded = repeated
        raise ExtractError(
            f"source {entity.source}: {entity.qualified}: file {later} is byte for byte "
            f"the file {earlier} "
            f"(loaded {loaded:%Y-%m-%d %H:%M} UTC): the same export was delivered twice. "
            "Nothing was loaded; replace it with that day's export and rerun the interval."
        )
