"""Publish the checked score tables to the serving copy BI tools read (write-audit-publish).

The daily run writes and audits in the working warehouse; only after the score gate passed does
``publish`` write a new *publish folder*: every table of the ``marts`` schema into a DuckDB file
(checkpointed, read-only) and into one Parquet file per table. Then one atomic step makes it the
publish every reader sees::

    <serving>/scores.duckdb  -> current/scores.duckdb          (a fixed link)
    <serving>/current        -> publishes/<publish id>          (switched by each publish)
    <serving>/publishes/<publish id>/scores.duckdb, <table>.parquet, ...
    <serving>/publishes/<publish id>/<kept table>/<score date>.parquet, ...

The *kept* tables (``models/marts/over_time``: a row set per score date, growing with history)
are published per date, so a publish costs the day, not the history: one Parquet file per score
date, and in the DuckDB file a view over that folder. A date whose rows did not change since the
last publish (``meta.kept_dates``, written by the models' post-hook) is a hard link to the last
publish's file, not a copy; only the dates a run wrote are written. A warehouse without
``meta.kept_dates`` (built before it existed) has every date written.

The publish id is the publish time (UTC, ``20261121T000512123456Z``). ``current`` is replaced by
rename, which is atomic: a reader opening ``scores.duckdb`` or ``current/<table>.parquet`` gets
the whole old publish or the whole new one, never a mix, whenever the publish is killed. A reader
that opened a file keeps reading it (it holds the inode). To read several Parquet files of one
publish, resolve ``current`` once and read them from the folder it points to. The working
warehouse and the serving files are different files, so readers never hold a lock dbt needs.

Each publish then removes every older publish folder but the one it replaced (kept for readers
that resolved ``current`` just before), and whatever a killed publish left: its half-written
folder (``publishes/.<id>.tmp``), temp files, and the pre-publish-folder layout (a plain
``scores.duckdb`` and ``parquet/<table>/<table>.parquet``). ``meta.publish_log`` in the DuckDB
file lists every publish (carried over from the previous one).
"""

from __future__ import annotations

import logging
import os
import shutil
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from leadscore import config
from leadscore.sources.files import pause_point

log = logging.getLogger(__name__)

SERVING_FILE = "scores.duckdb"
PUBLISHED_SCHEMA = "marts"
#: The link to the publish readers see, and the folder holding one folder per publish.
CURRENT = "current"
PUBLISHES = "publishes"
#: What a publish writes before it is complete: never read, removed by the next publish.
TEMP_SUFFIX = ".tmp"
#: The Parquet folder of the layout before publish folders (removed by the first new publish).
OLD_PARQUET_DIR = "parquet"
#: Where the dbt models of the kept tables live (one row set per score date).
KEPT_MODELS = Path("models") / "marts" / "over_time"
#: The warehouse's record of which score dates each kept table's build wrote, and when.
KEPT_DATES = "meta.kept_dates"


@dataclass
class PublishReport:
    score_date: date
    path: Path
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    parquet: dict[str, Path] = field(default_factory=dict)
    published_at: datetime | None = None
    publish_id: str | None = None
    skipped: str | None = None
    #: kept table -> dates written by this publish / dates linked from the last one
    dates_written: dict[str, int] = field(default_factory=dict)
    dates_linked: dict[str, int] = field(default_factory=dict)


def serving_path(serving_dir: Path | None = None) -> Path:
    return (serving_dir or config.serving_dir()) / SERVING_FILE


def current_dir(serving_dir: Path | None = None) -> Path:
    """``<serving>/current``: the current publish's folder (``<table>.parquet`` files)."""
    return (serving_dir or config.serving_dir()) / CURRENT


def kept_tables(project: Path | None = None) -> set[str]:
    """The marts kept per score date: the models under ``models/marts/over_time``."""
    folder = (project or config.dbt_project_dir()) / KEPT_MODELS
    return {path.stem for path in folder.glob("*.sql")}


def published_tables(con: duckdb.DuckDBPyConnection, catalog: str) -> list[str]:
    rows = con.execute(
        """select table_name from duckdb_tables()
        where database_name = $catalog and schema_name = $schema order by table_name""",
        {"catalog": catalog, "schema": PUBLISHED_SCHEMA},
    ).fetchall()
    return [r[0] for r in rows]


def publish(
    score_date: date,
    *,
    warehouse: Path | None = None,
    serving_dir: Path | None = None,
    run_id: str | None = None,
    force: bool = False,
) -> PublishReport:
    """Copy the warehouse's marts into a new publish folder and switch readers to it atomically.

    A rerun of an older date does not replace newer published scores (BI would go back in time)
    unless ``force``; the report's ``skipped`` says why nothing was published.
    """
    warehouse = warehouse or config.warehouse_path()
    # absolute: the kept tables' views name their files by path
    serving_dir = (serving_dir or config.serving_dir()).absolute()
    newest = last_publish(serving_dir)
    if newest and newest["score_date"] > score_date and not force:
        report = PublishReport(score_date, serving_path(serving_dir))
        report.skipped = (
            f"not published: the serving copy already holds newer scores "
            f"({newest['score_date']}); rerun with force to publish {score_date} over them"
        )
        log.warning(report.skipped)
        return report
    published_at = datetime.now(UTC)
    publish_id = f"{published_at:%Y%m%dT%H%M%S%fZ}"
    publishes = serving_dir / PUBLISHES
    publishes.mkdir(parents=True, exist_ok=True)
    staging = publishes / f".{publish_id}{TEMP_SUFFIX}"
    folder = publishes / publish_id
    report = PublishReport(
        score_date, serving_path(serving_dir), published_at=published_at, publish_id=publish_id
    )
    staging.mkdir()
    try:
        database = staging / SERVING_FILE
        with duckdb.connect(str(database)) as con:
            con.execute("attach $path as wh (read_only)", {"path": str(warehouse)})
            tables = published_tables(con, "wh")
            if not tables:
                raise RuntimeError(
                    f"nothing to publish: {warehouse} has no {PUBLISHED_SCHEMA} tables"
                )
            con.execute(f"create schema {PUBLISHED_SCHEMA}")
            kept = kept_tables() & set(tables)
            _write_kept_dates(con, kept, staging, current_dir(serving_dir).resolve(), report)
            for table in tables:
                if table in kept:
                    continue
                qualified = f"{PUBLISHED_SCHEMA}.{table}"
                con.execute(f"create table {qualified} as select * from wh.{qualified}")
                count = con.execute(f"select count(*) from {qualified}").fetchone()
                report.tables[table] = count[0]
            con.execute("detach wh")
            _write_publish_log(con, serving_path(serving_dir), report, run_id)
            con.execute("checkpoint")
            parquet = _write_parquet(con, staging, [t for t in tables if t not in kept])
        _fsync(staging)
        staging.rename(folder)  # complete, but nobody reads it until `current` points to it
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    database = folder / SERVING_FILE
    try:
        # a view reads its files by their final path, and DuckDB checks them when it is created
        with duckdb.connect(str(database)) as con:
            _create_kept_views(con, kept, folder)
            con.execute("checkpoint")
        database.chmod(0o444)  # the serving copy is for reading; publish replaces, never edits
        _fsync(folder)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)  # never made current
        raise
    parquet.update({table: folder / table for table in kept})
    _fsync(publishes)
    report.parquet = {table: folder / path.name for table, path in parquet.items()}
    report.tables = {table: report.tables[table] for table in sorted(report.tables)}
    pause_point("publish:switch")
    replaced = _switch_current(serving_dir, folder)
    pause_point("publish:cleanup")
    _clean_up(serving_dir, keep={folder.name, replaced})
    log.warning(
        "published %s for %s: %s; kept tables: %s",
        folder,
        score_date,
        ", ".join(f"{t} ({n:,} rows)" for t, n in report.tables.items()),
        ", ".join(
            f"{t} ({report.dates_written[t]} dates written, {report.dates_linked[t]} linked)"
            for t in report.dates_written
        ),
    )
    return report


def _write_kept_dates(
    con: duckdb.DuckDBPyConnection,
    kept: set[str],
    staging: Path,
    previous: Path,
    report: PublishReport,
) -> None:
    """Each kept table as one Parquet file per score date under ``staging/<table>/``: the dates
    unchanged since the previous publish (``previous``, the folder ``current`` points to) are
    linked from it, the others written; ``meta.published_dates`` records what each holds."""
    changes = _kept_date_changes(con)
    before = _previously_published(previous)
    con.execute("create schema if not exists meta")
    con.execute(
        """create table meta.published_dates (
            table_name varchar, score_date date, changed_at timestamp, columns varchar)"""
    )
    for table in sorted(kept):
        out = staging / table
        out.mkdir()
        qualified = f"{PUBLISHED_SCHEMA}.{table}"
        # a file is linked only while the table's columns are what it was written with
        columns = ", ".join(
            f"{name} {type_}"
            for name, type_, *_ in con.execute(f"describe wh.{qualified}").fetchall()
        )
        dates = con.execute(f"select distinct score_date from wh.{qualified}").fetchall()
        written = linked = 0
        for (day,) in dates:
            name = f"{day.isoformat()}.parquet"
            changed_at = changes.get((table, day)) if changes is not None else None
            last = previous / table / name
            unchanged = changes is not None and (table, day) in before
            if unchanged and before[(table, day)] == (changed_at, columns) and last.is_file():
                _link_or_copy(last, out / name)
                linked += 1
            else:
                con.execute(
                    f"copy (select * from wh.{qualified} where score_date = $day) "
                    f"to '{out / name}' (format parquet, compression zstd)",
                    {"day": day},
                )
                (out / name).chmod(0o444)
                _fsync(out / name)
                written += 1
            con.execute(
                "insert into meta.published_dates values ($table, $day, $changed_at, $columns)",
                {"table": table, "day": day, "changed_at": changed_at, "columns": columns},
            )
        _fsync(out)
        report.dates_written[table], report.dates_linked[table] = written, linked
        if dates:
            files = str(out / "*.parquet").replace("'", "''")
            count = con.execute(f"select count(*) from read_parquet('{files}')").fetchone()
            report.tables[table] = count[0]
        else:  # no date yet: an empty table with the warehouse's columns
            con.execute(f"create table {qualified} as select * from wh.{qualified} limit 0")
            report.tables[table] = 0
        pause_point(f"publish:kept:{table}")


def _create_kept_views(con: duckdb.DuckDBPyConnection, kept: set[str], folder: Path) -> None:
    """``marts.<kept table>`` as a view over the publish folder's files of that table (a table
    without any date is already an empty table)."""
    for table in sorted(kept):
        if not any((folder / table).glob("*.parquet")):
            continue
        files = str(folder / table / "*.parquet").replace("'", "''")
        con.execute(
            f"create view {PUBLISHED_SCHEMA}.{table} as select * from "
            f"read_parquet('{files}', union_by_name = true)"
        )


def _kept_date_changes(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, date], object] | None:
    """``meta.kept_dates`` of the attached warehouse ``wh``: when each kept date was last built;
    None when the warehouse has no such record (every date is then written)."""
    exists = con.execute(
        """select count(*) from duckdb_tables() where database_name = 'wh'
        and schema_name = 'meta' and table_name = 'kept_dates'"""
    ).fetchone()[0]
    if not exists:
        return None
    rows = con.execute(f"select table_name, score_date, changed_at from wh.{KEPT_DATES}")
    return {(r[0], r[1]): r[2] for r in rows.fetchall()}


def _previously_published(previous: Path) -> dict[tuple[str, date], tuple[object, str]]:
    """The dates the previous publish held per kept table, with the build time and the columns
    it copied (none from a publish before columns were recorded: every date is written)."""
    database = previous / SERVING_FILE
    if not database.is_file():
        return {}
    with duckdb.connect(str(database), read_only=True) as con:
        exists = con.execute(
            """select count(*) from duckdb_columns() where schema_name = 'meta'
            and table_name = 'published_dates' and column_name = 'columns'"""
        ).fetchone()[0]
        if not exists:
            return {}
        rows = con.execute(
            "select table_name, score_date, changed_at, columns from meta.published_dates"
        )
        return {(r[0], r[1]): (r[2], r[3]) for r in rows.fetchall()}


def _link_or_copy(source: Path, dest: Path) -> None:
    """A hard link (no data copied; the file lives while any publish links it), or a copy on a
    file system without hard links."""
    try:
        os.link(source, dest)
    except OSError:
        shutil.copy2(source, dest)


def _write_publish_log(
    con: duckdb.DuckDBPyConnection, previous: Path, report: PublishReport, run_id: str | None
) -> None:
    con.execute("create schema if not exists meta")
    con.execute(
        """create table meta.publish_log (
            published_at timestamptz, score_date date, run_id varchar,
            table_name varchar, row_count bigint
        )"""
    )
    if previous.exists():
        con.execute("attach $path as old (read_only)", {"path": str(previous)})
        has_log = con.execute(
            """select count(*) from duckdb_tables() where database_name = 'old'
            and schema_name = 'meta' and table_name = 'publish_log'"""
        ).fetchone()[0]
        if has_log:
            con.execute("insert into meta.publish_log select * from old.meta.publish_log")
        con.execute("detach old")
    con.executemany(
        "insert into meta.publish_log values (?, ?, ?, ?, ?)",
        [
            (report.published_at, report.score_date, run_id, table, rows)
            for table, rows in report.tables.items()
        ],
    )


def _write_parquet(
    con: duckdb.DuckDBPyConnection, folder: Path, tables: list[str]
) -> dict[str, Path]:
    written = {}
    for table in tables:
        path = folder / f"{table}.parquet"
        con.execute(
            f"copy {PUBLISHED_SCHEMA}.{table} to '{path}' (format parquet, compression zstd)"
        )
        path.chmod(0o444)
        _fsync(path)
        written[table] = path
        pause_point(f"publish:parquet:{table}")
    return written


def _switch_current(serving_dir: Path, folder: Path) -> str | None:
    """Point ``current`` at ``folder`` in one rename; returns the publish id it pointed to."""
    link = serving_dir / CURRENT
    replaced = Path(os.readlink(link)).name if link.is_symlink() else None
    _replace_with_link(link, Path(PUBLISHES) / folder.name)
    # the fixed link readers open; replaces the plain file of the old layout in one rename
    database = serving_dir / SERVING_FILE
    target = Path(CURRENT) / SERVING_FILE
    if not (database.is_symlink() and Path(os.readlink(database)) == target):
        _replace_with_link(database, target)
    _fsync(serving_dir)
    return replaced


def _replace_with_link(path: Path, target: Path) -> None:
    """Make ``path`` a relative link to ``target`` atomically (a link written, then renamed)."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMP_SUFFIX}")
    temp.symlink_to(target)
    os.replace(temp, path)


def _clean_up(serving_dir: Path, keep: set[str | None]) -> None:
    """Remove older publishes but ``keep``, and whatever killed publishes left behind."""
    for entry in (serving_dir / PUBLISHES).iterdir():
        if entry.name not in keep:
            _remove(entry)
    for entry in serving_dir.iterdir():
        if TEMP_SUFFIX in entry.name and entry.name.startswith("."):
            _remove(entry)  # temp files of the old layout, links never renamed into place
    old_parquet = serving_dir / OLD_PARQUET_DIR
    if old_parquet.is_dir() and not old_parquet.is_symlink():
        _remove(old_parquet)
        log.warning(
            "removed %s (the Parquet layout before publish folders): read "
            "%s/<table>.parquet instead (docs/bi.md)",
            old_parquet,
            serving_dir / CURRENT,
        )


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    """Flush a file or a folder's entries to disk (a power cut after the switch loses nothing)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def last_publish(serving_dir: Path | None = None) -> dict | None:
    """The newest publish recorded in the serving copy: score date, time and row counts."""
    path = serving_path(serving_dir)
    if not path.exists():
        return None
    with duckdb.connect(str(path), read_only=True) as con:
        rows = con.execute(
            """select published_at, score_date, run_id, table_name, row_count
            from meta.publish_log
            where published_at = (select max(published_at) from meta.publish_log)"""
        ).fetchall()
    if not rows:
        return None
    return {
        "published_at": rows[0][0],
        "score_date": rows[0][1],
        "run_id": rows[0][2],
        "tables": {r[3]: r[4] for r in rows},
    }
