"""Calibration: suggested points from history, a clean time split, empty tables when short, adopt.

The warehouse here is synthetic (no dbt run): rule_history, score_history and won deals for a few
hundred contacts over 9 monthly cut-offs (8 with a complete outcome window), where Software
contacts and demo requests convert far more often than the rest. Everything runs in seconds.
"""

from __future__ import annotations

import csv
import shutil
from datetime import date, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore import calibrate as cal
from tests.conftest import ROOT, copy_project

PROJECT = ROOT / "dbt_project"
#: Monthly cut-offs Jan..Sep 2026; the newest score date makes Jan..Aug complete (90-day horizon).
CUTOFFS = [date(2026, month, 1) for month in range(1, 10)]
NEWEST = date(2026, 11, 17)
TRAIN = CUTOFFS[:5]  # holdout_cutoffs=3 keeps Jun, Jul, Aug apart
HELDOUT = CUTOFFS[5:8]
#: The last day a training cut-off's outcome window reaches: deals after it only touch held-out.
TRAIN_OUTCOMES_END = TRAIN[-1] + timedelta(days=90)

INDUSTRIES = ["Software", "Retail", "Education", "Manufacturing"]
SENIORITIES = ["c_level", "manager", "individual_contributor"]
REGIONS = ["North America", "Western Europe"]


def _seed_points() -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    with (PROJECT / "seeds" / "fit_points.csv").open() as fh:
        fit = {
            (r["attribute"], r["value"]): float(r["contact_points"])
            for r in csv.DictReader(fh)
            if r["segment"] == "default"
        }
    with (PROJECT / "seeds" / "engagement_points.csv").open() as fh:
        caps = {r["action"]: float(r["max_points"]) for r in csv.DictReader(fh)}
    return fit, caps


def _round1(x: float) -> float:
    return float(np.floor(x * 10 + 0.5 + 1e-9) / 10)


def build_warehouse(path: Path, *, contacts: int = 600, seed: int = 11) -> Path:
    """rule_history, score_history and won deals as dbt would leave them, from a known world."""
    rng = np.random.default_rng(seed)
    fit_points, caps = _seed_points()
    ids = [f"C{i:04d}" for i in range(contacts)]
    industry = rng.choice(INDUSTRIES, contacts, p=[0.3, 0.3, 0.2, 0.2])
    seniority = rng.choice(SENIORITIES, contacts)
    region = rng.choice(REGIONS, contacts)
    customer = rng.random(contacts) < 0.05
    won_on: dict[str, date] = {}
    rules, history, deals = [], [], []
    for day in [*CUTOFFS, NEWEST]:
        demo = rng.random(contacts) < 0.15
        demo_points = rng.uniform(10, 60, contacts)
        opens = rng.random(contacts) < 0.6
        open_points = rng.uniform(2, 25, contacts)
        bounce = rng.random(contacts) < 0.1
        for i, contact in enumerate(ids):
            fit_rows = [
                ("industry", industry[i]),
                ("seniority", seniority[i]),
                ("region", region[i]),
            ]
            engagement_rows = []
            if demo[i]:
                engagement_rows.append(
                    ("demo_request", "1", min(demo_points[i], caps["demo_request"]))
                )
            if opens[i]:
                engagement_rows.append(("open", "3", open_points[i]))
            if bounce[i]:
                engagement_rows.append(("bounce", "1", -10.0))
            fit = sum(fit_points[r] for r in fit_rows)
            engagement = sum(p for _, _, p in engagement_rows)
            score = _round1(
                0.4 * _round1(min(max(fit, 0), 100)) + 0.6 * _round1(min(max(engagement, 0), 100))
            )
            stage = "customer" if customer[i] else ("MQL" if score >= 50 else "lead")
            history.append(("contact", contact, day, score, stage))
            if day in CUTOFFS:
                rules += [(day, contact, "fit", a, v, fit_points[(a, v)]) for a, v in fit_rows]
                rules += [(day, contact, "engagement", a, n, p) for a, n, p in engagement_rows]
            # who wins a deal in the month after this date (depends on what they are and do now)
            if contact in won_on or day == NEWEST:
                continue
            hazard = 0.02 * (5 if industry[i] == "Software" else 1) * (4 if demo[i] else 1)
            if rng.random() < min(hazard, 0.9):
                closed = day + timedelta(days=int(rng.integers(1, 28)))
                won_on[contact] = closed
                deals.append((f"D{len(deals)}", contact, True, closed))
            elif rng.random() < 0.02:
                deals.append((f"D{len(deals)}", contact, False, day + timedelta(days=5)))
    history += [("account", "A1", day, 50.0, "B") for day in CUTOFFS]
    tables = {
        "marts.rule_history": pd.DataFrame(
            rules, columns=["score_date", "contact_id", "subscore", "rule", "rule_value", "points"]
        ),
        "marts.score_history": pd.DataFrame(
            history, columns=["entity_type", "entity_id", "score_date", "score", "stage"]
        ),
        "staging.stg_crm__deals": pd.DataFrame(
            deals, columns=["deal_id", "contact_id", "is_won", "closed_date"]
        ),
    }
    types = {"score_date": "date", "closed_date": "date", "points": "decimal(18, 6)"}
    with duckdb.connect(str(path)) as con:
        for name, frame in tables.items():
            con.execute(f"create schema if not exists {name.split('.')[0]}")
            con.register("rows", frame)
            columns = ", ".join(
                f"cast({c} as {types[c]}) as {c}" if c in types else c for c in frame.columns
            )
            con.execute(f"create table {name} as select {columns} from rows")
            con.unregister("rows")
    return path


@pytest.fixture(scope="module")
def synthetic_warehouse(tmp_path_factory) -> Path:
    return build_warehouse(tmp_path_factory.mktemp("calibrate") / "warehouse.duckdb")


@pytest.fixture
def warehouse(synthetic_warehouse, tmp_path) -> Path:
    """A copy the test may write to."""
    return Path(shutil.copy(synthetic_warehouse, tmp_path / "warehouse.duckdb"))


def _points(result: cal.CalibrationResult, proposal: str, rule: str, value: str | None) -> float:
    rows = result.suggestions
    rows = rows[(rows["proposal"] == proposal) & (rows["rule"] == rule)]
    if value is not None:
        rows = rows[rows["rule_value"] == value]
    assert len(rows) == 1, (proposal, rule, value)
    return float(rows["suggested_points"].iloc[0])


def _table(path: Path, table: str) -> pd.DataFrame:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(f"select * from {table}").df()


def test_proposals_rank_the_heldout_window_and_follow_the_data(warehouse):
    result = cal.calibrate(warehouse, project=PROJECT)

    assert result.note is None
    assert result.train_cutoffs == TRAIN
    assert result.heldout_cutoffs == HELDOUT  # Sep 1 has no complete outcome window yet
    summary = result.summary.set_index("proposal")
    assert list(summary.index) == ["current", "share", "logistic"]
    for proposal in ("share", "logistic"):
        assert summary.loc[proposal, "heldout_auc"] > 0.6, summary
        assert summary.loc[proposal, "heldout_lift_top_decile"] > 1.2, summary
    # Software converts five times as often as Retail or Education: share says so in points
    software = _points(result, "share", "industry", "Software")
    assert software == 20  # the best value keeps the attribute's maximum (fit_points scale)
    assert software > _points(result, "share", "industry", "Retail")
    assert software > _points(result, "share", "industry", "Education")
    assert _points(result, "logistic", "industry", "Software") > _points(
        result, "logistic", "industry", "Retail"
    )
    # demo requests quadruple conversion, opens do nothing: the best action keeps its points
    assert _points(result, "share", "demo_request", None) == 40
    assert _points(result, "share", "open", None) < 20
    assert _points(result, "share", "bounce", None) <= 0  # penalties stay penalties
    assert _points(result, "logistic", "bounce", None) <= 0

    # written: both tables, the declared columns, calibrated on the newest training cut-off
    suggested = _table(warehouse, cal.SUGGESTED_TABLE)
    written = _table(warehouse, cal.SUMMARY_TABLE)
    assert list(suggested.columns) == list(cal.SUGGESTED_COLUMNS)
    assert list(written.columns) == list(cal.SUMMARY_COLUMNS)
    assert set(pd.to_datetime(suggested["calibrated_on"]).dt.date) == {TRAIN[-1]}
    assert len(written) == 3 and len(suggested) == len(result.suggestions)
    training = written.set_index("proposal").loc["share"]
    assert (training["train_cutoffs"], training["heldout_cutoffs"]) == (5, 3)
    # support is counted on training rows: customers and contacts already won are not in them
    software_rows = suggested[(suggested["rule_value"] == "Software")]["contacts_with"].iloc[0]
    assert 0 < software_rows < 5 * 600 * 0.35


def test_heldout_rows_never_reach_training(warehouse, tmp_path):
    before = cal.calibrate(warehouse, project=PROJECT, write=False)

    mutated = Path(shutil.copy(warehouse, tmp_path / "mutated.duckdb"))
    with duckdb.connect(str(mutated)) as con:
        # held-out features: everyone requested a demo, nobody is in Software any more
        con.execute(
            """update marts.rule_history set rule_value = 'Retail', points = 6
            where score_date >= $first and rule = 'industry'""",
            {"first": HELDOUT[0]},
        )
        con.execute(
            """insert into marts.rule_history
            select distinct score_date, contact_id, 'engagement', 'demo_request', '1', 60
            from marts.rule_history where score_date >= $first""",
            {"first": HELDOUT[0]},
        )
        # held-out scores reversed, held-out outcomes replaced: only deals no training
        # cut-off's window reaches move
        con.execute(
            "update marts.score_history set score = 100 - score where score_date >= $first",
            {"first": HELDOUT[0]},
        )
        con.execute(
            "delete from staging.stg_crm__deals where is_won and closed_date > $end",
            {"end": TRAIN_OUTCOMES_END},
        )
        con.execute(
            """insert into staging.stg_crm__deals
            select 'X' || entity_id, entity_id, true, $end + 10
            from marts.score_history
            where score_date = $first and entity_type = 'contact' and hash(entity_id) % 7 = 0""",
            {"first": HELDOUT[0], "end": TRAIN_OUTCOMES_END},
        )
    after = cal.calibrate(mutated, project=PROJECT, write=False)

    pd.testing.assert_frame_equal(before.suggestions, after.suggestions)
    assert before.details["l2_strength"] == after.details["l2_strength"]
    # ... while the held-out evaluation did see the change
    for proposal in ("current", "share", "logistic"):
        assert before.auc(proposal) != after.auc(proposal)


def test_too_little_history_writes_empty_tables_with_a_note(warehouse, tmp_path):
    cal.calibrate(warehouse, project=PROJECT)  # a full calibration first: it must be replaced
    assert len(_table(warehouse, cal.SUGGESTED_TABLE)) > 0

    short = cal.calibrate(warehouse, project=PROJECT, holdout_cutoffs=7)
    assert "too little history" in short.note and "1 to train" in short.note
    for table, columns in (
        (cal.SUGGESTED_TABLE, cal.SUGGESTED_COLUMNS),
        (cal.SUMMARY_TABLE, cal.SUMMARY_COLUMNS),
    ):
        frame = _table(warehouse, table)
        assert frame.empty and list(frame.columns) == list(columns)

    # no conversions in training
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from staging.stg_crm__deals")
    none_won = cal.calibrate(warehouse, project=PROJECT)
    assert "no conversions" in none_won.note and none_won.suggestions.empty

    # no outcome window complete yet: history ends at the last cut-off
    with duckdb.connect(str(warehouse)) as con:
        con.execute("delete from marts.score_history where score_date > $d", {"d": CUTOFFS[1]})
    young = cal.calibrate(warehouse, project=PROJECT)
    assert "nothing to calibrate" in young.note

    # a warehouse dbt never built: still no exception, still the two (empty) tables
    bare = tmp_path / "bare.duckdb"
    duckdb.connect(str(bare)).close()
    empty = cal.calibrate(bare, project=PROJECT)
    assert "marts.rule_history" in empty.note
    assert _table(bare, cal.SUMMARY_TABLE).empty


def test_adopt_rewrites_only_the_points_column_of_a_copy(warehouse, tmp_path, capsys):
    project = copy_project(tmp_path / "dbt_project")
    seeds = project / "seeds"
    fit_before = (seeds / "fit_points.csv").read_text()
    engagement_before = (seeds / "engagement_points.csv").read_text()
    result = cal.calibrate(warehouse, project=project)

    diff = cal.adopt("share", project=project, warehouse=warehouse)  # dry run
    assert (seeds / "fit_points.csv").read_text() == fit_before
    assert (seeds / "engagement_points.csv").read_text() == engagement_before
    assert any(line.startswith("+default,industry,") for line in diff)
    assert "fit_points.csv" in capsys.readouterr().out

    applied = cal.adopt("share", project=project, warehouse=warehouse, dry_run=False)
    assert applied == diff
    suggested = result.suggestions[
        (result.suggestions["proposal"] == "share")
        & (result.suggestions["subscore"] == "fit")
        & result.suggestions["suggested_points"].notna()
    ]
    expected = {
        (r.rule, r.rule_value): r.suggested_points for r in suggested.itertuples(index=False)
    }
    old = list(csv.DictReader(fit_before.splitlines()))
    new = list(csv.DictReader((seeds / "fit_points.csv").read_text().splitlines()))
    assert len(old) == len(new)
    for before, after in zip(old, new, strict=True):
        key = (before["attribute"], before["value"])
        for column in before:
            if column == "contact_points" and before["segment"] == "default" and key in expected:
                assert float(after[column]) == expected[key]
            else:
                assert after[column] == before[column], (key, column)
    # lines without a suggestion are byte for byte what they were (quotes, descriptions)
    old_lines, new_lines = (
        fit_before.splitlines(),
        (seeds / "fit_points.csv").read_text().splitlines(),
    )
    changed = [i for i, (a, b) in enumerate(zip(old_lines, new_lines, strict=True)) if a != b]
    assert len(changed) == sum(line.startswith("+default") for line in diff)
    assert (seeds / "engagement_points.csv").read_text() == engagement_before

    cal.adopt(
        "logistic", project=project, warehouse=warehouse, subscore="engagement", dry_run=False
    )
    old = list(csv.DictReader(engagement_before.splitlines()))
    new = list(csv.DictReader((seeds / "engagement_points.csv").read_text().splitlines()))
    assert [r["action"] for r in new] == [r["action"] for r in old]
    for before, after in zip(old, new, strict=True):
        assert {k: v for k, v in before.items() if k != "points"} == {
            k: v for k, v in after.items() if k != "points"
        }
    assert new != old

    with pytest.raises(ValueError, match="proposal"):
        cal.adopt("current", project=project, warehouse=warehouse)


def test_lead_score_of_todays_points_is_the_published_score(synthetic_warehouse):
    frame, rules, note = cal.load_history(synthetic_warehouse)
    assert note is None
    features = cal.build_features(frame, rules)
    scores = cal.lead_scores(features, cal.load_seeds(PROJECT))
    np.testing.assert_array_equal(scores, frame["score"].to_numpy())
    # the population is model_validation's: no customers, no accounts, nobody already won
    assert not frame["contact_id"].str.startswith("A").any()
    assert len(frame.groupby(["cutoff_date", "contact_id"])) == len(frame)


def test_auc_counts_ties_half_and_lift_takes_the_top_decile():
    assert cal.auc([1, 2, 3, 4], [0, 0, 1, 1]) == 1.0
    assert cal.auc([1, 1, 1, 1], [0, 1, 0, 1]) == 0.5
    assert cal.auc([1, 2, 2, 3], [0, 1, 0, 1]) == pytest.approx(0.875)
    assert cal.auc([1, 2], [0, 0]) is None
    frame = pd.DataFrame(
        {"contact_id": [f"C{i:02d}" for i in range(20)], "cutoff_date": [date(2026, 1, 1)] * 20}
    ).assign(outcome=[True, True] + [False] * 16 + [True, False])
    scores = np.arange(20, 0, -1)  # the first two rows score highest: both converted
    assert cal.top_decile_lift(frame, scores) == pytest.approx(1.0 / (3 / 20))


def test_logistic_regression_recovers_known_coefficients():
    rng = np.random.default_rng(5)
    x = rng.normal(size=(20_000, 2))
    y = (rng.random(20_000) < 1 / (1 + np.exp(-(-1.0 + 1.5 * x[:, 0] - 0.5 * x[:, 1])))).astype(
        float
    )
    beta = cal.fit_logistic(x, y, strength=1e-6)
    np.testing.assert_allclose(beta, [-1.0, 1.5, -0.5], atol=0.08)
    shrunk = cal.fit_logistic(x, y, strength=1.0)
    assert abs(shrunk[1]) < abs(beta[1])
