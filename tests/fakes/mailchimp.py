"""A fake Mailchimp Marketing API account, served by :class:`tests.fakes.server.FakeApi`.

``FakeMailchimp`` holds an account's audiences, members, campaign folders, campaigns and their
reports (email activity, unsubscribes, recipients, abuse complaints), and :meth:`routes` answers
the listings the source reads the way the API does: ``count`` (default 10, at most 1000) and
``offset`` paging with ``total_items``, the documented time filters and sort orders, partial
responses (``fields``), HTTP basic auth with the API key (or Bearer), and RFC 7807 problem
documents for errors (``401 API Key Invalid``).

**Response shapes.** The official SDK ``mailchimp-marketing`` 3.0.80 ships no model classes (its
package holds only the API classes, ``api_client.py``, ``configuration.py`` and ``rest.py``, and
returns plain dicts). What it does ship is, per endpoint, the path, the HTTP method, the query
parameters it accepts (``all_params``, with ``count <= 1000`` enforced) and the *name* of the
response type (``response_type='EmailActivity'``). So:

- :data:`ROUTES` names, per served listing, the SDK method that calls it; the tests check that
  the SDK method's path and response type are the route's, and replay every request the source
  sent through the SDK itself (unknown parameters or ``count > 1000`` raise in the SDK).
- Every body the fake sends is first validated (strict JSON mode, unknown keys forbidden) against
  the pydantic model here named after that response type. The models' fields and types are
  Mailchimp's API definition, as the generated SDKs of the same definition name them
  (``Campaign4``/``CampaignSettings4``/``List8`` under ``InlineResponse2005``, ``EmailActivity``,
  ``SentTo``, ``Unsubscribes``, ``ListMembers2``, ``AbuseComplaints``, ...), limited to the
  fields the fake sends. A body that does not fit is answered with a 500 and recorded in
  :attr:`FakeMailchimp.shape_errors`, so a test fails on it.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from tests.fakes.server import Reply, Request

API_PREFIX = "/3.0"
DEFAULT_COUNT = 10
MAX_COUNT = 1000
ERROR_DOC = "https://mailchimp.com/developer/marketing/docs/errors/"

# ---- response models (named after the SDK 3.0.80 response types) --------------------------------

Timestamp = AwareDatetime
MemberStatus = Literal[
    "subscribed", "unsubscribed", "cleaned", "pending", "transactional", "archived"
]
MergeValue = str | int | float | dict[str, str]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class CampaignRecipients(_Model):  # List8
    list_id: str
    list_is_active: bool
    list_name: str
    recipient_count: int


class CampaignSettings(_Model):  # CampaignSettings4
    subject_line: str
    preview_text: str | None = None
    title: str
    from_name: str
    reply_to: str
    folder_id: str | None = None


class Campaign(_Model):  # Campaign4
    id: str
    web_id: int
    type: Literal["regular", "plaintext", "absplit", "rss", "variate"]
    create_time: Timestamp
    status: Literal["save", "paused", "schedule", "sending", "sent", "canceled", "canceling"]
    emails_sent: int
    send_time: Timestamp | Literal[""]
    content_type: str
    recipients: CampaignRecipients
    settings: CampaignSettings


class InlineResponse2005(_Model):  # GET /campaigns
    campaigns: list[Campaign]
    total_items: int


class CampaignFolder(_Model):
    name: str
    id: str
    count: int


class CampaignFolders(_Model):  # GET /campaign-folders
    folders: list[CampaignFolder]
    total_items: int


class SubscriberList(_Model):
    id: str
    web_id: int
    name: str
    date_created: Timestamp


class SubscriberLists(_Model):  # GET /lists
    lists: list[SubscriberList]
    total_items: int


class ListMember(_Model):
    id: str
    email_address: str
    unique_email_id: str
    email_type: Literal["html", "text"]
    status: MemberStatus
    merge_fields: dict[str, MergeValue]
    member_rating: Annotated[int, Field(ge=0, le=5)]
    last_changed: Timestamp
    list_id: str


class ListMembers2(_Model):  # GET /lists/{list_id}/members
    members: list[ListMember]
    list_id: str
    total_items: int


class ActivityItem(_Model):
    action: Literal["open", "click", "bounce"]
    type: Literal["hard", "soft"] | None = None
    timestamp: Timestamp
    url: str | None = None
    ip: str | None = None


class MemberActivity(_Model):
    campaign_id: str
    list_id: str
    list_is_active: bool
    email_id: str
    email_address: str
    activity: list[ActivityItem]


class EmailActivity(_Model):  # GET /reports/{campaign_id}/email-activity
    emails: list[MemberActivity]
    campaign_id: str
    total_items: int


class Unsubscribe(_Model):
    email_id: str
    email_address: str
    merge_fields: dict[str, MergeValue]
    vip: bool
    timestamp: Timestamp
    reason: str | None = None
    campaign_id: str
    list_id: str
    list_is_active: bool


class Unsubscribes(_Model):  # GET /reports/{campaign_id}/unsubscribed
    unsubscribes: list[Unsubscribe]
    campaign_id: str
    total_items: int


class Recipient(_Model):
    email_id: str
    email_address: str
    merge_fields: dict[str, MergeValue]
    vip: bool
    status: Literal["sent", "hard", "soft"]
    open_count: int
    last_open: Timestamp | Literal[""]
    campaign_id: str
    list_id: str
    list_is_active: bool


class SentTo(_Model):  # GET /reports/{campaign_id}/sent-to
    sent_to: list[Recipient]
    campaign_id: str
    total_items: int


class AbuseComplaint(_Model):
    id: int
    campaign_id: str
    list_id: str
    email_id: str
    email_address: str
    merge_fields: dict[str, MergeValue]
    vip: bool
    date: str


class AbuseComplaints(_Model):  # GET /lists/{list_id}/abuse-reports
    abuse_reports: list[AbuseComplaint]
    list_id: str
    total_items: int


class ProblemDetail(_Model):  # every error body (RFC 7807)
    type: str
    title: str
    status: int
    detail: str
    instance: str


MODELS: dict[str, type[_Model]] = {
    m.__name__: m
    for m in (
        InlineResponse2005,
        CampaignFolders,
        SubscriberLists,
        ListMembers2,
        EmailActivity,
        Unsubscribes,
        SentTo,
        AbuseComplaints,
        ProblemDetail,
    )
}


def check(response_type: str, body: object) -> None:
    """Raise pydantic's ValidationError unless ``body`` (as JSON) fits ``response_type``."""
    MODELS[response_type].model_validate_json(json.dumps(body))


@dataclass(frozen=True)
class Route:
    """A listing the fake serves and the SDK 3.0.80 method that calls it."""

    path: str  # as the SDK writes it, under /3.0
    items: str  # the page key of the collection
    sdk_api: str  # attribute of ``mailchimp_marketing.Client``
    sdk_method: str
    response_type: str

    @property
    def ids(self) -> list[str]:
        return re.findall(r"\{(\w+)\}", self.path)

    @property
    def regex(self) -> str:
        return API_PREFIX + re.sub(r"\{\w+\}", "([^/]+)", self.path)


ROUTES = (
    Route("/campaigns", "campaigns", "campaigns", "list", "InlineResponse2005"),
    Route("/campaign-folders", "folders", "campaignFolders", "list", "CampaignFolders"),
    Route("/lists", "lists", "lists", "get_all_lists", "SubscriberLists"),
    Route("/lists/{list_id}/members", "members", "lists", "get_list_members_info", "ListMembers2"),
    Route(
        "/lists/{list_id}/abuse-reports",
        "abuse_reports",
        "lists",
        "get_list_abuse_reports",
        "AbuseComplaints",
    ),
    Route(
        "/reports/{campaign_id}/email-activity",
        "emails",
        "reports",
        "get_email_activity_for_campaign",
        "EmailActivity",
    ),
    Route(
        "/reports/{campaign_id}/unsubscribed",
        "unsubscribes",
        "reports",
        "get_unsubscribed_list_for_campaign",
        "Unsubscribes",
    ),
    Route(
        "/reports/{campaign_id}/sent-to", "sent_to", "reports", "get_campaign_recipients", "SentTo"
    ),
)


def route_of(path: str) -> tuple[Route, dict[str, str]] | None:
    """The route serving a request path (``/3.0/...``) and its ids."""
    for route in ROUTES:
        match = re.fullmatch(route.regex + "/?", path)
        if match:
            return route, dict(zip(route.ids, match.groups(), strict=True))
    return None


# ---- account data ------------------------------------------------------------------------------


@dataclass
class FakeCampaign:
    id: str
    list_id: str
    title: str
    subject: str
    send_time: datetime | None
    folder_id: str | None = None
    status: str = "sent"
    recipients: list[str] = field(default_factory=list)


@dataclass
class FakeMember:
    list_id: str
    email: str
    status: str
    member_rating: int
    last_changed: datetime
    merge_fields: dict


@dataclass
class FakeActivity:
    action: str
    timestamp: datetime
    url: str | None = None
    bounce_type: str | None = None


def mc_time(value: datetime) -> str:
    """How Mailchimp writes times: ``2015-10-21T15:41:36+00:00``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def email_id(email: str) -> str:
    return hashlib.md5(email.lower().encode()).hexdigest()


def _time_arg(request: Request, name: str) -> datetime | None:
    value = request.arg(name)
    if not value:
        return None
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class FakeMailchimp:
    """One Mailchimp account. Add data with the ``add_*`` methods, serve it with
    ``FakeApi(fake.routes())``. :attr:`tamper`, if set, may change a body before it is checked
    (to test that a wrong shape fails)."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.lists: dict[str, str] = {}
        self.folders: dict[str, str] = {}
        self.campaigns: dict[str, FakeCampaign] = {}
        self.members: dict[tuple[str, str], FakeMember] = {}
        #: campaign id -> address -> actions, in the order they happened
        self.activity: dict[str, dict[str, list[FakeActivity]]] = {}
        self.unsubscribes: dict[str, list[tuple[str, datetime, str | None]]] = {}
        self.abuse_reports: dict[str, list[tuple[str, str, datetime]]] = {}
        self.shape_errors: list[str] = []
        self.tamper: Callable[[str, dict], None] | None = None
        self._cache: dict[tuple, list[dict]] = {}

    # -- building an account --

    def add_list(self, list_id: str, name: str = "Newsletter") -> None:
        self.lists[list_id] = name
        self._cache.clear()

    def add_folder(self, folder_id: str, name: str) -> None:
        self.folders[folder_id] = name
        self._cache.clear()

    def add_member(
        self,
        list_id: str,
        email: str,
        last_changed: datetime,
        *,
        status: str = "subscribed",
        member_rating: int = 2,
        merge_fields: dict | None = None,
    ) -> None:
        fields = merge_fields if merge_fields is not None else {"FNAME": "", "LNAME": ""}
        self.members[(list_id, email.lower())] = FakeMember(
            list_id, email, status, member_rating, last_changed, fields
        )
        self._cache.clear()

    def add_campaign(
        self,
        campaign_id: str,
        list_id: str,
        send_time: datetime | None,
        *,
        title: str = "",
        subject: str = "",
        folder_id: str | None = None,
        status: str = "sent",
        recipients: list[str] | None = None,
    ) -> None:
        """``recipients`` defaults to the audience's subscribed members at this moment."""
        if recipients is None and status == "sent":
            recipients = [
                m.email
                for m in self.members.values()
                if m.list_id == list_id and m.status == "subscribed"
            ]
        self.campaigns[campaign_id] = FakeCampaign(
            campaign_id,
            list_id,
            title or f"Campaign {campaign_id}",
            subject or f"News {campaign_id}",
            send_time,
            folder_id,
            status,
            recipients or [],
        )
        self._cache.clear()

    def add_activity(
        self,
        campaign_id: str,
        email: str,
        action: str,
        timestamp: datetime,
        *,
        url: str | None = None,
        bounce_type: str | None = None,
    ) -> None:
        acts = self.activity.setdefault(campaign_id, {}).setdefault(email, [])
        acts.append(FakeActivity(action, timestamp, url, bounce_type))
        self._cache.clear()

    def add_unsubscribe(
        self, campaign_id: str, email: str, timestamp: datetime, reason: str | None = None
    ) -> None:
        self.unsubscribes.setdefault(campaign_id, []).append((email, timestamp, reason))
        self._cache.clear()

    def add_abuse_report(self, list_id: str, campaign_id: str, email: str, date: datetime) -> None:
        self.abuse_reports.setdefault(list_id, []).append((campaign_id, email, date))
        self._cache.clear()

    @classmethod
    def realistic(
        cls,
        api_key: str,
        end: datetime,
        *,
        days: int = 100,
        campaigns: int = 50,
        members: int = 20_000,
        events: int = 200_000,
        seed: int = 7,
    ) -> FakeMailchimp:
        """An account of one audience with ``members`` members, ``campaigns`` campaigns sent
        evenly over the ``days`` before ``end`` to every subscribed member, and ``events`` opens,
        clicks and bounces (plus a few unsubscribes and complaints) after the sends."""
        rng = random.Random(seed)
        fake = cls(api_key)
        fake.add_list("aud0001", "Customers and leads")
        names = ["Data Quality", "Pricing", "Automation How-To", "Product News", "Webinars"]
        for i, name in enumerate(names):
            fake.add_folder(f"f{i}", name)
        for i in range(members):
            status = (
                "subscribed" if rng.random() < 0.94 else rng.choice(["unsubscribed", "cleaned"])
            )
            changed = end - timedelta(days=rng.uniform(0, 400))
            merge = {"FNAME": f"First{i}", "LNAME": f"Last{i}", "COMPANY": f"Company {i % 900}"}
            fake.add_member(
                "aud0001",
                f"person{i}@company{i % 900}.example",
                changed,
                status=status,
                member_rating=rng.randint(1, 5),
                merge_fields=merge,
            )
        start = end - timedelta(days=days)
        sends = []
        for i in range(campaigns):
            sent = start + timedelta(days=days * i / campaigns, hours=14)
            cid = f"c{i:04d}"
            fake.add_campaign(
                cid, "aud0001", sent, folder_id=f"f{i % len(names)}", title=f"Issue {i}"
            )
            sends.append((cid, sent, fake.campaigns[cid].recipients))
        for _ in range(events):
            cid, sent, recipients = rng.choice(sends)
            email = rng.choice(recipients)
            at = sent + timedelta(hours=rng.expovariate(1 / 30))
            if at >= end:
                at = sent + timedelta(minutes=rng.uniform(1, 600))
            roll = rng.random()
            if roll < 0.7:
                fake.add_activity(cid, email, "open", at)
            elif roll < 0.96:
                url = f"https://example.com/{rng.choice(['pricing', 'blog', 'docs', 'demo'])}"
                fake.add_activity(cid, email, "click", at, url=url)
            else:
                fake.add_activity(
                    cid, email, "bounce", sent, bounce_type=rng.choice(["hard", "soft"])
                )
        for cid, sent, recipients in sends:
            for email in rng.sample(recipients, k=max(1, len(recipients) // 500)):
                fake.add_unsubscribe(cid, email, sent + timedelta(hours=rng.uniform(1, 48)))
            email = rng.choice(recipients)
            fake.add_abuse_report("aud0001", cid, email, sent + timedelta(hours=3))
        return fake

    # -- serving --

    def routes(self) -> list[tuple[str, str, Callable[[Request], Reply]]]:
        builders = {
            "/campaigns": self._campaigns,
            "/campaign-folders": self._folders,
            "/lists": self._lists,
            "/lists/{list_id}/members": self._members,
            "/lists/{list_id}/abuse-reports": self._abuse_reports,
            "/reports/{campaign_id}/email-activity": self._email_activity,
            "/reports/{campaign_id}/unsubscribed": self._unsubscribed,
            "/reports/{campaign_id}/sent-to": self._sent_to,
        }
        return [("GET", r.regex, self._handler(r, builders[r.path])) for r in ROUTES]

    def _handler(self, route: Route, build: Callable) -> Callable[[Request], Reply]:
        def handle(request: Request) -> Reply:
            if not self._authorized(request.authorization):
                return self.problem(
                    401,
                    "API Key Invalid",
                    "Your API key may be invalid, or you've attempted to access the wrong "
                    "datacenter.",
                )
            try:
                count = int(request.arg("count", str(DEFAULT_COUNT)))
                offset = int(request.arg("offset", "0"))
            except ValueError:
                return self.problem(400, "Invalid Resource", "count and offset are integers.")
            if count > MAX_COUNT or count < 0 or offset < 0:
                return self.problem(
                    400, "Invalid Resource", f"count must be between 0 and {MAX_COUNT}."
                )
            ids = dict(zip(route.ids, request.groups, strict=True))
            if not self._exists(ids):
                return self.problem(
                    404, "Resource Not Found", "The requested resource could not be found."
                )
            key = (route.path, tuple(sorted(ids.items())), _filter_key(request))
            if key not in self._cache:
                self._cache[key] = build(request, **ids)
            found = self._cache[key]
            envelope = {k: v for k, v in ids.items()}
            body = {route.items: found[offset : offset + count], **envelope}
            body["total_items"] = len(found)
            if self.tamper is not None:
                self.tamper(route.response_type, body)
            try:
                check(route.response_type, body)
            except ValidationError as err:
                message = f"{route.response_type}: {err}"
                self.shape_errors.append(message)
                return self.problem(500, "Fake does not fit the SDK model", message[:2000])
            return Reply(200, project(body, request.arg("fields")))

        return handle

    def problem(self, status: int, title: str, detail: str) -> Reply:
        body = {
            "type": ERROR_DOC,
            "title": title,
            "status": status,
            "detail": detail,
            "instance": str(uuid.uuid4()),
        }
        check("ProblemDetail", body)
        return Reply(status, body)

    def _authorized(self, header: str) -> bool:
        scheme, _, value = header.partition(" ")
        if scheme == "Bearer":
            return value == self.api_key
        if scheme != "Basic":
            return False
        try:
            _user, _, password = base64.b64decode(value).decode().partition(":")
        except ValueError:
            return False
        return password == self.api_key

    def _exists(self, ids: dict[str, str]) -> bool:
        if "list_id" in ids and ids["list_id"] not in self.lists:
            return False
        return "campaign_id" not in ids or ids["campaign_id"] in self.campaigns

    # -- listings: every item matching the filters, in the API's order --

    def _campaigns(self, request: Request) -> list[dict]:
        status = request.arg("status")
        since, before = (
            _time_arg(request, "since_send_time"),
            _time_arg(request, "before_send_time"),
        )
        found = []
        for c in self.campaigns.values():
            if status and c.status != status:
                continue
            if (since or before) and c.send_time is None:
                continue
            if (since and c.send_time <= since) or (before and c.send_time >= before):
                continue
            found.append(c)
        if request.arg("sort_field") == "send_time":
            found.sort(
                key=lambda c: c.send_time or datetime.max.replace(tzinfo=UTC),
                reverse=request.arg("sort_dir") == "DESC",
            )
        return [self._campaign(c) for c in found]

    def _campaign(self, c: FakeCampaign) -> dict:
        created = (c.send_time or datetime(2026, 1, 1, tzinfo=UTC)) - timedelta(days=2)
        settings = {
            "subject_line": c.subject,
            "preview_text": "",
            "title": c.title,
            "from_name": "Leadscore Demo",
            "reply_to": "news@example.com",
        }
        if c.folder_id:
            settings["folder_id"] = c.folder_id
        return {
            "id": c.id,
            "web_id": int(hashlib.md5(c.id.encode()).hexdigest()[:6], 16),
            "type": "regular",
            "create_time": mc_time(created),
            "status": c.status,
            "emails_sent": len(c.recipients),
            "send_time": mc_time(c.send_time) if c.send_time else "",
            "content_type": "template",
            "recipients": {
                "list_id": c.list_id,
                "list_is_active": True,
                "list_name": self.lists.get(c.list_id, ""),
                "recipient_count": len(c.recipients),
            },
            "settings": settings,
        }

    def _folders(self, request: Request) -> list[dict]:
        counts = {f: 0 for f in self.folders}
        for c in self.campaigns.values():
            if c.folder_id in counts:
                counts[c.folder_id] += 1
        return [{"name": n, "id": f, "count": counts[f]} for f, n in self.folders.items()]

    def _lists(self, request: Request) -> list[dict]:
        created = mc_time(datetime(2024, 1, 1, tzinfo=UTC))
        return [
            {"id": i, "web_id": n + 1, "name": name, "date_created": created}
            for n, (i, name) in enumerate(self.lists.items())
        ]

    def _members(self, request: Request, list_id: str) -> list[dict]:
        status = request.arg("status")
        since = _time_arg(request, "since_last_changed")
        before = _time_arg(request, "before_last_changed")
        found = [
            m
            for m in self.members.values()
            if m.list_id == list_id
            and (not status or m.status == status)
            and (since is None or m.last_changed > since)
            and (before is None or m.last_changed < before)
        ]
        if request.arg("sort_field") == "last_changed":
            found.sort(key=lambda m: m.last_changed, reverse=request.arg("sort_dir") == "DESC")
        return [
            {
                "id": email_id(m.email),
                "email_address": m.email,
                "unique_email_id": email_id(m.email)[:10],
                "email_type": "html",
                "status": m.status,
                "merge_fields": m.merge_fields,
                "member_rating": m.member_rating,
                "last_changed": mc_time(m.last_changed),
                "list_id": m.list_id,
            }
            for m in found
        ]

    def _email_activity(self, request: Request, campaign_id: str) -> list[dict]:
        since = _time_arg(request, "since")
        list_id = self.campaigns[campaign_id].list_id
        found = []
        for email, acts in self.activity.get(campaign_id, {}).items():
            kept = [a for a in acts if since is None or a.timestamp > since]
            if not kept:
                continue
            found.append(
                {
                    "campaign_id": campaign_id,
                    "list_id": list_id,
                    "list_is_active": True,
                    "email_id": email_id(email),
                    "email_address": email,
                    "activity": [_activity(a) for a in kept],
                }
            )
        return found

    def _unsubscribed(self, request: Request, campaign_id: str) -> list[dict]:
        list_id = self.campaigns[campaign_id].list_id
        return [
            {
                "email_id": email_id(email),
                "email_address": email,
                "merge_fields": self._merge_fields(list_id, email),
                "vip": False,
                "timestamp": mc_time(at),
                "reason": reason,
                "campaign_id": campaign_id,
                "list_id": list_id,
                "list_is_active": True,
            }
            for email, at, reason in self.unsubscribes.get(campaign_id, [])
        ]

    def _sent_to(self, request: Request, campaign_id: str) -> list[dict]:
        c = self.campaigns[campaign_id]
        acts = self.activity.get(campaign_id, {})
        found = []
        for email in c.recipients:
            mine = acts.get(email, [])
            bounce = next((a.bounce_type for a in mine if a.action == "bounce"), None)
            opens = [a.timestamp for a in mine if a.action == "open"]
            found.append(
                {
                    "email_id": email_id(email),
                    "email_address": email,
                    "merge_fields": self._merge_fields(c.list_id, email),
                    "vip": False,
                    "status": bounce or "sent",
                    "open_count": len(opens),
                    "last_open": mc_time(max(opens)) if opens else "",
                    "campaign_id": campaign_id,
                    "list_id": c.list_id,
                    "list_is_active": True,
                }
            )
        return found

    def _abuse_reports(self, request: Request, list_id: str) -> list[dict]:
        return [
            {
                "id": n + 1,
                "campaign_id": cid,
                "list_id": list_id,
                "email_id": email_id(email),
                "email_address": email,
                "merge_fields": self._merge_fields(list_id, email),
                "vip": False,
                "date": mc_time(at),
            }
            for n, (cid, email, at) in enumerate(self.abuse_reports.get(list_id, []))
        ]

    def _merge_fields(self, list_id: str, email: str) -> dict:
        member = self.members.get((list_id, email.lower()))
        return member.merge_fields if member else {}


def _activity(a: FakeActivity) -> dict:
    item = {"action": a.action, "timestamp": mc_time(a.timestamp), "ip": "192.0.2.10"}
    if a.url:
        item["url"] = a.url
    if a.bounce_type:
        item["type"] = a.bounce_type
    return item


def _filter_key(request: Request) -> tuple:
    """The query without paging and partial-response parameters: one listing per key."""
    skip = {"count", "offset", "fields", "exclude_fields"}
    return tuple(sorted((k, tuple(v)) for k, v in request.query.items() if k not in skip))


def project(body: object, fields: str | None) -> object:
    """A partial response: only the dotted ``fields`` (``emails.activity,total_items``)."""
    if not fields:
        return body
    return _pick(body, [f.split(".") for f in fields.split(",") if f])


def _pick(value: object, paths: list[list[str]]) -> object:
    if isinstance(value, list):
        return [_pick(v, paths) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, item in value.items():
        below = [p[1:] for p in paths if p[0] == key]
        if not below:
            continue
        out[key] = item if any(not p for p in below) else _pick(item, below)
    return out
