"""A rerun after a corrected re-delivery equals a clean run, table by table (issue 12).

A day's web file held 20 extra ``demo_request`` events for one contact, its CRM contacts file a
wrong job title for another, and its CRM activities file a meeting with a third, logged that day
but held nine days before. The day ran (and published) with them; then the original files were put
back and the day rerun. The warehouse must end exactly as a copy that only ever ran the original
files: the incremental models drop what the corrected files no longer hold, also from days other
than the file's own.
"""

from __future__ import annotations

import csv
import json
from datetime import date, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore import sources
from leadscore.pipeline import run_interval
from tests.conftest import DAY, NEXT, World, write_delivery
from tests.test_reruns_and_readers import WAREHOUSE_SCHEMAS, assert_same, snapshot

pytestmark = pytest.mark.slow

#: How many bogus demo requests the wrong web file adds for one contact.
EXTRA_EVENTS = 20
#: The day the wrong activities file says a meeting was held (it was logged on DAY).
MEETING_DAY = DAY - timedelta(days=9)


def _contact_scores(warehouse: Path, contact_id: str) -> tuple:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select engagement_score, lead_score, lifecycle_stage from marts.lead_scores "
            "where contact_id = $c",
            {"c": contact_id},
        ).fetchone()


def _job_title(warehouse: Path, contact_id: str) -> str:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select job_title from staging.stg_crm__contacts where contact_id = $c",
            {"c": contact_id},
        ).fetchone()[0]


def _open_leads(world: World) -> list[str]:
    """Contacts still at stage lead on the last published day, highest lead score first."""
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "select contact_id from marts.lead_scores where lifecycle_stage = 'lead' "
                "order by lead_score desc, contact_id"
            ).fetchall()
        ]


def _wrong_web_file(world: World, contact_id: str) -> None:
    """The day's web file with EXTRA_EVENTS demo requests of ``contact_id`` appended."""
    entity = sources.entity("web/events")
    path = world.landing / "web" / "events" / f"{DAY.isoformat()}.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    start = datetime(DAY.year, DAY.month, DAY.day, 9)
    records += [
        {
            "event_id": f"bogus-demo-{n}",
            "event_type": "demo_request",
            "contact_id": contact_id,
            "anonymous_id": f"anon-{contact_id}",
            "page_url": "/demo",
            "content_topic": None,
            "product_line": "analytics",
            "occurred_at": (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "duration_seconds": None,
        }
        for n in range(EXTRA_EVENTS)
    ]
    write_delivery(world.landing, entity, DAY, records)


def _wrong_contacts_file(world: World, contact_id: str) -> None:
    """The day's CRM contacts file with one more version of ``contact_id``: a wrong job title."""
    entity = sources.entity("crm/contacts")
    path = world.landing / "crm" / "contacts" / f"{DAY.isoformat()}.csv"
    with path.open(newline="") as fh:
        records = list(csv.DictReader(fh))
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        newest = con.execute(
            f"""select {", ".join(entity.columns)} from {entity.raw_table}
            where contact_id = $c order by _file_day desc limit 1""",
            {"c": contact_id},
        ).fetchone()
    wrong = dict(zip(entity.columns, newest, strict=True))
    wrong["job_title"] = "Chief Executive Officer"
    wrong["updated_at"] = f"{DAY.isoformat()}T23:00:00Z"
    write_delivery(world.landing, entity, DAY, [*records, wrong])


def _wrong_activities_file(world: World, contact_id: str) -> None:
    """The day's CRM activities file with a meeting of ``contact_id`` that never happened, held
    MEETING_DAY and logged (updated) on DAY."""
    entity = sources.entity("crm/activities")
    path = world.landing / "crm" / "activities" / f"{DAY.isoformat()}.csv"
    with path.open(newline="") as fh:
        records = list(csv.DictReader(fh))
    with duckdb.connect(str(world.warehouse), read_only=True) as con:
        account = con.execute(
            "select account_id from staging.stg_crm__contacts where contact_id = $c",
            {"c": contact_id},
        ).fetchone()[0]
    wrong = {
        "activity_id": "bogus-meeting",
        "activity_type": "meeting",
        "contact_id": contact_id,
        "company_id": account,
        "occurred_at": f"{MEETING_DAY.isoformat()}T15:00:00Z",
        "duration_seconds": "1800",
        "direction": "outbound",
        "outcome": "",
        "updated_at": f"{DAY.isoformat()}T08:00:00Z",
    }
    write_delivery(world.landing, entity, DAY, [*records, wrong])


def _meetings(warehouse: Path, contact_id: str) -> list[tuple]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(
            "select activity_date, event_count from intermediate.int_engagement_daily "
            "where contact_id = $c and source = 'crm' and action = 'meeting' order by 1",
            {"c": contact_id},
        ).fetchall()


@pytest.fixture(scope="module")
def runs(small_world, clean_day, tmp_path_factory, in_process_dbt) -> dict:
    """A clean run of DAY (conftest's clean_day, read only), and a run of DAY with wrong files,
    then rerun with the right ones."""
    root = tmp_path_factory.mktemp("rerun-equals-clean")
    out: dict = {"clean": clean_day}

    with pytest.MonkeyPatch.context() as mp:
        world = small_world.copy(root / "rerun").activate(mp)
        leads = _open_leads(world)
        out["engaged"], out["met"], out["retitled"] = leads[0], leads[1], leads[-1]
        originals = {
            path: path.read_bytes()
            for folder in ("web/events", "crm/contacts", "crm/activities")
            for path in (world.landing / folder).glob(f"{DAY.isoformat()}.*")
        }
        _wrong_web_file(world, out["engaged"])
        _wrong_contacts_file(world, out["retitled"])
        _wrong_activities_file(world, out["met"])
        run_interval(DAY, NEXT, accept_drift=True, dbt=in_process_dbt)
        out["wrong_scores"] = _contact_scores(world.warehouse, out["engaged"])
        out["wrong_title"] = _job_title(world.warehouse, out["retitled"])
        out["wrong_meetings"] = _meetings(world.warehouse, out["met"])

        for path, content in originals.items():  # the corrected re-delivery
            path.write_bytes(content)
        run_interval(DAY, NEXT, accept_drift=True, dbt=in_process_dbt)
        out["rerun"] = world
    return out


def test_the_wrong_delivery_changed_the_scores(runs):
    """The scenario matters: the wrong files moved the contact to MQL and changed a title."""
    engagement, _, stage = runs["wrong_scores"]
    clean_engagement, _, clean_stage = _contact_scores(runs["clean"].warehouse, runs["engaged"])
    assert stage == "MQL" and clean_stage == "lead"
    assert engagement > clean_engagement
    assert runs["wrong_title"] == "Chief Executive Officer"
    assert (MEETING_DAY, 1) in runs["wrong_meetings"]
    assert (MEETING_DAY, 1) not in _meetings(runs["clean"].warehouse, runs["met"])


def test_the_contact_is_scored_as_in_the_clean_run(runs):
    contact = runs["engaged"]
    assert _contact_scores(runs["rerun"].warehouse, contact) == _contact_scores(
        runs["clean"].warehouse, contact
    )
    met = runs["met"]
    assert _meetings(runs["rerun"].warehouse, met) == _meetings(runs["clean"].warehouse, met)
    retitled = runs["retitled"]
    assert _job_title(runs["rerun"].warehouse, retitled) == _job_title(
        runs["clean"].warehouse, retitled
    )


def test_every_table_equals_the_clean_run(runs):
    """Landed, quarantined, staging, intermediate and marts tables (the kept history tables
    included) and the seeded rule tables hold the same rows; only load-time columns differ (they
    say when, not what)."""
    schemas = (*WAREHOUSE_SCHEMAS, "scoring_rules")
    assert_same(
        snapshot(runs["clean"].warehouse, schemas), snapshot(runs["rerun"].warehouse, schemas)
    )


#: Thresholds no account or contact reaches: a run with them raises no signal at all.
NO_SIGNALS = {
    "risk_score_window_days": 0,
    "usage_decline_share": 1000,
    "payment_slip_days": 100000,
    "nps_detractor_max": -1,
    "escalation_min_count": 100000,
    "opportunity_engagement_min": 1000,
    "seat_utilization_min": 1000,
    "mql_threshold": 1000,
    "sql_threshold": 1000,
}


def _signals_per_date(warehouse: Path) -> dict[date, int]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        rows = con.execute("select score_date, count(*) from marts.score_signals group by 1")
        return dict(rows.fetchall())


def test_a_rerun_without_signals_keeps_none_of_its_date(
    runs, tmp_path, monkeypatch, in_process_dbt
):
    """The tables kept per score date replace their date whole on a rerun, also when it now has
    no rows: signals a wrong delivery raised never outlive the corrected rerun."""
    world = runs["rerun"].copy(tmp_path / "world").activate(monkeypatch)
    before = _signals_per_date(world.warehouse)
    assert before.get(DAY, 0) > 0

    # the later --vars wins: the session's score date and the thresholds
    variables = json.dumps({"score_date": DAY.isoformat(), **NO_SIGNALS})
    in_process_dbt(DAY, "run", "--select", "+score_signals", "--vars", variables)
    assert _signals_per_date(world.warehouse) == {d: n for d, n in before.items() if d != DAY}
