"""Funnel KPIs (marts.funnel_kpis over lead_journeys) on the demo year, checked against a journey
table computed here in pandas from the staging tables and the score history."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from tests.conftest import TEST_END, dbt

pytestmark = pytest.mark.slow

STAGES = ["leads", "mqls", "sqls", "opportunities", "won"]
KEYS = ["lead_month", "breakdown", "channel"]


def _query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def _journeys(warehouse: Path) -> pd.DataFrame:
    """One row per lead, computed from the staging tables and score_history without the models:
    contacts created on or after the first contact score date that were not contacts of a customer
    account then, with the stages they reached (cumulative) and their first-touch campaign."""

    def read(sql: str) -> pd.DataFrame:
        return _query(warehouse, sql)

    end = pd.Timestamp(TEST_END)
    contacts = read(
        "select contact_id, account_id, email, lead_source, created_at "
        "from staging.stg_crm__contacts"
    )
    subscriptions = read("select * from staging.stg_crm__subscriptions")
    history = read(
        "select entity_id as contact_id, score_date, stage from marts.score_history "
        "where entity_type = 'contact'"
    )
    history = history[history.score_date <= end]
    deals = read("select contact_id, created_at, closed_date, is_won from staging.stg_crm__deals")
    clicks = read(
        "select email, campaign_id, occurred_at, event_id from staging.stg_email__events "
        "where event_type = 'click'"
    )
    campaigns = read("select campaign_id, campaign_name from staging.stg_email__campaigns")

    contacts["lead_date"] = contacts.created_at.dt.normalize()
    contacts = contacts[contacts.lead_date <= end]
    merged = contacts.merge(subscriptions, on="account_id", how="inner")
    created = merged.lead_date
    customer_then = (
        (merged.start_date <= created)
        & (merged.end_date > created)
        & ((merged.status == "active") | (merged.updated_at.dt.normalize() > created))
    )
    of_customers = set(merged.loc[customer_then, "contact_id"])
    leads = contacts[
        (contacts.lead_date >= history.score_date.min()) & ~contacts.contact_id.isin(of_customers)
    ].copy()

    scored = history[history.stage.isin(["MQL", "SQL"])]
    leads["scored_mql"] = leads.contact_id.isin(scored.contact_id)
    leads["scored_sql"] = leads.contact_id.isin(scored.loc[scored.stage == "SQL", "contact_id"])
    deals = deals[deals.created_at.dt.normalize() <= end]
    won = deals[deals.is_won & (deals.closed_date <= end)]
    leads["is_won"] = leads.contact_id.isin(won.contact_id)
    leads["reached_opportunity"] = leads.contact_id.isin(deals.contact_id) | leads.is_won
    leads["reached_sql"] = leads.scored_sql | leads.reached_opportunity
    leads["reached_mql"] = leads.scored_mql | leads.reached_sql

    # first touch: the first click up to the lead's first deal (or the score date)
    first_deal = deals.groupby("contact_id").created_at.min().dt.normalize()
    clicks = clicks.merge(leads[["contact_id", "email"]], on="email")
    until = clicks.contact_id.map(first_deal).fillna(end)
    clicks = clicks[clicks.occurred_at.dt.normalize() <= until]
    first = clicks.sort_values(["occurred_at", "event_id"]).drop_duplicates("contact_id")
    first = first.merge(campaigns, on="campaign_id", how="left")
    first["campaign"] = first.campaign_name.fillna(first.campaign_id)
    leads = leads.merge(first[["contact_id", "campaign"]], on="contact_id", how="left")
    leads["campaign"] = leads.campaign.fillna("(none)")
    leads["lead_source"] = leads.lead_source.fillna("unknown")
    leads["lead_month"] = leads.lead_date.dt.to_period("M").dt.to_timestamp()
    return leads


def _stage_counts(leads: pd.DataFrame) -> pd.DataFrame:
    """Stage counts per month and channel of each breakdown, as funnel_kpis should hold them."""
    frames = []
    for breakdown, channel in [
        ("total", None),
        ("lead_source", "lead_source"),
        ("campaign", "campaign"),
    ]:
        grouped = leads.assign(
            breakdown=breakdown, channel=leads[channel] if channel else "all"
        ).groupby(KEYS)
        frames.append(
            pd.DataFrame(
                {
                    "leads": grouped.size(),
                    "mqls": grouped.reached_mql.sum(),
                    "sqls": grouped.reached_sql.sum(),
                    "opportunities": grouped.reached_opportunity.sum(),
                    "won": grouped.is_won.sum(),
                }
            )
        )
    return pd.concat(frames).astype("int64").sort_index()


@pytest.fixture(scope="module")
def funnel(scored_year) -> dict:
    warehouse = scored_year.warehouse
    kpis = _query(warehouse, "select * from marts.funnel_kpis")
    kpis["lead_month"] = pd.to_datetime(kpis.lead_month)
    return {
        "warehouse": warehouse,
        "kpis": kpis,
        "journeys": _query(warehouse, "select * from marts.lead_journeys"),
        "expected": _journeys(warehouse),
    }


def test_kpis_add_up_to_the_stage_counts_of_the_leads(funnel):
    kpis, leads = funnel["kpis"], funnel["expected"]
    assert len(leads) > 100, "the demo year has leads to count"
    assert (kpis.score_date == pd.Timestamp(TEST_END)).all()
    got = kpis.set_index(KEYS)[STAGES].astype("int64").sort_index()
    pd.testing.assert_frame_equal(got, _stage_counts(leads))
    # every breakdown adds up to the whole funnel on its own
    totals = kpis.groupby("breakdown")[STAGES].sum()
    whole = [
        len(leads),
        *(
            int(leads[c].sum())
            for c in ["reached_mql", "reached_sql", "reached_opportunity", "is_won"]
        ),
    ]
    for breakdown, row in totals.iterrows():
        assert row.tolist() == whole, breakdown
    assert set(funnel["journeys"].contact_id) == set(leads.contact_id)


def test_the_funnel_narrows_and_some_leads_convert(funnel):
    total = funnel["kpis"].query("breakdown == 'total'")[STAGES].sum()
    assert total.is_monotonic_decreasing
    assert total.won > 0 and total.mqls > total.sqls > 0


def test_rates_are_the_ratios_of_the_counts(funnel):
    kpis = funnel["kpis"]
    steps = [
        ("lead_to_mql_rate", "mqls", "leads"),
        ("mql_to_sql_rate", "sqls", "mqls"),
        ("sql_to_opportunity_rate", "opportunities", "sqls"),
        ("opportunity_to_won_rate", "won", "opportunities"),
        ("lead_to_won_rate", "won", "leads"),
    ]
    for rate, numerator, denominator in steps:
        expected = kpis[numerator] / kpis[denominator].replace(0, np.nan)
        np.testing.assert_allclose(kpis[rate].astype(float), expected.astype(float), err_msg=rate)


def test_medians_agree_with_pandas_on_the_journeys(funnel):
    journeys = funnel["journeys"].copy()
    days = {
        "median_days_lead_to_mql": ("lead_date", "mql_date"),
        "median_days_mql_to_sql": ("mql_date", "sql_date"),
        "median_days_sql_to_opportunity": ("sql_date", "opportunity_date"),
        "median_days_sales_cycle": ("opportunity_date", "won_date"),
        "median_days_lead_to_won": ("lead_date", "won_date"),
    }
    for column, (start, stop) in days.items():
        journeys[column] = (
            pd.to_datetime(journeys[stop]) - pd.to_datetime(journeys[start])
        ).dt.days
        # stage dates never run backwards: a stage dated after a later one is skipped
        assert (journeys[column].dropna() >= 0).all(), column
    journeys["lead_month"] = pd.to_datetime(journeys.lead_date).dt.to_period("M").dt.to_timestamp()
    for breakdown, channel in [
        ("lead_source", "lead_source"),
        ("campaign", "first_touch_campaign"),
    ]:
        expected = journeys.groupby(["lead_month", channel])[list(days)].median()
        expected.index.names = ["lead_month", "channel"]
        kpis = funnel["kpis"]
        got = kpis[kpis.breakdown == breakdown].set_index(["lead_month", "channel"])[list(days)]
        pd.testing.assert_frame_equal(
            got.sort_index().astype(float), expected.sort_index().astype(float), check_names=False
        )
    assert funnel["kpis"].median_days_sales_cycle.notna().any()


def test_history_after_the_score_date_is_ignored(funnel, tmp_path):
    """A backfill rebuilds an earlier date while later history rows exist: those rows (here every
    lead at SQL a week later) change nothing."""
    warehouse = Path(shutil.copyfile(funnel["warehouse"], tmp_path / "warehouse.duckdb"))
    with duckdb.connect(str(warehouse)) as con:
        con.execute(
            """insert into marts.score_history by name
            select entity_type, entity_id, account_id, score_date + 7 as score_date, score,
                'SQL' as stage
            from marts.score_history where entity_type = 'contact' and score_date = $d""",
            {"d": TEST_END},
        )
    dbt(
        [
            "build",
            "--select",
            "lead_journeys",
            "funnel_kpis",
            "--vars",
            json.dumps({"score_date": TEST_END.isoformat()}),
        ],
        warehouse=warehouse,
    )
    rebuilt = _query(warehouse, "select * from marts.funnel_kpis")
    rebuilt["lead_month"] = pd.to_datetime(rebuilt.lead_month)
    pd.testing.assert_frame_equal(
        rebuilt.sort_values(KEYS).reset_index(drop=True),
        funnel["kpis"].sort_values(KEYS).reset_index(drop=True),
    )
