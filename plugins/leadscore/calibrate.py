"""Calibrate the points tables against what happened: proposed rule rows, never adopted by itself.

For every monthly cut-off (day ``validation_day_of_month``) whose outcome window is over, we know
who converted afterwards: a won deal closed in ``(cut-off, cut-off + horizon]``. The population is
the one ``model_validation`` uses: contacts scored at the cut-off (``score_history``), not
customers, without a won deal closed on or before it. *Fresh* leads are those created within
``validation_fresh_lead_days`` before the cut-off: what sales acts on.

Time split
    The newest ``holdout_cutoffs`` complete cut-offs are held out; the older ones train. Every
    number a proposal uses (supports, lifts, regularisation strength, coefficients, scale,
    quantile caps) comes from the training rows; the held-out rows are only scored.

Candidates (``rule_candidates``)
    Rule rows in the rule language of docs/rules.md: each value of a derived attribute or
    catalogued property, ``is_unknown`` of each, quantile bands of numbers and dates, count rules
    per action and window, per-minute rules, activity rules per direction, outcome and enum
    property. They are evaluated for every contact at every training cut-off by the production
    dbt SQL, in a scratch copy of the warehouse and project (``rule_scoring.RuleSandbox``).

Proposal ``share`` (a points table from counts, as marketers build one)
    Per candidate: its training rows, conversions, and a conversion rate smoothed toward the base
    rate p0 with a Beta prior worth PRIOR_POSITIVES conversions; lift = rate / p0. Candidates need
    MIN_ROWS rows and MIN_EXPECTED_POSITIVES conversions expected at the base rate, and a lift
    that differs from 1 by at least MIN_Z standard errors. Fit: every such value, weight ln(lift)
    when the lift is above 1 or below NEGATIVE_LIFT (values in between say too little to score).
    Engagement: per action the single count or activity rule with the largest z. Weights are
    log-odds-like and share one scale (below).

Proposal ``logistic``
    scikit-learn ``LogisticRegressionCV`` (L2) on all supported candidates (0/1, per-minute rules
    as minutes capped at their training 95th percentile), standardised; the strength is chosen by
    log-loss on the newest third of the training cut-offs, then refitted on all training rows.
    A coefficient whose sign disagrees with its candidate's lift (positive for a lift below 1, or
    the reverse) is dropped and the model refitted, until all agree.

Scale (both proposals)
    Points are weight x k / w, w the lead score's weight of the subscore (segment default), so the
    lead score (w_fit x fit + w_eng x engagement) follows the summed weights. k is set so that the
    99th percentile of both subscores' point sums over the training rows is 100: few entities are
    clipped at 100. When more than BASELINE_QUANTILE of contacts would sum below 0 on fit, a
    baseline rule every contact matches (contact.created_at is_known) lifts the fit sums so that
    they do not pile up at 0. Count rules are capped at their own points; per-minute rules at
    points x the cap in minutes. The share of held-out contacts at 0 and at 100 is reported.

Thresholds
    For the current rules and each proposal, on the held-out lead scores: MQL = the lowest score
    above which leads converted at MQL_LIFT x the base rate, SQL at SQL_LIFT x (with at least
    MIN_ROWS leads above), or the score that passes the share of leads var
    ``sales_capacity_mql_share`` / ``sales_capacity_sql_share`` when set.

Scoring
    The held-out AUC of a proposal is the AUC of its rule rows written into the seeds of the
    sandbox and scored by dbt (lead_scores) at each held-out cut-off: exactly what adopting it
    gives. "current" is the published score (score_history). AUC: ``roc_auc_score``; lift of the
    top decile as model_validation counts it.

Output (``write``: both tables replaced in one transaction; runs in the duckdb_writer pool)
    ``marts.suggested_rules``: per proposal its rule rows (fit, engagement) and thresholds, with
    the columns of the seeds, current points of the same rule where one exists, support,
    conversion rate and lift. ``marts.calibration_summary``: per proposal (current, share,
    logistic) held-out AUC and top-decile lift, for all and for fresh leads, proposed thresholds,
    clipped shares, cut-offs and rows. Too little history writes both tables empty with a note.

Nothing is adopted automatically: ``adopt`` rewrites the seeds from a proposal (fit rules,
engagement rules and thresholds in one call), for a human to review (dry run by default).
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore import config
from leadscore.rule_candidates import (
    Candidate,
    engagement_candidates,
    engagement_key,
    fit_candidates,
    fit_key,
    read_catalogue,
    rule_label,
)
from leadscore.rule_scoring import RuleSandbox, format_seed, parse_seed, read_seed

log = logging.getLogger(__name__)

PROPOSALS = ("share", "logistic")
PARTS = ("fit", "engagement", "thresholds")
SUGGESTED_TABLE = "marts.suggested_rules"
SUMMARY_TABLE = "marts.calibration_summary"

#: Fewer training cut-offs than this: nothing to calibrate (no time split inside training).
MIN_TRAIN_CUTOFFS = 2
#: Beta prior on a rule's conversion rate: worth this many conversions at the base rate.
PRIOR_POSITIVES = 2.0
#: A rule needs at least this many training rows and MIN_EXPECTED_POSITIVES at the base rate.
MIN_ROWS = 30
MIN_EXPECTED_POSITIVES = 2.0
#: share: a lift must differ from 1 by this many standard errors.
MIN_Z = 2.0
#: share: below this smoothed lift a fit value gets negative points.
NEGATIVE_LIFT = 0.5
#: Both subscores' point sums reach 100 at this quantile of the training rows.
SCALE_QUANTILE = 0.99
#: A baseline fit rule is added when more than this share of contacts would sum below 0.
BASELINE_QUANTILE = 0.05
#: Per-minute features are capped at this quantile of their positive training values.
MINUTES_CAP_QUANTILE = 0.95
#: Thresholds: MQL where leads convert at this multiple of the base rate, SQL at the second.
MQL_LIFT = 2.0
SQL_LIFT = 4.0
#: L2 strengths tried (sklearn's C, the inverse strength) on standardised features.
C_GRID = tuple(float(c) for c in np.logspace(-3, 2, 11))
#: The fit rule every contact matches, for a proposal's baseline points.
BASELINE_RULE = ("contact.created_at", "is_known", "")

SUGGESTED_COLUMNS = {
    "proposal": "varchar",
    "subscore": "varchar",
    "rule": "varchar",
    "operator": "varchar",
    "rule_value": "varchar",
    "action": "varchar",
    "source": "varchar",
    "filter_attribute": "varchar",
    "filter_operator": "varchar",
    "filter_value": "varchar",
    "min_count": "integer",
    "count_window_days": "integer",
    "measure": "varchar",
    "measure_unit": "double",
    "funnel_stage": "varchar",
    "current_points": "double",
    "suggested_points": "double",
    "max_points": "double",
    "contacts_with": "bigint",
    "conversion_rate": "double",
    "lift": "double",
    "weight": "double",
    "description": "varchar",
    "calibrated_on": "date",
}
SUMMARY_COLUMNS = {
    "proposal": "varchar",
    "heldout_auc": "double",
    "heldout_lift_top_decile": "double",
    "heldout_auc_fresh": "double",
    "heldout_lift_top_decile_fresh": "double",
    "mql_threshold": "double",
    "sql_threshold": "double",
    "fit_at_0_share": "double",
    "engagement_at_0_share": "double",
    "at_100_share": "double",
    "rules": "integer",
    "train_cutoffs": "integer",
    "heldout_cutoffs": "integer",
    "train_rows": "bigint",
    "heldout_rows": "bigint",
    "positives": "bigint",
    "fresh_rows": "bigint",
    "fresh_positives": "bigint",
    "calibrated_on": "date",
    "cutoffs": "varchar",
    "calibrated_at": "timestamp with time zone",
}


@dataclass
class CalibrationResult:
    """What ``calibrate`` found; ``suggestions`` / ``summary`` are the rows of the two tables."""

    suggestions: pd.DataFrame
    summary: pd.DataFrame
    train_cutoffs: list[date] = field(default_factory=list)
    heldout_cutoffs: list[date] = field(default_factory=list)
    note: str | None = None
    written: bool = False
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    def _row(self, proposal: str) -> Any:
        rows = self.summary[self.summary["proposal"] == proposal]
        return None if rows.empty else rows.iloc[0]

    def auc(self, proposal: str, *, fresh: bool = False) -> float | None:
        row = self._row(proposal)
        column = "heldout_auc_fresh" if fresh else "heldout_auc"
        return None if row is None else _none_if_nan(row[column])

    def as_dict(self) -> dict[str, Any]:
        """A JSON-friendly digest (Airflow XCom, logs)."""
        return {
            "note": self.note,
            "written": self.written,
            "seconds": self.seconds,
            "train_cutoffs": [d.isoformat() for d in self.train_cutoffs],
            "heldout_cutoffs": [d.isoformat() for d in self.heldout_cutoffs],
            "heldout": {
                row.proposal: {
                    "auc": _none_if_nan(row.heldout_auc),
                    "auc_fresh": _none_if_nan(row.heldout_auc_fresh),
                    "lift_top_decile": _none_if_nan(row.heldout_lift_top_decile),
                    "mql_threshold": _none_if_nan(row.mql_threshold),
                    "sql_threshold": _none_if_nan(row.sql_threshold),
                }
                for row in self.summary.itertuples()
            },
            "rules": int((self.suggestions["subscore"] != "threshold").sum()),
        }

    def lines(self) -> list[str]:
        """What a person reads: the split, each proposal's held-out numbers, the note."""
        out = []
        if self.train_cutoffs:
            held = (
                f" ({self.heldout_cutoffs[0]}..{self.heldout_cutoffs[-1]})"
                if self.heldout_cutoffs
                else ""
            )
            out.append(
                f"trained on {len(self.train_cutoffs)} cut-offs "
                f"({self.train_cutoffs[0]}..{self.train_cutoffs[-1]}), held out "
                f"{len(self.heldout_cutoffs)}{held}"
            )
        for row in self.summary.itertuples():
            out.append(
                f"  {row.proposal:<9} held-out AUC {_fmt(row.heldout_auc)} "
                f"(fresh leads {_fmt(row.heldout_auc_fresh)})  "
                f"top-decile lift {_fmt(row.heldout_lift_top_decile, 2)}  "
                f"MQL {_fmt(row.mql_threshold, 1)} SQL {_fmt(row.sql_threshold, 1)}  "
                f"at 0: fit {_pct(row.fit_at_0_share)} engagement "
                f"{_pct(row.engagement_at_0_share)}  rules {row.rules}"
            )
        if not self.summary.empty:
            row = self.summary.iloc[0]
            out.append(
                f"  ({row.heldout_rows:,} held-out contact-cut-offs, {row.positives:,} converted; "
                f"fresh {row.fresh_rows:,}, {row.fresh_positives:,} converted)"
            )
        if self.note:
            out.append(f"note: {self.note}")
        where = "written to" if self.written else "not written (dry run):"
        out.append(f"{where} {SUGGESTED_TABLE}, {SUMMARY_TABLE} in {self.seconds:.1f} s")
        return out


# --- entry points ------------------------------------------------------------------------------


def calibrate_advisory() -> dict:
    """``calibrate()`` for the daily run: suggestions are advice, so they never hold back today's
    scores. It recalibrates only when a new cut-off's outcome window has completed since the
    last calibration (once a month); too little history writes empty tables with a note; any
    other error is logged and the run goes on to publish (the previous suggestions stay)."""
    try:
        warehouse = config.warehouse_path()
        current = _calibrated_cutoffs(warehouse)
        if current is not None and current == _complete_cutoffs(warehouse):
            return {"note": f"already calibrated on these cut-offs (newest {current[-1]})"}
        return calibrate().as_dict()
    except Exception as err:
        log.exception("calibration failed; publishing without new suggestions")
        return {"note": f"calibration failed: {err}"}


def calibrate(
    warehouse: Path | None = None,
    *,
    horizon_days: int | None = None,
    holdout_cutoffs: int = 3,
    write: bool = True,
    project: Path | None = None,
    lookback_days: int | None = None,
    sandbox_root: Path | None = None,
) -> CalibrationResult:
    """Propose rule rows from the history in ``warehouse``; with ``write``, replace the tables."""
    began = time.perf_counter()
    warehouse = warehouse or config.warehouse_path()
    if not warehouse.exists():  # a wrong path, not a short history: say so
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    project = project or config.dbt_project_dir()
    settings = Settings.load(project, horizon_days=horizon_days, lookback_days=lookback_days)
    frame, note = load_population(warehouse, settings)
    cutoffs = sorted(set(frame["cutoff_date"]))
    holdout_cutoffs = max(0, holdout_cutoffs)
    split = max(0, len(cutoffs) - holdout_cutoffs)
    train_cutoffs, heldout_cutoffs = cutoffs[:split], cutoffs[split:]
    in_train = frame["cutoff_date"].isin(train_cutoffs).to_numpy()
    train, heldout = frame[in_train].reset_index(drop=True), frame[~in_train].reset_index(drop=True)
    if note is None and len(train_cutoffs) < MIN_TRAIN_CUTOFFS:
        note = (
            f"too little history: {len(cutoffs)} complete cut-offs, {holdout_cutoffs} held out "
            f"leaves {len(train_cutoffs)} to train on (at least {MIN_TRAIN_CUTOFFS} needed)"
        )
    if note is None and not train["outcome"].any():
        note = (
            f"too little history: no conversions in the {len(train):,} training rows "
            f"({train_cutoffs[0]}..{train_cutoffs[-1]})"
        )
    if note is not None:
        result = _empty_result(note, train_cutoffs, heldout_cutoffs)
    else:
        with RuleSandbox(warehouse, project, root=sandbox_root) as sandbox:
            result = _calibrate(sandbox, settings, train, heldout, train_cutoffs, heldout_cutoffs)
            result.details["sandbox_seconds"] = dict(sandbox.seconds)
    if write:
        write_tables(warehouse, result)
        result.written = True
    result.seconds = round(time.perf_counter() - began, 2)
    if result.note:
        log.warning("calibration: %s", result.note)
    else:
        log.warning(
            "calibration on %s train / %s held-out cut-offs: %s",
            len(result.train_cutoffs),
            len(result.heldout_cutoffs),
            ", ".join(
                f"{r.proposal} AUC {_fmt(r.heldout_auc)}" for r in result.summary.itertuples()
            ),
        )
    return result


# --- settings and population -------------------------------------------------------------------


@dataclass
class Settings:
    """The dbt vars and seeds calibration must agree with."""

    project: Path
    horizon_days: int
    lookback_days: int
    engagement_lookback_days: int
    fresh_days: int
    day_of_month: int
    fit_weight: float
    engagement_weight: float
    mql_threshold: float
    sql_threshold: float
    stage_weight: float  # of funnel stage awareness, which proposals use
    capacity: dict[str, float | None]

    @classmethod
    def load(
        cls, project: Path, *, horizon_days: int | None = None, lookback_days: int | None = None
    ) -> Settings:
        variables = config.dbt_vars(project)
        values = {
            name: variables.get(name)
            for name in ("lead_fit_weight", "lead_engagement_weight", "mql_threshold")
        }
        values["sql_threshold"] = variables.get("sql_threshold")
        for row in read_seed(project, "segment_settings"):
            if row.get("segment") == "default":
                for name in ("lead_fit_weight", "lead_engagement_weight"):
                    if (row.get(name) or "").strip():
                        values[name] = row[name]
                for name in ("mql_threshold", "sql_threshold"):
                    if (row.get(name) or "").strip():
                        values[name] = row[name]
        stage = {
            r["funnel_stage"]: float(r["weight"])
            for r in read_seed(project, "funnel_stage_weights")
        }
        return cls(
            project=project,
            horizon_days=int(horizon_days or variables.get("validation_horizon_days") or 90),
            lookback_days=int(lookback_days or variables.get("validation_lookback_days") or 365),
            engagement_lookback_days=int(variables.get("engagement_lookback_days") or 365),
            fresh_days=int(variables.get("validation_fresh_lead_days") or 30),
            day_of_month=int(variables.get("validation_day_of_month") or 1),
            fit_weight=float(values["lead_fit_weight"] or 0.4),
            engagement_weight=float(values["lead_engagement_weight"] or 0.6),
            mql_threshold=float(values["mql_threshold"] or 50),
            sql_threshold=float(values["sql_threshold"] or 80),
            stage_weight=stage.get("awareness", 1.0),
            capacity={
                "mql": _float_or_none(variables.get("sales_capacity_mql_share")),
                "sql": _float_or_none(variables.get("sales_capacity_sql_share")),
            },
        )


def _has_table(con: Any, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            """select count(*) from duckdb_tables() where schema_name = $s and table_name = $t""",
            {"s": schema, "t": table},
        ).fetchone()[0]
        or con.execute(
            """select count(*) from duckdb_views() where schema_name = $s and view_name = $t""",
            {"s": schema, "t": table},
        ).fetchone()[0]
    )


def _cutoff_dates(con: Any, settings: Settings) -> tuple[list[date], str | None]:
    missing = [
        name
        for name in ("marts.score_history", "staging.stg_crm__deals", "staging.stg_crm__contacts")
        if not _has_table(con, *name.split("."))
    ]
    if missing:
        return [], f"nothing to calibrate: no {', '.join(missing)}"
    newest = con.execute(
        "select max(score_date) from marts.score_history where entity_type = 'contact'"
    ).fetchone()[0]
    if newest is None:
        return [], "nothing to calibrate: score_history is empty"
    cutoffs = [
        r[0]
        for r in con.execute(
            "select distinct score_date from marts.score_history "
            "where entity_type = 'contact' order by 1"
        ).fetchall()
        if r[0].day == settings.day_of_month
        and r[0] + timedelta(days=settings.horizon_days) <= newest
        and r[0] > newest - timedelta(days=settings.horizon_days + settings.lookback_days)
    ]
    if not cutoffs:
        return [], (
            f"nothing to calibrate: no cut-off in score_history is {settings.horizon_days} days "
            f"older than the newest score date {newest}"
        )
    return cutoffs, None


def _complete_cutoffs(warehouse: Path) -> list[date]:
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        return _cutoff_dates(con, Settings.load(config.dbt_project_dir()))[0]


def _calibrated_cutoffs(warehouse: Path) -> list[date] | None:
    """The cut-offs (training and held out) the stored calibration used, if any."""
    import duckdb

    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not _has_table(con, "marts", "calibration_summary"):
            return None
        row = con.execute(f"select max(cutoffs) from {SUMMARY_TABLE}").fetchone()
    if not row or not row[0]:
        return None
    return [date.fromisoformat(d) for d in row[0].split(",")]


def load_population(warehouse: Path, settings: Settings) -> tuple[pd.DataFrame, str | None]:
    """Contacts open at every complete cut-off: cutoff_date, contact_id, score (published lead
    score), outcome (won within the horizon) and fresh (created within the fresh-lead window)."""
    import duckdb

    empty = pd.DataFrame(
        {"cutoff_date": [], "contact_id": [], "score": [], "outcome": [], "fresh": []}
    ).astype({"score": float, "outcome": bool, "fresh": bool})
    with duckdb.connect(str(warehouse), read_only=True) as con:
        cutoffs, note = _cutoff_dates(con, settings)
        if note:
            return empty, note
        frame = con.execute(
            """
            with deals as (
                select contact_id, closed_date from staging.stg_crm__deals where is_won
            )
            select
                history.score_date as cutoff_date,
                history.entity_id as contact_id,
                cast(history.score as double) as score,
                exists(
                    select 1 from deals
                    where
                        deals.contact_id = history.entity_id
                        and deals.closed_date > history.score_date
                        and deals.closed_date <= history.score_date + cast($horizon as integer)
                ) as outcome,
                coalesce(
                    cast(contacts.created_at as date)
                    > history.score_date - cast($fresh as integer),
                    false
                ) as fresh
            from marts.score_history as history
            left join staging.stg_crm__contacts as contacts
                on history.entity_id = contacts.contact_id
            where
                history.score_date in (select unnest($cutoffs::date[]))
                and history.entity_type = 'contact'
                and history.stage != 'customer'
                and not exists (
                    select 1 from deals
                    where
                        deals.contact_id = history.entity_id
                        and deals.closed_date <= history.score_date
                )
            order by cutoff_date, contact_id
            """,
            {"cutoffs": cutoffs, "horizon": settings.horizon_days, "fresh": settings.fresh_days},
        ).df()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"]).dt.date
    return frame, None


# --- candidates and features -------------------------------------------------------------------


#: Catalogued properties that repeat a derived attribute or identify a record, and creation days
#: (a band of calendar days goes stale: every new lead falls outside the bands learned from the
#: past): not candidates.
SKIPPED_PROPERTIES = {
    "company.name",
    "company.domain",
    "company.industry",
    "company.country",
    "company.created_at",
    "contact.lead_source",
    "contact.department",
    "contact.created_at",
}


def candidates_for(warehouse: Path, settings: Settings) -> list[Candidate]:
    import duckdb

    catalogue = read_catalogue(settings.project)
    catalogue = catalogue[
        ~(catalogue["entity"] + "." + catalogue["property"]).isin(SKIPPED_PROPERTIES)
    ]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return fit_candidates(con, catalogue) + engagement_candidates(
            con, catalogue, settings.engagement_lookback_days
        )


def _other_segments(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return [r for r in rows if r.get("segment") != "default"]


def feature_matrix(
    ledgers: dict[date, pd.DataFrame],
    frame: pd.DataFrame,
    candidates: list[Candidate],
    stage_weight: float,
) -> pd.DataFrame:
    """One row per frame row, one column per candidate: 1 when it fired (minutes for a
    per-minute rule), from the candidates' ledgers at each cut-off."""
    keys = {c.key for c in candidates}
    parts = []
    for cutoff, ledger in ledgers.items():
        fit = ledger[ledger["subscore"] == "fit"]
        engagement = ledger[ledger["subscore"] == "engagement"]
        keyed = pd.concat(
            [
                pd.DataFrame(
                    {
                        "contact_id": fit["contact_id"],
                        "key": [
                            fit_key(a, v)
                            for a, v in zip(fit["rule"], fit["rule_value"], strict=True)
                        ],
                        "value": 1.0,
                    }
                ),
                pd.DataFrame(
                    {
                        "contact_id": engagement["contact_id"],
                        "key": [engagement_key(r) for r in engagement["rule"]],
                        "value": engagement["points"].to_numpy(dtype=float) / stage_weight,
                    }
                ),
            ]
        )
        keyed = keyed[keyed["key"].isin(keys)].assign(cutoff_date=cutoff)
        parts.append(keyed)
    index = pd.MultiIndex.from_frame(frame[["cutoff_date", "contact_id"]])
    columns = [c.key for c in candidates]
    if not parts:
        return pd.DataFrame(0.0, index=index, columns=columns)
    long = pd.concat(parts, ignore_index=True)
    wide = long.pivot_table(
        index=["cutoff_date", "contact_id"], columns="key", values="value", aggfunc="max"
    )
    wide = wide.reindex(index=index, columns=columns).fillna(0.0)
    wide.columns.name = None
    return wide


# --- statistics and proposals ------------------------------------------------------------------


@dataclass
class RuleStats:
    candidate: Candidate
    rows: int
    positives: int
    rate: float
    lift: float
    z: float
    supported: bool


def rule_stats(
    features: pd.DataFrame, outcome: np.ndarray, candidates: list[Candidate]
) -> tuple[list[RuleStats], float]:
    """Support, smoothed rate, lift and z of every candidate (a column of ``features``, in
    order) on the training rows."""
    y = np.asarray(outcome, dtype=bool)
    base = float(y.mean())
    prior_rows = PRIOR_POSITIVES / base
    min_rows = max(MIN_ROWS, math.ceil(MIN_EXPECTED_POSITIVES / base))
    fired = features.to_numpy() > 0
    rows = fired.sum(axis=0)
    positives = (fired & y[:, None]).sum(axis=0)
    out = []
    for i in range(len(candidates)):
        n, k = int(rows[i]), int(positives[i])
        rate = (k + PRIOR_POSITIVES) / (n + prior_rows)
        lift = rate / base
        se = math.sqrt(base * (1 - base) / n) if n else math.inf
        z = (k / n - base) / se if n else 0.0
        out.append(RuleStats(candidates[i], n, k, rate, lift, z, min_rows <= n < len(y)))
    return out, base


def _share_weights(stats: list[RuleStats]) -> dict[str, float]:
    weights: dict[str, float] = {}
    best: dict[str, RuleStats] = {}
    for s in stats:
        c = s.candidate
        if not s.supported or abs(s.z) < MIN_Z or c.per_unit:
            continue
        if c.subscore == "fit":
            if s.lift > 1 or s.lift < NEGATIVE_LIFT:
                weights[c.key] = math.log(s.lift)
        elif c.group not in best or abs(s.z) > abs(best[c.group].z):
            best[c.group] = s
    for s in best.values():
        weights[s.candidate.key] = math.log(s.lift)
    return weights


def _capped(features: pd.DataFrame, keys: list[str], caps: dict[str, float]) -> pd.DataFrame:
    """The ``keys`` columns, per-minute ones capped at their minutes cap (as their rule is)."""
    x = features[keys].copy()
    for key in keys:
        if key in caps:
            x[key] = x[key].clip(upper=caps[key])
    return x


def _logistic_weights(
    features: pd.DataFrame,
    outcome: np.ndarray,
    cutoffs: np.ndarray,
    stats: list[RuleStats],
    caps: dict[str, float],
) -> tuple[dict[str, float], dict[str, Any]]:
    from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
    from sklearn.model_selection import PredefinedSplit

    lift = {s.candidate.key: s.lift for s in stats}
    columns = [s.candidate.key for s in stats if s.supported]
    x_all = _capped(features, columns, caps)
    y = np.asarray(outcome, dtype=int)
    ordered = sorted(set(cutoffs))
    validate = set(ordered[-max(1, len(ordered) // 3) :])
    fold = np.where([c in validate for c in cutoffs], 0, -1)
    details: dict[str, Any] = {"inner_validation_cutoffs": sorted(str(c) for c in validate)}
    chosen_c = None
    dropped: list[str] = []
    coefficients: dict[str, float] = {}
    for _ in range(10):
        x = x_all[columns].to_numpy(dtype=float)
        sd = x.std(axis=0)
        keep = sd > 0
        columns = [c for c, k in zip(columns, keep, strict=True) if k]
        if not columns:
            return {}, {**details, "note": "no candidate with support and spread"}
        x, sd = x[:, keep], sd[keep]
        z = (x - x.mean(axis=0)) / sd
        if chosen_c is None:
            if y[fold == 0].any() and y[fold == -1].any():
                model = LogisticRegressionCV(
                    Cs=list(C_GRID),
                    cv=PredefinedSplit(fold),
                    scoring="neg_log_loss",
                    max_iter=2000,
                )
                with warnings.catch_warnings():  # sklearn 1.9 announces new defaults
                    warnings.simplefilter("ignore", FutureWarning)
                    model.fit(z, y)
                chosen_c = float(model.C_[0])
            else:  # no conversions on one side of the inner split: a moderate default
                chosen_c = 1.0
        model = LogisticRegression(C=chosen_c, max_iter=2000)
        model.fit(z, y)
        beta = model.coef_[0] / sd
        coefficients = dict(zip(columns, beta, strict=True))
        disagree = [
            c for c, b in coefficients.items() if (b > 0 and lift[c] < 1) or (b < 0 and lift[c] > 1)
        ]
        if not disagree:
            break
        dropped += disagree
        columns = [c for c in columns if c not in disagree]
    details.update({"C": chosen_c, "dropped_for_sign": dropped, "coefficients": coefficients})
    return coefficients, details


def _proposal_rows(
    weights: dict[str, float],
    features: pd.DataFrame,
    stats: list[RuleStats],
    caps: dict[str, float],
    settings: Settings,
    catalogue_has_created_at: bool,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Turn weights (log-odds per unit) into rule rows on the lead score's scale."""
    by_key = {s.candidate.key: s for s in stats}
    keys = [k for k, w in weights.items() if w != 0]
    if not keys:
        return [], {"scale": None}
    x = _capped(features, keys, caps)
    w = np.array([weights[k] for k in keys])
    is_fit = np.array([by_key[k].candidate.subscore == "fit" for k in keys])
    eta_fit = x.to_numpy()[:, is_fit] @ w[is_fit] if is_fit.any() else np.zeros(len(x))
    eta_eng = x.to_numpy()[:, ~is_fit] @ w[~is_fit] if (~is_fit).any() else np.zeros(len(x))
    baseline = 0.0
    if catalogue_has_created_at and is_fit.any():
        low = float(np.quantile(eta_fit, BASELINE_QUANTILE))
        baseline = max(0.0, -low)
    spread_fit = float(np.quantile(eta_fit + baseline, SCALE_QUANTILE)) / settings.fit_weight
    spread_eng = float(np.quantile(eta_eng, SCALE_QUANTILE)) / settings.engagement_weight
    spread = max(spread_fit, spread_eng)
    if spread <= 0:
        return [], {"scale": None, "note": "no positive scores to scale"}
    k = 100.0 / spread
    rows = []
    for key, weight in zip(keys, w, strict=True):
        s = by_key[key]
        c = s.candidate
        if c.subscore == "fit":
            points = round(k * weight / settings.fit_weight, 1)
            if points == 0:
                continue
            rows.append(_fit_row(c, points, s))
        else:
            per_event = k * weight / settings.engagement_weight
            points = round(per_event / settings.stage_weight, 2 if c.per_unit else 1)
            if points == 0:
                continue
            cap = abs(points * settings.stage_weight) * (caps.get(key, 1.0) if c.per_unit else 1.0)
            rows.append(_engagement_row(c, points, round(cap, 1), s))
    if baseline > 0:
        points = round(k * baseline / settings.fit_weight, 1)
        if points:
            attribute, operator, value = BASELINE_RULE
            rows.insert(
                0,
                {
                    "subscore": "fit",
                    "rule": attribute,
                    "operator": operator,
                    "rule_value": value,
                    "suggested_points": points,
                    "description": "Baseline every contact starts from (calibration offset, "
                    "so that the rules below can subtract)",
                },
            )
    return rows, {
        "scale": k,
        "baseline": baseline,
        "spread_fit": spread_fit,
        "spread_eng": spread_eng,
    }


def _support(c: Candidate, s: RuleStats) -> dict[str, Any]:
    """What the data say of a candidate, as suggested_rules shows it."""
    return {
        "contacts_with": s.rows,
        "conversion_rate": s.rate,
        "lift": s.lift,
        "description": f"{c.row['description']} (lift {s.lift:.2f} on {s.rows:,} rows)",
    }


def _fit_row(c: Candidate, points: float, s: RuleStats) -> dict[str, Any]:
    row = c.row
    return {
        "subscore": "fit",
        "rule": row["attribute"],
        "operator": row["operator"],
        "rule_value": row["value"],
        "suggested_points": points,
        **_support(c, s),
    }


def _engagement_row(c: Candidate, points: float, cap: float, s: RuleStats) -> dict[str, Any]:
    row = c.row
    return {
        "subscore": "engagement",
        "rule": row["rule"],
        "action": row["action"],
        "source": row["source"],
        "filter_attribute": row.get("filter_attribute"),
        "filter_operator": row.get("filter_operator"),
        "filter_value": row.get("filter_value"),
        "min_count": row.get("min_count"),
        "count_window_days": row.get("count_window_days"),
        "measure": row.get("measure"),
        "measure_unit": row.get("measure_unit"),
        "funnel_stage": "awareness",
        "suggested_points": points,
        "max_points": cap,
        **_support(c, s),
    }


def seed_rows(rows: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A proposal's rows as rows of fit_points.csv and engagement_points.csv (segment default)."""
    fit, engagement = [], []
    for r in rows:
        if r["subscore"] == "fit":
            fit.append(
                {
                    "segment": "default",
                    "attribute": r["rule"],
                    "operator": r["operator"],
                    "value": r.get("rule_value") or "",
                    "contact_points": r["suggested_points"],
                    "account_points": r.get("account_points"),
                    "description": r.get("description"),
                }
            )
        elif r["subscore"] == "engagement":
            engagement.append(
                {
                    "segment": "default",
                    "rule": r["rule"],
                    "action": r["action"],
                    "source": r["source"],
                    "funnel_stage": r.get("funnel_stage") or "awareness",
                    "points": r["suggested_points"],
                    "max_points": r["max_points"],
                    "decay": "none",
                    "filter_attribute": r.get("filter_attribute"),
                    "filter_operator": r.get("filter_operator"),
                    "filter_value": r.get("filter_value"),
                    "min_count": _int_or_none(r.get("min_count")),
                    "count_window_days": _int_or_none(r.get("count_window_days")),
                    "measure": r.get("measure"),
                    "measure_unit": r.get("measure_unit"),
                    "description": r.get("description"),
                }
            )
    return fit, engagement


# --- evaluation --------------------------------------------------------------------------------


def auc(scores: np.ndarray, outcome: np.ndarray) -> float | None:
    """ROC AUC of ``scores`` for ``outcome`` (None when only one class is there)."""
    from sklearn.metrics import roc_auc_score

    outcome = np.asarray(outcome, dtype=bool)
    if outcome.all() or not outcome.any():
        return None
    return float(roc_auc_score(outcome, scores))


def top_decile_lift(frame: pd.DataFrame, scores: Any) -> float | None:
    """Conversion rate of the top 10% by score over the base rate (ties as model_validation)."""
    if frame.empty or not frame["outcome"].any():
        return None
    ranked = frame[["contact_id", "cutoff_date", "outcome"]].assign(score=np.asarray(scores))
    ranked = ranked.sort_values(
        ["score", "contact_id", "cutoff_date"], ascending=[False, True, True]
    )
    top = ranked.head(math.ceil(len(ranked) / 10))
    return float(top["outcome"].mean() / ranked["outcome"].mean())


def thresholds(
    scores: np.ndarray, outcome: np.ndarray, capacity: dict[str, float | None]
) -> tuple[float | None, float | None]:
    """MQL and SQL thresholds on held-out scores: the lowest score above which leads converted
    at MQL_LIFT / SQL_LIFT x the base rate (at least MIN_ROWS leads above it), or the score
    passing the configured share of leads."""
    scores, outcome = np.asarray(scores, dtype=float), np.asarray(outcome, dtype=bool)
    if not len(scores) or not outcome.any():
        return None, None
    order = np.argsort(-scores, kind="stable")
    s, y = scores[order], outcome[order]
    # rate of the leads at or above each distinct score
    last = np.r_[s[1:] != s[:-1], True]
    counts = np.arange(1, len(s) + 1)[last]
    rates = np.cumsum(y)[last] / counts
    values = s[last]
    base = outcome.mean()
    out = []
    for name, lift in (("mql", MQL_LIFT), ("sql", SQL_LIFT)):
        share = capacity.get(name)
        if share:
            out.append(float(np.quantile(scores, 1 - share)))
            continue
        ok = (rates >= lift * base) & (counts >= MIN_ROWS)
        out.append(float(values[ok].min()) if ok.any() else None)
    return out[0], out[1]


def _evaluate(
    name: str,
    frame: pd.DataFrame,
    scores: pd.DataFrame,
    settings: Settings,
    rules: int,
    train: pd.DataFrame,
    cutoffs: tuple[list[date], list[date]],
) -> dict[str, Any]:
    outcome = frame["outcome"].to_numpy(dtype=bool)
    values = scores["score"].to_numpy(dtype=float)
    fresh = frame["fresh"].to_numpy(dtype=bool)
    mql, sql = thresholds(values, outcome, settings.capacity)
    if name == "current":
        mql, sql = settings.mql_threshold, settings.sql_threshold
    return {
        "proposal": name,
        "heldout_auc": auc(values, outcome),
        "heldout_lift_top_decile": top_decile_lift(frame, values),
        "heldout_auc_fresh": auc(values[fresh], outcome[fresh]),
        "heldout_lift_top_decile_fresh": top_decile_lift(frame[fresh], values[fresh]),
        "mql_threshold": mql,
        "sql_threshold": sql,
        "fit_at_0_share": _share(scores.get("fit_score"), lambda v: v <= 0),
        "engagement_at_0_share": _share(scores.get("engagement_score"), lambda v: v <= 0),
        "at_100_share": _share(
            None
            if scores.get("fit_score") is None
            else np.maximum(scores["fit_score"], scores["engagement_score"]),
            lambda v: v >= 100,
        ),
        "rules": rules,
        "train_cutoffs": len(cutoffs[0]),
        "heldout_cutoffs": len(cutoffs[1]),
        "train_rows": len(train),
        "heldout_rows": len(frame),
        "positives": int(outcome.sum()),
        "fresh_rows": int(fresh.sum()),
        "fresh_positives": int(outcome[fresh].sum()),
        "calibrated_on": cutoffs[0][-1],
        "cutoffs": ",".join(d.isoformat() for d in [*cutoffs[0], *cutoffs[1]]),
    }


def _share(values: Any, test: Any) -> float | None:
    if values is None or len(values) == 0:
        return None
    return float(np.mean(test(np.asarray(values, dtype=float))))


# --- the whole calibration ---------------------------------------------------------------------


def _empty_result(note: str, train: list[date], heldout: list[date]) -> CalibrationResult:
    return CalibrationResult(
        suggestions=_typed(pd.DataFrame(columns=list(SUGGESTED_COLUMNS)), SUGGESTED_COLUMNS),
        summary=_typed(pd.DataFrame(columns=list(SUMMARY_COLUMNS)), SUMMARY_COLUMNS),
        train_cutoffs=train,
        heldout_cutoffs=heldout,
        note=note,
    )


def _calibrate(
    sandbox: RuleSandbox,
    settings: Settings,
    train: pd.DataFrame,
    heldout: pd.DataFrame,
    train_cutoffs: list[date],
    heldout_cutoffs: list[date],
) -> CalibrationResult:
    details: dict[str, Any] = {}
    candidates = candidates_for(sandbox.warehouse, settings)
    current_fit = sandbox.seed_rows("fit_points")
    current_engagement = sandbox.seed_rows("engagement_points")
    # 1. every candidate evaluated by the production SQL at every training cut-off
    sandbox.write_seed(
        "fit_points",
        _other_segments(current_fit) + [c.row for c in candidates if c.subscore == "fit"],
    )
    sandbox.write_seed(
        "engagement_points",
        _other_segments(current_engagement)
        + [c.row for c in candidates if c.subscore == "engagement"],
    )
    sandbox.load_seeds(train_cutoffs[-1], "fit_points", "engagement_points")
    ledgers = {}
    for cutoff in train_cutoffs:
        ids = train.loc[train["cutoff_date"] == cutoff, "contact_id"].tolist()
        ledgers[cutoff] = sandbox.ledger(cutoff, ids)
    features = feature_matrix(ledgers, train, candidates, settings.stage_weight)
    y = train["outcome"].to_numpy(dtype=bool)
    stats, base = rule_stats(features, y, candidates)
    caps = {}
    for c in candidates:
        if c.per_unit:
            positive = features[c.key][features[c.key] > 0]
            if len(positive):
                caps[c.key] = max(1.0, float(np.ceil(positive.quantile(MINUTES_CAP_QUANTILE))))
    details.update(
        {
            "candidates": len(candidates),
            "supported": sum(s.supported for s in stats),
            "train_base_rate": base,
        }
    )
    catalogue = read_catalogue(settings.project)
    has_created_at = bool(
        ((catalogue["entity"] + "." + catalogue["property"]) == BASELINE_RULE[0]).any()
    )
    weights = {
        "share": _share_weights(stats),
    }
    weights["logistic"], details["logistic"] = _logistic_weights(
        features, y, train["cutoff_date"].to_numpy(), stats, caps
    )
    # 2. each proposal's rule rows, scored by the production SQL at the held-out cut-offs
    current_points = _current_points(current_fit, current_engagement)
    rows, summary = [], []
    summary.append(
        _evaluate(
            "current",
            heldout,
            heldout[["score"]],  # published scores: their subscores are not at hand
            settings,
            sum(r.get("segment") == "default" for r in current_fit + current_engagement),
            train,
            (train_cutoffs, heldout_cutoffs),
        )
    )
    for proposal in PROPOSALS:
        proposal_rows, scale = _proposal_rows(
            weights[proposal], features, stats, caps, settings, has_created_at
        )
        details[f"{proposal}_scale"] = scale
        fit_rows, engagement_rows = seed_rows(proposal_rows)
        sandbox.write_seed("fit_points", _other_segments(current_fit) + fit_rows)
        sandbox.write_seed(
            "engagement_points", _other_segments(current_engagement) + engagement_rows
        )
        sandbox.load_seeds(
            heldout_cutoffs[-1] if heldout_cutoffs else train_cutoffs[-1],
            "fit_points",
            "engagement_points",
        )
        parts = []
        for cutoff in heldout_cutoffs:
            ids = heldout.loc[heldout["cutoff_date"] == cutoff, "contact_id"].tolist()
            parts.append(sandbox.lead_scores(cutoff, ids).assign(cutoff_date=cutoff))
        scored = (
            heldout[["cutoff_date", "contact_id"]]
            .merge(
                pd.concat(parts) if parts else pd.DataFrame(columns=["cutoff_date", "contact_id"]),
                on=["cutoff_date", "contact_id"],
                how="left",
            )
            .fillna({"score": 0.0, "fit_score": 0.0, "engagement_score": 0.0})
        )
        evaluated = _evaluate(
            proposal,
            heldout,
            scored,
            settings,
            len(proposal_rows),
            train,
            (train_cutoffs, heldout_cutoffs),
        )
        summary.append(evaluated)
        for r in proposal_rows:
            key = (
                ("fit", r["rule"], r.get("operator"), r.get("rule_value") or "")
                if r["subscore"] == "fit"
                else ("engagement", r["rule"])
            )
            rows.append(
                {
                    **r,
                    "proposal": proposal,
                    "current_points": current_points.get(key),
                    "weight": weights[proposal].get(_key_of(r)),
                    "calibrated_on": train_cutoffs[-1],
                }
            )
        for name, value in (
            ("mql", evaluated["mql_threshold"]),
            ("sql", evaluated["sql_threshold"]),
        ):
            current = settings.mql_threshold if name == "mql" else settings.sql_threshold
            rows.append(
                {
                    "proposal": proposal,
                    "subscore": "threshold",
                    "rule": f"{name}_threshold",
                    "current_points": current,
                    "suggested_points": value,
                    "description": (
                        f"{name.upper()} from {settings.capacity[name]:.0%} of leads (capacity)"
                        if settings.capacity[name]
                        else f"{name.upper()}: leads above it converted at "
                        f"{MQL_LIFT if name == 'mql' else SQL_LIFT:g}x the base rate (held out)"
                    ),
                    "calibrated_on": train_cutoffs[-1],
                }
            )
    calibrated_at = datetime.now(UTC)
    summary_frame = _typed(
        pd.DataFrame(
            [{**s, "calibrated_at": calibrated_at} for s in summary], columns=list(SUMMARY_COLUMNS)
        ),
        SUMMARY_COLUMNS,
    )
    note = None
    if not heldout_cutoffs:
        note = "no held-out cut-offs (holdout_cutoffs=0): proposals are not evaluated"
    elif not heldout["outcome"].any():
        note = "no conversions in the held-out window: AUC and lift are empty"
    return CalibrationResult(
        suggestions=_typed(pd.DataFrame(rows, columns=list(SUGGESTED_COLUMNS)), SUGGESTED_COLUMNS),
        summary=summary_frame,
        train_cutoffs=train_cutoffs,
        heldout_cutoffs=heldout_cutoffs,
        note=note,
        details=details,
    )


def _key_of(row: dict[str, Any]) -> str | None:
    if row["subscore"] == "fit":
        label = rule_label(row.get("operator") or "=", row.get("rule_value") or "")
        return fit_key(row["rule"], label)
    if row["subscore"] == "engagement":
        return engagement_key(row["rule"])
    return None


def _current_points(
    fit: list[dict[str, str]], engagement: list[dict[str, str]]
) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for r in fit:
        if r.get("segment") == "default" and (r.get("contact_points") or "").strip():
            key = ("fit", r["attribute"], (r.get("operator") or "=").strip() or "=", r["value"])
            out[key] = float(r["contact_points"])
    for r in engagement:
        if r.get("segment") == "default":
            out[("engagement", (r.get("rule") or "").strip() or r["action"])] = float(r["points"])
    return out


# --- writing -----------------------------------------------------------------------------------


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    frame = frame.copy()
    for name, sql_type in columns.items():
        if sql_type == "double":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif sql_type in ("bigint", "integer"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
        elif sql_type == "varchar":
            frame[name] = frame[name].astype(object).where(frame[name].notna(), None)
    return frame


def write_tables(warehouse: Path, result: CalibrationResult) -> None:
    """Replace marts.suggested_rules and marts.calibration_summary in one transaction."""
    import duckdb

    with duckdb.connect(str(warehouse)) as con:
        con.execute("begin transaction")
        try:
            con.execute("create schema if not exists marts")
            for table, columns, frame in (
                (SUGGESTED_TABLE, SUGGESTED_COLUMNS, result.suggestions),
                (SUMMARY_TABLE, SUMMARY_COLUMNS, result.summary),
            ):
                ddl = ", ".join(f"{name} {sql_type}" for name, sql_type in columns.items())
                con.execute(f"create or replace table {table} ({ddl})")
                if not frame.empty:
                    con.register("calibration_rows", frame[list(columns)])
                    casts = ", ".join(
                        f"cast({name} as {sql_type}) as {name}"
                        for name, sql_type in columns.items()
                    )
                    con.execute(f"insert into {table} select {casts} from calibration_rows")
                    con.unregister("calibration_rows")
            con.execute("commit")
        except Exception:
            con.execute("rollback")
            raise


# --- adopt: rewrite the seeds ------------------------------------------------------------------


def adopt(
    proposal: str,
    *,
    project: Path | None = None,
    parts: tuple[str, ...] = PARTS,
    dry_run: bool = True,
    warehouse: Path | None = None,
) -> list[str]:
    """Rewrite the seeds with ``proposal``'s rule rows and thresholds; return the diff.

    fit: the segment default rows of ``fit_points.csv`` become the proposal's fit rules (a row
    already there keeps its account_points; a row the proposal leaves out keeps only its
    account_points, so accounts score as before). engagement: the segment default rows of
    ``engagement_points.csv`` become the proposal's. thresholds: the default row of
    ``segment_settings.csv`` gets the proposed MQL / SQL thresholds. Rows of other segments
    stay as they are. ``dry_run`` only prints the diff. Review, rerun dbt and commit.
    """
    import duckdb

    if proposal not in PROPOSALS:
        raise ValueError(f"proposal must be one of {', '.join(PROPOSALS)}, not {proposal!r}")
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        raise ValueError(f"parts must be among {', '.join(PARTS)}, not {', '.join(unknown)}")
    project = project or config.dbt_project_dir()
    warehouse = warehouse or config.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not _has_table(con, "marts", "suggested_rules"):
            raise ValueError(f"{warehouse} has no {SUGGESTED_TABLE}: run calibrate first")
        frame = con.execute(
            f"select * from {SUGGESTED_TABLE} where proposal = $p", {"p": proposal}
        ).df()
    if frame.empty:
        raise ValueError(f"{SUGGESTED_TABLE} has no {proposal} proposal: run calibrate first")
    rows = [
        {k: (None if _missing(v) else v) for k, v in r.items()} for r in frame.to_dict("records")
    ]
    fit_rows, engagement_rows = seed_rows(rows)
    seeds = project / "seeds"
    changes: list[tuple[Path, str, str]] = []
    if "fit" in parts and fit_rows:
        path = seeds / "fit_points.csv"
        old = path.read_text()
        changes.append((path, old, _adopt_fit(old, fit_rows)))
    if "engagement" in parts and engagement_rows:
        path = seeds / "engagement_points.csv"
        old = path.read_text()
        changes.append((path, old, _replace_default_rows(old, engagement_rows, ("rule",))))
    if "thresholds" in parts:
        values = {
            r["rule"]: r["suggested_points"]
            for r in rows
            if r["subscore"] == "threshold" and r["suggested_points"] is not None
        }
        if values:
            path = seeds / "segment_settings.csv"
            old = path.read_text()
            changes.append((path, old, _set_thresholds(old, values)))
    diff = []
    for path, old, new in changes:
        diff += [
            line.rstrip("\n")
            for line in difflib.unified_diff(
                old.splitlines(keepends=True),
                new.splitlines(keepends=True),
                fromfile=f"{path.name} (now)",
                tofile=f"{path.name} ({proposal})",
                n=0,
            )
        ]
    if dry_run:
        print("\n".join(diff) if diff else "nothing to change")
        return diff
    for path, old, new in changes:
        if new != old:
            partial = path.with_name(f".{path.name}.adopt.tmp")
            partial.write_text(new)
            os.replace(partial, path)
    log.warning("adopted %s (%s): %d diff lines", proposal, ", ".join(parts), len(diff))
    return diff


def _replace_default_rows(text: str, new_rows: list[dict[str, Any]], key: tuple[str, ...]) -> str:
    """Segment default rows replaced by ``new_rows`` (in place where the key matches)."""
    columns, rows = parse_seed(text)
    new_by_key = {tuple(str(r.get(k) or "") for k in key): r for r in new_rows}
    out, used = [], set()
    for row in rows:
        if row.get("segment") != "default":
            out.append(row)
            continue
        k = tuple(row.get(c) or "" for c in key)
        if k in new_by_key:
            out.append(new_by_key[k])
            used.add(k)
    out += [r for k, r in new_by_key.items() if k not in used]
    return format_seed(columns, out)


def _adopt_fit(text: str, new_rows: list[dict[str, Any]]) -> str:
    columns, rows = parse_seed(text)

    def key(row: dict[str, Any]) -> tuple[str, str, str]:
        operator = (row.get("operator") or "").strip() or "="
        return (str(row.get("attribute") or ""), operator, str(row.get("value") or ""))

    new_by_key = {key(r): dict(r) for r in new_rows}
    out, used = [], set()
    for row in rows:
        if row.get("segment") != "default":
            out.append(row)
            continue
        k = key(row)
        account = (row.get("account_points") or "").strip()
        if k in new_by_key:
            out.append({**new_by_key[k], "account_points": account or None})
            used.add(k)
        elif account and float(account) != 0:
            out.append({**row, "contact_points": None})  # accounts keep scoring by it
    out += [r for k, r in new_by_key.items() if k not in used]
    return format_seed(columns, out)


def _set_thresholds(text: str, values: dict[str, float]) -> str:
    columns, rows = parse_seed(text)
    for row in rows:
        if row.get("segment") == "default":
            for name, value in values.items():
                if name in columns:
                    row[name] = _number_text(value)
    return format_seed(columns, rows)


# --- helpers -----------------------------------------------------------------------------------


def _number_text(value: float) -> str:
    value = round(float(value), 1)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value) or value is pd.NA


def _int_or_none(value: Any) -> int | None:
    return None if _missing(value) else int(value)


def _float_or_none(value: Any) -> float | None:
    return None if value in (None, "") else float(value)


def _none_if_nan(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _fmt(value: Any, digits: int = 3) -> str:
    value = _none_if_nan(value)
    return "-" if value is None else f"{value:.{digits}f}"


def _pct(value: Any) -> str:
    value = _none_if_nan(value)
    return "-" if value is None else f"{value:.0%}"
