"""Calibrate the points tables against what happened: suggested points, never adopted by itself.

The points in ``seeds/fit_points.csv`` and ``seeds/engagement_points.csv`` are set by hand.
``marts.rule_history`` keeps the rules every contact had on each validation cut-off (day
``validation_day_of_month`` of each month) and ``marts.score_history`` the published score, so
for every cut-off whose outcome window is over we know who converted afterwards: a won deal
closed in ``(cut-off, cut-off + horizon]``. The population is the one ``model_validation`` uses:
contacts scored at the cut-off, not customers, without a won deal closed on or before it.

Time split
    Complete cut-offs (cut-off + horizon <= the newest score date in score_history, and within
    ``validation_lookback_days`` before it, as model_validation pools them), oldest first. The
    newest ``holdout_cutoffs`` of them are the held-out window; the older ones train. Every
    number the proposals use (base rate, supports, smoothing, standardisation, regularisation
    strength, coefficients) comes from the training rows only; the held-out rows are only scored.
    Note: the outcome windows of the newest training cut-offs reach into the held-out period
    (a deal closed then is an outcome of both), as they would for anyone calibrating on the day.

Features (one row per contact and cut-off)
    fit: one 0/1 feature per fit rule (attribute = value) of the segment default rows.
        rule_history keeps rules worth 0 points too (Government, size band 1-9, hr, ...), so
        such values get a suggestion like any other.
    engagement: per action, ``share`` counts contacts who *did it* (the action's points at the
        cut-off are not 0: it still counts), because a count of converters needs a yes/no;
        ``logistic`` uses the action's decayed, capped points as rule_history has them, because
        recency carries most of engagement's signal (a demo request last week is not one ten
        months ago) and because points are what the seed scales: the coefficient per point
        says directly by how much to scale the action's per-event points.

Proposal ``share`` (a points table from counts, as marketers build one)
    Per rule: contacts_with = training rows (contact-cut-offs) with the rule, the conversion
    rate smoothed toward the training base rate p0 with a Beta prior worth PRIOR_POSITIVES (2)
    conversions: rate = (k + 2) / (n + 2 / p0), lift = rate / p0. With this shrinkage a rule
    nobody with it converted on needs more than 2 / p0 rows before its lift falls below 0.5.
    Minimum support: MIN_ROWS (30) rows and at least MIN_EXPECTED_POSITIVES / p0 (two
    conversions expected at the base rate); rules with less get no suggestion (null).
    Fit attributes with positive points: points = max contact_points of the attribute today x
    rate / rate of the attribute's best supported value (the best value keeps the attribute's
    maximum, so the fit scale of fit_points.csv stays). A value converting at under half the
    base rate (smoothed lift < 0.5; the shrinkage means that takes evidence, not luck) argues
    against buying: it gets -scale x (0.5 - lift) / 0.5, scale = the attribute's largest
    absolute points: 0 at half the base rate down to -scale for a value that never converts.
    Penalty rules keep their sign: attributes whose points are all negative (email_domain) and
    negative engagement actions get -scale x max(0, 1 - lift), scale = the largest absolute
    points among them (0 when the data do not show a penalty, -scale when they never convert).
    Positive engagement actions get the largest positive action points today (demo request 40)
    x (lift - 1) / (best positive action's lift - 1), at least 0: unlike a fit attribute, which
    every contact has some value of, an action is done or not, and one that converts at the
    base rate (opening emails, if that does not matter) should add nothing, not a share of the
    best action's points. Suggested points are rounded to whole points.

Proposal ``logistic``
    L2-regularised logistic regression (Newton / IRLS in numpy) on the fit indicators and the
    engagement points of the rules with support; features standardised on the training rows,
    intercept not penalised. The strength is chosen on the training window alone: the newest
    third of the training cut-offs (at least one) validates, the rest fit, over a grid of 11
    strengths by validation log-loss; then the chosen strength is refitted on all training rows.
    Coefficients to points, one scale for the whole lead score:
    * fit: points = k x coefficient (log-odds against the reference group), k such that a
      perfect fit (the best value of every attribute) is worth what it is worth today (the sum
      of every attribute's largest positive contact_points, 95 out of the box);
    * engagement: the lead score weighs engagement by w_e and fit by w_f, so one log-odds unit
      is worth k x w_f / w_e engagement points; the action's ledger points (points x stage
      weight x decay, before its cap) should be scaled by f = k x (w_f / w_e) x coefficient per
      point, i.e. suggested points = current points x f, with f < 0 clamped to 0 (the sign
      conventions of engagement_points stay: bounces never become a reward).

Scoring a proposal (held-out AUC and lift)
    As dbt does: fit = the sum of the contact's fit rule points (suggested where there is a
    suggestion, today's otherwise) limited to 0-100 (fit_scores); engagement = the action's
    rule_history points x suggested / current points, capped at the action's max_points, summed
    and limited to 0-100; lead = round(w_f x fit + w_e x engagement, 1) with the segment default
    weights (segment_settings, else dbt vars lead_fit_weight / lead_engagement_weight). With
    today's points this reproduces lead_scores exactly; with changed points it is exact except
    for an action already at its cap whose points go down (rule_history has only the capped
    value, so the new value is a lower bound). "current" is the published score
    (score_history.score). AUC = Mann-Whitney (ties count half) over the pooled held-out
    contact-cut-offs; lift of the top decile = conversion rate of the top 10% (ntile(10) by
    score, ties by contact id and cut-off, as model_validation) over the held-out base rate.

Output (``write``: both tables replaced in one transaction; runs in the duckdb_writer pool)
    ``marts.suggested_rules``: proposal, subscore, rule (attribute or action), rule_value (fit
    value; null for engagement), current_points, suggested_points (null: no suggestion),
    contacts_with (training contact-cut-offs with the rule), conversion_rate (smoothed) and
    lift (smoothed rate over the training base rate; both null without rows), calibrated_on
    (newest training cut-off). Every default seed row is listed, with or without a suggestion.
    ``marts.calibration_summary``: per proposal (current, share, logistic) held-out AUC and
    top-decile lift, cut-offs and rows of both windows, positives (held-out conversions) and
    calibrated_at. Too little history (fewer than 2 training cut-offs, no training conversions)
    writes both tables empty and the result's ``note`` says why; it never raises for that.

Nothing is adopted automatically: ``adopt`` rewrites a seed's points column from a proposal,
for a human to review (dry run by default) and commit.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import math
import os
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore import config

log = logging.getLogger(__name__)

PROPOSALS = ("share", "logistic")
SUBSCORES = ("fit", "engagement")
SUGGESTED_TABLE = "marts.suggested_rules"
SUMMARY_TABLE = "marts.calibration_summary"

#: Fewer training cut-offs than this: nothing to calibrate (no time split inside training).
MIN_TRAIN_CUTOFFS = 2
#: Beta prior on a rule's conversion rate: worth this many conversions at the base rate.
PRIOR_POSITIVES = 2.0
#: A rule needs at least this many training rows and MIN_EXPECTED_POSITIVES at the base rate.
MIN_ROWS = 30
MIN_EXPECTED_POSITIVES = 2.0
#: Below this smoothed lift a value of a positive fit attribute gets negative points.
NEGATIVE_LIFT = 0.5
#: L2 strengths tried for the logistic proposal (on standardised features, mean log-loss).
L2_GRID = tuple(10.0**e for e in np.arange(-4.0, 1.01, 0.5))

SUGGESTED_COLUMNS = {
    "proposal": "varchar",
    "subscore": "varchar",
    "rule": "varchar",
    "rule_value": "varchar",
    "current_points": "double",
    "suggested_points": "double",
    "contacts_with": "bigint",
    "conversion_rate": "double",
    "lift": "double",
    "calibrated_on": "date",
}
SUMMARY_COLUMNS = {
    "proposal": "varchar",
    "heldout_auc": "double",
    "heldout_lift_top_decile": "double",
    "train_cutoffs": "integer",
    "heldout_cutoffs": "integer",
    "train_rows": "bigint",
    "heldout_rows": "bigint",
    "positives": "bigint",
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

    def auc(self, proposal: str) -> float | None:
        rows = self.summary[self.summary["proposal"] == proposal]
        return None if rows.empty else _none_if_nan(rows["heldout_auc"].iloc[0])

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
                    "lift_top_decile": _none_if_nan(row.heldout_lift_top_decile),
                }
                for row in self.summary.itertuples()
            },
            "suggestions": int(self.suggestions["suggested_points"].notna().sum()),
        }

    def lines(self) -> list[str]:
        """What a person reads: the split, each proposal's held-out AUC and lift, the note."""
        out = []
        if self.train_cutoffs:
            out.append(
                f"trained on {len(self.train_cutoffs)} cut-offs "
                f"({self.train_cutoffs[0]}..{self.train_cutoffs[-1]}), held out "
                f"{len(self.heldout_cutoffs)}"
                + (
                    f" ({self.heldout_cutoffs[0]}..{self.heldout_cutoffs[-1]})"
                    if self.heldout_cutoffs
                    else ""
                )
            )
        for row in self.summary.itertuples():
            out.append(
                f"  {row.proposal:<9} held-out AUC {_fmt(row.heldout_auc)}  "
                f"top-decile lift {_fmt(row.heldout_lift_top_decile, 2)}  "
                f"({row.heldout_rows:,} contact-cut-offs, {row.positives:,} converted)"
            )
        if self.note:
            out.append(f"note: {self.note}")
        where = "written to" if self.written else "not written (dry run):"
        out.append(f"{where} {SUGGESTED_TABLE}, {SUMMARY_TABLE} in {self.seconds:.1f} s")
        return out


@dataclass
class Seeds:
    """Today's points tables (segment default rows) and lead score weights."""

    fit: dict[tuple[str, str], float]  # (attribute, value) -> contact_points
    engagement: dict[str, tuple[float, float]]  # action -> (points, max_points)
    fit_weight: float
    engagement_weight: float


# --- entry points ------------------------------------------------------------------------------


def calibrate_advisory() -> dict:
    """``calibrate()`` for the daily run: suggestions are advice, so they never hold back today's
    scores. Too little history already writes empty tables with a note; any other error is
    logged and the run goes on to publish (the previous suggestions stay: both tables are
    replaced in one transaction or not at all)."""
    try:
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
) -> CalibrationResult:
    """Suggest points from the history in ``warehouse``; with ``write``, replace the two tables."""
    began = time.perf_counter()
    warehouse = warehouse or config.warehouse_path()
    if not warehouse.exists():  # a wrong path, not a short history: say so
        raise FileNotFoundError(f"no warehouse at {warehouse}")
    project = project or config.dbt_project_dir()
    seeds = load_seeds(project)
    variables = _dbt_vars(project)  # the same windows as marts.model_validation
    if lookback_days is None:
        lookback_days = int(variables.get("validation_lookback_days") or 365)
    if horizon_days is None:
        horizon_days = int(variables.get("validation_horizon_days") or 90)
    frame, rules, note = load_history(
        warehouse, horizon_days=horizon_days, lookback_days=lookback_days
    )
    result = _calibrate_frame(frame, rules, seeds, holdout_cutoffs=holdout_cutoffs, note=note)
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


def adopt(
    proposal: str,
    *,
    project: Path | None = None,
    subscore: str = "fit",
    dry_run: bool = True,
    warehouse: Path | None = None,
) -> list[str]:
    """Rewrite a seed's points column with ``proposal``'s suggested points; return the diff.

    fit: ``fit_points.csv`` ``contact_points`` of segment default rows; engagement:
    ``engagement_points.csv`` ``points`` of segment default rows. Every other column, the row
    order and rows without a suggestion stay as they are (byte for byte). ``dry_run`` only
    prints the diff. Review, rerun dbt and commit: the next run's drift check will see it.
    """
    if proposal not in PROPOSALS:
        raise ValueError(f"proposal must be one of {', '.join(PROPOSALS)}, not {proposal!r}")
    if subscore not in SUBSCORES:
        raise ValueError(f"subscore must be one of {', '.join(SUBSCORES)}, not {subscore!r}")
    import duckdb

    project = project or config.dbt_project_dir()
    warehouse = warehouse or config.warehouse_path()
    with duckdb.connect(str(warehouse), read_only=True) as con:
        if not _has_table(con, "marts", "suggested_rules"):
            raise ValueError(f"{warehouse} has no {SUGGESTED_TABLE}: run calibrate first")
        rows = con.execute(
            f"""select rule, rule_value, suggested_points from {SUGGESTED_TABLE}
            where proposal = $p and subscore = $s and suggested_points is not null""",
            {"p": proposal, "s": subscore},
        ).fetchall()
    if not rows:
        raise ValueError(f"{SUGGESTED_TABLE} has no {proposal} suggestions for {subscore}")
    if subscore == "fit":
        path, column = project / "seeds" / "fit_points.csv", "contact_points"
        suggested = {("default", r[0], r[1]): float(r[2]) for r in rows}
        key_columns = ("segment", "attribute", "value")
    else:
        path, column = project / "seeds" / "engagement_points.csv", "points"
        suggested = {("default", r[0]): float(r[2]) for r in rows}
        key_columns = ("segment", "action")
    old_text = path.read_text()
    new_text = _rewrite_column(old_text, column, key_columns, suggested)
    diff = [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old_text.splitlines(keepends=True),
            new_text.splitlines(keepends=True),
            fromfile=f"{path.name} (now)",
            tofile=f"{path.name} ({proposal})",
            n=0,
        )
    ]
    notes = []
    if subscore == "engagement":  # an action's sum is capped: points beyond it change little
        caps = load_seeds(project).engagement
        notes = [
            f"note: {action} {points:g} points exceed its max_points {caps[action][1]:g}; "
            "the cap limits what one contact gets from it (edit max_points too if intended)"
            for (_, action), points in suggested.items()
            if action in caps and abs(points) > caps[action][1]
        ]
    if dry_run:
        print("\n".join([*diff, *notes]) if diff else f"{path.name}: nothing to change")
        return diff
    for note in notes:
        log.warning(note)
    if new_text != old_text:
        partial = path.with_name(f".{path.name}.adopt.tmp")
        partial.write_text(new_text)
        os.replace(partial, path)
        log.warning("adopted %s %s points into %s (%d lines)", proposal, subscore, path, len(diff))
    return diff


# --- reading -----------------------------------------------------------------------------------


def _dbt_vars(project: Path) -> dict[str, Any]:
    return config.dbt_vars(project)


def load_seeds(project: Path) -> Seeds:
    """Segment default rows of the points tables and the default segment's lead weights."""
    seeds = project / "seeds"
    fit = pd.read_csv(seeds / "fit_points.csv", dtype=str, keep_default_na=False)
    fit = fit[fit["segment"] == "default"]
    engagement = pd.read_csv(seeds / "engagement_points.csv", dtype=str, keep_default_na=False)
    engagement = engagement[engagement["segment"] == "default"]
    variables = _dbt_vars(project)
    weights = {
        "lead_fit_weight": float(variables.get("lead_fit_weight", 0.4)),
        "lead_engagement_weight": float(variables.get("lead_engagement_weight", 0.6)),
    }
    settings_path = seeds / "segment_settings.csv"
    if settings_path.exists():
        settings = pd.read_csv(settings_path, dtype=str, keep_default_na=False)
        for row in settings[settings["segment"] == "default"].to_dict("records"):
            for name in weights:
                if row.get(name, "").strip():
                    weights[name] = float(row[name])
    return Seeds(
        fit={(r.attribute, r.value): float(r.contact_points) for r in fit.itertuples()},
        engagement={
            r.action: (float(r.points), float(r.max_points)) for r in engagement.itertuples()
        },
        fit_weight=weights["lead_fit_weight"],
        engagement_weight=weights["lead_engagement_weight"],
    )


def _has_table(con: Any, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            """select count(*) from duckdb_tables()
            where schema_name = $s and table_name = $t""",
            {"s": schema, "t": table},
        ).fetchone()[0]
        or con.execute(
            """select count(*) from duckdb_views()
            where schema_name = $s and view_name = $t""",
            {"s": schema, "t": table},
        ).fetchone()[0]
    )


def load_history(
    warehouse: Path, *, horizon_days: int = 90, lookback_days: int = 365
) -> tuple[pd.DataFrame, pd.DataFrame, str | None]:
    """The population at every complete cut-off and the rules its contacts had then.

    Returns ``(frame, rules, note)``: frame has cutoff_date, contact_id, score (published lead
    score) and outcome; rules has cutoff_date, contact_id, subscore, rule, rule_value, points.
    """
    import duckdb

    empty_frame = pd.DataFrame(
        {"cutoff_date": [], "contact_id": [], "score": [], "outcome": []}
    ).astype({"score": float, "outcome": bool})
    empty_rules = pd.DataFrame(
        columns=["cutoff_date", "contact_id", "subscore", "rule", "rule_value", "points"]
    )
    with duckdb.connect(str(warehouse), read_only=True) as con:
        missing = [
            name
            for name in ("marts.rule_history", "marts.score_history", "staging.stg_crm__deals")
            if not _has_table(con, *name.split("."))
        ]
        if missing:
            return empty_frame, empty_rules, f"nothing to calibrate: no {', '.join(missing)}"
        newest = con.execute(
            "select max(score_date) from marts.score_history where entity_type = 'contact'"
        ).fetchone()[0]
        if newest is None:
            return empty_frame, empty_rules, "nothing to calibrate: score_history is empty"
        cutoffs = [
            r[0]
            for r in con.execute(
                """select distinct score_date from marts.rule_history
                where score_date in (select score_date from marts.score_history)
                order by 1"""
            ).fetchall()
            if r[0] + timedelta(days=horizon_days) <= newest
            and r[0] > newest - timedelta(days=horizon_days + lookback_days)
        ]
        if not cutoffs:
            return (
                empty_frame,
                empty_rules,
                f"nothing to calibrate: no cut-off in rule_history is {horizon_days} days older "
                f"than the newest score date {newest}",
            )
        params = {"cutoffs": cutoffs, "horizon": horizon_days}
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
                ) as outcome
            from marts.score_history as history
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
            params,
        ).df()
        rules = con.execute(
            """select score_date as cutoff_date, contact_id, subscore, rule, rule_value,
                cast(points as double) as points
            from marts.rule_history
            where score_date in (select unnest($cutoffs::date[]))
                and subscore in ('fit', 'engagement')""",
            {"cutoffs": cutoffs},
        ).df()
    frame["cutoff_date"] = pd.to_datetime(frame["cutoff_date"]).dt.date
    rules["cutoff_date"] = pd.to_datetime(rules["cutoff_date"]).dt.date
    return frame, rules, None


# --- features ----------------------------------------------------------------------------------


def fit_key(attribute: str, value: str) -> str:
    return f"fit:{attribute}={value}"


def engagement_key(action: str) -> str:
    return f"engagement:{action}"


def build_features(frame: pd.DataFrame, rules: pd.DataFrame) -> pd.DataFrame:
    """One row per frame row: fit indicators (0/1) and engagement points per action."""
    index = pd.MultiIndex.from_frame(frame[["cutoff_date", "contact_id"]])
    fit = rules[rules["subscore"] == "fit"]
    engagement = rules[rules["subscore"] == "engagement"]
    parts = []
    if not fit.empty:
        keys = "fit:" + fit["rule"].astype(str) + "=" + fit["rule_value"].astype(str)
        wide = (
            fit.assign(feature=keys, one=1.0)
            .pivot_table(
                index=["cutoff_date", "contact_id"], columns="feature", values="one", aggfunc="max"
            )
            .reindex(index)
        )
        parts.append(wide)
    if not engagement.empty:
        wide = (
            engagement.assign(feature="engagement:" + engagement["rule"].astype(str))
            .pivot_table(
                index=["cutoff_date", "contact_id"],
                columns="feature",
                values="points",
                aggfunc="sum",
            )
            .reindex(index)
        )
        parts.append(wide)
    if not parts:
        return pd.DataFrame(index=index)
    features = pd.concat(parts, axis=1).fillna(0.0)
    features.columns.name = None
    return features


# --- scoring -----------------------------------------------------------------------------------


def auc(scores: Any, outcomes: Any) -> float | None:
    """Mann-Whitney AUC: the chance a converter scored above a non-converter, ties half."""
    scores = np.asarray(scores, dtype=float)
    outcomes = np.asarray(outcomes, dtype=bool)
    positives = int(outcomes.sum())
    negatives = len(outcomes) - positives
    if positives == 0 or negatives == 0:
        return None
    ranks = pd.Series(scores).rank(method="average").to_numpy()
    return float(
        (ranks[outcomes].sum() - positives * (positives + 1) / 2) / (positives * negatives)
    )


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


def lead_scores(
    features: pd.DataFrame,
    seeds: Seeds,
    fit_points: dict[tuple[str, str], float] | None = None,
    engagement_points: dict[str, float] | None = None,
) -> np.ndarray:
    """Lead score per row as dbt computes it, with some rules' points replaced.

    ``fit_points`` / ``engagement_points`` override today's points of those rules; an action's
    rule_history points are scaled by new / today's points and capped at its max_points.
    """
    fit_points = {**seeds.fit, **(fit_points or {})}
    engagement_points = engagement_points or {}
    fit = np.zeros(len(features))
    engagement = np.zeros(len(features))
    for column in features.columns:
        values = features[column].to_numpy(dtype=float)
        if column.startswith("fit:"):
            attribute, value = column[len("fit:") :].split("=", 1)
            fit += values * fit_points.get((attribute, value), 0.0)
        else:
            action = column[len("engagement:") :]
            current, cap = seeds.engagement.get(action, (0.0, math.inf))
            new = engagement_points.get(action, current)
            if new != current:
                values = np.clip(values * (new / current if current else 0.0), -cap, cap)
            engagement += values
    fit = _round1(np.clip(fit, 0, 100))
    engagement = _round1(np.clip(engagement, 0, 100))
    return _round1(seeds.fit_weight * fit + seeds.engagement_weight * engagement)


def _round1(values: np.ndarray) -> np.ndarray:
    """round(x, 1) as DuckDB does for non-negative x: half away from zero, not numpy's even."""
    return np.floor(np.asarray(values) * 10 + 0.5 + 1e-9) / 10


# --- proposals ---------------------------------------------------------------------------------


@dataclass
class RuleStats:
    subscore: str
    rule: str
    rule_value: str | None
    column: str
    rows: int
    positives: int
    rate: float  # smoothed
    lift: float  # smoothed rate / base rate
    supported: bool


def rule_stats(
    features: pd.DataFrame, outcome: np.ndarray, seeds: Seeds
) -> tuple[list[RuleStats], float, float]:
    """Support and smoothed conversion of every seed rule on the training rows."""
    outcome = np.asarray(outcome, dtype=bool)
    base = float(outcome.mean())
    prior_rows = PRIOR_POSITIVES / base
    min_rows = max(MIN_ROWS, math.ceil(MIN_EXPECTED_POSITIVES / base))
    keys: list[tuple[str, str, str | None, str]] = [
        ("fit", a, v, fit_key(a, v)) for a, v in seeds.fit
    ]
    keys += [("engagement", a, None, engagement_key(a)) for a in seeds.engagement]
    known = {k[3] for k in keys}
    for column in features.columns:  # rules in the history but no longer in the seeds
        if column not in known:
            subscore, name = column.split(":", 1)
            rule, _, value = name.partition("=")
            keys.append((subscore, rule, value if subscore == "fit" else None, column))
    stats = []
    for subscore, rule, value, column in keys:
        has = (
            features[column].to_numpy() != 0
            if column in features.columns
            else np.zeros(len(outcome), dtype=bool)
        )
        rows, positives = int(has.sum()), int(outcome[has].sum())
        rate = (positives + PRIOR_POSITIVES) / (rows + prior_rows)
        stats.append(
            RuleStats(
                subscore, rule, value, column, rows, positives, rate, rate / base, rows >= min_rows
            )
        )
    return stats, base, min_rows


def share_points(stats: list[RuleStats], seeds: Seeds) -> dict[str, float]:
    """Proposal ``share``: points from smoothed conversion rates (see the module docstring)."""
    points: dict[str, float] = {}
    by_attribute: dict[str, list[RuleStats]] = {}
    for s in stats:
        if s.subscore == "fit":
            by_attribute.setdefault(s.rule, []).append(s)
    for attribute, values in by_attribute.items():
        current = [seeds.fit.get((attribute, v.rule_value), 0.0) for v in values]
        scale = max((abs(c) for c in current), default=0.0)
        top = max(current, default=0.0)
        supported = [v for v in values if v.supported]
        if not supported or scale == 0:
            continue
        best = max(v.rate for v in supported)
        for v in supported:
            if top <= 0:  # a penalty attribute (email_domain): never a reward
                suggested = _penalty(scale, v.lift, 1.0)
            elif v.lift < NEGATIVE_LIFT:
                suggested = _penalty(scale, v.lift, NEGATIVE_LIFT)
            else:
                suggested = top * v.rate / best
            points[v.column] = suggested
    actions = [s for s in stats if s.subscore == "engagement" and s.supported]
    positive = [s for s in actions if seeds.engagement.get(s.rule, (0.0, 0.0))[0] > 0]
    negative = [s for s in actions if seeds.engagement.get(s.rule, (0.0, 0.0))[0] < 0]
    if positive:
        top = max(seeds.engagement[s.rule][0] for s in positive)
        best = max(s.lift for s in positive)
        for s in positive:
            points[s.column] = top * max(0.0, s.lift - 1.0) / (best - 1.0) if best > 1 else 0.0
    if negative:
        scale = max(abs(seeds.engagement[s.rule][0]) for s in negative)
        for s in negative:
            points[s.column] = _penalty(scale, s.lift, 1.0)
    return {k: float(round(v)) + 0.0 for k, v in points.items()}


def _penalty(scale: float, lift: float, zero_at: float) -> float:
    """0 at lift ``zero_at``, -scale at lift 0, linear in between (never positive)."""
    return -scale * max(0.0, zero_at - lift) / zero_at


def _sigmoid(eta: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(eta, -35.0, 35.0)))


def fit_logistic(
    x: np.ndarray, y: np.ndarray, strength: float, iterations: int = 100
) -> np.ndarray:
    """L2 logistic regression by Newton's method: minimises mean log-loss + strength/2 |w|^2.

    ``x`` without intercept column; returns ``[intercept, *w]`` (intercept not penalised).
    """
    n, p = x.shape
    design = np.column_stack([np.ones(n), x])
    penalty = np.full(p + 1, strength)
    penalty[0] = 1e-10
    base = min(max(float(y.mean()), 1e-6), 1 - 1e-6)
    beta = np.zeros(p + 1)
    beta[0] = math.log(base / (1 - base))

    def loss(b: np.ndarray) -> float:
        eta = design @ b
        return float(np.mean(np.logaddexp(0.0, eta) - y * eta) + 0.5 * np.sum(penalty * b * b))

    current = loss(beta)
    for _ in range(iterations):
        mu = _sigmoid(design @ beta)
        gradient = design.T @ (mu - y) / n + penalty * beta
        hessian = (design.T * (mu * (1 - mu))) @ design / n + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        size = 1.0
        while size > 1e-4:  # backtracking: Newton steps can overshoot on separable data
            candidate = beta - size * step
            new = loss(candidate)
            if new <= current + 1e-12:
                break
            size /= 2
        beta, previous, current = candidate, current, new
        if np.max(np.abs(size * step)) < 1e-8 or previous - current < 1e-12:
            break
    return beta


def _log_loss(beta: np.ndarray, x: np.ndarray, y: np.ndarray) -> float:
    eta = beta[0] + x @ beta[1:]
    return float(np.mean(np.logaddexp(0.0, eta) - y * eta))


def logistic_points(
    features: pd.DataFrame,
    outcome: np.ndarray,
    cutoffs: np.ndarray,
    stats: list[RuleStats],
    seeds: Seeds,
) -> tuple[dict[str, float], dict[str, Any]]:
    """Proposal ``logistic``: coefficients on points scales (see the module docstring)."""
    columns = [s.column for s in stats if s.supported and s.column in features.columns]
    x = features[columns].to_numpy(dtype=float)
    y = np.asarray(outcome, dtype=float)
    keep = x.std(axis=0) > 0
    columns = [c for c, k in zip(columns, keep, strict=True) if k]
    x = x[:, keep]
    if not columns:
        return {}, {"note": "no feature with support"}

    def standardise(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean, sd = x[rows].mean(axis=0), x[rows].std(axis=0)
        sd[sd == 0] = 1.0
        return mean, sd, (x - mean) / sd

    ordered = sorted(set(cutoffs))
    validate = set(ordered[-max(1, len(ordered) // 3) :])
    inner_val = np.array([c in validate for c in cutoffs])
    inner_fit = ~inner_val
    losses: dict[float, float] = {}
    if y[inner_fit].sum() > 0 and y[inner_val].sum() > 0:
        _, _, z = standardise(inner_fit)
        for strength in L2_GRID:
            beta = fit_logistic(z[inner_fit], y[inner_fit], strength)
            losses[strength] = _log_loss(beta, z[inner_val], y[inner_val])
        chosen = min(losses, key=losses.get)
    else:
        chosen = 1e-2  # no conversions on one side of the inner split: a moderate default
    all_rows = np.ones(len(y), dtype=bool)
    _, sd, z = standardise(all_rows)
    beta = fit_logistic(z, y, chosen)
    coefficients = dict(zip(columns, beta[1:] / sd, strict=True))

    fit_columns = [c for c in columns if c.startswith("fit:")]
    best_per_attribute: dict[str, float] = {}
    for c in fit_columns:
        attribute = c[len("fit:") :].split("=", 1)[0]
        best_per_attribute[attribute] = max(best_per_attribute.get(attribute, 0.0), coefficients[c])
    current_best: dict[str, float] = {}
    for (attribute, _), points in seeds.fit.items():
        current_best[attribute] = max(current_best.get(attribute, 0.0), points)
    perfect_now = sum(current_best.values())
    perfect_learned = sum(best_per_attribute.values())
    if perfect_learned > 0:
        scale = perfect_now / perfect_learned
    else:  # no fit value raises conversion: scale by the largest effect instead
        largest = max((abs(coefficients[c]) for c in fit_columns), default=0.0)
        scale = perfect_now / largest if largest else 0.0
    points = {c: scale * coefficients[c] for c in fit_columns}
    engagement_scale = scale * seeds.fit_weight / seeds.engagement_weight
    for c in columns:
        if c.startswith("engagement:"):
            action = c[len("engagement:") :]
            current = seeds.engagement.get(action, (0.0, 0.0))[0]
            points[c] = current * max(0.0, engagement_scale * coefficients[c])
    details = {
        "l2_strength": chosen,
        "inner_validation_cutoffs": sorted(str(c) for c in validate),
        "inner_validation_log_loss": {f"{k:g}": round(v, 6) for k, v in losses.items()},
        "points_per_log_odds_fit": scale,
        "points_per_log_odds_engagement": engagement_scale,
        "coefficients": coefficients,
    }
    return {k: float(round(v)) + 0.0 for k, v in points.items()}, details


def _points_by_rule(
    points: dict[str, float],
) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    fit, engagement = {}, {}
    for column, value in points.items():
        if column.startswith("fit:"):
            attribute, rule_value = column[len("fit:") :].split("=", 1)
            fit[(attribute, rule_value)] = value
        else:
            engagement[column[len("engagement:") :]] = value
    return fit, engagement


# --- the whole calibration ---------------------------------------------------------------------


def _empty_result(note: str, train: list[date], heldout: list[date]) -> CalibrationResult:
    return CalibrationResult(
        suggestions=_typed(pd.DataFrame(columns=list(SUGGESTED_COLUMNS)), SUGGESTED_COLUMNS),
        summary=_typed(pd.DataFrame(columns=list(SUMMARY_COLUMNS)), SUMMARY_COLUMNS),
        train_cutoffs=train,
        heldout_cutoffs=heldout,
        note=note,
    )


def _calibrate_frame(
    frame: pd.DataFrame,
    rules: pd.DataFrame,
    seeds: Seeds,
    *,
    holdout_cutoffs: int = 3,
    note: str | None = None,
) -> CalibrationResult:
    cutoffs = sorted(set(frame["cutoff_date"]))
    holdout_cutoffs = max(0, holdout_cutoffs)
    split = max(0, len(cutoffs) - holdout_cutoffs)
    train_cutoffs, heldout_cutoffs = cutoffs[:split], cutoffs[split:]
    if note:
        return _empty_result(note, train_cutoffs, heldout_cutoffs)
    if len(train_cutoffs) < MIN_TRAIN_CUTOFFS:
        return _empty_result(
            f"too little history: {len(cutoffs)} complete cut-offs, {holdout_cutoffs} held out "
            f"leaves {len(train_cutoffs)} to train on (at least {MIN_TRAIN_CUTOFFS} needed)",
            train_cutoffs,
            heldout_cutoffs,
        )
    in_train = frame["cutoff_date"].isin(train_cutoffs).to_numpy()
    train, heldout = frame[in_train], frame[~in_train]
    if not train["outcome"].any():
        return _empty_result(
            f"too little history: no conversions in the {len(train):,} training rows "
            f"({train_cutoffs[0]}..{train_cutoffs[-1]})",
            train_cutoffs,
            heldout_cutoffs,
        )
    # training features from training rules only: held-out rows never reach the proposals
    train_features = build_features(train, rules[rules["cutoff_date"].isin(train_cutoffs)])
    y = train["outcome"].to_numpy(dtype=bool)
    stats, base, min_rows = rule_stats(train_features, y, seeds)
    share = share_points(stats, seeds)
    logistic, details = logistic_points(
        train_features, y, train["cutoff_date"].to_numpy(), stats, seeds
    )
    proposals = {"share": share, "logistic": logistic}

    calibrated_on = train_cutoffs[-1]
    rows = []
    for proposal, points in proposals.items():
        for s in stats:
            if s.subscore == "fit":
                current = seeds.fit.get((s.rule, s.rule_value))
            else:
                current = seeds.engagement.get(s.rule, (None, None))[0]
            rows.append(
                {
                    "proposal": proposal,
                    "subscore": s.subscore,
                    "rule": s.rule,
                    "rule_value": s.rule_value,
                    "current_points": current,
                    "suggested_points": points.get(s.column),
                    "contacts_with": s.rows,
                    "conversion_rate": s.rate if s.rows else None,
                    "lift": s.lift if s.rows else None,
                    "calibrated_on": calibrated_on,
                }
            )
    suggestions = _typed(pd.DataFrame(rows, columns=list(SUGGESTED_COLUMNS)), SUGGESTED_COLUMNS)

    heldout_features = build_features(heldout, rules[rules["cutoff_date"].isin(heldout_cutoffs)])
    outcome = heldout["outcome"].to_numpy(dtype=bool)
    scores = {"current": heldout["score"].to_numpy(dtype=float)}
    for proposal, points in proposals.items():
        fit, engagement = _points_by_rule(points)
        scores[proposal] = lead_scores(heldout_features, seeds, fit, engagement)
    calibrated_at = datetime.now(UTC)
    summary = _typed(
        pd.DataFrame(
            [
                {
                    "proposal": proposal,
                    "heldout_auc": auc(values, outcome),
                    "heldout_lift_top_decile": top_decile_lift(heldout, values),
                    "train_cutoffs": len(train_cutoffs),
                    "heldout_cutoffs": len(heldout_cutoffs),
                    "train_rows": len(train),
                    "heldout_rows": len(heldout),
                    "positives": int(outcome.sum()),
                    "calibrated_at": calibrated_at,
                }
                for proposal, values in scores.items()
            ],
            columns=list(SUMMARY_COLUMNS),
        ),
        SUMMARY_COLUMNS,
    )
    result_note = None
    if not heldout_cutoffs:
        result_note = "no held-out cut-offs (holdout_cutoffs=0): proposals are not evaluated"
    elif not outcome.any():
        result_note = "no conversions in the held-out window: AUC and lift are empty"
    details.update(
        {
            "train_positives": int(y.sum()),
            "train_base_rate": base,
            "min_support_rows": min_rows,
            "prior_rows": PRIOR_POSITIVES / base,
        }
    )
    return CalibrationResult(
        suggestions=suggestions,
        summary=summary,
        train_cutoffs=train_cutoffs,
        heldout_cutoffs=heldout_cutoffs,
        note=result_note,
        details=details,
    )


# --- writing -----------------------------------------------------------------------------------


def _typed(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    frame = frame.copy()
    for name, sql_type in columns.items():
        if sql_type == "double":
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("float64")
        elif sql_type in ("bigint", "integer"):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype("Int64")
        elif sql_type == "varchar":
            frame[name] = frame[name].astype(object)
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


# --- adopt: rewrite one column of a seed -------------------------------------------------------


def _split_fields(line: str) -> list[str]:
    """A CSV line's fields as written (quotes kept), so unchanged fields stay byte for byte."""
    fields, start, quoted = [], 0, False
    for i, char in enumerate(line):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            fields.append(line[start:i])
            start = i + 1
    if quoted:
        raise ValueError(f"unbalanced quotes (a field spanning lines?) in: {line!r}")
    fields.append(line[start:])
    return fields


def _format_points(value: float) -> str:
    value = round(value, 2)
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _rewrite_column(
    text: str,
    column: str,
    key_columns: tuple[str, ...],
    suggested: dict[tuple[str, ...], float],
) -> str:
    lines = text.splitlines(keepends=True)
    header = next(csv.reader(io.StringIO(lines[0])))
    target = header.index(column)
    keys = [header.index(k) for k in key_columns]
    out = [lines[0]]
    for line in lines[1:]:
        body = line.rstrip("\r\n")
        ending = line[len(body) :]
        if not body.strip():
            out.append(line)
            continue
        raw = _split_fields(body)
        values = next(csv.reader(io.StringIO(body)))
        key = tuple(values[k] for k in keys)
        if key in suggested:
            new = suggested[key]
            try:
                unchanged = float(values[target]) == new
            except ValueError:
                unchanged = False
            if not unchanged:
                raw[target] = _format_points(new)
        out.append(",".join(raw) + ending)
    return "".join(out)


# --- helpers -----------------------------------------------------------------------------------


def _none_if_nan(value: Any) -> float | None:
    if value is None or pd.isna(value):
        return None
    return float(value)


def _fmt(value: Any, digits: int = 3) -> str:
    value = _none_if_nan(value)
    return "-" if value is None else f"{value:.{digits}f}"
