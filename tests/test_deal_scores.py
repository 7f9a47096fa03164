"""Deal scoring: win probabilities learned point in time from closed deals, calibrated per band."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import duckdb
import pytest

from leadscore.generate import generate
from tests.conftest import dbt, load_landing

#: The demo world (`leadscore demo`'s defaults): ~1,000 deals over 548 days ending on SCORE_DATE.
SCORE_DATE = date(2026, 11, 20)
#: Calibration is checked for probability bands with at least this many closed deal snapshots.
#: The observed won share of a band of n snapshots has a standard error of sqrt(p (1 - p) / n):
#: 0.029 at p = 0.3 and n = 250, so a perfectly calibrated band lands within 5 points about
#: 1.7 standard errors, i.e. ~9 times in 10; with fewer snapshots chance alone would often put it
#: outside (and snapshots of one deal at several cut-offs are not independent, which widens it
#: further). The sparser bands are checked together, pooled, against the same 5 points.
MIN_DEALS = 250
TOLERANCE = 0.05
#: A cut-off whose later outcomes the leakage test rewrites.
LEAK_CUTOFF = date(2026, 3, 1)


def _build(warehouse: Path) -> None:
    dbt(
        ["build", "--select", "+int_deal_predictions", "--vars", f"{{score_date: '{SCORE_DATE}'}}"],
        warehouse=warehouse,
    )


@pytest.fixture(scope="module")
def deal_warehouse(tmp_path_factory) -> Path:
    """The demo world loaded and built up to int_deal_predictions at SCORE_DATE (read only)."""
    root = tmp_path_factory.mktemp("deal-world")
    generate(root / "landing", seed=42, scale=1.0, end_date=SCORE_DATE, days=548)
    warehouse = root / "warehouse.duckdb"
    load_landing(root / "landing", warehouse, date.fromordinal(SCORE_DATE.toordinal() + 1))
    _build(warehouse)
    return warehouse


def _rows(warehouse: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).fetchall()


def calibration_table(warehouse: Path) -> list[tuple[int, int, float, float]]:
    """(band, closed snapshots, mean predicted, observed won share) of the past cut-offs."""
    return _rows(
        warehouse,
        """
        select
            probability_band,
            count(*),
            avg(win_probability),
            avg(case when is_won then 1 else 0 end)
        from intermediate.int_deal_predictions
        where not is_current and is_closed and win_probability is not null
        group by probability_band
        order by probability_band
        """,
    )


@pytest.mark.slow
def test_deal_probabilities_are_calibrated_within_5_points_per_band(deal_warehouse):
    table = calibration_table(deal_warehouse)
    dense = [row for row in table if row[1] >= MIN_DEALS]
    assert len(dense) >= 2, f"too few bands with {MIN_DEALS} closed snapshots: {table}"
    for band, snapshots, predicted, observed in dense:
        assert abs(predicted - observed) <= TOLERANCE, (
            f"band {band}: predicted {predicted:.3f}, observed {observed:.3f} "
            f"over {snapshots} closed snapshots; table {table}"
        )
    sparse = [row for row in table if row[1] < MIN_DEALS]
    pooled = sum(row[1] for row in sparse)
    if pooled >= MIN_DEALS:
        predicted = sum(row[1] * row[2] for row in sparse) / pooled
        observed = sum(row[1] * row[3] for row in sparse) / pooled
        assert abs(predicted - observed) <= TOLERANCE, (
            f"bands {[row[0] for row in sparse]} pooled: predicted {predicted:.3f}, "
            f"observed {observed:.3f} over {pooled} closed snapshots; table {table}"
        )


@pytest.mark.slow
def test_every_open_deal_gets_one_probability_at_the_score_date(deal_warehouse):
    current = _rows(
        deal_warehouse,
        """
        select deal_id, win_probability from intermediate.int_deal_predictions where is_current
        """,
    )
    open_deals = _rows(
        deal_warehouse, "select deal_id from staging.stg_crm__deals where not is_closed"
    )
    assert sorted(d for d, _ in current) == sorted(d for (d,) in open_deals)
    assert all(p is not None and 0 <= p <= 1 for _, p in current)


@pytest.mark.slow
def test_a_past_prediction_does_not_change_when_later_outcomes_do(deal_warehouse, tmp_path):
    """Every deal that closed after LEAK_CUTOFF is closed the other way (won <-> lost): the
    predictions up to that cut-off stay exactly as they were, the current ones change."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(deal_warehouse, warehouse)
    before = _predictions(warehouse)
    with duckdb.connect(str(warehouse)) as con:
        flipped = con.execute(
            """
            update raw.crm__deals
            set stage = case stage when 'closed_won' then 'closed_lost' else 'closed_won' end
            where stage in ('closed_won', 'closed_lost') and _file_day > $cutoff
            """,
            {"cutoff": LEAK_CUTOFF},
        ).fetchone()[0]
    assert flipped > 100, "the demo world should have deals closing after the cut-off"
    _build(warehouse)
    after = _predictions(warehouse)
    assert set(after) == set(before)
    changed = {key for key in before if before[key] != after[key]}
    assert not {(cutoff, deal) for cutoff, deal in changed if cutoff <= LEAK_CUTOFF}
    assert {deal for cutoff, deal in changed if cutoff == SCORE_DATE}, "later outcomes count later"


def _predictions(warehouse: Path) -> dict[tuple[date, str], float | None]:
    rows = _rows(
        warehouse,
        "select cutoff_date, deal_id, win_probability from intermediate.int_deal_predictions",
    )
    return {(cutoff, deal): p for cutoff, deal, p in rows}
