"""Scores over time: history at monthly cut-offs, validation against outcomes, no leakage."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.extract import extract_source
from leadscore.pipeline import monthly_cutoffs, score_past_dates
from leadscore.sources import SOURCES
from tests.conftest import TEST_END

pytestmark = pytest.mark.slow

CUTOFFS = 6


def _load(landing: Path, warehouse: Path, end: date) -> None:
    first = min(date.fromisoformat(p.stem) for p in (landing / "web" / "events").iterdir())
    for source in SOURCES:
        extract_source(source, first, end, warehouse=warehouse, landing=landing)


def _query(warehouse: Path, sql: str, **params) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params).df()


@pytest.fixture(scope="module")
def scored_over_time(demo_landing, tmp_path_factory, in_process_dbt):
    """A year of exports, scored at 6 monthly cut-offs and then for the last day."""
    warehouse = tmp_path_factory.mktemp("over-time") / "warehouse.duckdb"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEADSCORE_WAREHOUSE", str(warehouse))
        _load(demo_landing, warehouse, TEST_END + timedelta(days=1))
        cutoffs = monthly_cutoffs(TEST_END - timedelta(days=1), CUTOFFS)
        score_past_dates(cutoffs, current=TEST_END, dbt=in_process_dbt)
    return {"warehouse": warehouse, "cutoffs": cutoffs}


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
    stages = validation[validation.band_type == "stage"].set_index("band")
    assert stages.loc["SQL", "rate"] > stages.loc["lead", "rate"]
    assert 0 <= overall.loc["account_retention"].auc <= 1


def test_scores_at_a_cutoff_use_nothing_from_after_it(
    scored_over_time, demo_landing, tmp_path, monkeypatch, in_process_dbt
):
    """Scoring a cut-off with later data loaded gives what a warehouse that stops there gives."""
    cutoff = scored_over_time["cutoffs"][-3]
    truncated = tmp_path / "warehouse.duckdb"  # the name is the dbt database name
    monkeypatch.setenv("LEADSCORE_WAREHOUSE", str(truncated))
    _load(demo_landing, truncated, cutoff + timedelta(days=1))
    in_process_dbt(cutoff)
    columns = "entity_type, entity_id, account_id, fit_score, engagement_score, financial_score, "
    columns += "score, stage, grade"
    sql = f"select {columns} from marts.score_history where score_date = $d order by all"
    with_later_data = _query(scored_over_time["warehouse"], sql, d=cutoff)
    without = _query(truncated, sql, d=cutoff)
    assert len(without) > 1000
    pd.testing.assert_frame_equal(with_later_data, without)
