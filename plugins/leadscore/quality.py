"""Run the Great Expectations gates on DuckDB tables read into pandas.

GX's SQL data source cannot evaluate expectations on DuckDB, so each table is read through a
read-only DuckDB connection into a DataFrame and validated by the committed checkpoint of its
suite (``expectations/gx``). A failed gate raises :class:`GateFailed` whose message names the
table, the column, how many rows failed and where (file and row for raw data, keys for marts).
"""

from __future__ import annotations

import csv
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import yaml

from leadscore import config
from leadscore.quality_suites import (
    FILE_DAY_COLUMN,
    MART_KEYS,
    RECORD_DAY_COLUMN,
    all_raw_suites,
    all_score_suites,
    raw_suite_name,
    score_suite_name,
)
from leadscore.sources import ENTITIES, Entity

log = logging.getLogger(__name__)

DATASOURCE = "warehouse_frames"
BATCH_DEFINITION = "whole_frame"
#: How many failing rows a message shows.
EXAMPLES_SHOWN = 3


class GateFailed(RuntimeError):
    """A quality gate found data that must not go further."""


@dataclass
class GateReport:
    gate: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows checked
    failures: list[str] = field(default_factory=list)
    data_docs: str | None = None

    @property
    def success(self) -> bool:
        return not self.failures


def _context(root: Path | None = None):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx.get_context(mode="file", project_root_dir=str(root or config.expectations_dir()))


def write_expectations(root: Path | None = None) -> list[str]:
    """(Re)write data source, suites, validation definitions and checkpoints into the context."""
    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction

    context = _context(root)
    context.variables.progress_bars = {"globally": False, "metric_calculations": False}
    context.variables.save()
    datasource = context.data_sources.add_or_update_pandas(DATASOURCE)
    names = []
    for gate, suites in (("raw_gate", all_raw_suites()), ("score_gate", all_score_suites())):
        for suite in suites:
            asset_name = suite.name
            try:
                asset = datasource.get_asset(asset_name)
            except LookupError:
                asset = datasource.add_dataframe_asset(asset_name)
            try:
                batch = asset.get_batch_definition(BATCH_DEFINITION)
            except KeyError:
                batch = asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION)
            suite = context.suites.add_or_update(suite)
            validation = context.validation_definitions.add_or_update(
                gx.ValidationDefinition(name=suite.name, data=batch, suite=suite)
            )
            context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=f"{gate}__{suite.name}",
                    validation_definitions=[validation],
                    actions=[UpdateDataDocsAction(name="update_data_docs")],
                    result_format={"result_format": "SUMMARY"},
                )
            )
            names.append(suite.name)
    return names


def _run_checkpoint(
    context: Any,
    suite_name: str,
    gate: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
) -> list[str]:
    checkpoint = context.checkpoints.get(f"{gate}__{suite_name}")
    result = checkpoint.run(
        batch_parameters={"dataframe": frame},
        expectation_parameters=parameters,
    )
    failures = []
    for run_result in result.run_results.values():
        for r in run_result.results:
            if not r.success:
                failures.append(_describe(r, frame))
    return failures


def _describe(r: Any, frame: pd.DataFrame) -> str:
    cfg = r.expectation_config
    kwargs = cfg.kwargs
    column = (
        kwargs.get("column")
        or ", ".join(kwargs.get("column_list") or [])
        or (
            f"{kwargs.get('column_A')} vs {kwargs.get('column_B')}"
            if kwargs.get("column_A")
            else "-"
        )
    )
    result = r.result or {}
    if r.exception_info and r.exception_info.get("raised_exception"):
        return (
            f"column {column}: could not be checked ({cfg.type}): "
            f"{r.exception_info.get('exception_message')}"
        )
    count = result.get("unexpected_count")
    total = result.get("element_count", len(frame))
    what = cfg.description or cfg.type
    if count is None:
        observed = result.get("observed_value")
        return f"column {column}: {what} failed (observed {observed!r})"
    examples = result.get("partial_unexpected_index_list") or []
    shown = []
    for ex in examples[:EXAMPLES_SHOWN]:
        if isinstance(ex, dict):
            where = ", ".join(f"{k}={v}" for k, v in ex.items())
        else:
            where = _where(frame, ex)
        shown.append(where)
    if not shown:
        shown = [repr(v) for v in (result.get("partial_unexpected_list") or [])[:EXAMPLES_SHOWN]]
    suffix = f"; e.g. {' | '.join(shown)}" if shown else ""
    return f"column {column}: {count} of {total} rows fail '{what}' ({cfg.type}){suffix}"


def _where(frame: pd.DataFrame, index: Any) -> str:
    try:
        row = frame.loc[index]
    except (KeyError, TypeError):
        return f"row index {index}"
    if "_source_file" in frame.columns:
        return f"file {row['_source_file']} row {row['_row_number']}"
    keys = [c for c in frame.columns if c.endswith("_id") or c == "entity_type"][:2]
    return ", ".join(f"{k}={row[k]}" for k in keys) or f"row index {index}"


def _read(warehouse: Path, sql: str, params: dict[str, Any] | None = None) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or {}).df()


def raw_gate(
    days: Iterable[date],
    *,
    sources: Iterable[str] | None = None,
    warehouse: Path | None = None,
    expectations: Path | None = None,
) -> GateReport:
    """Validate every entity's rows delivered for ``days``; raise GateFailed on any failure."""
    days = sorted(days)
    warehouse = warehouse or config.warehouse_path()
    wanted = set(sources) if sources else None
    context = _context(expectations)
    report = GateReport(gate="raw")
    for entity in ENTITIES:
        if wanted and entity.source not in wanted:
            continue
        frame = _read_raw(warehouse, entity, days[0], days[-1])
        report.tables[entity.raw_table] = len(frame)
        for failure in _run_checkpoint(context, raw_suite_name(entity), "raw_gate", frame, {}):
            report.failures.append(
                f"{entity.raw_table} ({entity.qualified}, {days[0]}..{days[-1]}): {failure}"
            )
    return _finish(report, context, f"raw gate for {days[0]}..{days[-1]}")


def _read_raw(warehouse: Path, entity: Entity, first: date, last: date) -> pd.DataFrame:
    return _read(
        warehouse,
        f"""
        select *,
            left("{entity.day_column}", 10) as {RECORD_DAY_COLUMN},
            cast(_file_day as varchar) as {FILE_DAY_COLUMN}
        from {entity.raw_table}
        where _file_day between $first and $last
        order by _source_file, _row_number
        """,
        {"first": first, "last": last},
    )


def score_gate_parameters(score_date: date, dbt_project: Path | None = None) -> dict[str, Any]:
    """Thresholds the score suites compare with, read from the dbt vars and seeds in force."""
    project = dbt_project or config.dbt_project_dir()
    variables = yaml.safe_load((project / "dbt_project.yml").read_text())["vars"]
    params: dict[str, Any] = {
        "score_dates": [score_date.isoformat()],
        "mql_threshold": float(variables["mql_threshold"]),
        "sql_threshold": float(variables["sql_threshold"]),
    }
    with (project / "seeds" / "lead_grades.csv").open() as fh:
        for row in csv.DictReader(fh):
            params[f"grade_{row['grade'].lower()}"] = float(row["min_fit_score"])
    with (project / "seeds" / "account_tiers.csv").open() as fh:
        for row in csv.DictReader(fh):
            params[f"tier_{row['tier'].lower()}"] = float(row["min_account_score"])
    return params


def score_gate(
    score_date: date,
    *,
    warehouse: Path | None = None,
    expectations: Path | None = None,
    dbt_project: Path | None = None,
) -> GateReport:
    """Validate the marts for ``score_date``; raise GateFailed on any failure."""
    warehouse = warehouse or config.warehouse_path()
    context = _context(expectations)
    parameters = score_gate_parameters(score_date, dbt_project)
    report = GateReport(gate="score")
    for mart in MART_KEYS:
        frame = _read(
            warehouse,
            f"select * replace (cast(score_date as varchar) as score_date) from marts.{mart}",
        )
        report.tables[f"marts.{mart}"] = len(frame)
        for failure in _run_checkpoint(
            context, score_suite_name(mart), "score_gate", frame, parameters
        ):
            report.failures.append(f"marts.{mart}: {failure}")
    return _finish(report, context, f"score gate for {score_date}")


def _finish(report: GateReport, context: Any, what: str) -> GateReport:
    try:
        sites = context.get_docs_sites_urls()
        report.data_docs = sites[0]["site_url"] if sites else None
    except Exception as err:  # data docs are a convenience; never fail a gate on them
        log.warning("could not locate GX data docs: %s", err)
    if report.data_docs:
        log.info("GX data docs for the %s: %s", what, report.data_docs)
    checked = ", ".join(f"{t} ({n} rows)" for t, n in report.tables.items())
    if report.failures:
        message = (
            f"{what} failed: {len(report.failures)} expectation(s) not met.\n  - "
            + "\n  - ".join(report.failures)
            + (f"\nData docs: {report.data_docs}" if report.data_docs else "")
        )
        raise GateFailed(message)
    log.info("%s passed: %s", what, checked)
    return report
