"""Publish the checked score tables to the serving copy BI tools read (write-audit-publish).

The daily run writes and audits in the working warehouse; only after the score gate passed does
``publish`` copy every table of the ``marts`` schema into a *new* DuckDB file, checkpoint it,
and rename it over ``<serving>/scores.duckdb``. A rename is atomic: a reader that opened the old
file keeps reading the complete old snapshot (it holds the old inode), a reader that opens the
path afterwards gets the complete new one, and nobody ever sees half a publish. The working
warehouse and the serving file are different files, so readers never hold a lock dbt needs.

Parquet copies go to ``<serving>/parquet/<table>/<table>.parquet``, each swapped in by rename
(one file at a time, just before the DuckDB file: during a publish, Parquet readers may see
tables of two consecutive publishes; the DuckDB file is always one publish).
``meta.publish_log`` in the serving file lists every publish (carried over from the old file).
"""

from __future__ import annotations

import logging
import os
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb

from leadscore import config

log = logging.getLogger(__name__)

SERVING_FILE = "scores.duckdb"
PUBLISHED_SCHEMA = "marts"


@dataclass
class PublishReport:
    score_date: date
    path: Path
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows
    parquet: dict[str, Path] = field(default_factory=dict)
    published_at: datetime | None = None
    skipped: str | None = None


def serving_path(serving_dir: Path | None = None) -> Path:
    return (serving_dir or config.serving_dir()) / SERVING_FILE


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
    """Copy the warehouse's marts into a new serving file and swap it in atomically.

    A rerun of an older date does not replace newer published scores (BI would go back in time)
    unless ``force``; the report's ``skipped`` says why nothing was published.
    """
    warehouse = warehouse or config.warehouse_path()
    serving_dir = serving_dir or config.serving_dir()
    newest = last_publish(serving_dir)
    if newest and newest["score_date"] > score_date and not force:
        report = PublishReport(score_date, serving_path(serving_dir))
        report.skipped = (
            f"not published: the serving copy already holds newer scores "
            f"({newest['score_date']}); rerun with force to publish {score_date} over them"
        )
        log.warning(report.skipped)
        return report
    serving_dir.mkdir(parents=True, exist_ok=True)
    target = serving_path(serving_dir)
    staging = serving_dir / f".{SERVING_FILE}.{uuid.uuid4().hex}.tmp"
    published_at = datetime.now(UTC)
    report = PublishReport(score_date, target, published_at=published_at)
    try:
        with duckdb.connect(str(staging)) as con:
            con.execute("attach $path as wh (read_only)", {"path": str(warehouse)})
            tables = published_tables(con, "wh")
            if not tables:
                raise RuntimeError(
                    f"nothing to publish: {warehouse} has no {PUBLISHED_SCHEMA} tables"
                )
            con.execute(f"create schema {PUBLISHED_SCHEMA}")
            for table in tables:
                qualified = f"{PUBLISHED_SCHEMA}.{table}"
                con.execute(f"create table {qualified} as select * from wh.{qualified}")
                count = con.execute(f"select count(*) from {qualified}").fetchone()
                report.tables[table] = count[0]
            con.execute("detach wh")
            _write_publish_log(con, target, report, run_id)
            con.execute("checkpoint")
            report.parquet = _write_parquet(con, serving_dir, tables)
        staging.chmod(0o444)  # the serving copy is for reading; publish replaces, never edits
        os.replace(staging, target)
        _fsync_dir(serving_dir)
    finally:
        staging.unlink(missing_ok=True)
        Path(f"{staging}.wal").unlink(missing_ok=True)
    log.warning(
        "published %s for %s: %s",
        target,
        score_date,
        ", ".join(f"{t} ({n:,} rows)" for t, n in report.tables.items()),
    )
    return report


def _write_publish_log(
    con: duckdb.DuckDBPyConnection, previous: Path, report: PublishReport, run_id: str | None
) -> None:
    con.execute("create schema meta")
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
    con: duckdb.DuckDBPyConnection, serving_dir: Path, tables: list[str]
) -> dict[str, Path]:
    written = {}
    for table in tables:
        folder = serving_dir / "parquet" / table
        folder.mkdir(parents=True, exist_ok=True)
        final = folder / f"{table}.parquet"
        partial = folder / f".{table}.parquet.{uuid.uuid4().hex}.tmp"
        con.execute(
            f"copy {PUBLISHED_SCHEMA}.{table} to '{partial}' (format parquet, compression zstd)"
        )
        partial.chmod(0o444)
        os.replace(partial, final)
        written[table] = final
    return written


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
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
