"""HubSpot as a source: CRM companies, contacts and deals, marketing emails and their events.

One :func:`pull` writes the documented landing files (docs/sources.md) of an interval
``[start, end)``; strict inspection, the raw gate and quarantine then treat them like exports.

- **CRM objects** come from the CRM search endpoints, filtered on the last-modified property
  (``hs_lastmodifieddate``; contacts ``lastmodifieddate``) and sorted by it. A search answers at
  most :data:`SEARCH_RESULT_CAP` results per query, so each page's query starts at the newest
  modification time of the page before (:class:`ModifiedSincePaging`) instead of paging by
  offset: no query passes the cap, and a record changed during the pull shifts no page. Deals
  get their company and contact from the v4 associations batch read (the primary association,
  else the first).
- **History.** The first pull of a stream (or a rerun of that first interval) also fetches every
  record last modified before ``start`` and lands it in the first day's file with ``updated_at`` =
  ``start``, as an initial export does. A pull after a gap (the last pulled interval ended before
  ``start``) catches up the gap the same way, its deletions included.
- **Deleted records.** HubSpot lists deleted (archived) records with ``archived=true``. One
  archived inside the interval lands with ``updated_at`` = its ``archivedAt`` and the custom
  property ``hs_archived`` = ``true``. A contact merged into another is archived the same way;
  the surviving contact carries ``hs_merged_object_ids``.
  HubSpot cannot filter that list by time, so every pull reads it whole: one request per 100
  deleted records of each object (docs/connectors.md, "Rate limits").
- **Properties.** The mapped ones (:data:`MAPPING`) always; ``properties: all`` (the default)
  adds every property the account defines, a list only those. Every property that is not a
  mapped landing column lands as a custom property column named as in HubSpot.
- **Email.** Campaigns come from the marketing emails API (``/marketing/v3/emails``), one
  campaign per email campaign id of a published email, so that events can name it. Events come
  from the email events API (``/email/public/v1/events``): HubSpot's Events v3 API does not carry
  marketing email events (https://developers.hubspot.com/docs/guides/api/analytics-and-events/event-analytics).
  Events are pulled for the interval only: an event keeps its own time, so history comes from
  pulling past intervals.

Settings (the ``hubspot:`` section of ``expectations/sources.yml``), all optional:
``properties`` (``all``, a list of property names, or a mapping object -> either),
``department_property`` (the contact property that holds the department; none by default),
``deal_stages`` (HubSpot stage id -> landing stage, over :data:`DEFAULT_DEAL_STAGES`),
``deal_product_line_property`` (default ``pipeline``), ``campaign_topic_property`` and
``campaign_product_line_property`` (marketing email fields; topic defaults to the email's
``campaignName``, then its ``name``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import requests

from leadscore.sources import Entity, api
from leadscore.sources.files import interval_days

log = logging.getLogger(__name__)

VENDOR = "hubspot"
PROVIDES: tuple[str, ...] = (
    "crm/companies",
    "crm/contacts",
    "crm/deals",
    "email/campaigns",
    "email/events",
)
DEFAULT_BASE_URL = "https://api.hubapi.com"
#: The settings of the ``hubspot:`` section (module doc); any other key is refused.
SETTINGS: tuple[str, ...] = (
    "properties",
    "department_property",
    "deal_stages",
    "deal_product_line_property",
    "campaign_topic_property",
    "campaign_product_line_property",
)

#: "The search endpoints are rate limited to five requests per second per account. The maximum
#: number of supported objects per page is 200. ... limited to 10,000 total results for any given
#: query. Attempting to page beyond 10,000 will result in a 400 error."
SEARCH_LIMITS_DOC = "https://developers.hubspot.com/docs/api-reference/latest/crm/search-the-crm"
SEARCH_REQUESTS_PER_SECOND = 5.0
SEARCH_PAGE_SIZE = 200
SEARCH_RESULT_CAP = 10_000
#: Private apps: 100 requests per 10 seconds (Free, Starter), 190 (Professional, Enterprise),
#: shared by every app of the account; the search endpoints have their own limit (above).
#: https://developers.hubspot.com/docs/guides/apps/api-usage/usage-details
REQUESTS_PER_SECOND = 10.0
#: Page sizes: the CRM list endpoint answers at most 100 records, the v4 associations batch read
#: takes at most 1,000 ids, the email events API at most 1,000 events a page.
LIST_PAGE_SIZE = 100
ASSOCIATIONS_BATCH_SIZE = 1000
EMAIL_EVENTS_PAGE_SIZE = 1000
MARKETING_EMAILS_PAGE_SIZE = 100

#: Landing column <- HubSpot source, per CRM object. A source is a property name, ``@id`` (the
#: record id), ``@setting:<key>=<default>`` (the property a setting names; no default: empty) or
#: ``@association:<object type>`` (a deal's primary, else first, associated record). Transforms:
#: ``lower``, ``timestamp`` (ISO 8601 UTC), ``stage`` (through ``deal_stages``), ``closed_date``
#: (the date part, only once the deal is closed). ``updated_at``'s property is the one searched on.
MAPPING: dict[str, tuple[tuple[str, str, str], ...]] = {
    "companies": (
        ("company_id", "@id", ""),
        ("name", "name", ""),
        ("domain", "domain", "lower"),
        ("industry", "industry", ""),
        ("employees", "numberofemployees", ""),
        ("annual_revenue", "annualrevenue", ""),
        ("country", "country", ""),
        ("created_at", "createdate", "timestamp"),
        ("updated_at", "hs_lastmodifieddate", "timestamp"),
    ),
    "contacts": (
        ("contact_id", "@id", ""),
        ("company_id", "associatedcompanyid", ""),
        ("first_name", "firstname", ""),
        ("last_name", "lastname", ""),
        ("email", "email", "lower"),
        ("job_title", "jobtitle", ""),
        ("department", "@setting:department_property", ""),
        ("lead_source", "hs_analytics_source", "lower"),
        ("created_at", "createdate", "timestamp"),
        ("updated_at", "lastmodifieddate", "timestamp"),
    ),
    "deals": (
        ("deal_id", "@id", ""),
        ("company_id", "@association:companies", ""),
        ("contact_id", "@association:contacts", ""),
        ("deal_name", "dealname", ""),
        ("product_line", "@setting:deal_product_line_property=pipeline", ""),
        ("amount", "amount", ""),
        ("stage", "dealstage", "stage"),
        ("created_at", "createdate", "timestamp"),
        ("close_date", "closedate", "closed_date"),
        ("updated_at", "hs_lastmodifieddate", "timestamp"),
    ),
}
#: Properties every pull of an object requests beyond the mapped ones.
ALWAYS_REQUESTED: dict[str, tuple[str, ...]] = {"contacts": ("hs_merged_object_ids",)}
#: The custom property an archived (deleted or merged-away) record lands with.
ARCHIVED_PROPERTY = "hs_archived"
#: HubSpot's default sales pipeline stages -> landing stages. An unmapped stage lands as it is,
#: so the raw gate quarantines the record and names the stage.
DEFAULT_DEAL_STAGES: dict[str, str] = {
    "appointmentscheduled": "prospecting",
    "qualifiedtobuy": "qualification",
    "presentationscheduled": "proposal",
    "decisionmakerboughtin": "proposal",
    "contractsent": "negotiation",
    "closedwon": "closed_won",
    "closedlost": "closed_lost",
}
CLOSED_STAGES = frozenset({"closed_won", "closed_lost"})
#: v4 association type ids of a deal's primary company (its label is "Primary" as well).
PRIMARY_ASSOCIATION_TYPE_IDS = frozenset({5})

#: Email events API types -> landing event types. STATUSCHANGE is an unsubscribe only when the
#: recipient's status became UNSUBSCRIBED; other types (SENT, PROCESSED, DEFERRED, ...) are skipped.
EMAIL_EVENT_TYPES: dict[str, str] = {
    "DELIVERED": "delivered",
    "OPEN": "open",
    "CLICK": "click",
    "BOUNCE": "bounce",
    "SPAMREPORT": "spam_complaint",
    "STATUSCHANGE": "unsubscribe",
}
UNSUBSCRIBED = "UNSUBSCRIBED"

#: Cursor stream per landing entity.
STREAMS: dict[str, str] = {
    "crm/companies": "companies",
    "crm/contacts": "contacts",
    "crm/deals": "deals",
    "email/campaigns": "campaigns",
    "email/events": "email_events",
}


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
    """Pull ``entities`` for ``[start, end)`` and land them; nothing lands if anything fails."""
    unknown = [e.qualified for e in entities if e.qualified not in PROVIDES]
    if unknown:
        raise api.ApiError(f"{VENDOR}: cannot pull {', '.join(unknown)}; it provides {PROVIDES}")
    conn = conn or api.connection(VENDOR, default_base_url=DEFAULT_BASE_URL)
    hub = _HubSpot(conn, settings or {})
    out = api.Landing(landing, interval_days(start, end))
    for e in entities:
        out.declare(e)
    cursors = []
    try:
        with api.counting(f"{VENDOR}: pulling {start:%Y-%m-%d}", hub.client, hub.search_client):
            for e in entities:
                stream = STREAMS[e.qualified]
                before = hub.requests
                since = api.history_from(warehouse, VENDOR, stream, start)
                if e.source == "crm":
                    newest = hub.pull_crm(e, start, end, since, out)
                elif e.name == "campaigns":
                    newest = hub.pull_campaigns(e, start, end, since, out)
                else:
                    newest = hub.pull_email_events(e, start, end, out)
                cursors.append(
                    api.Cursor(
                        VENDOR, stream, start, end, newest, out.rows(e), hub.requests - before
                    )
                )
    except api.ApiError as err:
        raise type(err)(f"{err} Nothing of the interval was landed.") from err
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise api.ApiError(
            f"{VENDOR}: an answer from {conn.shown_url} is not what HubSpot's API documents "
            f"({conn.scrub(repr(err))}); check the base URL of {conn.name}. Nothing of the "
            "interval was landed."
        ) from err
    files = out.commit()
    return api.PullResult(
        VENDOR, files, {e.qualified: out.rows(e) for e in entities}, hub.requests, cursors
    )


def _ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class _HubSpot:
    """The calls of one pull: a general client and a search client, each at its own rate."""

    def __init__(self, conn: api.Connection, settings: dict) -> None:
        self.conn = conn
        self.settings = settings
        auth = api.bearer_auth(conn)
        self.client = api.ApiClient(conn, auth=auth, throttle=api.Throttle(REQUESTS_PER_SECOND))
        self.search_client = api.ApiClient(
            conn, auth=auth, throttle=api.Throttle(SEARCH_REQUESTS_PER_SECOND)
        )
        self.stages = {**DEFAULT_DEAL_STAGES, **(settings.get("deal_stages") or {})}

    @property
    def requests(self) -> int:
        return self.client.requests + self.search_client.requests

    def bad(self, what: str, problem: str) -> api.ApiError:
        return api.ApiError(
            f"{VENDOR}: an answer of {what} is not what HubSpot's API documents: "
            f"{self.conn.scrub(problem)}. Check that the base URL of {self.conn.name} "
            f"({self.conn.shown_url}) is HubSpot's API."
        )

    # ---- CRM objects --------------------------------------------------------------------------

    def pull_crm(
        self, entity: Entity, start: datetime, end: datetime, since: datetime | None, out
    ) -> datetime | None:
        obj = entity.name
        mapped, extras = self.properties(obj)
        modified = self.source_property(obj, "updated_at")
        rows: dict[tuple[date, str], tuple[datetime, dict]] = {}
        newest: datetime | None = None

        def keep(row: dict, at: datetime) -> None:
            key = (at.date(), row[entity.keys[0]])
            if key not in rows or rows[key][0] <= at:
                rows[key] = (at, row)

        windows = [(since, start, start)] if since is not None else []
        windows.append((start, end, None))
        for lo, hi, land_at in windows:
            for record in self.search(obj, mapped + extras, modified, lo, hi):
                at = api.parse_time(record["properties"].get(modified))
                if at is None or not lo <= at < hi:
                    log.info(
                        "%s: %s %s moved out of the window; skipped", VENDOR, obj, record["id"]
                    )
                    continue
                newest = max(newest or at, at)
                keep(self.row(entity, record, extras), land_at or at)
        # deletions: the interval's, and a gap's (landed on the first day, as its changes are);
        # a history pull does not export records deleted before it
        deleted_from = since if since is not None and since != api.EPOCH else start
        for record in self.archived(obj, mapped, deleted_from, end):
            at = api.parse_time(record["archivedAt"])
            newest = max(newest or at, at)
            row = self.row(entity, record, ())
            row[ARCHIVED_PROPERTY] = "true"
            keep(row, max(at, start))
        for at, row in rows.values():
            row["updated_at"] = api.iso_utc(at)
        if any(source.startswith("@association:") for _, source, _ in MAPPING[obj]):
            self.associate(obj, [row for _, row in rows.values()], entity.keys[0])
        for (day, _), (_, row) in sorted(rows.items(), key=lambda item: item[1][0]):
            out.add(entity, day, row)
        return newest

    def source_property(self, obj: str, column: str) -> str | None:
        source = next(s for c, s, _ in MAPPING[obj] if c == column)
        if source.startswith("@setting:"):
            key, _, default = source.removeprefix("@setting:").partition("=")
            return self.settings.get(key) or default or None
        return None if source.startswith("@") else source

    def properties(self, obj: str) -> tuple[list[str], list[str]]:
        """The mapped properties and the custom ones to request for ``obj``."""
        mapped = [p for c, _, _ in MAPPING[obj] if (p := self.source_property(obj, c))]
        wanted = self.settings.get("properties", "all")
        if isinstance(wanted, dict):
            wanted = wanted.get(obj, "all")
        if wanted == "all":
            path = f"/crm/v3/properties/{obj}"
            body = self.json(self.client.request("GET", path), f"GET {path}")
            results = body.get("results") if isinstance(body, dict) else None
            if not isinstance(results, list) or not all(
                isinstance(p, dict) and isinstance(p.get("name"), str) for p in results
            ):
                raise self.bad(f"GET {path}", "`results` is not a list of properties with names")
            names = [p["name"] for p in results if not p.get("archived")]
        elif isinstance(wanted, list) and all(isinstance(n, str) for n in wanted):
            names = list(wanted)
        else:
            raise api.ApiError(
                f"{VENDOR}: settings `properties` must be `all` or a list of HubSpot property "
                f"names (expectations/sources.yml, hubspot:), not {wanted!r}"
            )
        names += ALWAYS_REQUESTED.get(obj, ())
        extras = [n for n in dict.fromkeys(names) if n not in mapped and n != "hs_object_id"]
        return mapped, extras

    def row(self, entity: Entity, record: dict, extras) -> dict:
        obj = entity.name
        props = record["properties"]
        row: dict[str, object] = {}
        for column, source, transform in MAPPING[obj]:
            if source == "@id":
                value: object = record["id"]
            elif source.startswith("@association:"):
                value = None
            else:
                prop = self.source_property(obj, column)
                value = props.get(prop) if prop else None
            row[column] = self.transform(value, transform, record["id"], column)
        if row.get("stage") not in CLOSED_STAGES and "close_date" in row:
            row["close_date"] = None
        for name in extras:  # HubSpot answers only the requested properties it defines
            if name in props:
                row[api.property_column(VENDOR, name, entity.columns)] = props[name]
        return row

    def transform(self, value: object, transform: str, record_id: str, column: str) -> object:
        if value is None or value == "":
            return None
        if transform == "lower":
            return str(value).strip().lower()
        if transform == "stage":
            return self.stages.get(str(value), str(value))
        if transform in ("timestamp", "closed_date"):
            try:
                at = api.parse_time(value)
            except ValueError as err:
                raise api.ApiError(
                    f"{VENDOR}: record {record_id} has {column} {value!r}, not a timestamp; "
                    "check the property mapping (docs/connectors.md)"
                ) from err
            return api.iso_utc(at) if transform == "timestamp" else at.date().isoformat()
        return value

    def search(
        self, obj: str, properties: list[str], modified: str, lo: datetime, hi: datetime
    ) -> Iterator[dict]:
        """Records of ``obj`` last modified in ``[lo, hi)``, oldest first, each version once.

        Paged by modification time (:class:`ModifiedSincePaging`), not by HubSpot's offset:
        a record changed during the pull leaves the result set without shifting the pages after
        it, and no query pages past :data:`SEARCH_RESULT_CAP`."""
        path = f"/crm/v3/objects/{obj}/search"
        body = {
            "filterGroups": [
                {
                    "filters": [
                        {"propertyName": modified, "operator": "GTE", "value": str(_ms(lo))},
                        {"propertyName": modified, "operator": "LT", "value": str(_ms(hi))},
                    ]
                }
            ],
            "sorts": [{"propertyName": modified, "direction": "ASCENDING"}],
            "properties": properties,
            "limit": SEARCH_PAGE_SIZE,
        }
        seen: set[tuple[str, object]] = set()
        pages = self.search_client.paginate(
            path,
            method="POST",
            json=body,
            paginator=api.dlt_paginator(ModifiedSincePaging, obj, modified),
            data_selector="$",
        )
        for page in pages:
            for record in self.page(page, f"POST {path}")["results"]:
                version = (record["id"], record["properties"].get(modified))
                if version not in seen:  # the last page's newest millisecond comes again
                    seen.add(version)
                    yield record

    def archived(
        self, obj: str, properties: list[str], start: datetime, end: datetime
    ) -> Iterator[dict]:
        """Records of ``obj`` archived (deleted, merged away) in ``[start, end)``."""
        path = f"/crm/v3/objects/{obj}"
        params = {
            "limit": LIST_PAGE_SIZE,
            "archived": "true",
            "properties": ",".join(properties),
        }
        for record in self.listing(path, params):
            at = record.get("archivedAt")
            if not isinstance(at, str):
                raise self.bad(f"GET {path}", f"archived record {record['id']} has no archivedAt")
            if start <= api.parse_time(at) < end:
                yield record

    def listing(self, path: str, params: dict, *, crm: bool = True) -> Iterator[dict]:
        from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

        pages = self.client.paginate(
            path,
            params=params,
            paginator=JSONResponseCursorPaginator(
                cursor_path="paging.next.after", cursor_param="after"
            ),
            data_selector="$",
        )
        for page in pages:
            yield from self.page(page, f"GET {path}", crm=crm)["results"]

    def page(self, page: list, what: str, *, crm: bool = True) -> dict:
        """The answer behind a page of ``results``, checked for what the source reads."""
        answer = page[0] if len(page) == 1 else None
        if not isinstance(answer, dict):
            raise self.bad(what, "the answer is not a JSON object")
        records = answer.get("results")
        if not isinstance(records, list):
            raise self.bad(what, f"`results` is {type(records).__name__}, not a list")
        for i, record in enumerate(records):
            if not isinstance(record, dict) or not record.get("id"):
                raise self.bad(what, f"record {i + 1} of the page has no id")
            if crm and not isinstance(record.get("properties"), dict):
                raise self.bad(what, f"record {record['id']} has no properties")
        return answer

    def json(self, response: requests.Response, what: str) -> object:
        try:
            return response.json()
        except ValueError as err:
            raise self.bad(what, f"not JSON ({err})") from err

    def associate(self, obj: str, rows: list[dict], key: str) -> None:
        """Fill the association columns of ``rows`` (deals): primary, else first, record."""
        by_id: dict[str, list[dict]] = {}
        for row in rows:
            by_id.setdefault(str(row[key]), []).append(row)
        for column, source, _ in MAPPING[obj]:
            if not source.startswith("@association:"):
                continue
            to_type = source.removeprefix("@association:")
            path = f"/crm/v4/associations/{obj}/{to_type}/batch/read"
            for chunk in api.chunks(list(by_id), ASSOCIATIONS_BATCH_SIZE):
                answer = self.json(
                    self.client.request("POST", path, json={"inputs": [{"id": i} for i in chunk]}),
                    f"POST {path}",
                )
                results = answer.get("results") if isinstance(answer, dict) else None
                if not isinstance(results, list):
                    raise self.bad(f"POST {path}", "`results` is not a list")
                for result in results:
                    target = _pick_association(result)
                    for row in by_id.get(str(result["from"]["id"]), []):
                        row[column] = target

    # ---- email --------------------------------------------------------------------------------

    def pull_campaigns(
        self, entity: Entity, start: datetime, end: datetime, since: datetime | None, out
    ) -> datetime | None:
        """Published marketing emails sent in the interval (and before it, on a first pull): one
        campaign per email campaign id, the id email events name."""
        params = {
            "limit": MARKETING_EMAILS_PAGE_SIZE,
            "isPublished": "true",
            "createdBefore": api.iso_utc(end),
        }
        topic_key = self.settings.get("campaign_topic_property") or "campaignName"
        line_key = self.settings.get("campaign_product_line_property")
        newest = None
        unsent = 0
        for email in self.listing("/marketing/v3/emails", params, crm=False):
            sent = api.parse_time(email.get("publishDate"))
            if sent is None or sent >= end or sent < (since or start):
                continue
            ids = email.get("allEmailCampaignIds") or [email.get("primaryEmailCampaignId")]
            ids = [str(i) for i in ids if i not in (None, "")]
            if not ids:
                unsent += 1
                continue
            newest = max(newest or sent, sent)
            at = max(sent, start)
            for campaign_id in ids:
                row = {
                    "campaign_id": campaign_id,
                    "name": email.get("name"),
                    "topic": email.get(topic_key) or email.get("name"),
                    "product_line": email.get(line_key) if line_key else None,
                    "subject": email.get("subject"),
                    "sent_at": api.iso_utc(at),
                }
                out.add(entity, at.date(), row)
        if unsent:
            log.info("%s: %d published emails have no email campaign id yet", VENDOR, unsent)
        return newest

    def pull_email_events(
        self, entity: Entity, start: datetime, end: datetime, out
    ) -> datetime | None:
        """Marketing email events of the interval, one query per event type."""
        from dlt.sources.helpers.rest_client.paginators import JSONResponseCursorPaginator

        path = "/email/public/v1/events"
        newest = None
        seen: set[str] = set()
        skipped = 0
        for hubspot_type, event_type in EMAIL_EVENT_TYPES.items():
            params = {
                "eventType": hubspot_type,
                "startTimestamp": _ms(start),
                "endTimestamp": _ms(end) - 1,  # inclusive
                "limit": EMAIL_EVENTS_PAGE_SIZE,
            }
            pages = self.client.paginate(
                path,
                params=params,
                paginator=JSONResponseCursorPaginator(
                    cursor_path="offset", cursor_param="offset", has_more_path="hasMore"
                ),
                data_selector="$",
            )
            for page in pages:
                for event in self.email_events(page, f"GET {path}"):
                    at = api.parse_time(event["created"])
                    if event["id"] in seen or not start <= at < end:
                        continue
                    if hubspot_type == "STATUSCHANGE" and not _unsubscribed(event):
                        continue
                    if event.get("emailCampaignId") in (None, ""):
                        skipped += 1
                        continue
                    seen.add(event["id"])
                    newest = max(newest or at, at)
                    row = {
                        "event_id": event["id"],
                        "event_type": event_type,
                        "email": event["recipient"].strip().lower(),
                        "campaign_id": str(event["emailCampaignId"]),
                        "url": event.get("url") if event_type == "click" else None,
                        "occurred_at": api.iso_utc(at),
                    }
                    out.add(entity, at.date(), row)
        if skipped:
            log.info("%s: %d email events name no email campaign; skipped", VENDOR, skipped)
        return newest

    def email_events(self, page: list, what: str) -> list[dict]:
        answer = page[0] if len(page) == 1 else None
        events = answer.get("events") if isinstance(answer, dict) else None
        if not isinstance(events, list):
            raise self.bad(what, "`events` is not a list")
        for i, event in enumerate(events):
            if not (
                isinstance(event, dict)
                and event.get("id")
                and isinstance(event.get("created"), int)
                and isinstance(event.get("recipient"), str)
            ):
                raise self.bad(what, f"event {i + 1} of the page lacks id, created or recipient")
        return events


class ModifiedSincePaging(api.TimeKeysetPaging):
    """A CRM search sorted by last-modified time, paged by that time
    (:class:`api.TimeKeysetPaging`): each query's ``GTE`` filter moves to the newest time seen,
    and ``after`` steps forward only inside one millisecond, where
    :data:`SEARCH_RESULT_CAP` records or more fail the pull (HubSpot answers 400 past it)."""

    def __init__(self, obj: str, modified: str) -> None:
        super().__init__()
        self.obj = obj
        self.modified = modified

    def page_times(self, response: requests.Response) -> tuple[list[int | None], bool]:
        answer = api.json_object(response)
        results = answer.get("results")
        if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
            return [], False
        props = [
            r.get("properties") if isinstance(r.get("properties"), dict) else {} for r in results
        ]
        return [api.epoch_ms(p.get(self.modified)) for p in props], bool(answer.get("paging"))

    def check(self, newest_ms: int, page_size: int) -> None:
        if self.offset + page_size > SEARCH_RESULT_CAP:
            at = api.iso_utc(datetime.fromtimestamp(newest_ms / 1000, UTC))
            raise api.ApiError(
                f"{VENDOR}: {SEARCH_RESULT_CAP:,} or more {self.obj} were modified in the same "
                f"millisecond ({at}); the search cannot page past {SEARCH_RESULT_CAP:,} "
                f"({SEARCH_LIMITS_DOC})"
            )

    def apply(self, request) -> None:
        body = request.json
        body["filterGroups"][0]["filters"][0]["value"] = str(self.since_ms)
        if self.offset:
            body["after"] = str(self.offset)
        else:
            body.pop("after", None)


def _pick_association(result: dict) -> str | None:
    """The primary associated record, else the first one."""
    targets = result.get("to") or []
    for target in targets:
        for kind in target.get("associationTypes") or []:
            if kind.get("label") == "Primary" or kind.get("typeId") in PRIMARY_ASSOCIATION_TYPE_IDS:
                return str(target["toObjectId"])
    return str(targets[0]["toObjectId"]) if targets else None


def _unsubscribed(event: dict) -> bool:
    if event.get("portalSubscriptionStatus") == UNSUBSCRIBED:
        return True
    return any(s.get("status") == UNSUBSCRIBED for s in event.get("subscriptions") or [])
