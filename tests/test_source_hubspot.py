"""The HubSpot source against a local fake HubSpot (tests/fakes/hubspot_crm.py): paging, the first
pull's history and later increments, retries, refusals and malformed pages, the search cap,
deleted and merged records, custom properties, deals, email, and the landed files through strict
inspection. Every reply the fake serves fits hubspot-api-client's model of it. No dbt, no Airflow.
"""

from __future__ import annotations

import csv
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from leadscore.sources import Shape, api, entity
from leadscore.sources import hubspot as hs
from leadscore.sources.files import extract_source
from tests.fakes.hubspot_crm import ContractError, FakeHubSpot, check_reply, iso, ms
from tests.fakes.server import FakeApi, Reply

START = datetime(2026, 11, 18, tzinfo=UTC)
DAY = timedelta(days=1)
CRM = [entity("crm/companies"), entity("crm/contacts"), entity("crm/deals")]
EMAIL = [entity("email/campaigns"), entity("email/events")]
SEARCH = r"/crm/v3/objects/contacts/search"


@dataclass
class Account:
    fake: FakeHubSpot
    server: FakeApi
    tmp: Path

    @property
    def landing(self) -> Path:
        return self.tmp / "landing"

    @property
    def warehouse(self) -> Path:
        return self.tmp / "warehouse.duckdb"

    def pull(self, entities=CRM, start=START, days=1, settings=None) -> api.PullResult:
        return hs.pull(
            entities,
            start,
            start + days * DAY,
            landing=self.landing,
            warehouse=self.warehouse,
            settings=settings or {},
        )

    def rows(self, qualified: str, day=START) -> list[dict]:
        e = entity(qualified)
        path = self.landing / e.source / e.name / f"{day.date().isoformat()}.{e.extension}"
        if e.file_format == "csv":
            with path.open(encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f))
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def searches(self, obj: str = "contacts") -> list[dict]:
        return [r.body for r in self.server.requests_to("POST", rf"/crm/v3/objects/{obj}/search")]


@pytest.fixture
def account(tmp_path, monkeypatch):
    """A small fake account around START, served on 127.0.0.1; the source points at it."""
    monkeypatch.setattr(api, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setattr(hs, "SEARCH_REQUESTS_PER_SECOND", 0.0)
    monkeypatch.setattr(hs, "REQUESTS_PER_SECOND", 0.0)
    fake = FakeHubSpot.sample(START)
    with FakeApi(fake.routes(), check_auth=fake.check_auth) as server:
        monkeypatch.setenv("LEADSCORE_HUBSPOT_TOKEN", fake.token)
        monkeypatch.setenv("LEADSCORE_HUBSPOT_BASE_URL", server.url)
        yield Account(fake, server, tmp_path)
    assert fake.contract_errors == [], "the fake served replies HubSpot's models refuse"


def modified_on(fake: FakeHubSpot, obj: str, lo: datetime, hi: datetime) -> set[str]:
    prop = hs.MAPPING[obj][-1][1]
    return {
        i for i, r in fake.objects[obj].items() if lo <= api.parse_time(r["properties"][prop]) < hi
    }


def raw_count(warehouse: Path, table: str) -> int:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(f"select count(*) from {table}").fetchone()[0]


def snapshot(folder: Path) -> dict[str, bytes]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_first_pull_lands_history_then_the_next_day_only_its_changes(account):
    fake = account.fake
    first = account.pull()
    contacts = account.rows("crm/contacts")
    expected = set(fake.objects["contacts"]) - modified_on(
        fake, "contacts", START + DAY, START + 9 * DAY
    )
    assert {r["contact_id"] for r in contacts} == expected
    history = modified_on(fake, "contacts", START - 999 * DAY, START)
    assert history and all(
        r["updated_at"] == "2026-11-18T00:00:00Z" for r in contacts if r["contact_id"] in history
    ), "the initial export lands with updated_at = the interval start"
    assert {r["contact_id"] for r in contacts if r["updated_at"] != "2026-11-18T00:00:00Z"} == (
        modified_on(fake, "contacts", START, START + DAY)
    )
    assert [b["filterGroups"][0]["filters"][0]["value"] for b in account.searches()] == [
        "0",
        str(ms(START)),
    ], "history (from the epoch to the start), then the interval"
    shape = Shape(frozenset({"crm/companies", "crm/contacts", "crm/deals"}))
    extract_source(
        "crm", START, START + DAY, warehouse=account.warehouse, landing=account.landing, shape=shape
    )
    assert raw_count(account.warehouse, "raw.crm__contacts") == len(contacts)
    assert raw_count(account.warehouse, "raw.crm__deals") == len(account.rows("crm/deals"))
    api.save_cursors(account.warehouse, first.cursors)

    account.server.log.clear()
    second = account.pull(start=START + DAY)
    day2 = modified_on(fake, "contacts", START + DAY, START + 2 * DAY)
    assert {r["contact_id"] for r in account.rows("crm/contacts", START + DAY)} == day2
    assert [b["filterGroups"][0]["filters"][0]["value"] for b in account.searches()] == [
        str(ms(START + DAY))
    ], "an incremental pull asks for its own day only"
    assert second.records["crm/contacts"] == len(day2)
    extract_source(
        "crm",
        START + DAY,
        START + 2 * DAY,
        warehouse=account.warehouse,
        landing=account.landing,
        shape=shape,
    )
    assert raw_count(account.warehouse, "raw.crm__contacts") == len(contacts) + len(day2)
    cursor = next(c for c in second.cursors if c.stream == "contacts")
    assert cursor.records == len(day2) and cursor.requests >= 2
    assert cursor.cursor == max(
        api.parse_time(fake.objects["contacts"][i]["properties"]["lastmodifieddate"]) for i in day2
    )
    landed = b"".join(p.read_bytes() for p in account.landing.rglob("*.csv"))
    assert fake.token.encode() not in landed


def test_rerun_of_the_first_interval_lands_its_history_again(account):
    first = account.pull()
    api.save_cursors(account.warehouse, first.cursors)
    again = account.pull()
    assert again.records == first.records


def test_search_pages_through_more_than_three_pages(account):
    company = next(iter(account.fake.objects["companies"]))
    for i in range(650):
        account.fake.add_contact(company, START - 300 * DAY, START + timedelta(seconds=60 + i))
    result = account.pull([entity("crm/contacts")])
    interval = [b for b in account.searches() if b["filterGroups"][0]["filters"][0]["value"] != "0"]
    assert len(interval) == 4 and all(b["limit"] == 200 and "after" not in b for b in interval)
    starts = [int(b["filterGroups"][0]["filters"][0]["value"]) for b in interval]
    assert starts[0] == ms(START) and starts == sorted(starts) and len(set(starts)) == 4, (
        "each page's query starts at the newest modification time of the page before"
    )
    assert result.records["crm/contacts"] == len(account.fake.objects["contacts"]) - len(
        modified_on(account.fake, "contacts", START + DAY, START + 9 * DAY)
    )


def test_rate_limit_and_server_errors_are_retried(account):
    account.server.fail_next(
        "POST", SEARCH, Reply(429, {"message": "slow down"}, {"Retry-After": "0"})
    )
    account.server.fail_next(
        "GET", r"/crm/v3/properties/contacts", Reply(503, {"message": "busy"}), times=2
    )
    result = account.pull([entity("crm/contacts")])
    assert len(account.server.requests_to("GET", r"/crm/v3/properties/contacts")) == 3
    assert len(account.searches()) == 3  # one 429, then history and interval
    assert result.requests == len(account.server.log)
    assert result.records["crm/contacts"] > 0


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_refused_token_names_the_connection_and_lands_nothing(account, monkeypatch):
    wrong = "pat-na1-0badc0de-9999-8888-7777-666655554444"
    monkeypatch.setenv("LEADSCORE_HUBSPOT_TOKEN", wrong)
    logs, root = _Collect(), logging.getLogger()
    level = root.level
    root.addHandler(logs)
    root.setLevel(logging.DEBUG)
    try:
        with pytest.raises(api.ApiError) as err:
            account.pull()
    finally:
        root.removeHandler(logs)
        root.setLevel(level)
    message = str(err.value)
    assert "LEADSCORE_HUBSPOT_TOKEN" in message and "401" in message and "scopes" in message
    assert wrong not in message and "0badc0de" not in message
    assert not [line for line in logs.lines if "0badc0de" in line]
    assert snapshot(account.landing) == {}


@pytest.mark.parametrize(
    "reply, problem",
    [
        (Reply(200, {"total": 1, "results": {"id": "1"}}), "`results` is dict, not a list"),
        (Reply(200, {"total": 1, "results": [{"properties": {}}]}), "has no id"),
        (Reply(200, raw=b'{"total": 1, "results": [{"id": '), "not what"),
    ],
    ids=["results-not-a-list", "record-without-id", "invalid-json"],
)
def test_malformed_page_fails_and_lands_nothing(account, reply, problem):
    earlier = account.landing / "crm" / "contacts" / "2026-11-17.csv"
    earlier.parent.mkdir(parents=True)
    earlier.write_text("contact_id\n1\n", encoding="utf-8")
    before = snapshot(account.landing)
    account.server.fail_next("POST", SEARCH, reply)
    with pytest.raises(api.ApiError) as err:
        account.pull()
    assert problem in str(err.value) and str(err.value).startswith("hubspot: ")
    assert snapshot(account.landing) == before


def test_no_query_pages_past_the_search_cap(account, monkeypatch):
    fake = account.fake
    fake.max_search_results = 50  # HubSpot: 10,000
    monkeypatch.setattr(hs, "SEARCH_RESULT_CAP", 50)
    monkeypatch.setattr(hs, "SEARCH_PAGE_SIZE", 20)
    company = next(iter(fake.objects["companies"]))
    for i in range(180):
        fake.add_contact(company, START - 300 * DAY, START + timedelta(minutes=1 + i * 7))
    result = account.pull([entity("crm/contacts")])
    day1 = modified_on(fake, "contacts", START, START + DAY)
    assert len(day1) > 180 and day1 <= {r["contact_id"] for r in account.rows("crm/contacts")}
    assert all(int(b.get("after") or 0) < 50 for b in account.searches())
    assert result.records["crm/contacts"] == len(account.rows("crm/contacts"))


def test_records_sharing_one_millisecond_page_by_offset_up_to_the_cap(account, monkeypatch):
    fake = account.fake
    monkeypatch.setattr(hs, "SEARCH_PAGE_SIZE", 2)
    company = next(iter(fake.objects["companies"]))
    same = {fake.add_contact(company, START - DAY, START + timedelta(hours=3)) for _ in range(5)}
    account.pull([entity("crm/contacts")])
    assert same <= {r["contact_id"] for r in account.rows("crm/contacts")}
    assert any(b.get("after") for b in account.searches()), "a full page of one millisecond"

    fake.max_search_results = 5
    monkeypatch.setattr(hs, "SEARCH_RESULT_CAP", 5)
    for _ in range(3):
        fake.add_contact(company, START - DAY, START + timedelta(hours=3))
    before = snapshot(account.landing)
    with pytest.raises(api.ApiError, match="same millisecond"):
        account.pull([entity("crm/contacts")])
    assert snapshot(account.landing) == before


def test_a_record_changed_during_the_pull_shifts_no_page(account, monkeypatch):
    """Offset paging would skip a record here: the changed one leaves the result set, and every
    record after it moves one place forward, past the offset of the next page."""
    fake = account.fake
    monkeypatch.setattr(hs, "SEARCH_PAGE_SIZE", 2)
    day1 = sorted(
        modified_on(fake, "contacts", START, START + DAY),
        key=lambda i: fake.objects["contacts"][i]["properties"]["lastmodifieddate"],
    )
    assert len(day1) > 3
    served = fake.search

    def search_then_edit(request):
        reply = served(request)
        if request.body["filterGroups"][0]["filters"][0]["value"] == str(ms(START)):
            fake.touch("contacts", day1[0], START + 5 * DAY, jobtitle="Edited mid-pull")
        return reply

    account.server.routes.insert(
        0, ("POST", re.compile(r"/crm/v3/objects/(contacts)/search/?$"), search_then_edit)
    )
    account.pull([entity("crm/contacts")])
    assert set(day1) <= {r["contact_id"] for r in account.rows("crm/contacts")}


def test_a_pull_after_a_gap_catches_up_its_changes_and_deletions(account):
    fake = account.fake
    api.save_cursors(account.warehouse, account.pull().cursors)
    gap = modified_on(fake, "contacts", START + DAY, START + 3 * DAY)
    assert gap
    old = sorted(modified_on(fake, "contacts", START - 999 * DAY, START))
    deleted, deleted_before = old[0], old[1]
    fake.archive("contacts", deleted, START + DAY + timedelta(hours=2))
    fake.archive("contacts", deleted_before, START - timedelta(hours=2))  # before the first pull

    account.server.log.clear()
    account.pull(start=START + 3 * DAY)
    rows = {r["contact_id"]: r for r in account.rows("crm/contacts", START + 3 * DAY)}
    caught_up = {i for i, r in rows.items() if r["updated_at"] == "2026-11-21T00:00:00Z"}
    assert gap <= caught_up, "the gap's changes land on the first day, at its start"
    assert rows[deleted]["hs_archived"] == "true" and deleted in caught_up
    assert deleted_before not in rows, "a deletion before the gap was never exported: not now"
    assert [b["filterGroups"][0]["filters"][0]["value"] for b in account.searches()] == [
        str(ms(START + DAY)),
        str(ms(START + 3 * DAY)),
    ]


def test_archived_and_merged_records_land_as_archived(account):
    fake = account.fake
    history = sorted(modified_on(fake, "contacts", START - 999 * DAY, START))
    winner, loser, gone_before = history[:3]
    fake.merge_contacts(winner, loser, START + timedelta(hours=3))
    fake.archive("contacts", gone_before, START - 2 * DAY)
    company = sorted(modified_on(fake, "companies", START - 999 * DAY, START))[0]
    fake.archive("companies", company, START + timedelta(hours=5))

    account.pull()
    rows = {r["contact_id"]: r for r in account.rows("crm/contacts")}
    assert rows[winner]["hs_merged_object_ids"] == loser
    assert rows[winner]["updated_at"] == "2026-11-18T03:00:00Z"
    assert rows[loser]["hs_archived"] == "true"
    assert rows[loser]["updated_at"] == "2026-11-18T03:00:00Z"
    assert rows[loser]["email"], "an archived record keeps its mapped values"
    assert gone_before not in rows, "a record deleted before the interval is not exported"
    companies = {r["company_id"]: r for r in account.rows("crm/companies")}
    assert companies[company]["hs_archived"] == "true"
    assert companies[company]["updated_at"] == "2026-11-18T05:00:00Z"


def test_custom_properties_land_as_columns(account):
    account.pull()
    contact = account.rows("crm/contacts")[0]
    assert {"lead_origin", "annual_budget", "hs_merged_object_ids"} <= set(contact)
    assert "funding_stage" in account.rows("crm/companies")[0]
    assert "firstname" not in contact and "hs_object_id" not in contact, "mapped ones are columns"

    account.pull(settings={"properties": ["lead_origin"]})
    documented = set(entity("crm/contacts").columns)
    assert set(account.rows("crm/contacts")[0]) - documented == {
        "lead_origin",
        "hs_merged_object_ids",
    }
    assert set(account.rows("crm/companies")[0]) == set(entity("crm/companies").columns)
    with pytest.raises(api.ApiError, match="settings `properties`"):
        account.pull(settings={"properties": "some"})


def test_deals_map_stages_close_dates_and_the_primary_company(account):
    fake = account.fake
    companies = sorted(fake.objects["companies"])
    people = sorted(fake.objects["contacts"])
    at = START + timedelta(hours=8)
    won = fake.add_deal(
        companies[1],
        people[0],
        at - 9 * DAY,
        at,
        other_company=companies[0],
        dealname="Won",
        amount=5000,
        dealstage="closedwon",
        pipeline="analytics",
        closedate=iso(at),
    )
    odd = fake.add_deal(
        companies[0], None, at - DAY, at, dealname="Odd", amount=10, dealstage="custom_stage_7"
    )
    moved = fake.add_deal(
        companies[0], people[1], at - DAY, at, dealname="Sent", dealstage="contractsent"
    )

    account.pull(settings={"deal_stages": {"contractsent": "proposal"}})
    deals = {r["deal_id"]: r for r in account.rows("crm/deals")}
    assert deals[won]["company_id"] == companies[1], "the primary company wins over the first"
    assert deals[won]["contact_id"] == people[0]
    assert (deals[won]["stage"], deals[won]["close_date"]) == ("closed_won", "2026-11-18")
    assert deals[won]["product_line"] == "analytics"
    assert deals[odd]["stage"] == "custom_stage_7", "an unmapped stage is left for the gate"
    assert deals[odd]["contact_id"] == "" and deals[odd]["close_date"] == ""
    assert deals[moved]["stage"] == "proposal"
    assert all(r["company_id"] for r in deals.values())


def test_email_campaigns_and_events_land_and_load(account, monkeypatch):
    monkeypatch.setattr(hs, "EMAIL_EVENTS_PAGE_SIZE", 2)
    fake = account.fake
    at = START + timedelta(hours=15)
    fake.add_email_event(
        "STATUSCHANGE",
        "Quit@Example.com",
        7002,
        at,
        portalSubscriptionStatus="UNSUBSCRIBED",
        subscriptions=[{"id": 1, "status": "UNSUBSCRIBED"}],
        source="SOURCE_RECIPIENT",
    )
    fake.add_email_event(
        "STATUSCHANGE", "stay@example.com", 7002, at, portalSubscriptionStatus="SUBSCRIBED"
    )
    fake.add_email_event("SENT", "sent@example.com", 7002, at)

    result = account.pull(EMAIL)
    events = account.rows("email/events")
    kinds = {r["event_type"] for r in events}
    assert kinds == {"delivered", "open", "click", "bounce", "spam_complaint", "unsubscribe"}
    unsubscribe = next(r for r in events if r["event_type"] == "unsubscribe")
    assert unsubscribe["email"] == "quit@example.com" and unsubscribe["campaign_id"] == "7002"
    assert all(r["url"] for r in events if r["event_type"] == "click")
    assert all(r["url"] is None for r in events if r["event_type"] != "click")
    assert not {"stay@example.com", "sent@example.com"} & {r["email"] for r in events}
    opens = account.server.requests_to("GET", r"/email/public/v1/events")
    assert any(r.arg("offset") for r in opens), "the events API was paged with its offset"

    campaigns = {r["campaign_id"]: r for r in account.rows("email/campaigns")}
    assert set(campaigns) == {"7001", "7002", "7003"}
    assert campaigns["7001"]["sent_at"] == "2026-11-18T00:00:00Z", "sent before: initial export"
    assert campaigns["7001"]["topic"] == "pricing"
    assert campaigns["7002"]["sent_at"] == "2026-11-18T09:00:00Z"

    shape = Shape(frozenset({"crm/companies", "crm/contacts", "email/campaigns", "email/events"}))
    extract_source(
        "email",
        START,
        START + DAY,
        warehouse=account.warehouse,
        landing=account.landing,
        shape=shape,
    )
    assert raw_count(account.warehouse, "raw.email__events") == result.records["email/events"]
    assert raw_count(account.warehouse, "raw.email__campaigns") == 3


def test_every_reply_the_fake_served_fits_the_sdk_models(account):
    fake = account.fake
    fake.merge_contacts(*sorted(fake.objects["contacts"])[:2], START + timedelta(hours=1))
    account.pull(CRM + EMAIL, days=2)
    served = {model for model, _ in fake.served}
    assert {name for _, name in served} >= {
        "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        "CollectionResponsePropertyNoPaging",
        "BatchResponsePublicAssociationMultiWithLabel",
        "CollectionResponseWithTotalPublicEmailForwardPaging",
        "EmailEventsPage",
    }
    for model, body in fake.served:
        check_reply(body, model)


@pytest.mark.parametrize(
    "body, model",
    [
        ({"total": 1}, "CollectionResponseWithTotalSimplePublicObjectForwardPaging"),
        (
            {"total": "3", "results": []},
            "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        ),
        (
            {"total": 1, "results": [{"id": "1", "properties": {}}]},
            "CollectionResponseWithTotalSimplePublicObjectForwardPaging",
        ),
        (
            {"results": [], "paging": {"next": {"link": "x"}}},
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        ),
        (
            {"results": [], "cursor": "x"},
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        ),
    ],
    ids=["no-results", "total-as-text", "no-timestamps", "next-without-after", "unknown-key"],
)
def test_the_contract_check_refuses_wrong_shapes(body, model):
    with pytest.raises(ContractError):
        check_reply(body, ("hubspot.crm.contacts", model))


def test_the_contract_check_refuses_wrong_email_shapes():
    fake = FakeHubSpot()
    email = fake.add_email("x", START, ["1"])
    model = ("hubspot.marketing.emails", "CollectionResponseWithTotalPublicEmailForwardPaging")
    check_reply({"total": 1, "results": [email]}, model)
    with pytest.raises(ContractError, match="state"):
        check_reply({"total": 1, "results": [{**email, "state": "SENT_SOMEHOW"}]}, model)
    event = fake.add_email_event("OPEN", "a@b.example", 1, START)
    check_reply({"events": [event], "hasMore": False}, ("documented", "EmailEventsPage"))
    without = {k: v for k, v in event.items() if k != "recipient"}
    with pytest.raises(ContractError, match="recipient"):
        check_reply({"events": [without], "hasMore": False}, ("documented", "EmailEventsPage"))


def test_a_pull_shows_its_requests_as_progress(account, monkeypatch, caplog):
    from leadscore import progress

    monkeypatch.setattr(progress, "LOG_EVERY_SECONDS", 0.0)
    with caplog.at_level(logging.INFO, logger="leadscore.progress"):
        result = account.pull()
    lines = [r.getMessage() for r in caplog.records if r.name == "leadscore.progress"]
    assert lines[-1].startswith(f"hubspot: pulling 2026-11-18: {result.requests} requests")
    assert account.fake.token not in " ".join(lines)
