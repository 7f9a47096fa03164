"""Run the Great Expectations gates on DuckDB tables read into pandas.

GX's SQL data source cannot evaluate expectations on DuckDB, so each table is read through a
read-only DuckDB connection into a DataFrame and validated by the committed checkpoint of its
suite (``expectations/gx``) with bounds from ``expectations/gates.yml``.

Only what the company delivers is checked: entities its shape (``expectations/sources.yml``)
leaves out are absent by design, neither required, nor stale, nor feeding a score table that
must have rows.

Raw gate: a failed table-level expectation (columns, empty delivery, duplicate keys, outliers,
unknown companies) fails the run. Rows failing a row-level expectation (missing or malformed
values, values outside their allowed set, timestamps outside the interval, a custom property value
that does not fit its type in ``seeds/property_catalogue.csv``) are moved to
``quarantine.<source>__<entity>`` with the reason, as long as they are few
(``quarantine_max_share``); otherwise the run fails and nothing moves. Extra columns the catalogue
does not declare are kept (in ``_properties``) and warned about once per entity and run. A
record naming a company the CRM has not delivered (yet) waits in quarantine (``_held_for``) and is
let in by the first run after its company arrives, unless so many records do that the share check
(``known_company_min_share``, from ``known_company_min_rows`` records on) fails the run.

Score gate: ranges, one row per entity, stages and tiers consistent with thresholds, and drift
against the last publish. Every failure names the table, the column, how many rows and where
(file and row for raw data, keys for marts). Data Docs are rendered once per gate. Validation
results and Data Docs go to the data folder (:func:`results_dir`), never into the checkout, which
may be read-only.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from leadscore import config, quality_config
from leadscore.quality_config import (
    CATALOGUE_ENTITIES,
    CATALOGUE_NAME,
    CatalogueProperty,
    GateConfig,
    PropertyCatalogue,
)
from leadscore.quality_suites import (
    COMPANY_KNOWN_COLUMN,
    DATED_MARTS,
    DAY_SUFFIX,
    DRIFT_MEAN_COLUMNS,
    FILE_DAY_COLUMN,
    MART_KEYS,
    NUMBER_SUFFIX,
    ON_FAILURE,
    PROPERTY_COLUMN,
    PROPERTY_RECORD_COLUMN,
    PROPERTY_TYPE_COLUMN,
    PROPERTY_TYPE_META,
    PROPERTY_TYPE_SHAPES,
    PROPERTY_TYPED_COLUMNS,
    PROPERTY_VALUE_COLUMN,
    QUARANTINE,
    REASON_COLUMNS,
    RECORD_DAY_COLUMN,
    STAGE_SHARE_COLUMNS,
    TIME_SUFFIX,
    all_raw_suites,
    all_score_suites,
    day_columns,
    has_company,
    numeric_columns,
    past_columns,
    property_suite_name,
    raw_suite_name,
    score_suite_name,
)
from leadscore.sources import (
    ALL_ENTITIES,
    LOAD_METADATA_COLUMNS,
    Entity,
    Shape,
    entity,
    load_shape,
)

log = logging.getLogger(__name__)

DATASOURCE = "warehouse_frames"
BATCH_DEFINITION = "whole_frame"
#: How many failing rows a message shows.
EXAMPLES_SHOWN = 3
#: How many characters of a bad custom property value a message or reason shows.
VALUE_SHOWN_CHARS = 40
#: Validation results kept per suite (the newest); older ones are deleted before Data Docs are
#: rendered, because rendering reads every stored result: its cost stays flat however long the
#: pipeline runs. Two weeks of daily runs.
DATA_DOCS_KEEP_RUNS = 14
#: The GX config variable the committed ``great_expectations.yml`` puts results and Data Docs under.
RESULTS_VARIABLE = "leadscore_gx_results_dir"
#: Score tables that can only have rows when the company delivers one of these entities: with all
#: of them absent by design, ``score.min_rows`` does not apply. Every other table scores the leads
#: (crm/contacts and crm/companies), which every company delivers.
MART_INPUTS: dict[str, tuple[str, ...]] = {"financial_scores": ("crm/subscriptions",)}


class GateFailed(RuntimeError):
    """A quality gate found data that must not go further."""


@dataclass
class GateReport:
    gate: str
    tables: dict[str, int] = field(default_factory=dict)  # table -> rows checked
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    quarantined: dict[str, int] = field(default_factory=dict)  # table -> rows moved
    #: table -> rows that waited in quarantine for their company and were let in by this run
    released: dict[str, int] = field(default_factory=dict)
    data_docs: str | None = None

    @property
    def success(self) -> bool:
        return not self.failures


@dataclass
class Finding:
    """One failed expectation: what it says, and the frame rows that broke it (row-level)."""

    description: str
    message: str
    quarantine: bool
    rows: list[int] = field(default_factory=list)
    #: row -> its own reason, where it says more than ``description`` (the value it holds)
    reasons: dict[int, str] = field(default_factory=dict)


def results_dir() -> Path:
    """Where validation results and Data Docs go: ``<data folder>/gx`` (``LEADSCORE_GX_RESULTS_DIR``
    moves them). Never the checkout's ``expectations/``, which may be read-only."""
    value = os.environ.get("LEADSCORE_GX_RESULTS_DIR")
    return Path(value).resolve() if value else config.data_dir() / "gx"


def _context(root: Path | None = None):
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
    import great_expectations as gx

    return gx.get_context(
        mode="file",
        project_root_dir=str(root or config.expectations_dir()),
        # great_expectations.yml stores results and Data Docs under ${leadscore_gx_results_dir}
        runtime_environment={RESULTS_VARIABLE: str(results_dir())},
    )


def write_expectations(root: Path | None = None) -> list[str]:
    """(Re)write data source, suites, validation definitions and checkpoints into the context."""
    import great_expectations as gx

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
            # No actions: the gate renders Data Docs once for all its results (per checkpoint
            # it would re-render the index every time). COMPLETE lists every failing row, which
            # the raw gate needs to quarantine exactly those rows.
            context.checkpoints.add_or_update(
                gx.Checkpoint(
                    name=f"{gate}__{suite.name}",
                    validation_definitions=[validation],
                    actions=[],
                    result_format={"result_format": "COMPLETE"},
                )
            )
            names.append(suite.name)
    return names


def _validate(
    context: Any,
    suite_name: str,
    gate: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    identifiers: list[Any],
) -> list[Finding]:
    return [
        _finding(r, frame, parameters)
        for r in _failed(context, suite_name, gate, frame, parameters, identifiers)
    ]


def _failed(
    context: Any,
    suite_name: str,
    gate: str,
    frame: pd.DataFrame,
    parameters: dict[str, Any],
    identifiers: list[Any],
) -> list[Any]:
    """Run a suite's checkpoint on ``frame``: the results of its failed expectations."""
    checkpoint = context.checkpoints.get(f"{gate}__{suite_name}")
    result = checkpoint.run(
        batch_parameters={"dataframe": frame}, expectation_parameters=parameters
    )
    failed = []
    for identifier, run_result in result.run_results.items():
        identifiers.append(identifier)
        failed += [r for r in run_result.results if not r.success]
    return failed


def _column_of(kwargs: dict[str, Any]) -> str:
    def delivered(column: str) -> str:  # the delivered column a typed copy was made from
        for suffix in (NUMBER_SUFFIX, TIME_SUFFIX, DAY_SUFFIX):
            column = column.removesuffix(suffix)
        return "company_id" if column == COMPANY_KNOWN_COLUMN else column

    if kwargs.get("column"):
        return delivered(kwargs["column"])
    if kwargs.get("column_A"):
        return f"{delivered(kwargs['column_A'])} vs {delivered(kwargs['column_B'])}"
    return ", ".join(kwargs.get("column_list") or []) or "-"


def _finding(r: Any, frame: pd.DataFrame, parameters: dict[str, Any]) -> Finding:
    cfg = r.expectation_config
    column = _column_of(cfg.kwargs)
    subject = f"column {column}" if column != "-" else "table"
    what = cfg.description or cfg.type
    quarantine = (cfg.meta or {}).get(ON_FAILURE) == QUARANTINE
    result = r.result or {}
    if r.exception_info and r.exception_info.get("raised_exception"):
        message = (
            f"{subject}: could not be checked ({cfg.type}): "
            f"{r.exception_info.get('exception_message')}"
        )
        return Finding(what, message, quarantine=False)
    count = result.get("unexpected_count")
    total = result.get("element_count", len(frame))
    if count is None:
        observed = result.get("observed_value")
        if isinstance(observed, float):  # numpy floats too
            observed = round(float(observed), 4)
        bounds = _bounds(cfg.kwargs, parameters)
        message = f"{subject}: '{what}' failed: observed {observed}{bounds} ({cfg.type})"
        return Finding(what, message, quarantine=False)
    rows = [int(i) for i in (result.get("unexpected_index_list") or [])]
    shown = [_where(frame, i) for i in rows[:EXAMPLES_SHOWN]]
    if not shown:
        shown = [repr(v) for v in (result.get("partial_unexpected_list") or [])[:EXAMPLES_SHOWN]]
    values = result.get("partial_unexpected_list") or []
    if cfg.kwargs.get("column") == COMPANY_KNOWN_COLUMN and rows:
        values = frame.loc[rows[:EXAMPLES_SHOWN], "company_id"].tolist()  # the unknown ids
    quoted = [c for c in (cfg.meta or {}).get(REASON_COLUMNS) or [] if c in frame.columns]
    if quoted:  # the values as delivered, not their typed copies
        values = [tuple(frame.loc[i, quoted]) for i in rows[:EXAMPLES_SHOWN]]
        values = [v[0] if len(v) == 1 else v for v in values]
    values = [_plain(v) for v in values]
    bounds = _bounds(cfg.kwargs, parameters)
    shown_values = ", ".join(repr(v) for v in values[:EXAMPLES_SHOWN])
    sample = f" (values {shown_values}{bounds})" if values else ""
    suffix = f"; e.g. {' | '.join(shown)}" if shown else ""
    message = f"{subject}: {count} of {total} rows fail '{what}' ({cfg.type}){sample}{suffix}"
    # a reason that quotes the row's values, the bound and where: "..., not seats '-17', expected
    # >= 1 (file crm/subscriptions/2026-11-19.csv row 3)"
    reasons = {
        i: f"{what}, not {', '.join(f'{c} {_plain(frame.at[i, c])!r}' for c in quoted)}{bounds} "
        f"({_where(frame, i)})"
        for i in (rows if quoted else [])
    }
    return Finding(what, message, quarantine=quarantine, rows=rows, reasons=reasons)


def _plain(value: Any) -> Any:
    """A value as a reader expects it in a message: numpy scalars as numbers, NaN as None."""
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    if hasattr(value, "item"):  # numpy scalar
        value = value.item()
    return None if isinstance(value, float) and math.isnan(value) else value


def _bounds(kwargs: dict[str, Any], parameters: dict[str, Any]) -> str:
    def value(bound: Any) -> Any:
        if isinstance(bound, dict) and "$PARAMETER" in bound:
            bound = parameters.get(bound["$PARAMETER"])
        if isinstance(bound, float):  # GX hands parameters back as floats: 1.0 reads as 1
            return int(bound) if bound.is_integer() else round(bound, 4)
        return bound

    low, high = value(kwargs.get("min_value")), value(kwargs.get("max_value"))
    parts = []
    if low is not None and low != -math.inf:
        parts.append(f">= {low}")
    if high is not None and high != math.inf:
        parts.append(f"<= {high}")
    return f", expected {' and '.join(parts)}" if parts else ""


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


# --- raw gate -----------------------------------------------------------------------------------


def raw_gate(
    days: Iterable[date],
    *,
    sources: Iterable[str] | None = None,
    warehouse: Path | None = None,
    expectations: Path | None = None,
    gates: GateConfig | None = None,
    dbt_project: Path | None = None,
    shape: Shape | None = None,
) -> GateReport:
    """Validate every delivered entity's rows for ``days``; quarantine or raise GateFailed.

    Custom properties are checked against the property catalogue of ``dbt_project`` (its
    ``seeds/property_catalogue.csv``), read now: a property declared there is checked from the
    next run on, without rewriting any suite. Entities ``shape`` (default: the company's, from
    ``expectations/sources.yml``) leaves out are not checked.
    """
    days = sorted(days)
    warehouse = warehouse or config.warehouse_path()
    gates = gates or quality_config.load()
    shape = shape or load_shape()
    wanted = set(sources) if sources else None
    interval_end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time())
    span = f"{days[0]}..{days[-1]}"
    try:
        catalogue = quality_config.load_catalogue(quality_config.catalogue_path(dbt_project))
    except (OSError, ValueError) as err:
        raise GateFailed(
            f"raw gate for {span} failed: cannot read the property catalogue: {err}"
        ) from err
    context = _context(expectations)
    report = GateReport(gate="raw")
    if shape.absent():
        log.info("raw gate for %s: the company delivers %s", span, shape.describe())
    identifiers: list[Any] = []
    to_quarantine: dict[str, tuple[Entity, pd.DataFrame]] = {}
    for e in ALL_ENTITIES:
        if (wanted and e.source not in wanted) or not shape.has(e):
            continue
        frame = _read_raw(warehouse, e, days[0], days[-1])
        report.tables[e.raw_table] = len(frame)
        parameters = _raw_parameters(e, gates, interval_end, files=len(days), rows=len(frame))
        findings = _validate(context, raw_suite_name(e), "raw_gate", frame, parameters, identifiers)
        findings += _check_properties(context, e, frame, catalogue.custom(e.qualified), identifiers)
        where = f"{e.raw_table} ({e.qualified}, {span})"
        for f in findings:
            if f.description.endswith("(min_rows_per_file)"):
                f.message += _empty_files(warehouse, e, days, gates)
        report.failures += [f"{where}: {f.message}" for f in findings if not f.quarantine]
        row_findings = [f for f in findings if f.quarantine]
        waiting = _waiting_for_company(e, frame, findings)
        if not row_findings and not waiting:
            continue
        bad = _reasons(row_findings)
        share = len(bad) / len(frame)
        if share > gates.quarantine_max_share:
            report.failures.append(
                f"{where}: {len(bad)} of {len(frame)} rows ({share:.1%}) fail row checks, more "
                f"than quarantine_max_share {gates.quarantine_max_share:.1%}, so nothing was "
                "quarantined and the run stops:\n    "
                + "\n    ".join(f.message for f in row_findings)
            )
            continue
        # a row that only waits for its company is let in when it arrives (_held_for); one that
        # also fails a row check needs a corrected delivery like any quarantined row
        reasons = {i: _waiting_reason(e, company) for i, company in waiting.items()}
        for i, reason in bad.items():
            reasons[i] = f"{reason}; {reasons[i]}" if i in reasons else reason
        rows = frame.loc[sorted(reasons)]
        to_quarantine[e.raw_table] = (
            e,
            rows.assign(
                _reason=[reasons[i] for i in rows.index],
                _held_for=[None if i in bad else waiting.get(i) for i in rows.index],
            ),
        )
        report.warnings += [f"{where}: quarantined: {f.message}" for f in row_findings]
        if waiting:
            report.warnings.append(f"{where}: quarantined: {_waiting_message(e, frame, waiting)}")
    report.warnings += _schema_drift(warehouse, days, wanted, catalogue)
    _check_freshness(warehouse, days, gates, wanted, report, shape)
    _render_docs(context, identifiers, report)
    if not report.failures:
        for table, (e, rows) in to_quarantine.items():
            report.quarantined[table] = _quarantine(warehouse, e, rows)
        _release_waiting(warehouse, days, wanted, shape, report)
    return _finish(report, f"raw gate for {span}")


def _waiting_for_company(e: Entity, frame: pd.DataFrame, findings: list[Finding]) -> dict[int, str]:
    """Frame row -> the company id of each record naming a company the CRM has not delivered,
    unless the share of such records fails the run (known_company_min_share)."""
    if not has_company(e) or frame.empty:
        return {}
    if any(f.description.endswith("known_company_min_share of the rows)") for f in findings):
        return {}
    # an empty company_id is a missing value (quarantined by its own check), not an early record
    unknown = frame.index[~frame[COMPANY_KNOWN_COLUMN].astype(bool) & frame["company_id"].notna()]
    return {int(i): str(frame.at[i, "company_id"]) for i in unknown}


def _waiting_reason(e: Entity, company: str) -> str:
    return (
        f"{e.qualified}: company_id {company} names no company the CRM delivered yet; waits "
        "until it arrives"
    )


def _waiting_message(e: Entity, frame: pd.DataFrame, waiting: dict[int, str]) -> str:
    rows = sorted(waiting)
    companies = list(dict.fromkeys(waiting[i] for i in rows))[:EXAMPLES_SHOWN]
    shown = " | ".join(_where(frame, i) for i in rows[:EXAMPLES_SHOWN])
    return (
        f"column company_id: {len(rows)} of {len(frame)} rows name a company the CRM has not "
        f"delivered yet (values {', '.join(repr(c) for c in companies)}); e.g. {shown}. They wait "
        f"in {e.quarantine_table} and the first run after their company arrives lets them in"
    )


def _release_waiting(
    warehouse: Path, days: list[date], wanted: set[str] | None, shape: Shape, report: GateReport
) -> None:
    """Let rows that waited for their company into the raw table once it has arrived (with the
    file, row and day they came with), and warn about rows still waiting from earlier days."""
    companies = "select company_id from raw.crm__companies"
    with duckdb.connect(str(warehouse)) as con:
        present = {
            r[0]
            for r in con.execute(
                "select schema_name || '.' || table_name from duckdb_tables()"
            ).fetchall()
        }
        for e in ALL_ENTITIES:
            if not has_company(e) or not shape.has(e) or (wanted and e.source not in wanted):
                continue
            if e.quarantine_table not in present:
                continue
            _add_held_for(con, e)
            columns = ", ".join(f'"{c}"' for c in (*e.columns, *LOAD_METADATA_COLUMNS))
            # loaded now: incremental staging models pick up what landed since their last build
            values = columns.replace('"_loaded_at"', 'current_timestamp as "_loaded_at"')
            arrived = f"_held_for in ({companies})"
            con.execute("begin transaction")
            con.execute(
                f"insert into {e.raw_table} ({columns}) "
                f"select {values} from {e.quarantine_table} where {arrived}"
            )
            moved = con.execute(f"delete from {e.quarantine_table} where {arrived}").fetchone()[0]
            con.execute("commit")
            if moved:
                report.released[e.raw_table] = moved
                log.warning(
                    "let %d row(s) of %s that waited for their company into %s",
                    moved,
                    e.qualified,
                    e.raw_table,
                )
            still = con.execute(
                f"""select count(*), min(_source_file), list(distinct _held_for order by _held_for)
                from {e.quarantine_table} where _held_for is not null and _file_day < $first""",
                {"first": days[0]},
            ).fetchone()
            if still[0]:
                ids = ", ".join(repr(c) for c in still[2][:EXAMPLES_SHOWN])
                report.warnings.append(
                    f"{e.quarantine_table}: {still[0]} row(s) from earlier days still wait for "
                    f"their company ({ids}), the oldest from {still[1]}: is the company missing "
                    "from the CRM export?"
                )


def _add_held_for(con: duckdb.DuckDBPyConnection, e: Entity) -> None:
    """Quarantine tables made before rows could wait for their company lack the column."""
    con.execute(f"alter table {e.quarantine_table} add column if not exists _held_for varchar")


def _raw_parameters(
    e: Entity, gates: GateConfig, interval_end: datetime, files: int, rows: int
) -> dict[str, Any]:
    # on few records a share says little (one early contact is 0 of 1): they wait instead
    enough = rows >= gates.known_company_min_rows
    params: dict[str, Any] = {
        "min_rows": gates.min_rows_per_file.get(e.qualified, 0) * files,
        "known_company_min_share": gates.known_company_min_share if enough else 0.0,
        "interval_end": pd.Timestamp(interval_end),
    }
    for column in numeric_columns(e):
        # a column without a configured maximum has none (GX needs one bound set)
        configured = gates.max_value(e.qualified, column)
        params[f"max__{column}"] = sys.float_info.max if configured is None else configured
        low = gates.min_value(e.qualified, column)
        params[f"min__{column}"] = -sys.float_info.max if low is None else low
    return params


def _read_raw(warehouse: Path, e: Entity, first: date, last: date) -> pd.DataFrame:
    typed = [f'try_cast("{c}" as double) as "{c}{NUMBER_SUFFIX}"' for c in numeric_columns(e)]
    typed += [f'{_timestamp(c)} as "{c}{TIME_SUFFIX}"' for c in past_columns(e)]
    typed += [f'cast({_timestamp(c)} as date) as "{c}{DAY_SUFFIX}"' for c in day_columns(e)]
    known = ""
    if has_company(e):
        # a nullable company_id left empty names no company: nothing to look up
        empty = "delivered.company_id is null or " if "company_id" in e.nullable else ""
        typed.append(f"({empty}known.company_id is not null) as {COMPANY_KNOWN_COLUMN}")
        known = (
            "left join (select distinct company_id from raw.crm__companies) as known "
            "on delivered.company_id = known.company_id"
        )
    extra = "".join(f", {t}" for t in typed)
    return _read(
        warehouse,
        f"""
        select delivered.*,
            left(delivered."{e.day_column}", 10) as {RECORD_DAY_COLUMN},
            cast(delivered._file_day as varchar) as {FILE_DAY_COLUMN}
            {extra}
        from {e.raw_table} as delivered
        {known}
        where delivered._file_day between $first and $last
        order by delivered._source_file, delivered._row_number
        """,
        {"first": first, "last": last},
    ).reset_index(drop=True)


def _empty_files(warehouse: Path, e: Entity, days: list[date], gates: GateConfig) -> str:
    """Which delivered files of the interval hold fewer rows than min_rows_per_file."""
    files = _read(
        warehouse,
        """select source_file, row_count from raw.load_log
        where source = $s and entity = $e and file_day between $first and $last
            and row_count < $min order by source_file""",
        {
            "s": e.source,
            "e": e.name,
            "first": days[0],
            "last": days[-1],
            "min": gates.min_rows_per_file.get(e.qualified, 0),
        },
    )
    shown = ", ".join(f"{r.source_file} ({r.row_count} rows)" for r in files.itertuples())
    return f"; file(s) {shown}" if shown else ""


def _timestamp(column: str) -> str:
    """SQL: a delivered ISO 8601 text (timestamp or date) as a timestamp, null when malformed."""
    return f"try_cast(replace(replace(\"{column}\", 'T', ' '), 'Z', '') as timestamp)"


def _check_properties(
    context: Any,
    e: Entity,
    frame: pd.DataFrame,
    custom: list[CatalogueProperty],
    identifiers: list[Any],
) -> list[Finding]:
    """Check the catalogued custom property values of ``frame``'s records against their types.

    Findings name frame rows (records), so a record with a bad value is quarantined like one with
    a bad column; nothing is checked for an entity whose catalogue declares no typed property.
    """
    checked = {p.name: p for p in custom if p.type in PROPERTY_TYPED_COLUMNS}
    if not checked:
        return []
    values = _property_frame(frame, checked)
    enums = [p for p in checked.values() if p.type == "enum"]
    parameters = {"enum_values": [[p.name, v.lower()] for p in enums for v in p.allowed_values]}
    suite = property_suite_name(e)
    findings = []
    for r in _failed(context, suite, "raw_gate", values, parameters, identifiers):
        kind = (r.expectation_config.meta or {}).get(PROPERTY_TYPE_META)
        raised = r.exception_info and r.exception_info.get("raised_exception")
        if kind is None or raised:
            finding = _finding(r, values, parameters)
            finding.message = f"custom properties ({suite}): {finding.message}"
            findings.append(finding)
        else:
            rows = [int(i) for i in (r.result or {}).get("unexpected_index_list") or []]
            findings += _property_findings(e, values.loc[rows], checked, len(frame), r)
    return findings


def _property_frame(frame: pd.DataFrame, checked: dict[str, CatalogueProperty]) -> pd.DataFrame:
    """One row per record and checked property with a value (empty or null values are unknown,
    never wrong): see PROPERTY_* in quality_suites."""
    rows = []
    records = zip(
        frame.index, frame["_properties"], frame["_source_file"], frame["_row_number"], strict=True
    )
    for record, text, source_file, row_number in records:
        if not isinstance(text, str):
            continue
        try:
            properties = json.loads(text)
        except ValueError:
            continue
        if not isinstance(properties, dict):
            continue
        for name, value in properties.items():
            declared = checked.get(name)
            if declared is None or value is None:
                continue
            value = value if isinstance(value, str) else json.dumps(value)
            typed = value.strip()
            if not typed:
                continue
            if declared.type in ("boolean", "enum"):
                typed = typed.lower()
            rows.append((record, source_file, row_number, name, declared.type, value, typed))
    values = pd.DataFrame(
        rows,
        columns=[
            PROPERTY_RECORD_COLUMN,
            "_source_file",
            "_row_number",
            PROPERTY_COLUMN,
            PROPERTY_TYPE_COLUMN,
            PROPERTY_VALUE_COLUMN,
            "_typed",
        ],
    ).astype({PROPERTY_RECORD_COLUMN: "int64", "_row_number": "int64"})
    for kind, column in PROPERTY_TYPED_COLUMNS.items():
        values[column] = values["_typed"].where(values[PROPERTY_TYPE_COLUMN] == kind, None)
    return values.drop(columns="_typed")


def _property_findings(
    e: Entity,
    failing: pd.DataFrame,
    checked: dict[str, CatalogueProperty],
    records: int,
    result: Any,
) -> list[Finding]:
    """One finding per property whose values failed ``result``'s type check, naming the
    property, its values and where they are; its rows are the records (entity frame rows)."""
    findings = []
    for name, group in failing.groupby(PROPERTY_COLUMN, sort=True):
        declared = checked[str(name)]
        shape = (
            f"one of {', '.join(declared.allowed_values)}"
            if declared.type == "enum"
            else PROPERTY_TYPE_SHAPES[declared.type]
        )
        description = (
            f"{e.qualified}: custom property {name} is {shape} ({CATALOGUE_NAME} type "
            f"{declared.type})"
        )
        places = [
            (int(record), repr(_shortened(value)), f"file {source_file} row {row_number}")
            for record, value, source_file, row_number in zip(
                group[PROPERTY_RECORD_COLUMN],
                group[PROPERTY_VALUE_COLUMN],
                group["_source_file"],
                group["_row_number"],
                strict=True,
            )
        ]
        rows = sorted({record for record, _, _ in places})
        shown = list(dict.fromkeys(value for _, value, _ in places))[:EXAMPLES_SHOWN]
        examples = " | ".join(where for _, _, where in places[:EXAMPLES_SHOWN])
        message = (
            f"custom property {name}: {len(rows)} of {records} rows fail '{description}' "
            f"({result.expectation_config.type}) (values {', '.join(shown)}); e.g. {examples}"
        )
        reasons = {
            record: f"{description}, not {value} ({where})" for record, value, where in places
        }
        findings.append(Finding(description, message, quarantine=True, rows=rows, reasons=reasons))
    return findings


def _shortened(value: str) -> str:
    return value if len(value) <= VALUE_SHOWN_CHARS else value[: VALUE_SHOWN_CHARS - 1] + "…"


def _reasons(findings: list[Finding]) -> dict[int, str]:
    """Frame row -> every row-level check it fails, joined."""
    reasons: dict[int, list[str]] = {}
    for f in findings:
        for row in f.rows:
            reasons.setdefault(row, []).append(f.reasons.get(row, f.description))
    return {row: "; ".join(r) for row, r in reasons.items()}


def _quarantine(warehouse: Path, e: Entity, rows: pd.DataFrame) -> int:
    """Move ``rows`` from the raw table to its quarantine table, with their reasons, atomically.

    ``_held_for`` names the company a row waits for (let in when it arrives), else it is null.
    """
    columns = [*e.columns, *LOAD_METADATA_COLUMNS]  # custom properties go along (_properties)
    moved = rows[[*columns, "_reason", "_held_for"]].copy()
    selected = ", ".join(f'"{c}"' for c in columns)
    with duckdb.connect(str(warehouse)) as con:
        _add_held_for(con, e)
        con.register("moved", moved)
        con.execute("begin transaction")
        con.execute(
            f"""insert into {e.quarantine_table} ({selected}, _reason, _held_for, _quarantined_at)
            select {selected}, _reason, cast(_held_for as varchar), now() from moved"""
        )
        con.execute(
            f"""delete from {e.raw_table} as r using moved as m
            where r._source_file = m._source_file and r._row_number = m._row_number"""
        )
        con.execute("commit")
    log.warning("quarantined %d rows of %s into %s", len(moved), e.qualified, e.quarantine_table)
    return len(moved)


def _schema_drift(
    warehouse: Path, days: list[date], wanted: set[str] | None, catalogue: PropertyCatalogue
) -> list[str]:
    """One warning per entity whose files of the interval hold extra columns (or keys) that the
    property catalogue does not declare: they were loaded into ``_properties`` all the same."""
    drift = _read(
        warehouse,
        """select source, entity, source_file, extra_columns from raw.load_log
        where file_day between $first and $last and extra_columns is not null
        order by source, entity, source_file""",
        {"first": days[0], "last": days[-1]},
    )
    warnings = []
    for (source, name), rows in drift.groupby(["source", "entity"], sort=False):
        if wanted and source not in wanted:
            continue
        q = f"{source}/{name}"
        declared = catalogue.declared(q)
        undeclared: dict[str, None] = {}  # in the order files show them
        files = []
        for r in rows.itertuples():
            new = [c for c in r.extra_columns.split(",") if c and c not in declared]
            if new:
                undeclared.update(dict.fromkeys(new))
                files.append(r.source_file)
        if not undeclared:
            continue
        what = "key(s)" if files[0].endswith(".jsonl") else "column(s)"
        shown = ", ".join(files[:EXAMPLES_SHOWN])
        if len(files) > EXAMPLES_SHOWN:
            shown += f" and {len(files) - EXAMPLES_SHOWN} more"
        where = f"file{'s' if len(files) > 1 else ''} {shown}"
        if q in CATALOGUE_ENTITIES.values():
            missing, usable = f"not in {CATALOGUE_NAME}", "not usable in rules until declared"
        else:
            missing = f"not in {CATALOGUE_NAME} (it declares no {q} properties)"
            usable = "not usable in rules"
        warnings.append(
            f"schema drift: {q}: {what} {', '.join(undeclared)} are {missing}: "
            f"kept as text custom properties, {usable} ({where})"
        )
    return warnings


def _check_freshness(
    warehouse: Path,
    days: list[date],
    gates: GateConfig,
    wanted: set[str] | None,
    report: GateReport,
    shape: Shape,
) -> None:
    interval_end = datetime.combine(days[-1] + timedelta(days=1), datetime.min.time())
    for source, rule in gates.freshness.items():
        # a source (or entity) absent by design has nothing to be stale
        if (wanted and source not in wanted) or not shape.has(rule.entity):
            continue
        e = entity(rule.entity)
        newest = _read(
            warehouse,
            f"""select max({_timestamp(e.day_column)}) as newest
            from {e.raw_table} where _file_day <= $last""",
            {"last": days[-1]},
        ).newest.iloc[0]
        age = math.inf if pd.isna(newest) else (interval_end - newest).total_seconds() / 86400
        shown = "never" if pd.isna(newest) else f"{newest:%Y-%m-%d %H:%M}"
        message = (
            f"source {source} is stale: its newest {e.qualified} record ({shown}) is "
            f"{age:.1f} days before the end of the interval"
        )
        if rule.error_after_days is not None and age > rule.error_after_days:
            message += f", more than error_after_days {rule.error_after_days:g}"
            if gates.freshness_on_error == "fail":
                report.failures.append(message + "; is its export still running?")
            else:
                report.warnings.append(message)
        elif age > rule.warn_after_days:
            report.warnings.append(
                message + f", more than warn_after_days {rule.warn_after_days:g}"
            )


# --- score gate ---------------------------------------------------------------------------------


def score_gate_parameters(score_date: date, dbt_project: Path | None = None) -> dict[str, Any]:
    """Bands the score suites compare with, read from the seeds in force (lead stages compare
    with the thresholds each lead_scores row carries, as segments may differ)."""
    project = dbt_project or config.dbt_project_dir()
    params: dict[str, Any] = {"score_dates": [score_date.isoformat()]}
    with (project / "seeds" / "lead_grades.csv").open() as fh:
        for row in csv.DictReader(fh):
            params[f"grade_{row['grade'].lower()}"] = float(row["min_fit_score"])
    with (project / "seeds" / "account_tiers.csv").open() as fh:
        for row in csv.DictReader(fh):
            params[f"tier_{row['tier'].lower()}"] = float(row["min_account_score"])
    return params


def published_stats(serving: Path | None = None) -> dict[str, dict[str, float]] | None:
    """Row counts and the means drift follows, per mart, of the last publish (None: none yet)."""
    serving = serving or config.serving_dir() / "scores.duckdb"
    if not serving.exists():
        return None
    stats: dict[str, dict[str, float]] = {}
    with duckdb.connect(str(serving), read_only=True) as con:
        tables = "select table_name from information_schema.tables where table_schema = 'marts'"
        present = {r[0] for r in con.execute(tables).fetchall()}  # the kept tables are views
        for mart in MART_KEYS:
            if mart not in present:
                continue
            dated = "where score_date = (select max(score_date) from {t})"
            where = dated.format(t=f"marts.{mart}") if mart in DATED_MARTS else ""
            frame = _mart_frame(con.execute(f"select * from marts.{mart} {where}").df(), mart)
            stats[mart] = {"rows": float(len(frame))}
            for column in _drift_columns(mart):
                stats[mart][column] = float(frame[column].mean()) if len(frame) else math.nan
    return stats


def _drift_columns(mart: str) -> list[str]:
    columns = list(STAGE_SHARE_COLUMNS) if mart == "lead_scores" else []
    return columns + ([DRIFT_MEAN_COLUMNS[mart]] if mart in DRIFT_MEAN_COLUMNS else [])


def _drift_parameters(
    mart: str, previous: dict[str, dict[str, float]] | None, gates: GateConfig
) -> dict[str, Any]:
    last = (previous or {}).get(mart)
    # None leaves a bound open (GX rejects infinities in some expectations)
    params: dict[str, Any] = {"drift_rows_min": None, "drift_rows_max": None}
    for column in _drift_columns(mart):
        params[f"drift_{column}_min"], params[f"drift_{column}_max"] = None, None
    if not last:
        return params
    change = gates.max_row_count_change
    params["drift_rows_min"] = math.floor(last["rows"] * (1 - change))
    params["drift_rows_max"] = math.ceil(last["rows"] * (1 + change))
    for column in _drift_columns(mart):
        if math.isnan(last[column]):
            continue
        bound = (
            gates.max_stage_share_change
            if column in STAGE_SHARE_COLUMNS
            else gates.max_mean_score_change
        )
        params[f"drift_{column}_min"] = last[column] - bound
        params[f"drift_{column}_max"] = last[column] + bound
    return params


def _mart_frame(frame: pd.DataFrame, mart: str) -> pd.DataFrame:
    if "score_date" in frame.columns:
        frame = frame.assign(score_date=frame.score_date.astype(str).str[:10])
    if mart == "lead_scores":
        for column, stage in STAGE_SHARE_COLUMNS.items():
            frame[column] = (frame.lifecycle_stage == stage).astype(float)
    return frame


def score_gate(
    score_date: date,
    *,
    warehouse: Path | None = None,
    expectations: Path | None = None,
    dbt_project: Path | None = None,
    serving: Path | None = None,
    gates: GateConfig | None = None,
    accept_drift: bool = False,
    shape: Shape | None = None,
) -> GateReport:
    """Validate the marts for ``score_date``; raise GateFailed on any failure.

    ``accept_drift`` skips the comparison with the last publish, for the run after an intended
    rule change (a new threshold moves many contacts at once). How many rows each table must
    hold is ``score.min_rows``, except for a table whose inputs ``shape`` leaves out.
    """
    warehouse = warehouse or config.warehouse_path()
    gates = gates or quality_config.load()
    shape = shape or load_shape()
    context = _context(expectations)
    parameters = score_gate_parameters(score_date, dbt_project)
    previous = None if accept_drift else published_stats(serving)
    if accept_drift:
        log.warning("score gate: drift against the last publish is not checked (accept_drift)")
    report = GateReport(gate="score")
    identifiers: list[Any] = []
    for mart in MART_KEYS:
        where = "where score_date = $d" if mart in DATED_MARTS else ""
        params = {"d": score_date} if mart in DATED_MARTS else {}
        frame = _mart_frame(_read(warehouse, f"select * from marts.{mart} {where}", params), mart)
        report.tables[f"marts.{mart}"] = len(frame)
        mart_parameters = {
            **parameters,
            **_drift_parameters(mart, previous, gates),
            "min_rows": _min_rows(mart, gates, shape),
        }
        findings = _validate(
            context, score_suite_name(mart), "score_gate", frame, mart_parameters, identifiers
        )
        report.failures += [f"marts.{mart}: {f.message}" for f in findings]
    _render_docs(context, identifiers, report)
    return _finish(report, f"score gate for {score_date}")


def _min_rows(mart: str, gates: GateConfig, shape: Shape) -> int:
    """``score.min_rows`` of a table, 0 when every entity it needs is absent by design."""
    inputs = MART_INPUTS.get(mart)
    if inputs and not any(shape.has(q) for q in inputs):
        return 0
    return gates.score_min_rows.get(mart, 0)


# --- reporting ----------------------------------------------------------------------------------


def _render_docs(context: Any, identifiers: list[Any], report: GateReport) -> None:
    """Render this gate's validation results into the Data Docs site (pruned to recent runs)."""
    try:
        _prune_validations(results_dir() / "validations")
        sites = context.build_data_docs(resource_identifiers=identifiers)
        if sites:
            report.data_docs = next(iter(sites.values()))
    except Exception as err:  # data docs are a convenience; never fail a gate on them
        log.warning("could not render GX data docs: %s", err)


def _prune_validations(folder: Path) -> None:
    if not folder.exists():
        return
    for suite in folder.iterdir():
        results = sorted(suite.rglob("*.json"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in results[DATA_DOCS_KEEP_RUNS:]:
            old.unlink()


def _finish(report: GateReport, what: str) -> GateReport:
    if report.data_docs:
        log.warning("GX data docs for the %s: %s", what, report.data_docs)
    for warning in report.warnings:
        log.warning("%s: %s", what, warning)
    checked = ", ".join(f"{t} ({n} rows)" for t, n in report.tables.items())
    if report.failures:
        message = (
            f"{what} failed: {len(report.failures)} check(s) not met.\n  - "
            + "\n  - ".join(report.failures)
            + (f"\nData docs: {report.data_docs}" if report.data_docs else "")
        )
        raise GateFailed(message)
    log.info("%s passed: %s", what, checked)
    return report
