"""A fake HubSpot account and the read endpoints the HubSpot source calls, for ``FakeApi``.

``FakeHubSpot`` holds an account (companies, contacts, deals with their associations, archived
records, marketing emails, email events) and serves it with HubSpot's paging, filter and limit
semantics: the CRM search answers at most 200 records a page (a bigger ``limit`` is refused) and
refuses to page past :attr:`FakeHubSpot.max_search_results` (10,000, as HubSpot does); the list
endpoint answers at most 100; the v4 associations batch read takes at most 1,000 ids. Requests
need ``Authorization: Bearer <token>`` (:meth:`FakeHubSpot.check_auth`).

**The SDK is the contract.** Every body a route serves is checked before it goes out by
:func:`check_reply`: the ``hubspot-api-client`` (v12) deserializer of the endpoint's package
turns it into the endpoint's model class with client-side validation on (required fields, enum
values, timestamps), and every JSON value is checked against the model's declared type, with no
key the model does not declare. A reply that fails is recorded in
:attr:`FakeHubSpot.contract_errors` and served as a 500, so the test using it fails loudly.

Two answers have no model in the SDK, and are checked against HubSpot's documentation instead
(see :data:`DOCUMENTED`): the email events API (``/email/public/v1/events``, not in SDK v12; the
Events v3 API it has does not carry marketing email events), and two fields of the marketing
emails API that SDK v12's ``PublicEmail`` lacks (``allEmailCampaignIds``,
``primaryEmailCampaignId``), the only link from an email to the campaign ids events name.

    fake = FakeHubSpot.sample(datetime(2026, 11, 18, tzinfo=UTC))
    with FakeApi(fake.routes(), check_auth=fake.check_auth) as server: ...
"""

from __future__ import annotations

import base64
import functools
import importlib
import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from tests.fakes.server import Reply, Request

TOKEN = "pat-na1-fa4e0000-1111-2222-3333-444455556666"

SEARCH_MAX_LIMIT = 200
LIST_MAX_LIMIT = 100
ASSOCIATIONS_MAX_INPUTS = 1000
EMAIL_EVENTS_MAX_LIMIT = 1000

#: Which property a search filters and sorts changes on, per object type.
MODIFIED = {
    "companies": "hs_lastmodifieddate",
    "contacts": "lastmodifieddate",
    "deals": "hs_lastmodifieddate",
}
OBJECTS = tuple(MODIFIED)

#: The SDK package whose deserializer and models describe each endpoint's answer.
ERROR_MODEL = ("hubspot.crm.contacts", "Error")

#: Keys HubSpot documents that SDK v12's models lack, per model class, with where it says so.
EXTRA_KEYS: dict[str, frozenset[str]] = {
    # https://developers.hubspot.com/docs/api-reference/latest/marketing/marketing-emails/guide
    "PublicEmail": frozenset({"allEmailCampaignIds", "primaryEmailCampaignId"}),
    # every HubSpot error body carries "status": "error"
    "Error": frozenset({"status"}),
}

#: Answers without an SDK model, from HubSpot's OpenAPI of the email analytics API v1
#: (https://developers.hubspot.com/docs/api-reference/legacy/email-analytics-v1/guide) and its
#: event type reference (https://developers.hubspot.com/docs/guides/api/analytics-and-events/email-analytics).
#: Each: field -> (type, required).
DOCUMENTED: dict[str, dict[str, tuple[str, bool]]] = {
    "EmailEventsPage": {
        "events": ("list[EmailEvent]", True),
        "hasMore": ("bool", True),
        "offset": ("str", False),
    },
    "EmailEvent": {
        "id": ("str", True),
        "created": ("int", True),
        "type": ("str", True),
        "recipient": ("str", True),
        "portalId": ("int", True),
        "appId": ("int", True),
        "appName": ("str", True),
        "emailCampaignId": ("int", True),
        "sentBy": ("EventId", False),
        "hmid": ("str", False),
        "url": ("str", False),  # CLICK
        "referer": ("str", False),  # CLICK
        "userAgent": ("str", False),
        "category": ("str", False),  # BOUNCE
        "response": ("str", False),
        "status": ("str", False),
        "subscriptions": ("list[object]", False),  # STATUSCHANGE
        "portalSubscriptionStatus": ("str", False),  # STATUSCHANGE
        "source": ("str", False),  # STATUSCHANGE
        "requestedBy": ("str", False),  # STATUSCHANGE
        "bounced": ("bool", False),  # STATUSCHANGE
    },
    "EventId": {"id": ("str", True), "created": ("int", True)},
}


class ContractError(AssertionError):
    """A reply the fake was about to serve does not fit HubSpot's model of it."""


@functools.cache
def _sdk(package: str) -> tuple[object, object]:
    """The SDK package's ApiClient (client-side validation on) and its models module."""
    module = importlib.import_module(package)
    configuration = module.Configuration()
    configuration.client_side_validation = True
    return module.ApiClient(configuration=configuration), importlib.import_module(
        f"{package}.models"
    )


#: Imported here, on the importing thread: the server's threads importing the SDK at the same
#: time can see a half-initialised ``hubspot`` package.
for _package in (
    "hubspot.crm.companies",
    "hubspot.crm.contacts",
    "hubspot.crm.deals",
    "hubspot.crm.properties",
    "hubspot.crm.associations.v4",
    "hubspot.marketing.emails",
):
    importlib.import_module(_package)
    importlib.import_module(f"{_package}.models")


def check_reply(body: object, model: tuple[str, str]) -> object:
    """Deserialize ``body`` into ``model`` (``(sdk package, class name)``, or ``("documented",
    name)`` for :data:`DOCUMENTED`) and check every value's JSON type; raise
    :class:`ContractError` when it does not fit. Returns the model instance."""
    package, name = model
    if package == "documented":
        _check_documented(body, name, name)
        return body
    client, models = _sdk(package)
    try:
        instance = client._ApiClient__deserialize(body, name)  # the SDK's own deserializer
    except Exception as err:  # the SDK raises ValueError, TypeError or its ApiException
        raise ContractError(f"{name}: the SDK refuses it: {err}") from err
    _check_types(body, name, models, name)
    return instance


def _check_types(value: object, kind: str, models: object, where: str) -> None:
    if value is None:
        return  # a null optional field; required ones are the SDK's check
    if kind.startswith("list["):
        if not isinstance(value, list):
            raise ContractError(f"{where}: {type(value).__name__}, not a list")
        for i, item in enumerate(value):
            _check_types(item, kind[5:-1], models, f"{where}[{i}]")
        return
    if kind.startswith("dict["):
        if not isinstance(value, dict):
            raise ContractError(f"{where}: {type(value).__name__}, not an object")
        inner = kind[5:-1].split(", ", 1)[1]
        for key, item in value.items():
            _check_types(item, inner, models, f"{where}.{key}")
        return
    if _primitive(value, kind, where):
        return
    cls = getattr(models, kind)
    if not isinstance(value, dict):
        raise ContractError(f"{where}: {type(value).__name__}, not a {kind} object")
    declared = {json_key: cls.openapi_types[attr] for attr, json_key in cls.attribute_map.items()}
    for key, item in value.items():
        if key in declared:
            _check_types(item, declared[key], models, f"{where}.{key}")
        elif key not in EXTRA_KEYS.get(kind, frozenset()):
            raise ContractError(f"{where}: key {key!r} is not in HubSpot's {kind}")


def _primitive(value: object, kind: str, where: str) -> bool:
    """True when ``kind`` is a JSON primitive ``value`` fits; raise when it does not."""
    expected = {
        "str": str,
        "datetime": str,
        "date": str,
        "bool": bool,
        "int": int,
        "float": (int, float),
        "object": object,
    }.get(kind)
    if expected is None:
        return False
    if not isinstance(value, expected) or (kind in ("int", "float") and isinstance(value, bool)):
        raise ContractError(f"{where}: {value!r} is not a {kind}")
    return True


def _check_documented(value: object, kind: str, where: str) -> None:
    if kind.startswith("list["):
        if not isinstance(value, list):
            raise ContractError(f"{where}: {type(value).__name__}, not a list")
        for i, item in enumerate(value):
            _check_documented(item, kind[5:-1], f"{where}[{i}]")
        return
    if kind not in DOCUMENTED:
        _primitive(value, kind, where)
        return
    spec = DOCUMENTED[kind]
    if not isinstance(value, dict):
        raise ContractError(f"{where}: {type(value).__name__}, not a {kind} object")
    for key, (field_kind, required) in spec.items():
        if key not in value or value[key] is None:
            if required:
                raise ContractError(f"{where}: required {key!r} is missing")
            continue
        _check_documented(value[key], field_kind, f"{where}.{key}")
    unknown = set(value) - set(spec)
    if unknown:
        raise ContractError(f"{where}: keys {sorted(unknown)} are not in HubSpot's {kind}")


def iso(value: datetime) -> str:
    """HubSpot's timestamp form: ``2026-11-18T09:30:00.000Z``."""
    return (
        value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"
    )


def ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


def _to_ms(value: str) -> int:
    if value.lstrip("-").isdigit():
        return int(value)
    return ms(datetime.fromisoformat(value.replace("Z", "+00:00")))


def _property(name: str, kind: str = "string", group: str = "information") -> dict:
    """A ``ModelProperty`` as ``GET /crm/v3/properties/{type}`` lists it."""
    field_type = {"string": "text", "number": "number", "datetime": "date"}.get(kind, "text")
    return {
        "name": name,
        "label": name.replace("_", " ").title(),
        "type": kind,
        "fieldType": field_type,
        "groupName": group,
        "description": "",
        "options": [],
        "hidden": False,
        "hubspotDefined": not name.startswith(("lead_", "annual_budget", "funding_")),
        "formField": False,
        "displayOrder": -1,
    }


#: The properties the fake account defines (mapped ones, a few HubSpot defaults, custom ones).
PROPERTIES: dict[str, tuple[tuple[str, str], ...]] = {
    "companies": (
        ("name", "string"),
        ("domain", "string"),
        ("industry", "string"),
        ("numberofemployees", "number"),
        ("annualrevenue", "number"),
        ("country", "string"),
        ("createdate", "datetime"),
        ("hs_lastmodifieddate", "datetime"),
        ("hs_object_id", "number"),
        ("funding_stage", "string"),
    ),
    "contacts": (
        ("firstname", "string"),
        ("lastname", "string"),
        ("email", "string"),
        ("jobtitle", "string"),
        ("associatedcompanyid", "number"),
        ("hs_analytics_source", "string"),
        ("createdate", "datetime"),
        ("lastmodifieddate", "datetime"),
        ("hs_object_id", "number"),
        ("hs_merged_object_ids", "string"),
        ("lead_origin", "string"),
        ("annual_budget", "number"),
    ),
    "deals": (
        ("dealname", "string"),
        ("amount", "number"),
        ("dealstage", "string"),
        ("pipeline", "string"),
        ("closedate", "datetime"),
        ("createdate", "datetime"),
        ("hs_lastmodifieddate", "datetime"),
        ("hs_object_id", "number"),
    ),
}


@dataclass
class FakeHubSpot:
    """One HubSpot account. Build it with the ``add_*`` methods or :meth:`sample`."""

    token: str = TOKEN
    #: how far the search pages (HubSpot: 10,000); a test lowers it to check the source stays below
    max_search_results: int = 10_000
    objects: dict[str, dict[str, dict]] = field(
        default_factory=lambda: {obj: {} for obj in OBJECTS}
    )
    archived: dict[str, dict[str, dict]] = field(
        default_factory=lambda: {obj: {} for obj in OBJECTS}
    )
    #: (from type, to type) -> from id -> [(to id, primary)]
    associations: dict[tuple[str, str], dict[str, list[tuple[str, bool]]]] = field(
        default_factory=dict
    )
    emails: list[dict] = field(default_factory=list)
    email_events: list[dict] = field(default_factory=list)
    properties: dict[str, list[dict]] = field(
        default_factory=lambda: {
            obj: [_property(name, kind) for name, kind in props]
            for obj, props in PROPERTIES.items()
        }
    )
    #: every (model, body) served, for a test to check again
    served: list[tuple[tuple[str, str], object]] = field(default_factory=list)
    contract_errors: list[str] = field(default_factory=list)
    _next_id: int = 100

    # ---- building the account -----------------------------------------------------------------

    def _id(self) -> str:
        self._next_id += 1
        return str(self._next_id)

    def _record(self, obj: str, created: datetime, modified: datetime, props: dict) -> str:
        record_id = self._id()
        properties = {
            "hs_object_id": record_id,
            "createdate": iso(created),
            MODIFIED[obj]: iso(modified),
            **{k: (None if v is None else str(v)) for k, v in props.items()},
        }
        self.objects[obj][record_id] = {
            "id": record_id,
            "properties": properties,
            "createdAt": iso(created),
            "updatedAt": iso(modified),
            "archived": False,
        }
        return record_id

    def touch(self, obj: str, record_id: str, modified: datetime, **props: object) -> None:
        """Change a record at ``modified``."""
        record = self.objects[obj][record_id]
        record["properties"].update({k: None if v is None else str(v) for k, v in props.items()})
        record["properties"][MODIFIED[obj]] = iso(modified)
        record["updatedAt"] = iso(modified)

    def add_company(self, created: datetime, modified: datetime | None = None, **props) -> str:
        return self._record("companies", created, modified or created, props)

    def add_contact(
        self, company_id: str, created: datetime, modified: datetime | None = None, **props
    ) -> str:
        return self._record(
            "contacts", created, modified or created, {"associatedcompanyid": company_id, **props}
        )

    def add_deal(
        self,
        company_id: str | None,
        contact_id: str | None,
        created: datetime,
        modified: datetime | None = None,
        *,
        other_company: str | None = None,
        **props,
    ) -> str:
        """A deal; ``other_company`` is a second, non-primary, company listed first."""
        deal_id = self._record("deals", created, modified or created, props)
        companies = self.associations.setdefault(("deals", "companies"), {})
        contacts = self.associations.setdefault(("deals", "contacts"), {})
        if other_company:
            companies.setdefault(deal_id, []).append((other_company, False))
        if company_id:
            companies.setdefault(deal_id, []).append((company_id, True))
        if contact_id:
            contacts.setdefault(deal_id, []).append((contact_id, False))
        return deal_id

    def archive(self, obj: str, record_id: str, at: datetime) -> None:
        """Delete a record: it leaves the search and appears in ``archived=true``."""
        record = self.objects[obj].pop(record_id)
        record.update(archived=True, archivedAt=iso(at), updatedAt=iso(at))
        self.archived[obj][record_id] = record

    def merge_contacts(self, winner: str, loser: str, at: datetime) -> None:
        """Merge ``loser`` into ``winner``: the winner lists it, the loser is archived."""
        merged = self.objects["contacts"][winner]["properties"].get("hs_merged_object_ids")
        self.touch(
            "contacts", winner, at, hs_merged_object_ids=";".join(filter(None, [merged, loser]))
        )
        self.archive("contacts", loser, at)

    def add_email(
        self, name: str, published: datetime, campaign_ids: list[str], **fields: object
    ) -> dict:
        """A published marketing email (``PublicEmail``) sent under ``campaign_ids``."""
        email = {
            "id": self._id(),
            "name": name,
            "subject": f"{name}: this week",
            "state": "PUBLISHED",
            "type": "BATCH_EMAIL",
            "subcategory": "batch",
            "sendOnPublish": True,
            "isPublished": True,
            "publishDate": iso(published),
            "createdAt": iso(published - timedelta(days=2)),
            "updatedAt": iso(published),
            "content": {},
            "from": {"fromName": "Acme Marketing", "replyTo": "news@acme.example"},
            "to": {},
            "archived": False,
            "allEmailCampaignIds": list(campaign_ids),
            "primaryEmailCampaignId": campaign_ids[0] if campaign_ids else None,
            **fields,
        }
        self.emails.append(email)
        return email

    def add_email_event(
        self, kind: str, recipient: str, campaign_id: int, at: datetime, **fields: object
    ) -> dict:
        """An email event as the email events API lists it (``kind``: OPEN, CLICK, ...)."""
        event = {
            "id": str(uuid.UUID(int=random.Random(len(self.email_events)).getrandbits(128))),
            "created": ms(at),
            "type": kind,
            "recipient": recipient,
            "portalId": 62515,
            "appId": 113,
            "appName": "Batch",
            "emailCampaignId": campaign_id,
            **fields,
        }
        self.email_events.append(event)
        return event

    @classmethod
    def sample(cls, start: datetime, *, contacts: int = 30, seed: int = 7) -> FakeHubSpot:
        """A small account around ``start``: two thirds of every object last changed in the 90
        days before it, a sixth on each of the two days from ``start`` on; one deal per three
        contacts; two emails (one before ``start``, one on its day) with events on both days."""
        rng = random.Random(seed)
        fake = cls()
        day = timedelta(days=1)

        def when(i: int, n: int) -> datetime:
            third = i * 6 // max(n, 1)
            if third < 4:
                return start - timedelta(seconds=rng.randint(60, 90 * 86400))
            return start + day * (third - 4) + timedelta(seconds=rng.randint(0, 86399))

        n_companies = max(2, contacts // 5)
        companies = []
        for i in range(n_companies):
            at = when(i, n_companies)
            companies.append(
                fake.add_company(
                    at - timedelta(days=200),
                    at,
                    name=f"Company {i}",
                    domain=f"Company{i}.example",
                    industry=rng.choice(["Software", "Manufacturing", None]),
                    numberofemployees=rng.randint(5, 5000),
                    annualrevenue=rng.randint(10, 900) * 10_000,
                    country=rng.choice(["US", "DE", "GB"]),
                    funding_stage=rng.choice(["seed", "series_a", "public"]),
                )
            )
        people = []
        for i in range(contacts):
            at = when(i, contacts)
            people.append(
                fake.add_contact(
                    companies[i % n_companies],
                    at - timedelta(days=100),
                    at,
                    firstname=f"Ann{i}",
                    lastname=f"Lee{i}",
                    email=f"Ann.Lee{i}@Company{i % n_companies}.example",
                    jobtitle=rng.choice(["VP Marketing", "Data Engineer", None]),
                    hs_analytics_source=rng.choice(["ORGANIC_SEARCH", "PAID_SEARCH", "REFERRALS"]),
                    lead_origin=rng.choice(["chat", "form", "event"]),
                    annual_budget=rng.randint(1, 90) * 1000,
                )
            )
        stages = ["appointmentscheduled", "qualifiedtobuy", "contractsent", "closedwon"]
        n_deals = max(2, contacts // 3)
        for i in range(n_deals):
            at = when(i, n_deals)
            stage = stages[i % len(stages)]
            fake.add_deal(
                companies[i % n_companies],
                people[i % contacts],
                at - timedelta(days=30),
                at,
                dealname=f"Deal {i}",
                amount=rng.randint(1, 99) * 1000,
                dealstage=stage,
                pipeline="default",
                closedate=iso(at) if stage == "closedwon" else None,
            )
        fake.add_email("Pricing update", start - 5 * day, ["7001"], campaignName="pricing")
        fake.add_email("Data quality tips", start + timedelta(hours=9), ["7002", "7003"])
        kinds = ["DELIVERED", "OPEN", "CLICK", "BOUNCE", "SPAMREPORT"]
        for i in range(contacts):
            email = fake.objects["contacts"].get(people[i], {}).get("properties", {}).get("email")
            at = start + timedelta(hours=10, minutes=i) + day * (i % 2)
            kind = kinds[i % len(kinds)]
            extra = {"url": "https://acme.example/pricing"} if kind == "CLICK" else {}
            fake.add_email_event(kind, email, 7002 + i % 2, at, **extra)
        return fake

    # ---- serving ------------------------------------------------------------------------------

    def check_auth(self, authorization: str) -> bool:
        return authorization == f"Bearer {self.token}"

    def routes(self) -> list[tuple[str, str, object]]:
        objects = "|".join(OBJECTS)
        return [
            ("POST", rf"/crm/v3/objects/({objects})/search", self.search),
            ("GET", rf"/crm/v3/objects/({objects})", self.list_objects),
            ("GET", rf"/crm/v3/properties/({objects})", self.list_properties),
            (
                "POST",
                rf"/crm/v4/associations/({objects})/({objects})/batch/read",
                self.read_associations,
            ),
            ("GET", r"/marketing/v3/emails", self.list_emails),
            ("GET", r"/email/public/v1/events", self.list_email_events),
        ]

    def reply(self, body: object, model: tuple[str, str], status: int = 200) -> Reply:
        """Serve ``body`` only if it fits ``model``; else record why and answer 500."""
        try:
            check_reply(body, model)
        except ContractError as err:
            self.contract_errors.append(str(err))
            return Reply(500, {"message": f"the fake HubSpot broke its contract: {err}"})
        self.served.append((model, body))
        return Reply(status, body)

    def error(self, status: int, message: str, category: str = "VALIDATION_ERROR") -> Reply:
        body = {
            "status": "error",
            "message": message,
            "correlationId": str(uuid.uuid4()),
            "category": category,
        }
        return self.reply(body, ERROR_MODEL, status)

    def _public(self, obj: str, record: dict, names: list[str]) -> dict:
        """``record`` with the requested properties the account defines (HubSpot ignores
        unknown names), each null when empty."""
        defined = {p["name"] for p in self.properties[obj]}
        out = {k: v for k, v in record.items() if k != "properties"}
        props = record["properties"]
        out["properties"] = {n: props.get(n) for n in dict.fromkeys(names) if n in defined}
        return out

    def search(self, request: Request) -> Reply:
        obj = request.groups[0]
        body = request.body if isinstance(request.body, dict) else {}
        limit = body.get("limit", 10)
        if not isinstance(limit, int) or not 1 <= limit <= SEARCH_MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {SEARCH_MAX_LIMIT}, not {limit}")
        after = int(body.get("after") or 0)
        if after >= self.max_search_results:
            return self.error(
                400,
                f"Cannot page beyond {self.max_search_results} results "
                f"(after={after}); narrow the query",
            )
        groups = body.get("filterGroups") or [{"filters": []}]
        records = [
            r
            for r in self.objects[obj].values()
            if any(all(_matches(r, f) for f in g.get("filters", [])) for g in groups)
        ]
        for sort in (body.get("sorts") or [])[:1]:  # ties: by id
            records.sort(
                key=lambda r, s=sort: (
                    _to_ms(r["properties"].get(s["propertyName"]) or "0"),
                    int(r["id"]),
                ),
                reverse=sort.get("direction") == "DESCENDING",
            )
        extra = ("hs_object_id", "createdate", MODIFIED[obj])
        page = [
            self._public(obj, r, [*(body.get("properties") or []), *extra])
            for r in records[after : after + limit]
        ]
        answer: dict = {"total": len(records), "results": page}
        if after + limit < len(records):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        model = (f"hubspot.crm.{obj}", "CollectionResponseWithTotalSimplePublicObjectForwardPaging")
        return self.reply(answer, model)

    def list_objects(self, request: Request) -> Reply:
        obj = request.groups[0]
        limit = int(request.arg("limit", "10"))
        if not 1 <= limit <= LIST_MAX_LIMIT:
            return self.error(400, f"limit must be between 1 and {LIST_MAX_LIMIT}, not {limit}")
        archived = request.arg("archived", "false") == "true"
        source = self.archived[obj] if archived else self.objects[obj]
        records = sorted(source.values(), key=lambda r: int(r["id"]))
        after = int(request.arg("after", "0") or 0)
        wanted = request.arg("properties")
        names = wanted.split(",") if wanted else ["hs_object_id", "createdate", MODIFIED[obj]]
        page = [self._public(obj, r, names) for r in records[after : after + limit]]
        answer: dict = {"results": page}
        if after + limit < len(records):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        model = (
            f"hubspot.crm.{obj}",
            "CollectionResponseSimplePublicObjectWithAssociationsForwardPaging",
        )
        return self.reply(answer, model)

    def list_properties(self, request: Request) -> Reply:
        answer = {"results": self.properties[request.groups[0]]}
        return self.reply(answer, ("hubspot.crm.properties", "CollectionResponsePropertyNoPaging"))

    def read_associations(self, request: Request) -> Reply:
        from_type, to_type = request.groups
        inputs = (request.body or {}).get("inputs") if isinstance(request.body, dict) else None
        if not isinstance(inputs, list) or not 1 <= len(inputs) <= ASSOCIATIONS_MAX_INPUTS:
            count = len(inputs) if isinstance(inputs, list) else 0
            return self.error(
                400, f"inputs must hold 1 to {ASSOCIATIONS_MAX_INPUTS} ids, not {count}"
            )
        known = self.associations.get((from_type, to_type), {})
        results, errors = [], []
        for item in inputs:
            targets = known.get(str(item.get("id")))
            if not targets:
                errors.append(
                    {
                        "status": "error",
                        "category": "OBJECT_NOT_FOUND",
                        "message": f"No {to_type} associated with {from_type} {item.get('id')}",
                        "context": {"fromObjectId": [str(item.get("id"))]},
                        "links": {},
                        "errors": [],
                    }
                )
                continue
            results.append(
                {
                    "from": {"id": str(item["id"])},
                    "to": [
                        {
                            "toObjectId": to_id,
                            "associationTypes": [
                                {"category": "HUBSPOT_DEFINED", "typeId": 5, "label": "Primary"}
                                if primary
                                else {"category": "HUBSPOT_DEFINED", "typeId": 341, "label": None}
                            ],
                        }
                        for to_id, primary in targets
                    ],
                }
            )
        now = iso(datetime.now(UTC))
        answer: dict = {
            "status": "COMPLETE",
            "results": results,
            "startedAt": now,
            "completedAt": now,
        }
        name = "BatchResponsePublicAssociationMultiWithLabel"
        if errors:
            answer.update(errors=errors, numErrors=len(errors))
            name += "WithErrors"
        return self.reply(answer, ("hubspot.crm.associations.v4", name), 207 if errors else 200)

    def list_emails(self, request: Request) -> Reply:
        limit = int(request.arg("limit", "10"))
        emails = self.emails
        if request.arg("isPublished") is not None:
            published = request.arg("isPublished") == "true"
            emails = [e for e in emails if e["isPublished"] == published]
        if request.arg("createdBefore"):
            before = _to_ms(request.arg("createdBefore"))
            emails = [e for e in emails if _to_ms(e["createdAt"]) < before]
        after = int(request.arg("after", "0") or 0)
        answer: dict = {"total": len(emails), "results": emails[after : after + limit]}
        if after + limit < len(emails):
            answer["paging"] = {"next": {"after": str(after + limit)}}
        model = ("hubspot.marketing.emails", "CollectionResponseWithTotalPublicEmailForwardPaging")
        return self.reply(answer, model)

    def list_email_events(self, request: Request) -> Reply:
        limit = int(request.arg("limit", "10"))
        if not 1 <= limit <= EMAIL_EVENTS_MAX_LIMIT:
            return self.error(400, f"limit must be 1 to {EMAIL_EVENTS_MAX_LIMIT}, not {limit}")
        lo = int(request.arg("startTimestamp", "0"))
        hi = int(request.arg("endTimestamp", str(2**62)))
        kind = request.arg("eventType")
        events = sorted(
            (
                e
                for e in self.email_events
                if lo <= e["created"] <= hi and (kind is None or e["type"] == kind)
            ),
            key=lambda e: (-e["created"], e["id"]),  # newest first, as HubSpot answers
        )
        offset = request.arg("offset")
        at = int(base64.b64decode(offset)) if offset else 0
        page = events[at : at + limit]
        answer = {
            "events": page,
            "hasMore": at + limit < len(events),
            "offset": base64.b64encode(str(at + len(page)).encode()).decode(),
        }
        return self.reply(answer, ("documented", "EmailEventsPage"))


def _matches(record: dict, condition: dict) -> bool:
    value = record["properties"].get(condition.get("propertyName"))
    if value is None:
        return False
    have, want = _to_ms(value), _to_ms(str(condition.get("value")))
    return {
        "GTE": have >= want,
        "GT": have > want,
        "LT": have < want,
        "LTE": have <= want,
        "EQ": have == want,
    }[condition.get("operator")]
