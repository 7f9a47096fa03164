"""dbt build on generated demo data: the marts keep the promises BI users rely on."""

from __future__ import annotations

import csv
import shutil
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import TEST_END, copy_project, dbt

pytestmark = pytest.mark.slow

SCORE_DATE = TEST_END


def auc(positive: pd.Series, negative: pd.Series) -> float:
    """Probability that a random positive scores above a random negative (ties count half)."""
    scores = pd.concat([positive, negative], ignore_index=True)
    ranks = scores.rank(method="average")
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


@pytest.fixture(scope="module")
def built(loaded_year, tmp_path_factory) -> Path:
    """The whole history (conftest's loaded_year) built once for SCORE_DATE by the dbt CLI."""
    warehouse = tmp_path_factory.mktemp("dbt") / "warehouse.duckdb"
    shutil.copyfile(loaded_year, warehouse)  # no writer holds it: a plain copy is consistent
    dbt(["build", "--vars", f"{{score_date: '{SCORE_DATE}'}}"], warehouse=warehouse)
    return warehouse


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def test_the_five_marts_have_the_promised_columns(built):
    promised = {
        "lead_scores": [
            "contact_id",
            "account_id",
            "score_date",
            "fit_score",
            "engagement_score",
            "lead_score",
            "grade",
            "lifecycle_stage",
            "top_reasons",
            "segment",
            "mql_threshold",
            "sql_threshold",
            "strongest_topic",
            "is_held_out",
        ],
        "account_scores": [
            "account_id",
            "score_date",
            "is_customer",
            "fit_score",
            "engagement_score",
            "financial_score",
            "account_score",
            "tier",
            "engaged_contacts",
            "decision_makers_engaged",
            "c_level_engaged",
            "buying_group_coverage",
            "top_reasons",
            "service_level",
            "support_tier",
            "csm_coverage",
            "first_response_hours",
        ],
    }
    for mart, columns in promised.items():
        got = _query(built, f"select * from marts.{mart} limit 0").columns.tolist()
        assert got == columns, mart
    for mart in ("fit_scores", "engagement_scores", "financial_scores"):
        assert len(_query(built, f"select * from marts.{mart}")) > 0, f"marts.{mart} is empty"


def test_explanations_add_up_exactly_to_every_published_score(built):
    explained = _query(
        built,
        """select entity_type, entity_id, score_name, cast(sum(points) as varchar) as points
        from marts.score_explanations group by all""",
    ).set_index(["entity_type", "entity_id", "score_name"])["points"]
    published = _query(
        built,
        """
        select 'contact' as entity_type, contact_id as entity_id, 'lead' as score_name,
            lead_score as score from marts.lead_scores
        union all select 'contact', contact_id, 'engagement', engagement_score
            from marts.engagement_scores
        union all select entity_type, entity_id, 'fit', fit_score from marts.fit_scores
        union all select 'account', account_id, 'financial', financial_score
            from marts.financial_scores
        union all select 'account', account_id, 'engagement', engagement_score
            from marts.account_scores
        union all select 'account', account_id, 'account', account_score from marts.account_scores
        """,
    )
    assert len(published) > 5_000
    mismatches = []
    for row in published.itertuples(index=False):
        key = (row.entity_type, row.entity_id, row.score_name)
        total = Decimal(explained.get(key, "0"))  # exact: decimals as text, not floats
        if total != Decimal(str(row.score)):
            mismatches.append((key, row.score, total))
    assert not mismatches, (
        f"{len(mismatches)} scores differ from their explanations: {mismatches[:5]}"
    )


def test_top_reasons_name_the_rules_adding_the_most_points(built):
    leads = _query(
        built,
        "select contact_id, top_reasons from marts.lead_scores order by lead_score desc limit 50",
    )
    rules = _query(
        built,
        """select entity_id, rule, points from marts.score_explanations
        where entity_type = 'contact' and score_name in ('fit', 'engagement')
            and rule not in ('limit_0_100', 'rounding')""",
    )
    for lead in leads.itertuples():
        points = rules[rules.entity_id == lead.contact_id].points.astype(float)
        first = lead.top_reasons.split("; ")[0]
        # "seniority c_level +25.0": the first reason adds the most points (ties by name)
        assert float(first.rsplit(" ", 1)[1]) == round(points.max(), 1), (lead.top_reasons, points)
        assert lead.top_reasons.count("; ") == min(len(points[points > 0]), 3) - 1


def test_history_holds_one_row_per_entity_for_the_date(built):
    history = _query(built, "select * from marts.score_history")
    leads = _query(built, "select contact_id, lead_score from marts.lead_scores")
    accounts = _query(built, "select account_id from marts.account_scores")
    assert len(history) == len(leads) + len(accounts)
    assert not history.duplicated(["entity_type", "entity_id", "score_date"]).any()
    contact = history[history.entity_type == "contact"].set_index("entity_id").score
    assert (contact.loc[leads.contact_id].to_numpy() == leads.lead_score.to_numpy()).all()


def test_every_contact_and_account_scored_once(built):
    contacts = _query(built, "select count(*) as n from staging.stg_crm__contacts").n[0]
    accounts = _query(built, "select count(*) as n from staging.stg_crm__companies").n[0]
    leads = _query(built, "select contact_id, score_date from marts.lead_scores")
    acc = _query(built, "select account_id, score_date from marts.account_scores")
    assert len(leads) == contacts and leads.contact_id.is_unique
    assert len(acc) == accounts and acc.account_id.is_unique
    assert set(leads.score_date.dt.date) == {SCORE_DATE}
    assert set(acc.score_date.dt.date) == {SCORE_DATE}


def test_scores_in_range(built):
    for mart, columns in {
        "lead_scores": ["fit_score", "engagement_score", "lead_score"],
        "account_scores": ["fit_score", "engagement_score", "account_score", "financial_score"],
        "fit_scores": ["fit_score"],
        "engagement_scores": ["engagement_score"],
        "financial_scores": ["financial_score"],
    }.items():
        frame = _query(built, f"select {', '.join(columns)} from marts.{mart}")
        for column in columns:
            values = frame[column].dropna() if column == "financial_score" else frame[column]
            assert values.notna().all(), f"{mart}.{column} has nulls"
            assert values.between(0, 100).all(), f"{mart}.{column} outside 0-100"


def test_stages_grades_and_tiers_follow_the_thresholds(built):
    leads = _query(built, "select * from marts.lead_scores")
    customers = leads.lifecycle_stage == "customer"
    open_leads = leads[~customers]
    expected = pd.cut(
        open_leads.lead_score,
        [-1, 50 - 1e-9, 80 - 1e-9, 101],
        labels=["lead", "MQL", "SQL"],
        right=True,
    ).astype(str)
    assert (expected == open_leads.lifecycle_stage).all()
    assert {"lead", "MQL", "SQL", "customer"} == set(leads.lifecycle_stage), "all stages occur"
    grade = pd.cut(
        leads.fit_score, [-1, 25 - 1e-9, 50 - 1e-9, 75 - 1e-9, 101], labels=["D", "C", "B", "A"]
    ).astype(str)
    assert (grade == leads.grade).all()
    accounts = _query(built, "select * from marts.account_scores")
    tier = pd.cut(
        accounts.account_score,
        [-1, 30 - 1e-9, 50 - 1e-9, 70 - 1e-9, 101],
        labels=["Evaluate", "Retain", "Growth", "Strategic"],
    ).astype(str)
    assert (tier == accounts.tier).all()
    assert accounts.financial_score.notna().eq(accounts.is_customer).all(), (
        "financial score exactly for customers"
    )


def test_won_deal_contacts_outscore_lost_deal_contacts(built):
    """Contacts with a won deal vs contacts whose deals were all lost: AUC of the lead score."""
    frame = _query(
        built,
        """
        with outcomes as (
            select contact_id, bool_or(is_won) as won
            from staging.stg_crm__deals
            where is_closed and contact_id is not null
            group by contact_id
        )
        select outcomes.won, lead_scores.lead_score
        from outcomes inner join marts.lead_scores using (contact_id)
        """,
    )
    won, lost = frame[frame.won].lead_score, frame[~frame.won].lead_score
    assert len(won) >= 30 and len(lost) >= 30, f"too few outcomes: {len(won)} won, {len(lost)} lost"
    value = auc(won, lost)
    print(f"AUC won vs lost = {value:.3f} ({len(won)} won, {len(lost)} lost)")
    assert value >= 0.75


def _edit_seed(path: Path, key: dict[str, str], column: str, value: str) -> None:
    rows = list(csv.DictReader(path.open()))
    hits = [r for r in rows if all(r[k] == v for k, v in key.items())]
    assert len(hits) == 1, f"{key} not found in {path.name}"
    hits[0][column] = value
    _write_seed(path, rows)


def _write_seed(path: Path, rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)


def _append_seed(path: Path, row: dict[str, str]) -> None:
    rows = list(csv.DictReader(path.open()))
    _write_seed(path, [*rows, {column: row.get(column, "") for column in rows[0]}])


def test_editing_one_points_row_changes_only_the_affected_scores(built, tmp_path):
    """Software industry fit points 20 -> 10: only contacts of Software companies change."""
    warehouse = tmp_path / "edited.duckdb"
    shutil.copyfile(built, warehouse)  # no writer holds it: a plain file copy is consistent
    project = copy_project(tmp_path / "dbt_project")
    _edit_seed(
        project / "seeds" / "fit_points.csv",
        {"segment": "default", "attribute": "industry", "value": "Software"},
        "contact_points",
        "10",
    )
    dbt(
        ["build", "--vars", f"{{score_date: '{SCORE_DATE}'}}"], warehouse=warehouse, project=project
    )

    sql = """
        select l.contact_id, l.fit_score, l.lead_score, c.industry
        from marts.lead_scores l
        left join intermediate.int_accounts_enriched c on c.account_id = l.account_id
    """
    before = _query(built, sql).set_index("contact_id")
    after = _query(warehouse, sql).set_index("contact_id").reindex(before.index)
    changed = before.index[
        (before.fit_score != after.fit_score) | (before.lead_score != after.lead_score)
    ]
    assert len(changed) > 0
    assert set(before.loc[changed, "industry"]) == {"Software"}
    software = before.index[before.industry == "Software"]
    drop = before.loc[software, "fit_score"] - after.loc[software, "fit_score"]
    assert drop.between(0, 10).all() and (drop > 0).any()
    accounts_before = _query(built, "select * from marts.account_scores order by account_id")
    accounts_after = _query(warehouse, "select * from marts.account_scores order by account_id")
    pd.testing.assert_frame_equal(
        accounts_before,
        accounts_after,
        check_like=True,
        obj="account scores (contact_points edit must not touch them)",
    )


def test_a_segment_scores_its_contacts_with_its_own_rules(built, tmp_path):
    """Partner-sourced leads: opens are worth more and MQL starts at 30; nobody else changes."""
    warehouse = tmp_path / "segmented.duckdb"
    shutil.copyfile(built, warehouse)
    project = copy_project(tmp_path / "dbt_project")
    seeds = project / "seeds"
    (seeds / "segment_rules.csv").write_text(
        "priority,match_column,match_value,segment,description\n"
        "1,lead_source,partner,partner,Leads our partners bring\n"
    )
    _append_seed(seeds / "segment_settings.csv", {"segment": "partner", "mql_threshold": "30"})
    default_open = next(
        r for r in csv.DictReader((seeds / "engagement_points.csv").open()) if r["action"] == "open"
    )
    _append_seed(
        seeds / "engagement_points.csv",
        {**default_open, "segment": "partner", "points": "8", "max_points": "40"},
    )
    dbt(
        ["build", "--vars", f"{{score_date: '{SCORE_DATE}'}}"], warehouse=warehouse, project=project
    )

    sql = """
        select l.*, c.lead_source from marts.lead_scores l
        left join staging.stg_crm__contacts c on c.contact_id = l.contact_id
    """
    before = _query(built, sql).set_index("contact_id")
    after = _query(warehouse, sql).set_index("contact_id").loc[before.index]
    partner = after.lead_source == "partner"
    assert partner.sum() > 10
    assert (after[partner].segment == "partner").all() and (
        after[~partner].segment == "default"
    ).all()
    assert (after[partner].mql_threshold == 30).all() and (
        after[~partner].mql_threshold == 50
    ).all()
    unchanged = ["fit_score", "engagement_score", "lead_score", "lifecycle_stage"]
    pd.testing.assert_frame_equal(before.loc[~partner, unchanged], after.loc[~partner, unchanged])
    gained = after[partner].engagement_score - before[partner].engagement_score
    assert (gained >= 0).all() and (gained > 0).any(), "partner opens are worth 8, not 5"
    stages = after[partner & (after.lifecycle_stage != "customer")]
    assert ((stages.lead_score >= 30) == stages.lifecycle_stage.isin(["MQL", "SQL"])).all()
