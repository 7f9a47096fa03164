"""Scores over time: history at monthly cut-offs, validation against outcomes, no leakage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.config import dbt_vars
from tests.conftest import TEST_END, load_landing

pytestmark = pytest.mark.slow


def _query(warehouse: Path, sql: str, **params) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params).df()


@pytest.fixture(scope="module")
def scored_over_time(scored_year):
    """A year of exports, scored at monthly cut-offs and then for the last day (conftest's
    scored_year, which test_calibrate calibrates: read only)."""
    return {"warehouse": scored_year.warehouse, "cutoffs": scored_year.cutoffs}


def test_history_has_one_row_per_entity_and_cutoff(scored_over_time):
    history = _query(scored_over_time["warehouse"], "select * from marts.score_history")
    dates = sorted(set(history.score_date.dt.date))
    assert dates == [*scored_over_time["cutoffs"], TEST_END]
    assert not history.duplicated(["entity_type", "entity_id", "score_date"]).any()
    # contacts appear in history only once they exist: the history grows with the CRM
    contacts = history[history.entity_type == "contact"].groupby("score_date").size()
    assert contacts.is_monotonic_increasing
    # a 30-day change is there where a cut-off lies 30 to 60 days back
    last = history[history.score_date.dt.date == TEST_END]
    assert last.score_change_30d.notna().mean() > 0.8


def test_rule_history_keeps_the_ledger_of_cutoff_days_only(scored_over_time):
    days = _query(
        scored_over_time["warehouse"], "select distinct score_date from marts.rule_history"
    ).score_date.dt.date
    assert set(days) == {d for d in scored_over_time["cutoffs"] if d.day == 1}


def test_validation_shows_the_scores_predict_conversion(scored_over_time):
    validation = _query(
        scored_over_time["warehouse"],
        "select * from marts.model_validation where score_date = $d",
        d=TEST_END,
    )
    overall = validation[validation.band_type == "all"].set_index("model")
    leads = overall.loc["lead_conversion"]
    assert leads.cutoffs >= 3, "cut-offs at least 90 days old are validated"
    assert leads.last_cutoff.date() <= TEST_END - timedelta(days=90)
    assert leads.auc >= 0.75, f"lead AUC {leads.auc:.3f}"
    deciles = validation[
        (validation.model == "lead_conversion") & (validation.band_type == "decile")
    ].set_index("band")
    assert deciles.loc["1", "lift"] >= 2, deciles
    assert deciles.loc["1", "rate"] > deciles.loc["10", "rate"]
    assert deciles.entities.sum() == leads.entities
    stages = validation[
        (validation.model == "lead_conversion") & (validation.band_type == "stage")
    ].set_index("band")
    assert stages.loc["SQL", "rate"] > stages.loc["lead", "rate"]
    assert 0 <= overall.loc["account_retention"].auc <= 1


def test_validation_reports_fresh_leads_beside_all_leads(scored_over_time):
    """Fresh leads (created within validation_fresh_lead_days up to a cut-off) are validated as
    their own model: a subset of the open leads at every cut-off, counted as an independent query
    counts them, with their own deciles, lift and AUC."""
    warehouse = scored_over_time["warehouse"]
    settings = dbt_vars()
    horizon = timedelta(days=settings["validation_horizon_days"])
    fresh_window = timedelta(days=settings["validation_fresh_lead_days"])
    validation = _query(
        warehouse, "select * from marts.model_validation where score_date = $d", d=TEST_END
    )
    overall = validation[validation.band_type == "all"].set_index("model")
    every, fresh = overall.loc["lead_conversion"], overall.loc["lead_conversion_fresh"]

    # independently: the contacts scored at each validated cut-off, their creation day and won
    # deals from the raw exports (newest version delivered by the score date)
    lookback = timedelta(days=settings["validation_lookback_days"])
    dates = _query(warehouse, "select distinct score_date from marts.score_history")
    cutoffs = [
        d
        for d in dates.score_date.dt.date
        if d.day == settings["validation_day_of_month"]
        and TEST_END - horizon - lookback < d <= TEST_END - horizon
    ]
    assert len(cutoffs) == every.cutoffs >= 3
    scored = _query(
        warehouse,
        """select entity_id as contact_id, score_date as cutoff, score, stage
        from marts.score_history
        where entity_type = 'contact' and list_contains($cutoffs, score_date)""",
        cutoffs=cutoffs,
    )
    created = _query(
        warehouse,
        """select contact_id, cast(left(arg_max(created_at, updated_at), 10) as date) as created
        from raw.crm__contacts where _file_day <= $d group by contact_id""",
        d=TEST_END,
    )
    won = _query(
        warehouse,
        """select contact_id, cast(arg_max(close_date, updated_at) as date) as closed
        from raw.crm__deals where _file_day <= $d and contact_id is not null
        group by deal_id, contact_id having arg_max(stage, updated_at) = 'closed_won'""",
        d=TEST_END,
    )
    leads = scored[scored.stage != "customer"].merge(created, on="contact_id", how="left")
    pairs = leads[["contact_id", "cutoff"]].merge(won, on="contact_id")
    already = pairs[pairs.closed <= pairs.cutoff]
    converted = pairs[(pairs.closed > pairs.cutoff) & (pairs.closed <= pairs.cutoff + horizon)]
    keys = ["contact_id", "cutoff"]
    leads = leads.merge(already[keys].drop_duplicates(), on=keys, how="left", indicator="had")
    leads = leads[leads.had == "left_only"].drop(columns="had")
    leads["outcome"] = leads.set_index(keys).index.isin(converted.set_index(keys).index)
    leads["fresh"] = (leads.created > leads.cutoff - fresh_window) & (leads.created <= leads.cutoff)

    # the model counts what the independent query counts, for all leads and for fresh ones ...
    fresh_leads = leads[leads.fresh]
    assert (every.entities, every.positives) == (len(leads), leads.outcome.sum())
    assert (fresh.entities, fresh.positives) == (len(fresh_leads), fresh_leads.outcome.sum())
    assert (fresh.cutoffs, fresh.first_cutoff, fresh.last_cutoff) == (
        every.cutoffs,
        every.first_cutoff,
        every.last_cutoff,
    )
    # ... so the fresh leads are, cut-off by cut-off, some of the open leads of that cut-off
    for cutoff, at_cutoff in leads.groupby("cutoff"):
        assert 0 < at_cutoff.fresh.sum() < len(at_cutoff), f"fresh leads at {cutoff:%Y-%m-%d}"
    per_stage = {
        model: validation[(validation.model == model) & (validation.band_type == "stage")]
        .set_index("band")[["entities", "positives"]]
        .sort_index()
        for model in ("lead_conversion", "lead_conversion_fresh")
    }
    fresh_stages = per_stage["lead_conversion_fresh"]
    assert set(fresh_stages.index) <= set(per_stage["lead_conversion"].index)
    assert (fresh_stages <= per_stage["lead_conversion"].loc[fresh_stages.index]).all().all()
    expected = fresh_leads.groupby("stage").agg(
        entities=("fresh", "size"), positives=("outcome", "sum")
    )
    pd.testing.assert_frame_equal(
        fresh_stages, expected.sort_index(), check_dtype=False, check_names=False
    )
    # the deciles are those of the fresh leads, lift against the fresh base rate
    rows = validation[validation.model == "lead_conversion_fresh"]
    deciles = rows[rows.band_type == "decile"]
    assert len(deciles) == 10 and deciles.entities.sum() == fresh.entities
    assert deciles.lift.tolist() == pytest.approx((deciles.rate / fresh.rate).tolist())

    # the AUC is reported, and is the Mann-Whitney AUC of the fresh leads (ties share their rank)
    ranks = fresh_leads.score.rank(method="average")
    positives, negatives = fresh_leads.outcome.sum(), (~fresh_leads.outcome).sum()
    mann_whitney = (ranks[fresh_leads.outcome].sum() - positives * (positives + 1) / 2) / (
        positives * negatives
    )
    assert 0 <= fresh.auc <= 1
    assert fresh.auc == pytest.approx(mann_whitney)


def test_scores_at_a_cutoff_use_nothing_from_after_it(
    scored_over_time, demo_landing, tmp_path, monkeypatch, in_process_dbt
):
    """Scoring a cut-off with later data loaded gives what a warehouse that stops there gives."""
    cutoff = scored_over_time["cutoffs"][-3]
    truncated = tmp_path / "warehouse.duckdb"  # the name is the dbt database name
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(truncated))
    load_landing(demo_landing, truncated, cutoff + timedelta(days=1))
    in_process_dbt(cutoff)
    columns = "entity_type, entity_id, account_id, fit_score, engagement_score, financial_score, "
    columns += "score, stage, grade"
    sql = f"select {columns} from marts.score_history where score_date = $d order by all"
    with_later_data = _query(scored_over_time["warehouse"], sql, d=cutoff)
    without = _query(truncated, sql, d=cutoff)
    assert len(without) > 1000
    pd.testing.assert_frame_equal(with_later_data, without)
