"""A HubSpot and a Mailchimp account holding what a generated demo world's exports hold.

The demo generator writes export files (a history of versions); an API holds each record's
current state. :func:`accounts_from_landing` replays the files up to a day into the fakes: every
company, contact and deal at its newest version (last modified = its newest ``updated_at``), and
every campaign and email event of the email platform, so a pull of the interval gives back what
the files held. Ids are the fakes' own (HubSpot numbers records itself).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from tests.fakes.hubspot_crm import FakeHubSpot, _property
from tests.fakes.hubspot_writes import FakeHubSpotWrites
from tests.fakes.mailchimp import FakeMailchimp

#: Our deal stages as HubSpot's default pipeline names them (the source maps them back).
HUBSPOT_STAGE = {
    "prospecting": "appointmentscheduled",
    "qualification": "qualifiedtobuy",
    "proposal": "presentationscheduled",
    "negotiation": "contractsent",
    "closed_won": "closedwon",
    "closed_lost": "closedlost",
}
AUDIENCE = "aud1"
#: The company's shape and connector settings when its CRM is HubSpot and its email Mailchimp.
SOURCES_YML = """\
sources:
  crm: [companies, contacts, deals]
  email: [campaigns, events]
extract:
  crm: hubspot
  email: mailchimp
  web: files
hubspot:
  department_property: department
mailchimp: {}
crm_sync:
  enabled: true
"""


@dataclass
class Accounts:
    hubspot: FakeHubSpot
    mailchimp: FakeMailchimp
    #: world id -> HubSpot id, per object type
    ids: dict[str, dict[str, str]]


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)


def _newest(landing: Path, entity: str, key: str, last_day: date) -> list[dict]:
    newest: dict[str, dict] = {}
    for path in sorted((landing / "crm" / entity).glob("*.csv")):
        if date.fromisoformat(path.stem) > last_day:
            continue
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                newest[row[key]] = row  # files in day order: a later version wins
    return list(newest.values())


def _jsonl(landing: Path, entity: str, last_day: date) -> list[dict]:
    rows = []
    for path in sorted((landing / "email" / entity).glob("*.jsonl")):
        if date.fromisoformat(path.stem) <= last_day:
            rows += [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return rows


def accounts_from_landing(
    landing: Path, last_day: date, *, hubspot_token: str, mailchimp_key: str
) -> Accounts:
    hub = FakeHubSpot(token=hubspot_token)
    for obj, names in (
        ("companies", ("funding_stage",)),
        ("contacts", ("department",)),
    ):
        known = {p["name"] for p in hub.properties[obj]}
        hub.properties[obj] += [_property(n) for n in names if n not in known]
    ids: dict[str, dict[str, str]] = {"companies": {}, "contacts": {}, "deals": {}}
    for row in _newest(landing, "companies", "company_id", last_day):
        ids["companies"][row["company_id"]] = hub.add_company(
            _time(row["created_at"]),
            _time(row["updated_at"]),
            name=row["name"],
            domain=row["domain"],
            industry=row["industry"] or None,
            numberofemployees=row["employees"] or None,
            annualrevenue=row["annual_revenue"] or None,
            country=row["country"] or None,
            funding_stage=row.get("funding_stage") or None,
        )
    for row in _newest(landing, "contacts", "contact_id", last_day):
        ids["contacts"][row["contact_id"]] = hub.add_contact(
            ids["companies"][row["company_id"]],
            _time(row["created_at"]),
            _time(row["updated_at"]),
            firstname=row["first_name"],
            lastname=row["last_name"],
            email=row["email"],
            jobtitle=row["job_title"] or None,
            department=row["department"] or None,
            hs_analytics_source=row["lead_source"] or None,
            lead_origin=row.get("lead_origin") or None,
            annual_budget=row.get("annual_budget") or None,
        )
    for row in _newest(landing, "deals", "deal_id", last_day):
        ids["deals"][row["deal_id"]] = hub.add_deal(
            ids["companies"][row["company_id"]],
            ids["contacts"].get(row["contact_id"]),
            _time(row["created_at"]),
            _time(row["updated_at"]),
            dealname=row["deal_name"],
            amount=row["amount"],
            dealstage=HUBSPOT_STAGE[row["stage"]],
            pipeline=row["product_line"],
            closedate=f"{row['close_date']}T00:00:00.000Z" if row["close_date"] else None,
        )

    mc = FakeMailchimp(mailchimp_key)
    mc.add_list(AUDIENCE, "Newsletter")
    first_seen: dict[str, datetime] = {}
    events = _jsonl(landing, "events", last_day)
    for event in events:
        at = _time(event["occurred_at"])
        first_seen[event["email"]] = min(at, first_seen.get(event["email"], at))
    for email, at in first_seen.items():
        mc.add_member(AUDIENCE, email, at)
    topics: dict[str, str] = {}
    recipients: dict[str, list[str]] = {}
    for event in events:
        if event["event_type"] == "delivered":
            recipients.setdefault(event["campaign_id"], []).append(event["email"])
    for campaign in _jsonl(landing, "campaigns", last_day):
        folder = topics.setdefault(campaign["topic"], f"f{len(topics)}")
        mc.add_folder(folder, campaign["topic"])
        mc.add_campaign(
            campaign["campaign_id"],
            AUDIENCE,
            _time(campaign["sent_at"]),
            title=campaign["name"],
            subject=campaign["subject"],
            folder_id=folder,
            recipients=recipients.get(campaign["campaign_id"], []),
        )
    for event in events:
        kind, cid, email, at = (
            event["event_type"],
            event["campaign_id"],
            event["email"],
            _time(event["occurred_at"]),
        )
        if cid not in mc.campaigns:
            continue
        if kind in ("open", "click", "bounce"):
            mc.add_activity(
                cid,
                email,
                kind,
                at,
                url=event.get("url") if kind == "click" else None,
                bounce_type="hard" if kind == "bounce" else None,
            )
        elif kind == "unsubscribe":
            mc.add_unsubscribe(cid, email, at)
        elif kind == "spam_complaint":
            mc.add_abuse_report(AUDIENCE, cid, email, at)
    return Accounts(hub, mc, ids)


def writes_for(accounts: Accounts) -> FakeHubSpotWrites:
    """The write side of the same HubSpot account: it knows every property the account has."""
    writes = FakeHubSpotWrites(accounts.hubspot.token)
    for obj in ("contacts", "companies"):
        writes.properties[obj].update({p["name"]: p for p in accounts.hubspot.properties[obj]})
    return writes


def connector_env(
    data: Path, sources: Path, *, hubspot_url: str, mailchimp_url: str, accounts: Accounts
) -> dict[str, str]:
    """Environment of a run that keeps its files under ``data`` and reads both fakes."""
    return {
        "LEADSCORE_DATA_DIR": str(data),
        "LEADSCORE_LANDING_DIR": str(data / "landing"),
        "LEADSCORE_WAREHOUSE": str(data / "warehouse.duckdb"),
        "LEADSCORE_SERVING_DIR": str(data / "serving"),
        "LEADSCORE_REPORTS_DIR": str(data / "reports"),
        "LEADSCORE_NOTIFY_LOG": str(data / "notify_log.sqlite"),
        "LEADSCORE_CRM_SYNC_LOG": str(data / "crm_sync_log.sqlite"),
        "LEADSCORE_SOURCES_CONFIG": str(sources),
        "LEADSCORE_HUBSPOT_TOKEN": accounts.hubspot.token,
        "LEADSCORE_HUBSPOT_BASE_URL": hubspot_url,
        "LEADSCORE_MAILCHIMP_TOKEN": accounts.mailchimp.api_key,
        "LEADSCORE_MAILCHIMP_BASE_URL": f"{mailchimp_url}/3.0",
    }
