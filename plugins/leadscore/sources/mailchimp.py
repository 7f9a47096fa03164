"""Mailchimp Marketing API: sent campaigns, their recipients' activity and the audiences' members
as ``email/*`` files.

One pull covers the run's interval ``[start, end)`` and writes the documented landing files
(docs/sources.md) through :class:`api.Landing`, so nothing lands unless every page arrived.

- ``email/campaigns``: the campaigns **sent** in the interval (``GET /campaigns?status=sent`` with
  ``since_send_time`` / ``before_send_time``), on the day of their ``send_time``. ``topic`` is the
  campaign folder's name (``GET /campaign-folders``) as a slug (``Data Quality`` ->
  ``data-quality``), or ``settings["topics"][<folder name>]`` when that map names it; a campaign
  outside any folder (or in a folder since deleted) gets ``settings["default_topic"]``
  (``newsletter``). ``product_line`` is ``settings["product_lines"][<topic>]``, else empty.
- ``email/events``: for every campaign sent from ``settings["activity_days"]`` (30) days before
  ``start`` up to ``end``: opens, clicks and bounces (``GET /reports/{id}/email-activity`` with
  ``since`` = start), unsubscribes (``GET /reports/{id}/unsubscribed``), and, for a campaign sent
  inside the interval, one ``delivered`` per recipient the send reached (``GET
  /reports/{id}/sent-to``, status ``sent``, at the send time). Spam complaints come from ``GET
  /lists/{id}/abuse-reports`` of every audience (``settings["list_ids"]`` or ``GET /lists``).
  Only events with ``occurred_at`` in ``[start, end)`` land. ``event_id`` is ``mc-`` and a hash of
  campaign, address, type, time and URL, so a rerun lands the same ids. A member whose status
  became ``unsubscribed`` or ``cleaned`` without a report entry makes no event: events come from
  the reports only.
- ``email/members`` (optional: only when the company's shape lists it): the members of every
  audience (``settings["list_ids"]`` or ``GET /lists``) last changed in the interval (``GET
  /lists/{id}/members`` with ``since_last_changed`` / ``before_last_changed``), one row per
  audience and address on the day of its ``last_changed``; merge fields land as custom property
  columns named by their tag (``FNAME``; an address as JSON text; a tag that is also a landing
  column gets a ``mailchimp_`` prefix).
- **First pull.** Campaigns and events: nothing special, every endpoint filters by time, so their
  history is pulled by running the extract over the history interval (``leadscore extract
  --source email --start <first day> --end <today>``); a campaign's activity is found while it is
  at most ``activity_days`` older than the interval's start. Members: the first pull of the
  ``members`` stream (no cursor yet, or a rerun of its first interval) also fetches every member
  last changed before ``start`` and lands it in the first day's file with ``last_changed`` =
  ``start``, as an initial export does; a pull after a gap (the last pulled interval ended before
  ``start``) catches up the gap the same way. This is the HubSpot source's history rule.

Authentication is HTTP basic with any user name and the API key as password (what the official
SDK sends). The key ends in its data centre (``...-us21``), which gives the API address
``https://us21.api.mailchimp.com/3.0`` unless ``LEADSCORE_MAILCHIMP_BASE_URL`` or the Airflow
connection's host names another. A token without a data centre (OAuth) is sent as a Bearer token
and needs that address set. The key never appears in a log, a file or an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from leadscore.sources import Entity, api
from leadscore.sources.files import interval_days

log = logging.getLogger(__name__)

VENDOR = "mailchimp"
#: landing entities this vendor writes
PROVIDES: tuple[str, ...] = ("email/campaigns", "email/events", "email/members")
#: ``{dc}`` is the data centre at the end of the API key (``...-us21``): see :func:`connect`.
DEFAULT_BASE_URL = "https://{dc}.api.mailchimp.com/3.0"
#: The settings of the ``mailchimp:`` section (module doc); any other key is refused.
SETTINGS: tuple[str, ...] = (
    "activity_days",
    "default_topic",
    "topics",
    "product_lines",
    "list_ids",
)

#: Mailchimp limits an account to 10 simultaneous connections and ends a call after 120 seconds;
#: it publishes no per-second quota, so there is no :class:`api.Throttle` (a 429 is retried after
#: its Retry-After). This source sends one request at a time. A page slower than
#: api.REQUEST_TIMEOUT_SECONDS (LEADSCORE_API_TIMEOUT_SECONDS, 60 by default) is tried again; up to
#: 120 is worth allowing. https://mailchimp.com/developer/marketing/docs/fundamentals/
MAX_CONNECTIONS = 10
#: Items per page: the largest ``count`` the API (and the SDK's check) allows.
PAGE_SIZE = 1000

DEFAULT_ACTIVITY_DAYS = 30
DEFAULT_TOPIC = "newsletter"
#: The user name sent with the key; Mailchimp accepts any.
BASIC_AUTH_USER = "leadscore"

#: email-activity actions and the event types they land as
ACTIVITY_EVENTS = {"open": "open", "click": "click", "bounce": "bounce"}
_DATA_CENTRE = re.compile(r"-([a-z]+[0-9]+)$")


@dataclass(frozen=True)
class Endpoint:
    """A listing of the Marketing API: its path (ids in braces), the page key holding the items,
    and the item fields this source reads (asked for with ``fields``, a partial response)."""

    path: str
    items: str
    fields: tuple[str, ...]

    def query(self, params: dict | None = None) -> dict:
        fields = [f"{self.items}.{name}" for name in self.fields] + ["total_items"]
        return {**(params or {}), "fields": ",".join(fields)}


CAMPAIGNS = Endpoint(
    "campaigns",
    "campaigns",
    (
        "id",
        "status",
        "send_time",
        "settings.title",
        "settings.subject_line",
        "settings.folder_id",
    ),
)
FOLDERS = Endpoint("campaign-folders", "folders", ("id", "name"))
LISTS = Endpoint("lists", "lists", ("id",))
MEMBERS = Endpoint(
    "lists/{list_id}/members",
    "members",
    ("email_address", "status", "member_rating", "last_changed", "merge_fields"),
)
EMAIL_ACTIVITY = Endpoint(
    "reports/{campaign_id}/email-activity", "emails", ("email_address", "activity")
)
UNSUBSCRIBED = Endpoint(
    "reports/{campaign_id}/unsubscribed", "unsubscribes", ("email_address", "timestamp")
)
SENT_TO = Endpoint("reports/{campaign_id}/sent-to", "sent_to", ("email_address", "status"))
ABUSE_REPORTS = Endpoint(
    "lists/{list_id}/abuse-reports", "abuse_reports", ("campaign_id", "email_address", "date")
)


# ---- connection ---------------------------------------------------------------------------------


def data_centre(key: str) -> str | None:
    """``us21`` for an API key ending in ``-us21``; None for a token without one (OAuth)."""
    match = _DATA_CENTRE.search(key)
    return match.group(1) if match else None


def connect(conn: api.Connection | None = None) -> api.Connection:
    """The Mailchimp connection, its ``{dc}`` address filled in from the key's data centre."""
    conn = conn or api.connection(VENDOR, default_base_url=DEFAULT_BASE_URL)
    if "{dc}" not in conn.base_url:
        return conn
    dc = data_centre(conn.secret)
    if dc is None:
        raise api.ApiAuthError(
            f"{VENDOR}: the API key of {conn.name} does not end in its data centre (like "
            "'-us21'), so the API address is unknown. Copy the whole key from Mailchimp (Account "
            "& billing > Extras > API keys), or, for an OAuth token, set "
            "LEADSCORE_MAILCHIMP_BASE_URL (or the Airflow connection's host) to "
            "https://<dc>.api.mailchimp.com/3.0."
        )
    return replace(conn, base_url=conn.base_url.replace("{dc}", dc))


def client(conn: api.Connection) -> api.ApiClient:
    return api.ApiClient(conn, auth=_Auth(conn))


class _Auth(AuthBase):
    """Basic auth (any user, the API key) or Bearer (an OAuth token), with dlt's auth classes.

    It also reads Mailchimp's problem document (RFC 7807) of a refused or failed call, which
    api.check_response cannot, to say which key, data centre and what to check. 429 and 5xx are
    left to the retrying session."""

    def __init__(self, conn: api.Connection) -> None:
        from dlt.sources.helpers.rest_client.auth import BearerTokenAuth, HttpBasicAuth

        self.conn = conn
        if data_centre(conn.secret):
            self.inner: AuthBase = HttpBasicAuth(BASIC_AUTH_USER, conn.secret)
        else:
            self.inner = BearerTokenAuth(conn.secret)

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        request = self.inner(request)
        request.register_hook("response", self._explain)
        return request

    def _explain(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        status = response.status_code
        if status < 400 or status == 429 or status >= 500:
            return
        message = self.conn.scrub(refusal_message(self.conn, response))
        if status == 401 or (status == 403 and api.json_object(response)):
            raise api.ApiAuthError(message)  # the key or its user's access: retrying won't help
        raise api.ApiError(message)


def refusal_message(conn: api.Connection, response: requests.Response) -> str:
    """What a 4xx answer means, from its problem document, for the user to act on."""
    status = response.status_code
    what = f"{response.request.method} {urlsplit(response.request.url).path}"
    problem = api.json_object(response)
    said = ": ".join(p for p in (problem.get("title"), problem.get("detail")) if p)
    said = f" ({status} {said})" if said else f" ({status})"
    where = f"data centre {_data_centre_of(conn)} ({conn.shown_url})"
    if status == 401:
        return (
            f"{VENDOR}: {what} was refused{said} with the API key of {conn.name} at {where}. "
            "Check that the key is current (Mailchimp: Account & billing > Extras > API keys) and "
            "belongs to the account of that data centre: a key ends in its data centre (like "
            "'-us21'), and LEADSCORE_MAILCHIMP_BASE_URL or the Airflow connection's host, if "
            "set, must name the same one."
        )
    if status == 403 and not problem:
        return (
            f"{VENDOR}: {what} was refused (403 without a problem document), which Mailchimp "
            f"sends when an account makes too many calls at once ({MAX_CONNECTIONS} simultaneous "
            f"connections at most): wait, check what else uses the key of {conn.name}, and rerun."
        )
    if status == 403:
        return (
            f"{VENDOR}: {what} was refused{said} for the API key of {conn.name} at {where}: the "
            "key's user needs access to audiences, campaigns and reports."
        )
    return (
        f"{VENDOR}: {what} failed{said} at {where}: check {conn.name} and the request against "
        "the Marketing API reference (https://mailchimp.com/developer/marketing/api/)."
    )


def _data_centre_of(conn: api.Connection) -> str:
    host = urlsplit(conn.base_url).hostname or ""
    if host.endswith(".api.mailchimp.com"):
        return host.split(".")[0]
    return data_centre(conn.secret) or "unknown"


# ---- paging ------------------------------------------------------------------------------------


def items(
    mc: api.ApiClient,
    endpoint: Endpoint,
    params: dict | None = None,
    *,
    paginator: object | None = None,
    **ids: str,
) -> Iterator[dict]:
    """Every item of a listing, page by page with dlt's OffsetPaginator (``count``/``offset``,
    stopping at ``total_items``) or ``paginator``. A page without its item list fails: dlt would
    read it as the end of the listing."""
    from dlt.sources.helpers.rest_client.paginators import OffsetPaginator

    path = endpoint.path.format(**ids)
    if paginator is None:
        paginator = OffsetPaginator(
            limit=PAGE_SIZE, offset_param="offset", limit_param="count", total_path="total_items"
        )
    else:
        params = {**(params or {}), "count": PAGE_SIZE}
    pages = mc.paginate(
        path, params=endpoint.query(params), paginator=paginator, data_selector=endpoint.items
    )
    try:
        for page in pages:
            body = page.response.json()
            found = body.get(endpoint.items) if isinstance(body, dict) else None
            if not isinstance(found, list) or not all(isinstance(i, dict) for i in found):
                raise api.ApiError(
                    f"{VENDOR}: a page of GET /{path} has no list of {endpoint.items!r}: check "
                    f"that {mc.conn.name} points at the Mailchimp Marketing API "
                    f"({mc.conn.shown_url}), then rerun the interval."
                )
            yield from found
    except api.ApiError as err:
        raise type(err)(_shorten(str(err))) from err


def _shorten(text: str, limit: int = 1000) -> str:
    return text if len(text) <= limit else text[:limit] + " ..."


def _field(record: dict, path: str, what: str) -> object:
    """``record``'s value at the dotted ``path``; a missing or empty one fails the pull."""
    value: object = record
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None or value == "":
        raise api.ApiError(
            f"{VENDOR}: {what} has no {path!r}; the Marketing API documents it, so the answer "
            "was cut off or the API changed. Rerun the interval; if it persists, report it."
        )
    return value


def _time(record: dict, path: str, what: str) -> datetime:
    value = _field(record, path, what)
    try:
        parsed = api.parse_time(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        parsed = None
    if parsed is None:
        raise api.ApiError(f"{VENDOR}: {what} has {path} {value!r}, not an ISO 8601 time.")
    return parsed.astimezone(UTC)


def mailchimp_time(value: datetime) -> str:
    """The form the API documents for its time filters: ``2015-10-21T15:41:36+00:00``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+00:00")


def mailchimp_since(value: datetime) -> str:
    """A lower time bound one second early: the API does not say whether its ``since_*``
    filters include the bound, and its times have whole seconds. What comes early is filtered
    out by the caller's own ``[start, end)`` check."""
    return mailchimp_time(value - timedelta(seconds=1))


# ---- pull --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Campaign:
    id: str
    sent_at: datetime
    title: str
    subject: str
    folder_id: str | None


def pull(
    entities: list[Entity],
    start: datetime,
    end: datetime,
    *,
    landing: Path,
    warehouse: Path,
    settings: dict,
    conn: api.Connection | None = None,
) -> api.PullResult:
    """Land ``entities`` (``email/campaigns``, ``email/events``, ``email/members``) of
    ``[start, end)`` (see the module doc).

    ``warehouse`` holds the cursors: only the ``members`` stream reads them, to tell a history
    pull from an incremental one. Raises :class:`api.ApiError` and lands nothing if any call
    fails."""
    wanted = {e.qualified: e for e in entities}
    unknown = sorted(set(wanted) - set(PROVIDES))
    if unknown:
        raise api.ApiError(f"{VENDOR}: provides {', '.join(PROVIDES)}, not {', '.join(unknown)}")
    conn = connect(conn)
    mc = client(conn)
    with api.counting(f"{VENDOR}: pulling {start:%Y-%m-%d}", mc):
        days = interval_days(start, end)
        out = api.Landing(landing, days)
        for entity in wanted.values():
            out.declare(entity)
        activity_days = int(settings.get("activity_days", DEFAULT_ACTIVITY_DAYS))

        campaigns: list[Campaign] = []
        if "email/campaigns" in wanted or "email/events" in wanted:
            campaigns = sent_campaigns(mc, start - timedelta(days=activity_days), end)
        cursors: list[api.Cursor] = []
        campaigns_entity = wanted.get("email/campaigns")
        if campaigns_entity is not None:
            landed = [c for c in campaigns if start <= c.sent_at < end]
            folders = folder_names(mc) if any(c.folder_id for c in landed) else {}
            for c in landed:
                out.add(campaigns_entity, c.sent_at.date(), campaign_row(c, folders, settings))
            cursors.append(
                api.Cursor(
                    VENDOR,
                    "campaigns",
                    start,
                    end,
                    max((c.sent_at for c in landed), default=None),
                    len(landed),
                    mc.requests,
                )
            )
        events_entity = wanted.get("email/events")
        if events_entity is not None:
            before, count, newest = mc.requests, 0, ""
            for row in campaign_events(mc, campaigns, start, end, settings):
                out.add(events_entity, api.parse_time(row["occurred_at"]).date(), row)
                count += 1
                newest = max(newest, row["occurred_at"])  # one ISO form: text order is time order
            cursors.append(
                api.Cursor(
                    VENDOR,
                    "email_activity",
                    start,
                    end,
                    api.parse_time(newest),
                    count,
                    mc.requests - before,
                )
            )
        members_entity = wanted.get("email/members")
        if members_entity is not None:
            before = mc.requests
            since = api.history_from(warehouse, VENDOR, MEMBERS_STREAM, start)
            members, newest_change = audience_members(
                mc, members_entity, start, end, since, settings
            )
            for day, row in members:
                out.add(members_entity, day, row)
            cursors.append(
                api.Cursor(
                    VENDOR,
                    MEMBERS_STREAM,
                    start,
                    end,
                    newest_change,
                    len(members),
                    mc.requests - before,
                )
            )
    files = out.commit()
    records = {q: out.rows(e) for q, e in wanted.items()}
    log.info(
        "%s: %s in %d requests (%s to %s)",
        VENDOR,
        ", ".join(f"{n} {q}" for q, n in records.items()),
        mc.requests,
        api.iso_utc(start),
        api.iso_utc(end),
    )
    return api.PullResult(VENDOR, files, records, mc.requests, cursors)


def sent_campaigns(mc: api.ApiClient, since: datetime, before: datetime) -> list[Campaign]:
    """Campaigns sent in ``[since, before)``, oldest first."""
    params = {
        "status": "sent",
        "since_send_time": mailchimp_since(since),
        "before_send_time": mailchimp_time(before),
        "sort_field": "send_time",
        "sort_dir": "ASC",
    }
    found = []
    for item in items(mc, CAMPAIGNS, params):
        cid = str(_field(item, "id", "a campaign of GET /campaigns"))
        what = f"campaign {cid} of GET /campaigns"
        if item.get("status", "sent") != "sent":
            continue
        sent_at = _time(item, "send_time", what)
        if not since <= sent_at < before:
            continue
        s = item.get("settings") or {}
        title, subject = s.get("title") or "", s.get("subject_line") or ""
        if not (title or subject):
            _field(item, "settings.subject_line", what)  # raises: a sent campaign has one
        found.append(
            Campaign(
                id=cid,
                sent_at=sent_at,
                title=title or subject,
                subject=subject or title,
                folder_id=s.get("folder_id") or None,
            )
        )
    return sorted(found, key=lambda c: (c.sent_at, c.id))


def folder_names(mc: api.ApiClient) -> dict[str, str]:
    return {
        str(_field(f, "id", "a folder of GET /campaign-folders")): str(
            _field(f, "name", "a folder of GET /campaign-folders")
        )
        for f in items(mc, FOLDERS)
    }


def campaign_row(c: Campaign, folders: dict[str, str], settings: dict) -> dict:
    folder = folders.get(c.folder_id) if c.folder_id else None
    if folder is None:
        topic = settings.get("default_topic", DEFAULT_TOPIC)
    else:
        topic = (settings.get("topics") or {}).get(folder) or slug(folder)
    return {
        "campaign_id": c.id,
        "name": c.title,
        "topic": topic,
        "product_line": (settings.get("product_lines") or {}).get(topic),
        "subject": c.subject,
        "sent_at": api.iso_utc(c.sent_at),
    }


def slug(name: str) -> str:
    """``Data Quality`` -> ``data-quality``: a folder name as a topic."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or DEFAULT_TOPIC


def event_id(
    campaign_id: str, email: str, event_type: str, occurred_at: str, url: str | None
) -> str:
    """Deterministic: the same event gets the same id in every pull."""
    key = "\x1f".join((campaign_id, email, event_type, occurred_at, url or ""))
    return "mc-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def campaign_events(
    mc: api.ApiClient,
    campaigns: list[Campaign],
    start: datetime,
    end: datetime,
    settings: dict,
) -> Iterator[dict]:
    """The ``email/events`` rows in ``[start, end)`` of ``campaigns`` and of the audiences'
    abuse reports, each event once, as the pages arrive."""
    seen: set[str] = set()

    def event(
        cid: str, email: object, kind: str, at: datetime, url: str | None = None
    ) -> dict | None:
        if not start <= at < end:
            return None
        when = api.iso_utc(at)
        address = str(email).strip().lower()
        eid = event_id(cid, address, kind, when, url)
        if eid in seen:
            return None
        seen.add(eid)
        return {
            "event_id": eid,
            "event_type": kind,
            "email": address,
            "campaign_id": cid,
            "url": url,
            "occurred_at": when,
        }

    since = {"since": mailchimp_since(start)}
    for c in campaigns:
        where = f"GET /{EMAIL_ACTIVITY.path.format(campaign_id=c.id)}"
        for member in items(mc, EMAIL_ACTIVITY, since, campaign_id=c.id):
            email = _field(member, "email_address", f"an email of {where}")
            for act in member.get("activity") or []:
                kind = ACTIVITY_EVENTS.get(act.get("action"))
                if kind is None:
                    continue
                at = _time(act, "timestamp", f"an activity of {email} in {where}")
                url = (act.get("url") or None) if kind == "click" else None
                if found := event(c.id, email, kind, at, url):
                    yield found
        where = f"GET /{UNSUBSCRIBED.path.format(campaign_id=c.id)}"
        for unsub in items(mc, UNSUBSCRIBED, campaign_id=c.id):
            email = _field(unsub, "email_address", f"an unsubscribe of {where}")
            at = _time(unsub, "timestamp", f"{email} in {where}")
            if found := event(c.id, email, "unsubscribe", at):
                yield found
        if start <= c.sent_at < end:
            where = f"GET /{SENT_TO.path.format(campaign_id=c.id)}"
            for recipient in items(mc, SENT_TO, campaign_id=c.id):
                if recipient.get("status") != "sent":
                    continue
                email = _field(recipient, "email_address", f"a recipient of {where}")
                if found := event(c.id, email, "delivered", c.sent_at):
                    yield found
    for list_id in audience_ids(mc, settings):
        where = f"GET /{ABUSE_REPORTS.path.format(list_id=list_id)}"
        for report in items(mc, ABUSE_REPORTS, list_id=list_id):
            what = f"an abuse report of {where}"
            cid = str(_field(report, "campaign_id", what))
            email = _field(report, "email_address", what)
            if found := event(cid, email, "spam_complaint", _time(report, "date", what)):
                yield found


def audience_ids(mc: api.ApiClient, settings: dict) -> list[str]:
    """``settings["list_ids"]``, or every audience of the account."""
    configured = settings.get("list_ids")
    if configured:
        return [str(i) for i in configured]
    return [str(_field(a, "id", "an audience of GET /lists")) for a in items(mc, LISTS)]


# ---- audience members --------------------------------------------------------------------------

#: The cursor stream of ``email/members``.
MEMBERS_STREAM = "members"


def audience_members(
    mc: api.ApiClient,
    entity: Entity,
    start: datetime,
    end: datetime,
    since: datetime | None,
    settings: dict,
) -> tuple[list[tuple[date, dict]], datetime | None]:
    """The rows of ``entity`` (``email/members``) of ``[start, end)`` with their file day, and
    the newest ``last_changed`` seen.

    Members last changed in ``[start, end)`` (``since_last_changed``/``before_last_changed``) of
    every audience (``settings["list_ids"]`` or ``GET /lists``), on the day of their change. With
    ``since`` (:func:`api.history_from`) also those changed in ``[since, start)``: on the first day,
    with ``last_changed`` = ``start``, as an initial export. One row per audience and address."""
    lower = start if since is None else since
    params = {
        "before_last_changed": mailchimp_time(end),
        "sort_field": "last_changed",
        "sort_dir": "ASC",
    }
    if lower != api.EPOCH:
        params["since_last_changed"] = mailchimp_since(lower)
    found: dict[tuple[str, str], tuple[datetime, datetime, dict]] = {}
    newest: datetime | None = None
    for list_id in audience_ids(mc, settings):
        where = f"a member of GET /{MEMBERS.path.format(list_id=list_id)}"
        paging = api.dlt_paginator(MemberChangePaging)
        for m in items(mc, MEMBERS, params, paginator=paging, list_id=list_id):
            changed = _time(m, "last_changed", where)
            if not lower <= changed < end:
                continue
            email = str(_field(m, "email_address", where)).strip().lower()
            newest = max(newest or changed, changed)
            at = max(changed, start)  # a change before the interval: on its first day
            row = {
                **merge_properties(m.get("merge_fields") or {}, entity.columns),
                "list_id": list_id,
                "email": email,
                "status": _field(m, "status", f"{email}, {where}"),
                "member_rating": m.get("member_rating"),
                "last_changed": api.iso_utc(at),
            }
            # a page's newest second comes again with the next page; a member changed during the
            # pull can come twice: its newest version wins
            if (list_id, email) not in found or found[(list_id, email)][0] <= changed:
                found[(list_id, email)] = (changed, at, row)
    ordered = sorted(found.values(), key=lambda f: (f[1], f[2]["list_id"], f[2]["email"]))
    return [(at.date(), row) for _, at, row in ordered], newest


class MemberChangePaging(api.TimeKeysetPaging):
    """Members sorted by ``last_changed``, paged by it (:class:`api.TimeKeysetPaging`): each
    query's ``since_last_changed`` moves to the newest change seen (a second earlier: the API's
    times are whole seconds and it does not say whether the bound is included), and ``offset``
    steps forward only while a whole page falls in that window (a bulk import)."""

    def page_times(self, response: requests.Response) -> tuple[list[int | None], bool]:
        answer = api.json_object(response)
        members = answer.get(MEMBERS.items)
        total = answer.get("total_items")
        if not isinstance(members, list):
            return [], False  # refused by items(), which names the page
        if not isinstance(total, int):
            raise api.ApiError(
                f"{VENDOR}: a page of GET {urlsplit(response.url).path} has no total_items, so "
                "the end of the listing is unknown; the Marketing API documents it. Rerun the "
                "interval; if it persists, report it."
            )
        times = [
            api.epoch_ms(m.get("last_changed")) if isinstance(m, dict) else None for m in members
        ]
        return times, total > self.offset + len(members)

    def apply(self, request) -> None:
        since = datetime.fromtimestamp(self.since_ms / 1000, UTC)
        request.params["since_last_changed"] = mailchimp_since(since)
        request.params["offset"] = self.offset


def merge_properties(merge_fields: dict, columns: tuple[str, ...]) -> dict[str, object]:
    """A member's merge fields as custom properties, named by their tag (``FNAME``); a tag that
    is also one of the landing ``columns`` gets the ``mailchimp_`` prefix
    (:func:`api.property_column`)."""
    return {
        api.property_column(VENDOR, tag, columns): _property(value)
        for tag, value in merge_fields.items()
    }


def _property(value: object) -> object:
    """A merge field value as a custom property: text as is, an address as JSON, empty as None."""
    if value is None or value == "":
        return None
    if isinstance(value, dict | list):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return value
