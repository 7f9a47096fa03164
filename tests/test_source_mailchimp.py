"""The Mailchimp source against a fake Mailchimp account (tests/fakes/mailchimp.py) on 127.0.0.1.

No dbt, no Airflow: each test pulls one or two days into a tmp landing folder.
"""

from __future__ import annotations

import csv
import inspect
import json
import logging
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import mailchimp_marketing
import pytest
from pydantic import ValidationError

from leadscore import quality
from leadscore.sources import ENTITIES, Shape, api, entity
from leadscore.sources import mailchimp as mc
from leadscore.sources.files import extract_source
from tests.fakes.mailchimp import ROUTES, FakeMailchimp, check, route_of
from tests.fakes.server import FakeApi, Reply

KEY = "5f0e3c1d9a8b7c6d5e4f3a2b1c0d9e8f-us21"
WRONG_KEY = "00000000111111112222222233333333-us21"
#: An OAuth access token has no data centre suffix (a placeholder, not a credential).
OAUTH_TOKEN = "placeholder"
DAY = datetime(2026, 11, 19, tzinfo=UTC)
NEXT = DAY + timedelta(days=1)
#: The standard email entities: a company shape without the optional email/members.
EMAIL = [e for e in ENTITIES if e.qualified in mc.PROVIDES]
MEMBERS = entity("email/members")
SETTINGS = {"product_lines": {"pricing": "analytics"}}
SHAPE = Shape(frozenset({"crm/companies", "crm/contacts", "email/campaigns", "email/events"}))
WITH_MEMBERS = Shape(SHAPE.delivered | {"email/members"})


def at(day: datetime, hour: int, minute: int = 0) -> datetime:
    return day + timedelta(hours=hour, minutes=minute)


def account() -> FakeMailchimp:
    """One audience of 12 leads, two folders, campaigns around DAY and their reports."""
    fake = FakeMailchimp(KEY)
    fake.add_list("aud1", "Leads")
    for i in range(12):
        email = "Lead.Mixed@Acme.Example" if i == 0 else f"lead{i}@acme.example"
        merge = {"FNAME": f"Lead{i}", "COMPANY": "Acme"}
        if i == 0:
            merge["ADDRESS"] = {"addr1": "1 Main St", "city": "Springfield"}
        fake.add_member("aud1", email, DAY - timedelta(days=40 + i), merge_fields=merge)
    fake.add_folder("f1", "Data Quality")
    fake.add_folder("f2", "Pricing")
    fake.add_campaign("c_old", "aud1", DAY - timedelta(days=80), folder_id="f1")
    fake.add_campaign(
        "c_week", "aud1", at(DAY - timedelta(days=7), 14), folder_id="f1", title="Digest"
    )
    fake.add_campaign(
        "c_day", "aud1", at(DAY, 10), folder_id="f2", title="Pricing update", subject="New plans"
    )
    fake.add_campaign("c_plain", "aud1", at(DAY, 16), title="Plain news", subject="Hello")
    fake.add_campaign("c_draft", "aud1", None, status="save")
    fake.add_campaign("c_next", "aud1", at(NEXT, 9), folder_id="f2")
    fake.add_activity("c_week", "lead1@acme.example", "open", at(DAY, 8))
    fake.add_activity(
        "c_week", "lead1@acme.example", "click", at(DAY, 8, 5), url="https://a.example/q"
    )
    fake.add_activity("c_week", "lead2@acme.example", "open", at(DAY, -20))  # the day before
    fake.add_activity("c_week", "lead3@acme.example", "open", at(NEXT, 1))  # the day after
    fake.add_activity("c_day", "Lead.Mixed@Acme.Example", "open", at(DAY, 11))
    fake.add_activity("c_day", "lead5@acme.example", "bounce", at(DAY, 10), bounce_type="hard")
    for _ in range(2):  # the same click reported twice lands once
        fake.add_activity(
            "c_day", "lead6@acme.example", "click", at(DAY, 12), url="https://a.example/p"
        )
    fake.add_activity("c_old", "lead7@acme.example", "open", at(DAY, 9))  # beyond activity_days
    fake.add_unsubscribe("c_week", "lead8@acme.example", at(DAY, 13), "Too many emails")
    fake.add_unsubscribe("c_week", "lead9@acme.example", DAY - timedelta(days=2))
    fake.add_abuse_report("aud1", "c_day", "lead10@acme.example", at(DAY, 15))
    fake.add_abuse_report("aud1", "c_week", "lead10@acme.example", DAY - timedelta(days=3))
    # Status changes without a report entry make no events (a cleaned bounce, an unsubscribe
    # done in the audience rather than from a campaign).
    fake.add_member("aud1", "lead11@acme.example", at(DAY, 14), status="unsubscribed")
    fake.add_member("aud1", "lead5@acme.example", at(DAY, 10, 5), status="cleaned")
    return fake


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(api, "BACKOFF_SECONDS", 0.01)
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_TOKEN", KEY)
    monkeypatch.delenv("LEADSCORE_MAILCHIMP_BASE_URL", raising=False)
    monkeypatch.delenv("LEADSCORE_MAILCHIMP_CONN_ID", raising=False)


@pytest.fixture
def fake() -> FakeMailchimp:
    return account()


@pytest.fixture
def server(fake: FakeMailchimp, monkeypatch: pytest.MonkeyPatch):
    with FakeApi(fake.routes()) as srv:
        monkeypatch.setenv("LEADSCORE_MAILCHIMP_BASE_URL", srv.url + "/3.0")
        yield srv
    assert not fake.shape_errors, fake.shape_errors


def pull(root: Path, start: datetime = DAY, end: datetime = NEXT, **kwargs) -> api.PullResult:
    kwargs.setdefault("settings", SETTINGS)
    return mc.pull(
        EMAIL, start, end, landing=root / "landing", warehouse=root / "wh.duckdb", **kwargs
    )


def pull_members(root: Path, start: datetime = DAY, end: datetime = NEXT, **kwargs):
    """Pull only ``email/members``, then save the cursors as the extract step does once the
    files are loaded."""
    kwargs.setdefault("settings", {})
    warehouse = root / "wh.duckdb"
    result = mc.pull([MEMBERS], start, end, landing=root / "landing", warehouse=warehouse, **kwargs)
    api.save_cursors(warehouse, result.cursors)
    return result


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def members_file(root: Path, day: datetime) -> list[dict]:
    with (root / "landing" / f"email/members/{day:%Y-%m-%d}.csv").open(newline="") as fh:
        return list(csv.DictReader(fh))


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def queries(srv: FakeApi, pattern: str, name: str) -> list[str | None]:
    return [r.arg(name) for r in srv.requests_to("GET", pattern)]


def test_pull_lands_the_campaigns_and_events_of_the_interval(server, tmp_path):
    result = pull(tmp_path)

    landing = tmp_path / "landing"
    assert sorted(p.relative_to(landing).as_posix() for p in result.files) == [
        "email/campaigns/2026-11-19.jsonl",
        "email/events/2026-11-19.jsonl",
    ]
    campaigns = {r["campaign_id"]: r for r in rows(landing / "email/campaigns/2026-11-19.jsonl")}
    assert campaigns == {
        "c_day": {
            "campaign_id": "c_day",
            "name": "Pricing update",
            "topic": "pricing",
            "product_line": "analytics",
            "subject": "New plans",
            "sent_at": "2026-11-19T10:00:00Z",
        },
        "c_plain": {
            "campaign_id": "c_plain",
            "name": "Plain news",
            "topic": "newsletter",
            "product_line": None,
            "subject": "Hello",
            "sent_at": "2026-11-19T16:00:00Z",
        },
    }
    events = rows(landing / "email/events/2026-11-19.jsonl")
    kinds = Counter((e["campaign_id"], e["event_type"]) for e in events)
    assert kinds == {
        ("c_day", "delivered"): 11,  # 12 recipients, one hard bounce
        ("c_plain", "delivered"): 12,
        ("c_week", "open"): 1,
        ("c_week", "click"): 1,
        ("c_week", "unsubscribe"): 1,
        ("c_day", "open"): 1,
        ("c_day", "bounce"): 1,
        ("c_day", "click"): 1,
        ("c_day", "spam_complaint"): 1,
    }
    by_kind = {(e["campaign_id"], e["event_type"]): e for e in events}
    assert by_kind[("c_week", "click")]["url"] == "https://a.example/q"
    assert by_kind[("c_week", "open")]["url"] is None
    assert by_kind[("c_day", "open")]["email"] == "lead.mixed@acme.example"
    assert by_kind[("c_day", "spam_complaint")]["occurred_at"] == "2026-11-19T15:00:00Z"
    assert all(e["event_id"].startswith("mc-") for e in events)
    assert len({e["event_id"] for e in events}) == len(events)
    of = lambda email: {e["event_type"] for e in events if e["email"] == email}  # noqa: E731
    assert of("lead11@acme.example") == {"delivered"}  # no unsubscribe without a report
    assert of("lead5@acme.example") == {"bounce", "delivered"}  # c_day bounced, c_plain reached
    assert all(DAY <= api.parse_time(e["occurred_at"]) < NEXT for e in events)

    assert result.records == {"email/campaigns": 2, "email/events": 30}
    assert result.requests == len(server.log)
    assert {c.stream: (c.records, c.cursor) for c in result.cursors} == {
        "campaigns": (2, at(DAY, 16)),
        "email_activity": (30, at(DAY, 16)),
    }
    # c_old was sent more than activity_days before the interval: its reports are not read.
    assert not server.requests_to("GET", "/reports/c_old/")
    assert not server.requests_to("GET", "/reports/c_draft/")
    for text in (p.read_text() for p in result.files):
        assert KEY not in text and KEY.split("-")[0] not in text


def test_activity_at_the_first_second_of_the_interval_lands(server, fake, tmp_path):
    """The API does not say whether ``since`` includes its bound: the fake takes the stricter
    reading, and the source asks from a second earlier."""
    fake.add_activity("c_week", "lead2@acme.example", "open", DAY)
    pull(tmp_path)
    events = rows(tmp_path / "landing" / "email/events/2026-11-19.jsonl")
    assert any(e["occurred_at"] == "2026-11-19T00:00:00Z" for e in events)
    assert {r.arg("since") for r in server.requests_to("GET", "/email-activity$")} == {
        "2026-11-18T23:59:59+00:00"
    }


def test_a_rerun_lands_the_same_files(server, tmp_path):
    first = snapshot(pull(tmp_path / "a").files[0].parents[2])
    second = snapshot(pull(tmp_path / "b").files[0].parents[2])
    assert first == second


def test_listings_are_read_page_by_page_with_count_and_offset(server, tmp_path, monkeypatch):
    monkeypatch.setattr(mc, "PAGE_SIZE", 5)
    result = pull(tmp_path)

    assert queries(server, r"/reports/c_day/sent-to$", "offset") == ["0", "5", "10"]
    assert set(queries(server, r"/reports/c_day/sent-to$", "count")) == {"5"}
    assert queries(server, r"/reports/c_plain/sent-to$", "offset") == ["0", "5", "10"]
    assert result.records == {"email/campaigns": 2, "email/events": 30}


def test_the_next_day_asks_only_for_what_changed(server, fake, tmp_path):
    pull(tmp_path)
    day_files = snapshot(tmp_path / "landing")
    fake.add_activity("c_day", "lead4@acme.example", "open", at(NEXT, 10))
    server.log.clear()

    result = pull(tmp_path, NEXT, NEXT + timedelta(days=1))

    assert queries(server, r"/campaigns$", "since_send_time") == ["2026-10-20T23:59:59+00:00"]
    assert queries(server, r"/campaigns$", "before_send_time") == ["2026-11-21T00:00:00+00:00"]
    assert set(queries(server, r"/email-activity$", "since")) == {"2026-11-19T23:59:59+00:00"}
    landing = tmp_path / "landing"
    campaigns = rows(landing / "email/campaigns/2026-11-20.jsonl")
    assert [c["campaign_id"] for c in campaigns] == ["c_next"]
    events = rows(landing / "email/events/2026-11-20.jsonl")
    assert Counter(
        (e["campaign_id"], e["event_type"], e["email"])
        for e in events
        if e["event_type"] != "delivered"
    ) == {
        ("c_day", "open", "lead4@acme.example"): 1,
        ("c_week", "open", "lead3@acme.example"): 1,
    }
    assert result.records["email/events"] == len(events)
    assert {k: v for k, v in snapshot(landing).items() if "2026-11-19" in k} == day_files


def test_a_shape_without_members_requests_no_member_pages(server, tmp_path):
    result = pull(tmp_path)

    assert not server.requests_to("GET", r"/members$")
    assert "members" not in {c.stream for c in result.cursors}
    assert not (tmp_path / "landing" / "email" / "members").exists()


def test_the_first_members_pull_carries_the_history(server, fake, tmp_path):
    result = pull_members(tmp_path)

    assert queries(server, r"/members$", "since_last_changed") == [None]
    assert queries(server, r"/members$", "before_last_changed") == ["2026-11-20T00:00:00+00:00"]
    landed = members_file(tmp_path, DAY)
    # ten members last changed 40-51 days before: on the first day, as of its start (an initial
    # export); the two changed inside the interval keep their own time
    assert len(landed) == 12 and result.records == {"email/members": 12}
    changed = {m["email"]: (m["status"], m["last_changed"]) for m in landed}
    assert changed["lead1@acme.example"] == ("subscribed", "2026-11-19T00:00:00Z")
    assert changed["lead5@acme.example"] == ("cleaned", "2026-11-19T10:05:00Z")
    assert changed["lead11@acme.example"] == ("unsubscribed", "2026-11-19T14:00:00Z")
    [cursor] = result.cursors
    assert (cursor.stream, cursor.records, cursor.cursor) == ("members", 12, at(DAY, 14))
    assert cursor.requests == len(server.log) == 2  # GET /lists, one page of members

    # a rerun of the first interval (its cursor saved) is a history pull again
    server.log.clear()
    pull_members(tmp_path)
    assert queries(server, r"/members$", "since_last_changed") == [None]
    assert len(members_file(tmp_path, DAY)) == 12


def test_a_members_pull_after_a_gap_catches_up_the_gap(server, fake, tmp_path):
    pull_members(tmp_path)
    gap_day = NEXT + timedelta(days=1)
    fake.add_member("aud1", "lead3@acme.example", at(NEXT, 9), status="unsubscribed")
    fake.add_member("aud1", "lead4@acme.example", at(gap_day, 9), member_rating=5)
    server.log.clear()

    result = pull_members(tmp_path, gap_day, gap_day + timedelta(days=1))  # NEXT was skipped

    assert queries(server, r"/members$", "since_last_changed") == ["2026-11-19T23:59:59+00:00"]
    landed = {m["email"]: m for m in members_file(tmp_path, gap_day)}
    assert {e: (m["status"], m["last_changed"]) for e, m in landed.items()} == {
        "lead3@acme.example": ("unsubscribed", "2026-11-21T00:00:00Z"),  # the gap, on day one
        "lead4@acme.example": ("subscribed", "2026-11-21T09:00:00Z"),
    }
    assert result.cursors[0].cursor == at(gap_day, 9)


def test_members_land_incrementally_with_merge_fields_as_custom_properties(server, fake, tmp_path):
    pull_members(tmp_path)
    first_day = (tmp_path / "landing" / "email/members/2026-11-19.csv").read_bytes()
    header = first_day.decode().splitlines()[0].split(",")
    # merge fields follow the landing columns, one column per tag any member of the file has
    assert header == [*MEMBERS.columns, "ADDRESS", "COMPANY", "FNAME", "LNAME"]
    mixed = next(m for m in members_file(tmp_path, DAY) if m["email"] == "lead.mixed@acme.example")
    assert (mixed["FNAME"], mixed["COMPANY"], mixed["list_id"]) == ("Lead0", "Acme", "aud1")
    assert json.loads(mixed["ADDRESS"]) == {"addr1": "1 Main St", "city": "Springfield"}
    assert mixed["member_rating"] == "2"

    fake.add_member(
        "aud1", "Lead2@Acme.example", at(NEXT, 8), member_rating=4, merge_fields={"FNAME": "Li"}
    )
    fake.add_member("aud1", "late@acme.example", at(NEXT + timedelta(days=1), 1))
    server.log.clear()
    result = pull_members(tmp_path, NEXT, NEXT + timedelta(days=1), settings={"list_ids": ["aud1"]})

    assert queries(server, r"/members$", "since_last_changed") == ["2026-11-19T23:59:59+00:00"]
    assert not server.requests_to("GET", r"/lists$")
    assert members_file(tmp_path, NEXT) == [
        {
            "list_id": "aud1",
            "email": "lead2@acme.example",
            "status": "subscribed",
            "member_rating": "4",
            "last_changed": "2026-11-20T08:00:00Z",
            "FNAME": "Li",
        }
    ]
    assert result.requests == len(server.log) == 1
    assert (tmp_path / "landing" / "email/members/2026-11-19.csv").read_bytes() == first_day


def test_a_member_changed_during_the_pull_shifts_no_page(server, fake, tmp_path, monkeypatch):
    """Offset paging would skip a member here: the changed one leaves the filtered set and the
    members after it move one place forward, past the next page's offset."""
    monkeypatch.setattr(mc, "PAGE_SIZE", 3)
    pull_members(tmp_path)  # the history; the day below is incremental
    day = [f"m{i}@acme.example" for i in range(8)]
    for i, email in enumerate(day):
        fake.add_member("aud1", email, at(NEXT, 1, i))
    path = "/3.0/lists/aud1/members"
    served = next(h for m, rx, h in server.routes if m == "GET" and rx.match(path))

    def members_then_edit(request):
        reply = served(request)
        if request.arg("offset") in (None, "0") and fake.members[("aud1", day[0])].last_changed < (
            NEXT + timedelta(days=1)
        ):
            fake.add_member("aud1", day[0], at(NEXT + timedelta(days=5), 1))  # edited mid-pull
        return reply

    server.routes.insert(
        0, ("GET", re.compile(r"/3\.0/lists/(aud1)/members/?$"), members_then_edit)
    )
    pull_members(tmp_path, NEXT, NEXT + timedelta(days=1), settings={"list_ids": ["aud1"]})
    landed = {m["email"] for m in members_file(tmp_path, NEXT)}
    assert set(day) <= landed
    assert len(server.requests_to("GET", r"/members$")) > 2, "paged"


def test_members_of_one_second_page_by_offset_and_a_page_without_its_total_fails(
    server, fake, tmp_path, monkeypatch
):
    monkeypatch.setattr(mc, "PAGE_SIZE", 3)
    pull_members(tmp_path)
    imported = [f"bulk{i}@acme.example" for i in range(8)]
    for email in imported:  # a bulk import: one second
        fake.add_member("aud1", email, at(NEXT, 2))
    settings = {"list_ids": ["aud1"]}
    pull_members(tmp_path / "b", NEXT, NEXT + timedelta(days=1), settings=settings)
    assert set(imported) <= {m["email"] for m in members_file(tmp_path / "b", NEXT)}
    assert [o for o in queries(server, r"/members$", "offset") if o not in (None, "0")]

    server.fail_next("GET", r"/members$", Reply(body={"members": []}))
    before = snapshot(tmp_path / "landing")
    with pytest.raises(api.ApiError, match="has no total_items"):
        pull_members(tmp_path, NEXT, NEXT + timedelta(days=1), settings=settings)
    assert snapshot(tmp_path / "landing") == before


def test_a_429_and_5xx_answers_are_retried(server, tmp_path):
    clean = snapshot(pull(tmp_path / "clean").files[0].parents[2])
    sent = len(server.log)
    throttled = Reply(429, {"title": "Too Many Requests"}, headers={"Retry-After": "0"})
    server.fail_next("GET", r"/campaigns$", throttled)
    server.fail_next("GET", r"/email-activity$", Reply(503, {"title": "Unavailable"}), times=2)

    result = pull(tmp_path / "retried")

    assert snapshot(result.files[0].parents[2]) == clean
    assert result.requests == sent + 3 == len(server.log) - sent


class _Capture(logging.Handler):
    """Every log record, DEBUG included (the suite may run with ``-p no:logging``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name}: {record.getMessage()}")


@pytest.fixture
def logged():
    capture = _Capture()
    loggers = [logging.getLogger(), logging.getLogger("dlt")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.addHandler(capture)
        lg.setLevel(logging.DEBUG)
    yield capture.lines
    for lg, level in zip(loggers, levels, strict=True):
        lg.removeHandler(capture)
        lg.setLevel(level)


def test_a_refused_key_names_the_connection_and_data_centre(server, tmp_path, logged, monkeypatch):
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_TOKEN", WRONG_KEY)

    with pytest.raises(api.ApiAuthError) as env_error:  # the DAG fails it without retries
        pull(tmp_path)
    airflow = api.Connection(
        "mailchimp", "Airflow connection 'mailchimp_default'", server.url + "/3.0", WRONG_KEY
    )
    with pytest.raises(api.ApiAuthError) as airflow_error:
        pull(tmp_path, conn=airflow)

    message = str(env_error.value)
    assert "LEADSCORE_MAILCHIMP_TOKEN" in message and "data centre us21" in message
    assert "401 API Key Invalid" in message and "GET /3.0/campaigns" in message
    assert "Airflow connection 'mailchimp_default'" in str(airflow_error.value)
    assert logged, "nothing was logged: the check below would prove nothing"
    for text in (message, str(airflow_error.value), *logged):
        assert WRONG_KEY not in text and WRONG_KEY.split("-")[0] not in text
    assert not (tmp_path / "landing").exists() or not snapshot(tmp_path / "landing")


@pytest.mark.parametrize(
    ("path", "reply", "says"),
    [
        (r"/sent-to$", Reply(raw=b'{"sent_to": [{"email_address": "a@b.example"'), "sent-to"),
        (r"/email-activity$", Reply(body={"total_items": 3}), "no list of 'emails'"),
        (
            r"/email-activity$",
            Reply(body={"emails": [{"activity": []}], "total_items": 1}),
            "no 'email_address'",
        ),
        (
            r"/campaigns$",
            Reply(body={"campaigns": [{"id": "c9", "status": "sent"}], "total_items": 1}),
            "campaign c9 of GET /campaigns has no 'send_time'",
        ),
    ],
    ids=["cut-off-json", "page-without-items", "item-without-email", "campaign-without-time"],
)
def test_a_malformed_page_fails_and_lands_nothing(server, tmp_path, path, reply, says):
    pull(tmp_path)
    before = snapshot(tmp_path / "landing")
    server.fail_next("GET", path, reply)

    with pytest.raises(api.ApiError, match="mailchimp") as error:
        pull(tmp_path)

    assert says in str(error.value)
    assert snapshot(tmp_path / "landing") == before


def _sdk_call(route) -> tuple[str, str]:
    """The path and response type the SDK's method for ``route`` uses."""
    api_class = type(getattr(mailchimp_marketing.Client(), route.sdk_api))
    source = inspect.getsource(getattr(api_class, f"{route.sdk_method}_with_http_info"))
    path = re.search(r"'(/[^']*)', 'GET'", source).group(1)
    return path, re.search(r"response_type='(\w+)'", source).group(1)


def test_every_request_is_one_the_official_sdk_makes(server, fake, tmp_path):
    for route in ROUTES:
        assert _sdk_call(route) == (route.path, route.response_type), route
    pull(tmp_path)
    pull_members(tmp_path / "members")
    sent = list(server.log)
    sdk = mailchimp_marketing.Client()
    sdk.set_config({"api_key": KEY, "server": "us21"})
    sdk.api_client.host = server.url + "/3.0"

    for request in sent:
        found = route_of(request.path)
        assert found, f"the source asked for {request.path}, which the fake does not serve"
        route, ids = found
        kwargs = {
            k: int(v[0]) if k in ("count", "offset") else v[0].split(",") if k == "fields" else v[0]
            for k, v in request.query.items()
        }
        server.log.clear()
        # The SDK refuses a parameter its method does not know, or a count above 1000.
        body = getattr(getattr(sdk, route.sdk_api), route.sdk_method)(**ids, **kwargs)
        assert [r.path for r in server.log] == [request.path]
        assert isinstance(body, dict) and route.items in body
    assert {r.path for r in ROUTES} <= {route_of(r.path)[0].path for r in sent}


def test_a_body_of_the_wrong_shape_fails_the_sdk_model(server, fake, tmp_path):
    good = {
        "emails": [
            {
                "campaign_id": "c1",
                "list_id": "aud1",
                "list_is_active": True,
                "email_id": "0" * 32,
                "email_address": "a@b.example",
                "activity": [{"action": "open", "timestamp": "2026-11-19T08:00:00+00:00"}],
            }
        ],
        "campaign_id": "c1",
        "total_items": 1,
    }
    check("EmailActivity", good)
    wrong = [
        ("activity", [{"action": "open", "timestamp": "2026-11-19T08:00:00"}]),  # no offset
        ("activity", [{"action": "opened", "timestamp": "2026-11-19T08:00:00+00:00"}]),
        ("email", "a@b.example"),  # a key the API does not have
    ]
    for key, value in wrong:
        with pytest.raises(ValidationError):
            check("EmailActivity", {**good, "emails": [{**good["emails"][0], key: value}]})
    with pytest.raises(ValidationError):
        check("SentTo", {"sent_to": [], "campaign_id": "c1", "total_items": "0"})

    def naive_times(response_type: str, body: dict) -> None:
        for member in body.get("emails", []):
            for act in member["activity"]:
                act["timestamp"] = act["timestamp"].removesuffix("+00:00")

    fake.tamper = naive_times
    with pytest.raises(api.ApiError, match="500"):
        pull(tmp_path)
    assert fake.shape_errors and "EmailActivity" in fake.shape_errors[0]
    fake.shape_errors.clear()


def test_landed_files_pass_strict_inspection_and_load(server, fake, tmp_path):
    # a merge field whose tag is a landing column in another case lands under another name
    fake.add_member("aud1", "vip@acme.example", at(DAY, 7), merge_fields={"STATUS": "vip"})
    mc.pull(
        [*EMAIL, MEMBERS],
        DAY,
        NEXT,
        landing=tmp_path / "landing",
        warehouse=tmp_path / "cursors.duckdb",
        settings=SETTINGS,
    )
    warehouse = tmp_path / "warehouse.duckdb"

    loads = extract_source(
        "email", DAY, NEXT, warehouse=warehouse, landing=tmp_path / "landing", shape=WITH_MEMBERS
    )

    assert {(x.entity, x.rows) for x in loads} == {
        ("email/campaigns", 2),
        ("email/events", 30),
        ("email/members", 13),
    }
    with duckdb.connect(str(warehouse), read_only=True) as con:
        by_type = dict(
            con.execute("select event_type, count(*) from raw.email__events group by 1").fetchall()
        )
        props = con.execute("select count(*) from raw.email__events where _properties is not null")
        assert props.fetchone()[0] == 0
        member = con.execute(
            "select status, last_changed, _properties from raw.email__members "
            "where email = 'lead.mixed@acme.example'"
        ).fetchone()
        vip = con.execute(
            "select status, _properties from raw.email__members where email = 'vip@acme.example'"
        ).fetchone()
    assert by_type == {
        "delivered": 23,
        "open": 2,
        "click": 2,
        "bounce": 1,
        "unsubscribe": 1,
        "spam_complaint": 1,
    }
    assert member[:2] == ("subscribed", "2026-11-19T00:00:00Z")
    assert json.loads(member[2])["FNAME"] == "Lead0"
    assert json.loads(json.loads(member[2])["ADDRESS"])["city"] == "Springfield"
    assert vip[0] == "subscribed" and json.loads(vip[1])["mailchimp_STATUS"] == "vip"

    # the raw gate passes the history on the first day (its file day is its last_changed day)
    report = quality.raw_gate(
        [DAY.date()], sources=["email"], warehouse=warehouse, shape=WITH_MEMBERS
    )
    assert report.success and report.tables["raw.email__members"] == 13
    assert not report.quarantined


def test_the_api_address_comes_from_the_key(monkeypatch):
    assert mc.connect().base_url == "https://us21.api.mailchimp.com/3.0"
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_BASE_URL", "https://eu1.api.mailchimp.com/3.0/")
    assert mc.connect().base_url == "https://eu1.api.mailchimp.com/3.0"

    monkeypatch.delenv("LEADSCORE_MAILCHIMP_BASE_URL")
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_TOKEN", OAUTH_TOKEN)
    with pytest.raises(api.ApiAuthError, match="does not end in its data centre") as error:
        mc.connect()
    assert "LEADSCORE_MAILCHIMP_TOKEN" in str(error.value)
    assert OAUTH_TOKEN not in str(error.value)


def test_an_oauth_token_is_sent_as_bearer_and_a_key_as_basic(tmp_path, monkeypatch):
    token = OAUTH_TOKEN
    fake = account()
    fake.api_key = token
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_TOKEN", token)
    with FakeApi(fake.routes()) as srv:
        monkeypatch.setenv("LEADSCORE_MAILCHIMP_BASE_URL", srv.url + "/3.0")
        assert pull(tmp_path / "oauth").records["email/events"] == 30
        assert {r.authorization.split()[0] for r in srv.log} == {"Bearer"}
    fake.api_key = KEY
    monkeypatch.setenv("LEADSCORE_MAILCHIMP_TOKEN", KEY)
    with FakeApi(fake.routes()) as srv:
        monkeypatch.setenv("LEADSCORE_MAILCHIMP_BASE_URL", srv.url + "/3.0")
        pull(tmp_path / "key")
        assert {r.authorization.split()[0] for r in srv.log} == {"Basic"}
