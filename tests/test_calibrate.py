"""Calibration: rule rows learned from history, scored by the production SQL, adopted in one call.

The slow tests share one generated year of exports back-tested at 7 monthly cut-offs (4 with a
complete outcome window: 3 train, 1 held out; conftest's scored_year, which test_scoring_over_time
reads too) and calibrate it once. The
fast tests check the pieces that need no dbt: bands, thresholds, statistics and seed rewriting.
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore import calibrate as cal
from leadscore.pipeline import DbtSession, score_past_dates
from leadscore.rule_candidates import Candidate, quantile_bands
from tests.conftest import ROOT, TEST_END, copy_project

PROJECT = ROOT / "dbt_project"
HOLDOUT = 1


# --- fast: the pieces ----------------------------------------------------------------------------


def test_quantile_bands_do_not_overlap_for_whole_numbers_and_days():
    ages = pd.Series([18, 25, 30, 30, 31, 40, 41, 55, 60, 70] * 10)
    bands = quantile_bands(ages, "number")
    assert bands[0].startswith("..") and bands[-1].endswith("..")
    ends = [tuple(b.split("..")) for b in bands]
    # each band starts one above the previous band's end: every whole number is in exactly one
    for (_, high), (low, _) in itertools.pairwise(ends):
        assert int(low) == int(high) + 1
    days = pd.Series(pd.date_range("2025-01-01", periods=100, freq="D"))
    day_bands = quantile_bands(days, "date")
    assert len(day_bands) == 5
    assert date.fromisoformat(day_bands[1].split("..")[0]) == date.fromisoformat(
        day_bands[0].split("..")[1]
    ) + timedelta(days=1)


def test_thresholds_are_where_leads_convert_at_two_and_four_times_the_base_rate():
    rng = np.random.default_rng(3)
    scores = rng.uniform(0, 100, 20_000)
    outcome = rng.random(20_000) < 0.5 * (scores / 100) ** 6  # rate rises steeply with the score
    mql, sql = cal.thresholds(scores, outcome, {"mql": None, "sql": None})
    base = outcome.mean()
    assert mql < sql
    assert outcome[scores >= mql].mean() >= 2 * base
    assert outcome[scores >= sql].mean() >= 4 * base
    # just below the MQL threshold, the leads above do not reach twice the base rate yet
    below = scores[(scores < mql)].max()
    assert outcome[scores >= below].mean() < 2 * base
    # a capacity quota: the top 10 % of leads
    mql_quota, _ = cal.thresholds(scores, outcome, {"mql": 0.1, "sql": None})
    assert abs((scores >= mql_quota).mean() - 0.1) < 0.01


def test_rule_stats_smooth_toward_the_base_rate_and_need_support():
    y = np.array([True] * 20 + [False] * 980)
    features = pd.DataFrame(
        {
            "a": np.r_[np.ones(10), np.zeros(10), np.ones(90), np.zeros(890)],  # 10 of 100
            "b": np.r_[np.zeros(20), np.ones(5), np.zeros(975)],  # 0 of 5: too few rows
        }
    )
    candidates = [Candidate(k, "fit", k, {}) for k in ("a", "b")]
    stats, base = cal.rule_stats(features, y, candidates)
    assert base == pytest.approx(0.02)
    a, b = stats
    assert a.rows == 100 and a.positives == 10
    assert 1 < a.lift < 5  # raw lift 5, pulled toward 1 by the prior
    assert a.supported and not b.supported


def _suggested(proposal: str) -> pd.DataFrame:
    rows = [
        {
            "proposal": proposal,
            "subscore": "fit",
            "rule": "industry",
            "operator": "=",
            "rule_value": "Software",
            "suggested_points": 12.5,
        },
        {
            "proposal": proposal,
            "subscore": "fit",
            "rule": "contact.lead_origin",
            "operator": "=",
            "rule_value": "lead_add_form",
            "suggested_points": 9,
        },
        {
            "proposal": proposal,
            "subscore": "engagement",
            "rule": "demo_request_1_in_30d",
            "action": "demo_request",
            "source": "web",
            "min_count": 1,
            "count_window_days": 30,
            "funnel_stage": "awareness",
            "suggested_points": 20,
            "max_points": 20,
        },
        {
            "proposal": proposal,
            "subscore": "threshold",
            "rule": "mql_threshold",
            "suggested_points": 31.5,
        },
        {
            "proposal": proposal,
            "subscore": "threshold",
            "rule": "sql_threshold",
            "suggested_points": 55,
        },
    ]
    return cal._typed(
        pd.DataFrame(rows, columns=list(cal.SUGGESTED_COLUMNS)), cal.SUGGESTED_COLUMNS
    )


def _write_suggestions(warehouse: Path, frame: pd.DataFrame) -> None:
    summary = cal._typed(pd.DataFrame(columns=list(cal.SUMMARY_COLUMNS)), cal.SUMMARY_COLUMNS)
    cal.write_tables(warehouse, cal.CalibrationResult(suggestions=frame, summary=summary))


def _csv(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text())))


def test_adopt_applies_fit_engagement_and_thresholds_in_one_call(tmp_path, capsys):
    project = copy_project(tmp_path / "project")
    warehouse = tmp_path / "warehouse.duckdb"
    _write_suggestions(warehouse, _suggested("share"))
    before = {p.name: p.read_text() for p in (project / "seeds").glob("*.csv")}

    diff = cal.adopt("share", project=project, warehouse=warehouse)  # dry run: prints, writes not
    assert "+default,contact.lead_origin,=,lead_add_form,9,," in "\n".join(diff)
    assert {p.name: p.read_text() for p in (project / "seeds").glob("*.csv")} == before
    assert "segment_settings.csv (share)" in capsys.readouterr().out

    cal.adopt("share", project=project, warehouse=warehouse, dry_run=False)
    fit = [r for r in _csv(project / "seeds" / "fit_points.csv") if r["segment"] == "default"]
    by_key = {(r["attribute"], r["value"]): r for r in fit}
    # a proposed rule that was there keeps its account points; a new one has none
    assert by_key[("industry", "Software")]["contact_points"] == "12.5"
    assert by_key[("industry", "Software")]["account_points"] == "30"
    assert by_key[("contact.lead_origin", "lead_add_form")]["account_points"] == ""
    # a rule the proposal leaves out scores accounts only; contact-only rules are gone
    assert by_key[("size_band", "50-199")]["contact_points"] == ""
    assert by_key[("size_band", "50-199")]["account_points"] == "25"
    assert ("seniority", "c_level") not in by_key
    engagement = _csv(project / "seeds" / "engagement_points.csv")
    assert [r["rule"] for r in engagement if r["segment"] == "default"] == ["demo_request_1_in_30d"]
    settings = [r for r in _csv(project / "seeds" / "segment_settings.csv")]
    assert settings[0]["mql_threshold"] == "31.5" and settings[0]["sql_threshold"] == "55"
    # --only: one part alone
    again = copy_project(tmp_path / "again")
    cal.adopt("share", project=again, warehouse=warehouse, parts=("thresholds",), dry_run=False)
    assert (again / "seeds" / "fit_points.csv").read_text() == before["fit_points.csv"]


def test_adopt_without_a_calibration_says_so(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    with pytest.raises(ValueError, match="run calibrate first"):
        cal.adopt("share", project=PROJECT, warehouse=warehouse)


def test_too_little_history_writes_empty_tables_with_a_note(tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    duckdb.connect(str(warehouse)).close()
    result = cal.calibrate(warehouse, project=PROJECT)
    assert "nothing to calibrate" in result.note
    with duckdb.connect(str(warehouse), read_only=True) as con:
        assert con.execute(f"select count(*) from {cal.SUMMARY_TABLE}").fetchone()[0] == 0
        assert con.execute(f"select count(*) from {cal.SUGGESTED_TABLE}").fetchone()[0] == 0


# --- slow: a real calibration ------------------------------------------------------------------


@pytest.fixture(scope="module")
def calibrated(scored_year, tmp_path_factory):
    """A year of exports back-tested at monthly cut-offs (conftest's scored_year), then
    calibrated (tables written into this module's copy of the warehouse)."""
    root = tmp_path_factory.mktemp("calibrated")
    warehouse = Path(shutil.copyfile(scored_year.warehouse, root / "warehouse.duckdb"))
    result = cal.calibrate(warehouse, project=PROJECT, holdout_cutoffs=HOLDOUT)
    return {"root": root, "warehouse": warehouse, "result": result, "cutoffs": scored_year.cutoffs}


def _table(warehouse: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select * from {table}").df()


@pytest.mark.slow
def test_proposals_are_rule_rows_on_the_lead_score_scale(calibrated):
    result = calibrated["result"]
    assert result.note is None, result.note
    assert len(result.heldout_cutoffs) == HOLDOUT and len(result.train_cutoffs) >= 2
    rules = _table(calibrated["warehouse"], cal.SUGGESTED_TABLE)
    summary = _table(calibrated["warehouse"], cal.SUMMARY_TABLE)
    assert set(summary["proposal"]) == {"current", "share", "logistic"}
    for proposal in cal.PROPOSALS:
        mine = rules[rules["proposal"] == proposal]
        scored = mine[mine["subscore"] != "threshold"]
        assert len(scored) >= 5, f"{proposal} proposes too few rules"
        # signs agree with the data: no positive points for a rule that converts below the base
        with_lift = scored.dropna(subset=["lift"])
        wrong = with_lift[
            ((with_lift["suggested_points"] > 0) & (with_lift["lift"] < 1))
            | ((with_lift["suggested_points"] < 0) & (with_lift["lift"] > 1))
        ]
        assert wrong.empty, wrong[["rule", "rule_value", "suggested_points", "lift"]]
        # engagement rules respect their own caps: a count rule gives its points once
        engagement = scored[scored["subscore"] == "engagement"]
        counts = engagement[engagement["min_count"].notna()]
        assert (counts["max_points"] == counts["suggested_points"].abs()).all()
        assert (scored["suggested_points"].abs() <= 100).all()
        # adopted, it does not clip most contacts to 0 or 100
        row = summary[summary["proposal"] == proposal].iloc[0]
        assert row["fit_at_0_share"] < 0.5, row
        assert row["at_100_share"] < 0.1, row
        assert row["heldout_auc"] > 0.7, row
        # thresholds are proposed beside today's
        thresholds = mine[mine["subscore"] == "threshold"].set_index("rule")
        assert thresholds.loc["mql_threshold", "current_points"] == 50
        assert (
            thresholds.loc["mql_threshold", "suggested_points"]
            < (thresholds.loc["sql_threshold", "suggested_points"])
        )
    # fresh leads are reported apart (their AUC needs a fresh conversion in the held-out window)
    assert (summary["fresh_rows"] > 0).all()
    has_positives = summary["fresh_positives"] > 0
    assert summary.loc[has_positives, "heldout_auc_fresh"].notna().all()


@pytest.mark.slow
def test_reported_auc_is_what_adopting_the_proposal_gives(calibrated, tmp_path):
    """Adopt logistic into a copy of the project, score the held-out cut-offs the normal way
    (leadscore history), and compute the AUC over the same rows: it is the reported one."""
    result = calibrated["result"]
    project = copy_project(tmp_path / "project")
    warehouse = Path(shutil.copy(calibrated["warehouse"], tmp_path / "warehouse.duckdb"))
    cal.adopt("logistic", project=project, warehouse=warehouse, dry_run=False)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
        dbt = DbtSession(project=project, target=tmp_path / "target")
        score_past_dates(result.heldout_cutoffs, current=TEST_END, dbt=dbt)
        settings = cal.Settings.load(PROJECT)
        frame, _ = cal.load_population(calibrated["warehouse"], settings)
    heldout = frame[frame["cutoff_date"].isin(result.heldout_cutoffs)]
    with duckdb.connect(str(warehouse), read_only=True) as con:
        scores = con.execute(
            """select score_date as cutoff_date, entity_id as contact_id, score
            from marts.score_history where entity_type = 'contact'"""
        ).df()
    scores["cutoff_date"] = pd.to_datetime(scores["cutoff_date"]).dt.date
    merged = heldout.drop(columns="score").merge(scores, on=["cutoff_date", "contact_id"])
    assert len(merged) == len(heldout)
    from sklearn.metrics import roc_auc_score

    adopted = roc_auc_score(merged["outcome"], merged["score"])
    assert adopted == pytest.approx(result.auc("logistic"), abs=1e-9)


@pytest.mark.slow
def test_heldout_rows_never_reach_training(calibrated):
    result = calibrated["result"]
    assert max(result.train_cutoffs) < min(result.heldout_cutoffs)
    rules = _table(calibrated["warehouse"], cal.SUGGESTED_TABLE)
    assert set(pd.to_datetime(rules["calibrated_on"]).dt.date) == {result.train_cutoffs[-1]}
    settings = cal.Settings.load(PROJECT)
    frame, _ = cal.load_population(calibrated["warehouse"], settings)
    train_rows = frame["cutoff_date"].isin(result.train_cutoffs).sum()
    summary = _table(calibrated["warehouse"], cal.SUMMARY_TABLE)
    assert (summary["train_rows"] == train_rows).all()
    # support counts come from training rows only
    assert rules["contacts_with"].max() <= train_rows


@pytest.mark.slow
def test_the_daily_task_recalibrates_only_when_a_cutoff_completes(
    calibrated, monkeypatch, tmp_path
):
    calls = []

    def fake_calibrate(*args, **kwargs):
        calls.append(1)
        return calibrated["result"]

    monkeypatch.setattr(cal, "calibrate", fake_calibrate)
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(calibrated["warehouse"]))
    # the stored calibration used every complete cut-off: nothing to do
    assert "already calibrated" in cal.calibrate_advisory()["note"]
    assert not calls
    # a calibration from before the newest cut-off completed: calibrate again
    older = Path(shutil.copy(calibrated["warehouse"], tmp_path / "warehouse.duckdb"))
    with duckdb.connect(str(older)) as con:
        con.execute(
            f"update {cal.SUMMARY_TABLE} set cutoffs = "
            "substr(cutoffs, 1, length(cutoffs) - length(',YYYY-MM-DD'))"
        )
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(older))
    assert cal.calibrate_advisory()["note"] is None
    assert calls == [1]
