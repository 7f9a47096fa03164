"""One DAG run with the CRM from HubSpot, the email data from Mailchimp and the write-back on.

The fakes hold what a generated demo world's exports hold (``tests/fakes/from_world.py``), on
127.0.0.1. The history is pulled with ``leadscore extract --source hubspot|mailchimp``, then
``airflow dags test`` runs one day: it pulls that day from both APIs, gates, scores, publishes
and writes the scores onto the HubSpot records. Every body the fakes served is checked against
the vendors' SDK models.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore.generate import generate
from tests.conftest import BIN, quiet_env, run
from tests.fakes.from_world import SOURCES_YML, accounts_from_landing, connector_env, writes_for
from tests.fakes.server import FakeApi

pytestmark = pytest.mark.slow

HUBSPOT_TOKEN = "pat-na1-e2e00000-aaaa-bbbb-cccc-ddddeeeeffff"
MAILCHIMP_KEY = "0123456789abcdef0123456789abcdef-us21"
#: The day the DAG run scores: `airflow dags test scoring_daily <DAY + 1>` covers [DAY, DAY + 1).
DAY = date(2026, 11, 19)
HISTORY_DAYS = 45


@pytest.fixture(scope="module")
def connected_run(tmp_path_factory):
    """The history pulled, one DAG run done; yields the folders and the fakes' logs."""
    root = tmp_path_factory.mktemp("connectors")
    generated = root / "generated"
    first = DAY - timedelta(days=HISTORY_DAYS - 1)
    generate(generated, seed=11, scale=0.05, end_date=DAY, days=HISTORY_DAYS)
    accounts = accounts_from_landing(
        generated, DAY, hubspot_token=HUBSPOT_TOKEN, mailchimp_key=MAILCHIMP_KEY
    )
    writes = writes_for(accounts)
    sources = root / "sources.yml"
    sources.write_text(SOURCES_YML, encoding="utf-8")
    data = root / "data"
    with (
        FakeApi(writes.routes() + accounts.hubspot.routes(), check_auth=writes.check_auth) as hub,
        FakeApi(accounts.mailchimp.routes()) as mc,
    ):
        env = quiet_env(
            **connector_env(
                data, sources, hubspot_url=hub.url, mailchimp_url=mc.url, accounts=accounts
            ),
            LEADSCORE_API_BACKOFF_SECONDS="0.05",
            AIRFLOW_HOME=str(root / "airflow"),
        )
        leadscore, airflow = str(BIN / "leadscore"), str(BIN / "airflow")
        outputs = []
        for vendor in ("hubspot", "mailchimp"):
            cmd = [leadscore, "extract", "--source", vendor, "--start", str(first)]
            outputs.append(run([*cmd, "--end", str(DAY)], env=env).stdout)
        history_requests = {"hubspot": len(hub.log), "mailchimp": len(mc.log)}
        # on the day the DAG run pulls: one contact deleted, two merged into one
        hubspot = accounts.hubspot
        deleted, winner, loser = sorted(hubspot.objects["contacts"], key=int)[:3]
        noon = datetime.combine(DAY, time(12), UTC)
        hubspot.archive("contacts", deleted, noon)
        hubspot.merge_contacts(winner, loser, noon + timedelta(hours=1))
        run([airflow, "db", "migrate"], env=env)
        run([airflow, "pools", "set", "duckdb_writer", "1", "writer"], env=env)
        dag_run = run(
            [airflow, "dags", "test", "scoring_daily", str(DAY + timedelta(days=1))], env=env
        )
        yield {
            "data": data,
            "accounts": accounts,
            "writes": writes,
            "hub": hub,
            "mc": mc,
            "history_requests": history_requests,
            "gone": {deleted, loser},
            "winner": winner,
            "dag_output": dag_run.stdout + dag_run.stderr,
            "extract_output": "\n".join(outputs),
        }


def _scalar(path: Path, sql: str) -> object:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql).fetchone()[0]


def test_history_and_the_day_came_from_the_apis(connected_run):
    warehouse = connected_run["data"] / "warehouse.duckdb"
    ids = connected_run["accounts"].ids
    assert _scalar(warehouse, "select count(distinct contact_id) from raw.crm__contacts") == len(
        ids["contacts"]
    )
    assert _scalar(warehouse, "select count(distinct company_id) from raw.crm__companies") == len(
        ids["companies"]
    )
    assert _scalar(warehouse, "select count(*) from raw.email__events") > 0
    pulled = _scalar(
        warehouse,
        "select count(distinct vendor || stream) from raw.api_cursors "
        f"where interval_end = '{DAY + timedelta(days=1)}'",
    )
    assert pulled >= 4, "the DAG run pulled each stream of both vendors for its day"
    # the day's request count, for the closing note
    print("history requests:", connected_run["history_requests"])
    print("all requests:", len(connected_run["hub"].log), len(connected_run["mc"].log))


def test_the_day_was_scored_and_published_without_deleted_contacts(connected_run):
    serving = connected_run["data"] / "serving" / "scores.duckdb"
    assert _scalar(serving, "select max(score_date) from marts.lead_scores") == DAY
    with duckdb.connect(str(serving), read_only=True) as con:
        scored = {r[0] for r in con.execute("select contact_id from marts.lead_scores").fetchall()}
    assert scored == set(connected_run["accounts"].ids["contacts"].values()) - connected_run["gone"]
    assert connected_run["winner"] in scored


def test_the_scores_were_written_onto_hubspot_records(connected_run):
    writes = connected_run["writes"]
    serving = connected_run["data"] / "serving" / "scores.duckdb"
    scored = _scalar(serving, "select count(*) from marts.lead_scores")
    assert len(writes.records["contacts"]) == scored
    assert all(len(ids) <= 100 for _, ids in writes.batches)
    assert "leadscore_lead_score" in writes.properties["contacts"]
    assert writes.check_sdk(connected_run["hub"]) > 0


def test_every_body_the_fakes_served_fits_the_vendors_models(connected_run):
    assert connected_run["accounts"].hubspot.contract_errors == []
    assert connected_run["accounts"].mailchimp.shape_errors == []


def test_no_credential_reaches_the_output(connected_run):
    text = connected_run["dag_output"] + connected_run["extract_output"]
    for secret in (HUBSPOT_TOKEN, MAILCHIMP_KEY, MAILCHIMP_KEY.split("-")[0]):
        assert secret not in text
    secrets = (HUBSPOT_TOKEN, MAILCHIMP_KEY)
    root = connected_run["data"].parent  # the data folder and AIRFLOW_HOME (task logs)
    for path in root.rglob("*"):
        if path.is_file() and path.suffix in (".csv", ".jsonl", ".html", ".log", ".json", ".yml"):
            text = path.read_text(errors="replace")
            assert not [s for s in secrets if s in text], f"a credential in {path}"
