"""Service levels, the pilot's control group and hand-over within capacity, on the scored year
(conftest's scored_year: a year of exports scored at monthly cut-offs, then for the last day)."""

from __future__ import annotations

import hashlib
import math
import shutil
from datetime import timedelta
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from tests.conftest import TEST_END, copy_project, dbt

pytestmark = pytest.mark.slow

CONTROL_SHARE = 0.1  # dbt var control_group_share's default
CONTROL_SALT = "leadscore-control-group"  # and control_group_salt's


def _query(warehouse: Path, sql: str, **params) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params).df()


def test_service_levels_match_their_bands(scored_year):
    accounts = _query(scored_year.warehouse, "select * from marts.account_scores")
    tiers = _query(
        scored_year.warehouse,
        "select * from scoring_rules.account_tiers order by min_account_score desc",
    )
    levels = _query(scored_year.warehouse, "select * from scoring_rules.service_levels")
    level_of = levels.set_index("tier")

    def band(score: float) -> str:
        return next(t.tier for t in tiers.itertuples() if score >= t.min_account_score)

    customers = accounts[accounts.is_customer]
    assert len(customers) > 20
    for row in customers.itertuples():
        expected = level_of.loc[band(row.account_score)]
        assert (row.service_level, row.support_tier, row.csm_coverage) == (
            expected.service_level,
            expected.support_tier,
            expected.csm_coverage,
        ), row.account_id
        assert row.first_response_hours == expected.first_response_hours
    assert customers.service_level.nunique() >= 3, "the demo customers span the levels"
    assert accounts[~accounts.is_customer].service_level.isna().all(), "prospects have none"

    coverage = _query(scored_year.warehouse, "select * from marts.service_level_coverage")
    counts = customers.service_level.value_counts()
    for row in coverage.itertuples():
        assert row.customer_accounts == counts.get(row.service_level, 0)
        if pd.notna(row.accounts_per_csm):
            assert row.csms_needed == math.ceil(row.customer_accounts / row.accounts_per_csm)


def test_the_control_group_is_a_stable_share_that_is_never_routed(scored_year):
    leads = _query(scored_year.warehouse, "select contact_id, is_held_out from marts.lead_scores")
    # the draw is plain MD5 (first 15 hex digits), the same on every engine and in Python
    drawn = {
        c
        for c in leads.contact_id
        if int(hashlib.md5(f"{CONTROL_SALT}:{c}".encode()).hexdigest()[:15], 16) % 10000
        < CONTROL_SHARE * 10000
    }
    assert set(leads.contact_id[leads.is_held_out]) == drawn
    n = len(leads)
    held = leads.is_held_out.sum()
    # a binomial draw of the share: within 4 standard deviations
    assert abs(held - CONTROL_SHARE * n) < 4 * math.sqrt(n * CONTROL_SHARE * (1 - CONTROL_SHARE))

    handovers = _query(scored_year.warehouse, "select * from marts.lead_handovers")
    assert handovers.score_date.nunique() >= 6, "the backtest's cut-offs record hand-overs too"
    # stable: a contact is in or out of the group on every score date, as it is today
    flags = handovers.groupby("contact_id").is_held_out.nunique()
    assert (flags == 1).all()
    today = leads.set_index("contact_id").is_held_out
    recorded = handovers.drop_duplicates("contact_id").set_index("contact_id").is_held_out
    assert (recorded == today.reindex(recorded.index)).all()
    # held out: scored, never handed over, and no handover signal
    held_rows = handovers[handovers.is_held_out]
    assert len(held_rows) > 0
    assert set(held_rows.status) == {"held_out"}
    assert held_rows.owner.isna().all() and held_rows.queue.isna().all()
    signalled = _query(
        scored_year.warehouse,
        "select entity_id from marts.score_signals where signal_type = 'handover'",
    )
    assert not set(signalled.entity_id) & set(held_rows.contact_id)


def test_no_queue_ever_takes_more_than_its_capacity(scored_year):
    handovers = _query(scored_year.warehouse, "select * from marts.lead_handovers")
    capacity = _query(scored_year.warehouse, "select * from scoring_rules.routing_capacity")
    taken = handovers[handovers.status.isin(["routed", "released"]) & handovers.capacity.notna()]
    assert len(taken) > 0
    per_run = taken.groupby(["score_date", "queue"]).agg(
        n=("contact_id", "size"), allowed=("run_capacity", "min"), days=("days_covered", "min")
    )
    assert (per_run.n <= per_run.allowed).all()
    daily = capacity.set_index("queue")
    for (_, queue), row in per_run.iterrows():
        limit = daily.loc[queue]
        if limit.capacity_period == "day":
            assert row.allowed == limit.capacity * row.days
    # past capacity a queue's leads are the lower scores: every routed lead scores at least as
    # high as every lead that waited or overflowed in the same queue that day
    for (_, _), day in handovers[handovers.queue.notna()].groupby(["score_date", "queue"]):
        taken_today = day[day.status.isin(["routed", "released"])]
        left = day[day.status.isin(["waiting", "overflow"])]
        if len(taken_today) and len(left):
            assert taken_today.lead_score.min() >= left.lead_score.max()


def _compile_held_out(project: Path, warehouse: Path, **vars_: object) -> set[str]:
    """The contacts the control-group macro holds out with ``vars_``, computed afresh."""
    sql = (
        "select contact_id from {{ ref('lead_scores') }} where {{ in_control_group('contact_id') }}"
    )
    vars_text = str({"score_date": str(TEST_END), **vars_})
    args = ["compile", "--quiet", "--inline", sql, "--vars", vars_text]
    compiled = dbt(args, warehouse=warehouse, project=project).stdout.strip()
    return set(_query(warehouse, compiled).contact_id)


def test_the_control_group_redraws_the_same_and_one_var_turns_it_off(scored_year, tmp_path):
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(scored_year.warehouse, warehouse)
    project = Path(__file__).parents[1] / "dbt_project"
    stored = set(
        _query(warehouse, "select contact_id from marts.lead_scores where is_held_out").contact_id
    )
    # computed again (a rerun, another machine): the same contacts
    assert _compile_held_out(project, warehouse) == stored
    # a bigger share keeps everyone already held out (a pilot can grow without reshuffling)
    bigger = _compile_held_out(project, warehouse, control_group_share=0.2)
    assert stored < bigger
    # a new salt draws a new group; share 0 turns the group off
    assert _compile_held_out(project, warehouse, control_group_salt="pilot-2") != stored
    assert _compile_held_out(project, warehouse, control_group_share=0) == set()


def _set_capacity(project: Path, warehouse: Path, capacity: int) -> None:
    """Every queue of the routing_capacity seed takes ``capacity`` leads a day, no overflow."""
    seed = project / "seeds" / "routing_capacity.csv"
    queues = pd.read_csv(seed).queue
    frame = pd.DataFrame({"queue": queues, "capacity": capacity, "capacity_period": "day"})
    frame.assign(overflow_owner=None, description="test").to_csv(seed, index=False)
    dbt(["seed", "--select", "routing_capacity"], warehouse=warehouse, project=project)


def _handovers_on(project: Path, warehouse: Path, day) -> pd.DataFrame:
    vars_text = str({"score_date": str(day)})
    args = ["run", "--select", "lead_handovers", "--vars", vars_text]
    dbt(args, warehouse=warehouse, project=project)
    rows = _query(warehouse, "select * from marts.lead_handovers where score_date = $d", d=day)
    return rows.set_index("contact_id")


def test_the_waiting_list_is_released_best_first_as_capacity_frees_up(scored_year, tmp_path):
    """A day when no queue can take anyone: every crossing waits. The next day (no new
    crossings) each queue takes one a day again and releases its best waiting lead."""
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copyfile(scored_year.warehouse, warehouse)
    project = copy_project(tmp_path / "dbt_project")
    _set_capacity(project, warehouse, 0)
    first = _handovers_on(project, warehouse, TEST_END)
    waiting = first[first.status == "waiting"]
    assert len(waiting) >= 2 and waiting.queue.nunique() >= 2
    assert set(first.status) <= {"waiting", "held_out"}

    _set_capacity(project, warehouse, 1)
    second = _handovers_on(project, warehouse, TEST_END + timedelta(days=1))
    # nobody leaves the list unseen: each waiting lead is released, still waits or is withdrawn
    assert set(waiting.index) == set(second.index)
    assert set(second.status) <= {"released", "waiting", "withdrawn"}
    assert (second.days_waited == 1).all()
    for queue, queued in waiting.groupby("queue"):
        released = second[(second.queue == queue) & (second.status == "released")]
        assert len(released) == 1, queue
        assert queued.loc[released.index[0], "lead_score"] == queued.lead_score.max()
        assert released.owner.notna().all()
