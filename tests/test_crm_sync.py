"""The CRM write-back against a local fake of HubSpot's write API (tests/fakes/hubspot_writes.py).

Every request body is checked against the official SDK's request models and every answer the
fake serves against its response models (``FakeHubSpotWrites.check_sdk``). The published serving
copy is a small DuckDB file with the real tables' column names (docs/bi.md); one slow test reads
the copy the pipeline really publishes.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pytest

# The task imports Airflow, whose first import sets up its own logging and would drop the
# handler caplog installed for the test that happens to import it first.
import airflow.sdk.exceptions  # noqa: F401  isort: skip

from leadscore.outputs import crm_sync
from leadscore.outputs.crm_sync import CrmSyncConfigError, CrmSyncError, sync_crm
from leadscore.sources import api
from tests.fakes.hubspot_writes import FakeHubSpotWrites, _property
from tests.fakes.server import Reply

#: Looks like a HubSpot private app token; it must never show in a log, an error or a file.
TOKEN = "pat-na1-3f6c2a1e-9b7d-4e5f-8a2c-6d1e0f9b8a7c"
DAY = date(2026, 11, 20)
BATCH = r"^/crm/v3/objects/contacts/batch/update$"
#: No throttling in tests (the default keeps to HubSpot's 100 requests per 10 seconds).
FAST = {"requests_per_10s": 100_000}
ATTEMPTS = 3

LEAD_COLUMNS = """contact_id varchar, account_id varchar, score_date date, fit_score double,
    engagement_score double, lead_score double, grade varchar, lifecycle_stage varchar,
    top_reasons varchar, segment varchar, mql_threshold double, sql_threshold double,
    strongest_topic varchar"""
ACCOUNT_COLUMNS = """account_id varchar, score_date date, is_customer boolean, fit_score double,
    engagement_score double, financial_score double, account_score double, tier varchar,
    engaged_contacts integer, decision_makers_engaged integer, c_level_engaged boolean,
    buying_group_coverage double, top_reasons varchar"""


@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch, tmp_path):
    monkeypatch.setattr(api, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(api, "MAX_ATTEMPTS", ATTEMPTS)
    monkeypatch.setenv(crm_sync.SYNC_LOG_ENV, str(tmp_path / "crm_sync_log.sqlite"))
    for name in ("TOKEN", "BASE_URL", "CONN_ID"):
        monkeypatch.delenv(f"LEADSCORE_HUBSPOT_{name}", raising=False)


def contacts(n: int, day: date = DAY, bump: set[int] = frozenset()) -> list[tuple]:
    """``n`` contacts with HubSpot ids; those in ``bump`` score 1.5 points more."""
    rows = []
    for i in range(n):
        score = (i * 7) % 90 + 0.5 + (1.5 if i in bump else 0)
        stage = "SQL" if score >= 80 else "MQL" if score >= 50 else "lead"
        reasons = f"demo_request x1 +{score / 2:.1f}; size_band 50-199 +15.0" if i % 5 else None
        ids = (str(1001 + i), str(9001 + i // 3))
        rows.append((*ids, day, score, score, score, "ABCD"[i % 4], stage, reasons, "default"))
        rows[-1] += (50.0, 80.0, None)
    return rows


def companies(n: int, day: date = DAY) -> list[tuple]:
    tiers = ("Strategic", "Growth", "Retain", "Evaluate")
    rows = []
    for i in range(n):
        rows.append((str(9001 + i), day, i % 2 == 0, 50.0, 40.0, None, 20.0 + i, tiers[i % 4]))
        rows[-1] += (2, 1, False, 0.5, "icp match +25.0")
    return rows


def publish(serving: Path, leads: list[tuple], accounts: list[tuple], tag: str = "1") -> Path:
    """A serving copy laid out as ``leadscore.publish`` writes it (docs/bi.md)."""
    folder = serving / "publishes" / f"2026112{tag}T000500000000Z"
    folder.mkdir(parents=True)
    with duckdb.connect(str(folder / "scores.duckdb")) as con:
        con.execute("create schema marts")
        con.execute(f"create table marts.lead_scores ({LEAD_COLUMNS})")
        con.execute(f"create table marts.account_scores ({ACCOUNT_COLUMNS})")
        con.executemany(f"insert into marts.lead_scores values ({', '.join('?' * 13)})", leads)
        if accounts:
            con.executemany(
                f"insert into marts.account_scores values ({', '.join('?' * 13)})", accounts
            )
    current = serving / "current"
    staged = serving / ".current.new"
    staged.symlink_to(Path("publishes") / folder.name)
    os.replace(staged, current)
    if not (serving / "scores.duckdb").is_symlink():
        (serving / "scores.duckdb").symlink_to(Path("current") / "scores.duckdb")
    return serving


@pytest.fixture
def serving(tmp_path) -> Path:
    return publish(tmp_path / "serving", contacts(10), companies(4))


@pytest.fixture
def hubspot():
    fake = FakeHubSpotWrites(TOKEN)
    with fake.server() as server:
        server.fake = fake
        yield server
    fake.check_sdk(server)  # every request and answer fits the SDK's models


def conn_to(server) -> api.Connection:
    return api.Connection("hubspot", "LEADSCORE_HUBSPOT_TOKEN", server.url, TOKEN)


def sync(server, serving: Path, **kwargs) -> crm_sync.SyncResult:
    settings = {**FAST, **kwargs.pop("settings", {})}
    return sync_crm(conn=conn_to(server), serving=serving, settings=settings, **kwargs)


def batch_sizes(server, object_type: str = "contacts") -> list[int]:
    calls = server.requests_to("POST", rf"^/crm/v3/objects/{object_type}/batch/update$")
    return [len(r.body["inputs"]) for r in calls]


def midnight_ms(day: date) -> str:
    return str(int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp()) * 1000)


# ---- properties -------------------------------------------------------------------------------


def test_first_sync_creates_the_group_and_properties_and_writes_the_scores(hubspot, serving):
    fake = hubspot.fake
    result = sync(hubspot, serving)

    for object_type, names in (
        ("contacts", ["leadscore_lead_score", "leadscore_grade", "leadscore_lifecycle_stage"]),
        ("contacts", ["leadscore_top_reasons", "leadscore_score_date"]),
        ("companies", ["leadscore_account_score", "leadscore_account_tier"]),
    ):
        assert "leadscore" in fake.groups[object_type]
        for name in names:
            assert fake.properties[object_type][name]["groupName"] == "leadscore"
    props = fake.properties["contacts"]
    assert (props["leadscore_lead_score"]["type"], props["leadscore_lead_score"]["fieldType"]) == (
        "number",
        "number",
    )
    assert [o["value"] for o in props["leadscore_lifecycle_stage"]["options"]] == [
        "lead",
        "MQL",
        "SQL",
        "customer",
    ]
    assert props["leadscore_score_date"]["type"] == "date"
    assert fake.properties["companies"]["leadscore_account_tier"]["type"] == "enumeration"

    first = fake.records["contacts"]["1001"]
    assert first == {
        "leadscore_lead_score": "0.5",
        "leadscore_grade": "A",
        "leadscore_lifecycle_stage": "lead",
        "leadscore_top_reasons": "",  # no rule added points: the property is cleared
        "leadscore_score_date": midnight_ms(DAY),
    }
    assert fake.records["contacts"]["1002"]["leadscore_top_reasons"] == (
        "demo_request x1 +3.8; size_band 50-199 +15.0"
    )
    assert fake.records["companies"]["9002"] == {
        "leadscore_account_score": "21",
        "leadscore_account_tier": "Growth",
    }
    assert (result.contacts.sent, result.companies.sent) == (10, 4)
    assert (result.contacts.batches, result.companies.batches) == (1, 1)
    # per object type: read properties, read groups, create group, create each property, 1 batch
    assert result.requests == (1 + 1 + 1 + 5 + 1) + (1 + 1 + 1 + 2 + 1) == len(hubspot.log)
    assert "contacts property leadscore_lead_score" in result.created
    # 2 groups, 7 properties and 2 batches sent; 15 answers: all fit the SDK's models
    assert fake.check_sdk(hubspot) == 11 + 15


def test_present_properties_are_not_created_again(hubspot, serving, tmp_path):
    sync(hubspot, serving)
    created = len(hubspot.requests_to("POST", r"^/crm/v3/properties/"))

    changed = publish(tmp_path / "serving2", contacts(10, bump={3}), companies(4))
    result = sync(hubspot, changed)

    assert len(hubspot.requests_to("POST", r"^/crm/v3/properties/")) == created
    assert len(hubspot.requests_to("GET", r"/groups$")) == 2  # once per object type, first sync
    assert result.requests == 2  # read the contact properties, one batch
    assert result.created == []


def test_a_dropdown_gets_the_options_it_lacks(hubspot, serving):
    fake = hubspot.fake
    fake.groups["companies"]["leadscore"] = fake._group("leadscore", "Lead scoring")
    tier = {
        "name": "leadscore_account_tier",
        "label": "Tier",
        "groupName": "leadscore",
        "type": "enumeration",
        "fieldType": "select",
        "options": [{"label": "Strategic", "value": "Strategic", "hidden": False}],
    }
    fake.properties["companies"]["leadscore_account_tier"] = _property(tier)

    sync(hubspot, serving)

    patches = hubspot.requests_to("PATCH", r"^/crm/v3/properties/companies/")
    assert len(patches) == 1
    values = [o["value"] for o in fake.properties["companies"]["leadscore_account_tier"]["options"]]
    assert values == ["Strategic", "Evaluate", "Growth", "Retain"]
    assert fake.records["companies"]["9004"]["leadscore_account_tier"] == "Evaluate"


def test_property_names_come_from_the_settings(hubspot, serving):
    settings = {
        "group": "scoring",
        "contact_properties": {"lead_score": "lead_score_custom", "top_reasons": None},
        "company_properties": {"account_tier": "tier_custom"},
    }
    sync(hubspot, serving, settings=settings)

    contact = hubspot.fake.records["contacts"]["1001"]
    assert "lead_score_custom" in contact and "leadscore_top_reasons" not in contact
    assert hubspot.fake.properties["contacts"]["lead_score_custom"]["groupName"] == "scoring"
    assert "tier_custom" in hubspot.fake.records["companies"]["9001"]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"batch_size": 250}, "batch_size must be 1 to 100"),
        ({"contact_properties": {"score": "x"}}, "unknown field(s) score"),
        ({"contact_properties": {"grade": "Lead Grade"}}, "not a HubSpot internal name"),
        ({"colour": "blue"}, "unknown setting(s) colour"),
        ({"enabled": "yes"}, "enabled must be true or false"),
        ({"min_score_change": -1}, "min_score_change must be a number of score points"),
    ],
)
def test_settings_mistakes_name_the_file_and_key(settings, message):
    with pytest.raises(CrmSyncConfigError, match=r"sources\.yml: crm_sync") as err:
        crm_sync.parse_settings(settings, source="expectations/sources.yml")
    assert message in str(err.value)


def test_default_settings():
    cfg = crm_sync.parse_settings({})
    assert cfg.enabled and cfg.batch_size == 100 and cfg.requests_per_10s == 100
    assert cfg.properties["companies"] == {
        "account_score": "leadscore_account_score",
        "account_tier": "leadscore_account_tier",
    }
    assert not crm_sync.parse_settings({}, crm_vendor=None).enabled  # CRM from export files


# ---- batching and skip-unchanged --------------------------------------------------------------


def test_250_changed_contacts_go_in_3_batches(hubspot, tmp_path):
    serving = publish(tmp_path / "serving", contacts(250), companies(0))

    result = sync(hubspot, serving)

    assert batch_sizes(hubspot) == [100, 100, 50]
    assert result.contacts.batches == 3 and result.contacts.sent == 250
    assert len(hubspot.fake.records["contacts"]) == 250


def test_unchanged_records_are_not_sent_again(hubspot, tmp_path):
    serving = publish(tmp_path / "serving", contacts(250), companies(40))
    sync(hubspot, serving)
    hubspot.log.clear()

    again = sync(hubspot, serving)
    assert hubspot.log == [] and again.requests == 0
    assert (again.contacts.unchanged, again.companies.unchanged) == (250, 40)

    # the next day: 7 scores changed; the new score date alone is no change
    bumped = {3, 50, 99, 100, 101, 180, 249}
    nextday = publish(
        tmp_path / "serving2", contacts(250, date(2026, 11, 21), bumped), companies(40, DAY)
    )
    result = sync(hubspot, nextday)

    sent = [i["id"] for r in hubspot.requests_to("POST", BATCH) for i in r.body["inputs"]]
    assert sorted(sent) == sorted(str(1001 + i) for i in bumped)
    assert (result.contacts.sent, result.contacts.unchanged, result.companies.sent) == (7, 243, 0)
    assert hubspot.fake.records["contacts"]["1004"]["leadscore_score_date"] == midnight_ms(
        date(2026, 11, 21)
    )


def test_small_score_moves_wait_until_they_add_up_to_min_score_change(hubspot, tmp_path):
    def leads(day: date, moved: float) -> list[tuple]:
        """Contact 1001 (score 0.5) moved by ``moved`` points, its reasons' points with it."""
        rows = contacts(3, day)
        score = rows[0][5] + moved
        reasons = f"demo_request x1 +{score / 2:.1f}; size_band 50-199 +15.0"
        rows[0] = (*rows[0][:3], score, score, score, *rows[0][6:8], reasons, *rows[0][9:])
        return rows

    settings = {"min_score_change": 2}
    sync(hubspot, publish(tmp_path / "s1", leads(DAY, 0), []), settings=settings)
    hubspot.log.clear()
    later = date(2026, 11, 21)
    small = sync(hubspot, publish(tmp_path / "s2", leads(later, 1.5), []), settings=settings)
    assert small.contacts.sent == 0 and hubspot.requests_to("POST", BATCH) == []
    sent = sync(hubspot, publish(tmp_path / "s3", leads(later, 2.5), []), settings=settings)
    assert sent.contacts.sent == 1, "2.5 points from the value HubSpot has: sent"
    assert hubspot.fake.records["contacts"]["1001"]["leadscore_lead_score"] == "3"
    assert sync(hubspot, publish(tmp_path / "s4", leads(later, 2.5), [])).contacts.sent == 0


def test_resend_sends_everything_again(hubspot, serving):
    sync(hubspot, serving)
    result = sync(hubspot, serving, resend=True)
    assert (result.contacts.sent, result.companies.sent) == (10, 4)


# ---- failures and retries ---------------------------------------------------------------------


def test_429_is_retried_after_retry_after(hubspot, serving):
    limit = {"status": "error", "message": "Ten second rolling limit", "category": "RATE_LIMITS"}
    hubspot.fail_next("POST", BATCH, Reply(429, limit, {"Retry-After": "1"}))
    result = sync(hubspot, serving)

    assert batch_sizes(hubspot) == [10, 10]  # refused once, then accepted
    assert result.contacts.sent == 10
    assert len(hubspot.fake.records["contacts"]) == 10


def test_5xx_is_retried(hubspot, serving):
    hubspot.fail_next("POST", BATCH, Reply(503, {"message": "unavailable"}), times=ATTEMPTS - 1)
    result = sync(hubspot, serving)
    assert len(batch_sizes(hubspot)) == ATTEMPTS
    assert result.contacts.sent == 10
    assert result.requests == len(hubspot.log)


def test_a_failure_midway_keeps_batch_1_and_the_retry_sends_only_the_rest(hubspot, tmp_path):
    serving = publish(tmp_path / "serving", contacts(250), companies(3))
    published = (serving / "current" / "scores.duckdb").read_bytes()
    hubspot.fake.fail_batch("contacts", 2, status=500, times=ATTEMPTS)

    with pytest.raises(CrmSyncError) as err:
        sync(hubspot, serving)

    assert not isinstance(err.value, CrmSyncConfigError)  # Airflow retries it
    assert "HTTP 500" in str(err.value) and "100 records" in str(err.value)
    assert [ids for _, ids in hubspot.fake.batches] == [[str(1001 + i) for i in range(100)]]
    assert (serving / "current" / "scores.duckdb").read_bytes() == published

    hubspot.log.clear()
    result = sync(hubspot, serving)

    assert batch_sizes(hubspot) == [100, 50]
    assert (result.contacts.sent, result.contacts.unchanged, result.companies.sent) == (150, 100, 3)
    written = [i for t, ids in hubspot.fake.batches if t == "contacts" for i in ids]
    assert len(written) == len(set(written)) == 250  # nothing sent twice


@pytest.mark.parametrize("missing", ["400", "207"])
def test_records_hubspot_no_longer_has_are_logged_and_skipped(tmp_path, missing, caplog):
    known = {"contacts": {str(1001 + i) for i in range(10)} - {"1003", "1008"}}
    fake = FakeHubSpotWrites(TOKEN, known_ids=known, missing=missing)
    serving = publish(tmp_path / "serving", contacts(10), [])
    with fake.server() as server, caplog.at_level(logging.WARNING):
        result = sync(server, serving)
        again = sync(server, serving)
    fake.check_sdk(server)

    assert (result.contacts.sent, result.contacts.not_found) == (8, 2)
    assert sorted(fake.records["contacts"]) == sorted(known["contacts"])
    assert "hubspot has no contacts with id 1003, 1008" in caplog.text
    assert len(batch_sizes(server)) == (2 if missing == "400" else 1)  # a 400 is sent again
    assert again.requests == 0  # not sent again until their scores change


def test_values_hubspot_refuses_fail_the_sync_clearly(hubspot, serving, caplog):
    fake = hubspot.fake
    fake.groups["contacts"]["leadscore"] = fake._group("leadscore", "Lead scoring")
    fake.properties["contacts"]["leadscore_grade"] = _property(
        {
            "name": "leadscore_grade",
            "label": "Grade",
            "groupName": "leadscore",
            "type": "number",
            "fieldType": "number",
        }
    )
    with caplog.at_level(logging.WARNING), pytest.raises(CrmSyncConfigError) as err:
        sync(hubspot, serving)

    message = str(err.value)
    assert "refused contacts batch 1 of 1" in message and "VALIDATION_ERROR" in message
    assert "leadscore_grade" in message
    assert "property leadscore_grade is of type number" in caplog.text


def test_wrong_credentials_fail_at_once_without_showing_them(hubspot, serving):
    wrong = api.Connection("hubspot", "LEADSCORE_HUBSPOT_TOKEN", hubspot.url, "pat-na1-wrong-0000")
    with pytest.raises(CrmSyncConfigError, match=r"refused \(401\).*LEADSCORE_HUBSPOT_TOKEN"):
        sync_crm(conn=wrong, serving=serving, settings=FAST)
    assert len(hubspot.log) == 1  # not retried


def test_the_token_never_shows_in_logs_errors_or_the_sync_log(hubspot, serving, caplog):
    echo = {"status": "error", "message": f"token {TOKEN} is over its limit", "category": "X"}
    hubspot.fail_next("POST", BATCH, Reply(500, echo), times=ATTEMPTS)
    with caplog.at_level(logging.DEBUG), pytest.raises(CrmSyncError) as err:
        sync(hubspot, serving)
    sync(hubspot, serving)

    errors = f"{err.value!s} {err.value!r} {err.value.__cause__!s}"
    assert "HTTP 500" in errors
    for piece in (TOKEN, TOKEN.split("-")[2], TOKEN.split("-")[-1]):
        assert piece not in errors
        assert piece not in caplog.text
        assert piece.encode() not in Path(os.environ[crm_sync.SYNC_LOG_ENV]).read_bytes()
    with sqlite3.connect(os.environ[crm_sync.SYNC_LOG_ENV]) as con:
        (destination,) = {r[0] for r in con.execute("select destination from synced")}
    assert destination.startswith("hubspot sha256:") and hubspot.url not in destination


# ---- dry run and the task ---------------------------------------------------------------------


def test_dry_run_sends_creates_and_records_nothing(hubspot, serving, monkeypatch):
    monkeypatch.setenv("LEADSCORE_HUBSPOT_BASE_URL", hubspot.url)  # no token: none needed
    monkeypatch.setenv("LEADSCORE_HUBSPOT_CONN_ID", "leadscore_test_no_such_connection")

    result = sync_crm(dry_run=True, serving=serving, settings=FAST)

    assert hubspot.log == []
    assert "leadscore_lead_score" not in hubspot.fake.properties["contacts"]
    log_path = Path(os.environ[crm_sync.SYNC_LOG_ENV])
    assert (
        not log_path.exists()
        or not sqlite3.connect(log_path).execute("select count(*) from synced").fetchone()[0]
    )
    summary = result.summary()
    assert "dry run" in summary
    assert "contacts: 10 published, 10 changed, 0 unchanged" in summary
    assert "would send 10 in 1 batch(es)" in summary and "would send 4" in summary
    assert "e.g. contacts 1001: leadscore_lead_score '0.5'" in summary

    real = sync(hubspot, serving)  # the dry run recorded nothing: the real sync sends all
    assert real.contacts.sent == 10
    assert real.contacts.sent == result.contacts.changed


def test_the_task_skips_when_the_write_back_is_off(tmp_path, monkeypatch, caplog):
    config = tmp_path / "sources.yml"
    config.write_text("sources:\n  crm: [companies, contacts]\n")
    monkeypatch.setenv("LEADSCORE_SOURCES_CONFIG", str(config))
    with caplog.at_level(logging.WARNING):
        assert crm_sync.run_sync_crm_task() == {"skipped": "crm_sync is off"}
    assert "CRM write-back is off" in caplog.text


def test_the_task_syncs_the_published_scores(hubspot, serving, tmp_path, monkeypatch):
    config = tmp_path / "sources.yml"
    config.write_text(
        "sources:\n  crm: [companies, contacts]\n"
        "crm_sync:\n  enabled: true\n  requests_per_10s: 100000\n"
    )
    monkeypatch.setenv("LEADSCORE_SOURCES_CONFIG", str(config))
    monkeypatch.setenv("LEADSCORE_SERVING_DIR", str(serving))
    monkeypatch.setenv("LEADSCORE_HUBSPOT_TOKEN", TOKEN)
    monkeypatch.setenv("LEADSCORE_HUBSPOT_BASE_URL", hubspot.url)

    out = crm_sync.run_sync_crm_task(datetime(2026, 11, 21, tzinfo=UTC))

    assert out["score_date"] == "2026-11-20"
    assert (out["contacts"]["sent"], out["companies"]["sent"], out["batches"]) == (10, 4, 2)


# ---- values -----------------------------------------------------------------------------------


def test_values_are_written_as_hubspot_takes_them():
    number, text, day = (
        next(f for f in crm_sync.CONTACTS.fields if f.key == key)
        for key in ("lead_score", "top_reasons", "score_date")
    )
    assert crm_sync.property_value(number, 58.5) == "58.5"
    assert crm_sync.property_value(number, 100.0) == "100"
    assert crm_sync.property_value(number, 1 / 3) == "0.333333"
    assert crm_sync.property_value(number, math.nan) == ""
    assert crm_sync.property_value(number, None) == ""
    assert crm_sync.property_value(day, date(2026, 11, 20)) == midnight_ms(date(2026, 11, 20))
    assert int(midnight_ms(date(2026, 11, 20))) % 86_400_000 == 0
    long = crm_sync.property_value(text, "x" * 70_000)
    assert len(long) == crm_sync.TEXT_MAX_CHARS and long.endswith("…")


@pytest.mark.slow
def test_reads_the_copy_the_pipeline_publishes(small_world):
    """The demo data's ids (``P0001234``) are not HubSpot ids: a dry run reads every published
    row and skips them all, without a token."""
    result = sync_crm(dry_run=True, serving=small_world.serving, settings={}, conn=None)
    with duckdb.connect(str(small_world.serving / "scores.duckdb"), read_only=True) as con:
        leads = con.execute("select count(*) from marts.lead_scores").fetchone()[0]
        accounts = con.execute("select count(*) from marts.account_scores").fetchone()[0]
    assert (result.contacts.published, result.contacts.skipped) == (leads, leads)
    assert (result.companies.published, result.companies.skipped) == (accounts, accounts)
    assert result.contacts.changed == 0 and result.score_date == date(2026, 11, 18)
