"""Deterministic demo exports: what a CRM, an email platform and a web tracker would deliver.

A hidden propensity per contact (from company fit, seniority, department and noise) drives both
behaviour (opens, clicks, visits, demo requests) and outcomes (deals won, renewals, payment), so
good scoring separates winners from losers. The propensity is never written. Layout and columns
follow ``docs/sources.md``. Same arguments give byte-identical files.
"""

from __future__ import annotations

import json
import shutil
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.progress import counter
from leadscore.sources import ENTITIES, Entity

INDUSTRIES = {  # name: (weight, fit)
    "Software": (0.16, 1.0),
    "Financial Services": (0.10, 0.9),
    "Professional Services": (0.10, 0.7),
    "Logistics": (0.07, 0.7),
    "Telecommunications": (0.05, 0.4),
    "Manufacturing": (0.12, 0.2),
    "Healthcare": (0.09, 0.2),
    "Retail": (0.09, 0.1),
    "Media": (0.05, 0.1),
    "Energy": (0.04, 0.0),
    "Education": (0.06, -0.3),
    "Government": (0.04, -0.6),
    "Non-profit": (0.03, -0.6),
}
COUNTRIES = {  # iso2: (weight, fit)
    "US": (0.34, 0.6),
    "GB": (0.12, 0.6),
    "DE": (0.11, 0.4),
    "CA": (0.05, 0.6),
    "FR": (0.06, 0.2),
    "NL": (0.04, 0.5),
    "SE": (0.03, 0.5),
    "ES": (0.04, 0.0),
    "IT": (0.04, 0.0),
    "AU": (0.04, 0.1),
    "IN": (0.05, -0.3),
    "BR": (0.03, -0.3),
    "JP": (0.02, -0.2),
    "SG": (0.02, 0.1),
    "MX": (0.01, -0.3),
    "PL": (0.02, 0.0),
}
TITLES = [  # (title, weight, seniority effect, department hint)
    ("Chief Executive Officer", 2, 0.9, "Executive"),
    ("CEO", 2, 0.9, "Executive"),
    ("CTO", 1.5, 0.8, "Engineering"),
    ("Co-Founder", 1, 0.8, "Executive"),
    ("Owner", 1, 0.5, "Executive"),
    ("Chief Marketing Officer", 1, 0.9, "Marketing"),
    ("VP of Marketing", 3, 0.8, "Marketing"),
    ("Vice President, Sales", 2, 0.7, "Sales"),
    ("VP Engineering", 1.5, 0.6, "Engineering"),
    ("Head of Data", 2, 0.7, "IT"),
    ("Head of Growth", 1.5, 0.7, "Marketing"),
    ("Director of IT", 3, 0.6, "IT"),
    ("Marketing Director", 3, 0.6, "Marketing"),
    ("Sales Director", 2, 0.5, "Sales"),
    ("Sales Manager", 5, 0.3, "Sales"),
    ("IT Manager", 4, 0.3, "IT"),
    ("Marketing Manager", 5, 0.3, "Marketing"),
    ("Operations Manager", 4, 0.1, "Operations"),
    ("Senior Data Engineer", 4, 0.2, "Engineering"),
    ("Sr. Software Engineer", 5, 0.0, "Engineering"),
    ("Data Analyst", 6, 0.0, "IT"),
    ("Marketing Specialist", 6, -0.1, "Marketing"),
    ("Account Executive", 6, -0.1, "Sales"),
    ("Operations Coordinator", 4, -0.3, "Operations"),
    ("HR Generalist", 3, -0.6, "HR"),
    ("Accountant", 3, -0.4, "Finance"),
    ("Customer Success Manager", 3, 0.0, "Customer Success"),
    ("Consultant", 4, -0.2, None),
    ("Intern", 2, -1.5, None),
    ("Student", 2, -2.0, None),
    ("marketing mgr", 1, 0.2, "Marketing"),
    ("VP, DATA & ANALYTICS", 1, 0.7, "IT"),
    ("Software Developer", 4, -0.1, "Engineering"),
]
DEPARTMENT_FIT = {
    "Marketing": 0.5,
    "Sales": 0.3,
    "IT": 0.4,
    "Executive": 0.5,
    "Engineering": 0.1,
    "Finance": -0.3,
    "Operations": 0.0,
    "HR": -0.6,
    "Customer Success": 0.0,
}
FREE_MAIL = [
    "gmail.com",
    "yahoo.com",
    "hotmail.com",
    "outlook.com",
    "aol.com",
    "icloud.com",
    "gmx.de",
    "web.de",
    "proton.me",
]
COMPETITORS = ["rivalscore.io", "leadrankr.com", "scoreforge.com"]
LEAD_SOURCES = ["website", "webinar", "event", "referral", "paid_search", "outbound", "partner"]
TOPICS = [
    "data-quality",
    "pricing",
    "automation-howto",
    "integration-guides",
    "analytics-trends",
    "customer-stories",
    "product-updates",
    "webinars",
]
PRODUCT_LINES = ["analytics", "automation", "integration"]
FIRST = [
    "James",
    "Mary",
    "Robert",
    "Patricia",
    "John",
    "Jennifer",
    "Michael",
    "Linda",
    "David",
    "Elizabeth",
    "Anna",
    "Lukas",
    "Sofia",
    "Mateo",
    "Emma",
    "Noah",
    "Olivia",
    "Liam",
    "Mia",
    "Hiroshi",
    "Priya",
    "Arjun",
    "Chen",
    "Fatima",
    "Lars",
    "Ingrid",
    "Pierre",
    "Camille",
    "Giulia",
    "Marco",
    "Carlos",
    "Lucia",
    "Aisha",
    "Tom",
    "Sarah",
    "Jan",
    "Eva",
    "Kai",
]
LAST = [
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Mueller",
    "Schmidt",
    "Schneider",
    "Rossi",
    "Martin",
    "Bernard",
    "Dubois",
    "Tanaka",
    "Sato",
    "Patel",
    "Sharma",
    "Kowalski",
    "Nowak",
    "Andersson",
    "Johansson",
    "Silva",
    "Santos",
    "Lopez",
    "Wilson",
    "Taylor",
    "Clark",
    "Lewis",
    "Walker",
    "Young",
    "Hall",
    "Allen",
]
NAME_A = [
    "Acme",
    "Blue",
    "North",
    "Bright",
    "Summit",
    "Nova",
    "Apex",
    "Vertex",
    "Harbor",
    "Pioneer",
    "Granite",
    "Silver",
    "Quantum",
    "Evergreen",
    "Atlas",
    "Cobalt",
    "Falcon",
    "Crimson",
    "Lumen",
    "Orbit",
    "Prairie",
    "Redwood",
    "Sterling",
    "Tidal",
    "Urban",
]
NAME_B = [
    "Logistics",
    "Analytics",
    "Systems",
    "Labs",
    "Partners",
    "Health",
    "Retail",
    "Media",
    "Energy",
    "Capital",
    "Software",
    "Works",
    "Foods",
    "Robotics",
    "Consulting",
    "Cloud",
    "Networks",
    "Learning",
    "Finance",
    "Motors",
]
WEB_TYPES = [
    "page_view",
    "pricing_page_view",
    "content_download",
    "webinar_attended",
    "form_submission",
]


@dataclass(frozen=True)
class GenerationSummary:
    out_dir: Path
    start_date: date
    end_date: date
    rows: dict[str, int]
    files: int


#: Custom properties the demo CRM keeps beyond the documented columns (declared in
#: seeds/property_catalogue.csv), written as extra CSV columns after the documented ones.
CUSTOM_PROPERTIES = {
    "crm/companies": ("funding_stage",),
    "crm/contacts": ("lead_origin", "annual_budget"),
}
LEAD_ORIGINS = ["landing_page_form", "lead_add_form", "chat", "import", "api"]
FUNDING_STAGES = ["bootstrapped", "seed", "series_a", "series_b_plus", "public"]
ACTIVITY_TYPES = ["call", "email", "meeting", "chat", "sms", "note"]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _ts(day_index: np.ndarray, seconds: np.ndarray, start: date) -> list[str]:
    """ISO 8601 UTC timestamps for day offsets from ``start`` and seconds into that day."""
    base = np.datetime64(start.isoformat(), "s")
    values = base + day_index.astype("timedelta64[D]") + seconds.astype("timedelta64[s]")
    return [f"{v}Z" for v in values.astype("datetime64[s]").astype(str)]


def _dates(day_index: np.ndarray, start: date) -> np.ndarray:
    base = np.datetime64(start.isoformat(), "D")
    return (base + day_index.astype("timedelta64[D]")).astype(str)


class _Writer:
    """Collects rows per entity and day and writes one file per day (empty days included)."""

    def __init__(self, out: Path, start: date, n_days: int):
        self.out, self.start, self.n_days = out, start, n_days
        self.frames: dict[str, list[pd.DataFrame]] = defaultdict(list)
        self.rows: dict[str, int] = {}
        self.files = 0

    def add(self, entity: str, frame: pd.DataFrame) -> None:
        if len(frame):
            self.frames[entity].append(frame)

    def write_all(self) -> None:
        total = len(ENTITIES) * self.n_days
        with counter("writing the landing files", total=total, unit="files") as done:
            for e in ENTITIES:
                self._write(e, done)

    def _write(self, entity: Entity, done) -> None:
        folder = self.out / entity.source / entity.name
        folder.mkdir(parents=True, exist_ok=True)
        parts = self.frames.pop(entity.qualified, [])
        frame = (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=[*entity.columns, "_day"])
        )
        frame = frame[(frame["_day"] >= 0) & (frame["_day"] < self.n_days)]
        frame = frame.sort_values(["_day", entity.day_column, *entity.keys], kind="stable")
        self.rows[entity.qualified] = len(frame)
        bounds = np.searchsorted(frame["_day"].to_numpy(), np.arange(self.n_days + 1))
        body = frame[[*entity.columns, *CUSTOM_PROPERTIES.get(entity.qualified, ())]]
        for d in range(self.n_days):
            chunk = body.iloc[bounds[d] : bounds[d + 1]]
            path = folder / f"{(self.start + timedelta(days=d)).isoformat()}.{entity.extension}"
            if entity.file_format == "csv":
                chunk.to_csv(path, index=False, lineterminator="\n")
            else:
                with path.open("w", encoding="utf-8") as fh:
                    for record in chunk.itertuples(index=False, name=None):
                        fh.write(
                            json.dumps(
                                {
                                    k: _json_value(v)
                                    for k, v in zip(body.columns, record, strict=True)
                                    if v is not None and v == v
                                }
                            )
                            + "\n"
                        )
            self.files += 1
            done.update(1)


def _json_value(value: object) -> object:
    """Whole numbers as JSON integers (a column with gaps is float in pandas)."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    scale: float = 1.0,
    end_date: date = date(2026, 11, 20),
    days: int = 548,
) -> GenerationSummary:
    """Write ``days`` days of exports ending ``end_date`` under ``out_dir``."""
    out_dir = Path(out_dir)
    for source in ("crm", "email", "web"):
        shutil.rmtree(out_dir / source, ignore_errors=True)
    start = end_date - timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    w = _Writer(out_dir, start, days)

    with counter("generating the demo world", total=6, unit="parts") as made:
        companies = _companies(rng, max(20, round(2000 * scale)), days, start)
        contacts = _contacts(rng, companies, max(100, round(10000 * scale)), days, start)
        w.add("crm/companies", companies.frame)
        w.add("crm/contacts", contacts.frame)
        made.update(1)
        demo_days = _deals_and_customers(rng, w, companies, contacts, days, start)
        made.update(1)
        _email(rng, w, contacts, days, start, scale)
        made.update(1)
        _web(rng, w, contacts, demo_days, days, start, scale)
        made.update(1)
        # What real CRMs hold beyond the documented columns: custom properties, activities and
        # time on site. A random stream of its own, so every other file stays as it was before.
        extras = np.random.default_rng([seed, 1])
        _custom_properties(extras, companies, contacts)
        _activities(extras, w, companies, contacts, demo_days, days, start)
        made.update(1)
        _time_on_site(extras, w, contacts)
        made.update(1)
    w.write_all()
    return GenerationSummary(out_dir, start, end_date, dict(w.rows), w.files)


@dataclass
class _Companies:
    ids: np.ndarray
    domains: np.ndarray
    fit: np.ndarray  # hidden company fit
    created_day: np.ndarray  # day index (negative = before the window)
    frame: pd.DataFrame


@dataclass
class _Contacts:
    ids: np.ndarray
    company: np.ndarray  # index into companies
    emails: np.ndarray
    propensity: np.ndarray  # hidden
    created_day: np.ndarray
    business: np.ndarray  # bool: company-domain address
    frame: pd.DataFrame


def _choice(rng: np.random.Generator, table: dict, n: int) -> tuple[np.ndarray, np.ndarray]:
    names = np.array(list(table))
    weights = np.array([v[0] for v in table.values()], dtype=float)
    picks = rng.choice(len(names), size=n, p=weights / weights.sum())
    return names[picks], np.array([v[1] for v in table.values()])[picks]


def _created_days(rng: np.random.Generator, n: int, existing_share: float, days: int):
    """Day index of creation: before the window (< 0) for existing records, else inside it."""
    existing = rng.random(n) < existing_share
    return np.where(existing, -rng.integers(30, 2500, n), rng.integers(0, days, n))


def _companies(rng: np.random.Generator, n: int, days: int, start: date) -> _Companies:
    ids = np.array([f"C{i:06d}" for i in range(1, n + 1)])
    industry, industry_fit = _choice(rng, INDUSTRIES, n)
    country, country_fit = _choice(rng, COUNTRIES, n)
    employees = np.clip(np.round(rng.lognormal(np.log(120), 1.5, n)), 1, 50000).astype(int)
    size_fit = np.select(
        [employees < 10, employees < 50, employees < 1000, employees < 5000],
        [-0.8, -0.1, 0.6, 0.2],
        -0.2,
    )
    revenue = np.round(employees * rng.lognormal(np.log(150_000), 0.5, n), -3)
    a, b = rng.integers(0, len(NAME_A), n), rng.integers(0, len(NAME_B), n)
    names = np.array([f"{NAME_A[i]} {NAME_B[j]}" for i, j in zip(a, b, strict=True)])
    domains = np.array(
        [
            f"{NAME_A[i].lower()}-{NAME_B[j].lower()}-{k}.com"
            for k, (i, j) in enumerate(zip(a, b, strict=True), start=1)
        ]
    )
    created = _created_days(rng, n, 0.9, days)
    fit = industry_fit + country_fit + size_fit + rng.normal(0, 0.3, n)
    export_day = np.maximum(created, 0)
    seconds = rng.integers(0, 86400, n)
    frame = pd.DataFrame(
        {
            "company_id": ids,
            "name": names,
            "domain": domains,
            "industry": np.where(rng.random(n) < 0.03, None, industry),
            "employees": pd.array(np.where(rng.random(n) < 0.05, -1, employees)).astype("Int64"),
            "annual_revenue": np.where(rng.random(n) < 0.15, np.nan, revenue),
            "country": np.where(rng.random(n) < 0.02, None, country),
            "created_at": _ts(created, seconds, start),
            "updated_at": _ts(
                export_day, np.where(created < 0, rng.integers(0, 3600, n), seconds), start
            ),
            "_day": export_day,
        }
    )
    frame.loc[frame["employees"] == -1, "employees"] = pd.NA
    return _Companies(ids, domains, fit, created, frame)


def _contacts(
    rng: np.random.Generator, comp: _Companies, n: int, days: int, start: date
) -> _Contacts:
    ids = np.array([f"P{i:07d}" for i in range(1, n + 1)])
    weights = rng.lognormal(0, 1.0, len(comp.ids))
    company = rng.choice(len(comp.ids), size=n, p=weights / weights.sum())
    t = rng.choice(
        len(TITLES), size=n, p=np.array([x[1] for x in TITLES]) / sum(x[1] for x in TITLES)
    )
    titles = np.array([TITLES[i][0] for i in t], dtype=object)
    seniority = np.array([TITLES[i][2] for i in t])
    hint = np.array([TITLES[i][3] for i in t], dtype=object)
    other = np.array(list(DEPARTMENT_FIT))[rng.integers(0, len(DEPARTMENT_FIT), n)]
    department = np.where(hint == None, other, hint)  # noqa: E711 (numpy elementwise)
    dept_fit = np.array([DEPARTMENT_FIT[d] for d in department])
    first = np.array(FIRST)[rng.integers(0, len(FIRST), n)]
    last = np.array(LAST)[rng.integers(0, len(LAST), n)]
    kind = rng.random(n)
    free, competitor = kind < 0.12, (kind >= 0.12) & (kind < 0.125)
    free_domain = np.array(FREE_MAIL)[rng.integers(0, len(FREE_MAIL), n)]
    comp_domain = np.array(COMPETITORS)[rng.integers(0, len(COMPETITORS), n)]
    domain = np.where(free, free_domain, np.where(competitor, comp_domain, comp.domains[company]))
    emails = np.array(
        [
            f"{f.lower()}.{la.lower()}{i}@{d}"
            for i, (f, la, d) in enumerate(zip(first, last, domain, strict=True), 1)
        ]
    )
    created = np.maximum(_created_days(rng, n, 0.8, days), comp.created_day[company])
    logit = (
        -1.6
        + 0.9 * comp.fit[company]
        + 1.0 * seniority
        + 0.8 * dept_fit
        - 1.5 * free
        - 4.0 * competitor
        + rng.normal(0, 1.0, n)
    )
    propensity = _sigmoid(logit)
    export_day = np.maximum(created, 0)
    seconds = rng.integers(0, 86400, n)
    job_title = np.where(rng.random(n) < 0.05, None, titles)
    frame = pd.DataFrame(
        {
            "contact_id": ids,
            "company_id": comp.ids[company],
            "first_name": first,
            "last_name": last,
            "email": emails,
            "job_title": job_title,
            "department": np.where(rng.random(n) < 0.2, None, department),
            "lead_source": np.where(
                rng.random(n) < 0.08,
                None,
                np.array(LEAD_SOURCES)[rng.integers(0, len(LEAD_SOURCES), n)],
            ),
            "created_at": _ts(created, seconds, start),
            "updated_at": _ts(
                export_day, np.where(created < 0, rng.integers(0, 3600, n), seconds), start
            ),
            "_day": export_day,
        }
    )
    return _Contacts(ids, company, emails, propensity, created, ~(free | competitor), frame)


def _day_ts(rng: np.random.Generator, day: np.ndarray, start: date) -> list[str]:
    return _ts(day, rng.integers(0, 86400, len(day)), start)


def _deals_and_customers(
    rng: np.random.Generator, w: _Writer, comp: _Companies, cont: _Contacts, days: int, start: date
) -> dict[int, list[int]]:
    """Deals, subscriptions, invoices, tickets, usage and NPS; returns demo-request days."""
    p = cont.propensity
    eligible = np.flatnonzero(cont.business & (cont.created_day < days - 30))
    n_deals = min(len(eligible), max(10, round(len(cont.ids) * 0.1)))
    weight = p[eligible] ** 2
    who = rng.choice(eligible, size=n_deals, replace=False, p=weight / weight.sum())
    low = np.maximum(cont.created_day[who], 0) + 7
    created = low + np.floor(rng.random(n_deals) * np.maximum(days - low, 1)).astype(int)
    won = rng.random(n_deals) < _sigmoid(10.0 * (p[who] - 0.78))
    close = created + rng.integers(20, 121, n_deals)
    amount = np.round(rng.lognormal(np.log(15000), 0.7, n_deals), 2)
    line = np.array(PRODUCT_LINES)[rng.integers(0, 3, n_deals)]
    deal_ids = np.array([f"D{i:06d}" for i in range(1, n_deals + 1)])
    base = pd.DataFrame(
        {
            "deal_id": deal_ids,
            "company_id": comp.ids[cont.company[who]],
            "contact_id": cont.ids[who],
            "deal_name": [
                f"{comp.ids[cont.company[c]]} {pl}" for c, pl in zip(who, line, strict=True)
            ],
            "product_line": line,
            "amount": amount,
            "created_at": _day_ts(rng, created, start),
        }
    )
    opened = base.assign(
        stage=np.where(rng.random(n_deals) < 0.5, "prospecting", "qualification"),
        close_date=None,
        _day=created,
    )
    mid_day = created + (close - created) // 2
    middle = base.assign(
        stage=np.where(rng.random(n_deals) < 0.5, "proposal", "negotiation"),
        close_date=None,
        _day=mid_day,
    )[rng.random(n_deals) < 0.6]
    closed = base.assign(
        stage=np.where(won, "closed_won", "closed_lost"),
        close_date=_dates(close, start),
        _day=close,
    )
    deals = pd.concat([opened, middle, closed], ignore_index=True)
    deals["updated_at"] = _day_ts(rng, deals["_day"].to_numpy(), start)
    # the first update happens with the creation itself
    first = deals.index < n_deals
    deals.loc[first, "updated_at"] = deals.loc[first, "created_at"]
    w.add("crm/deals", deals)

    demo_days: dict[int, list[int]] = defaultdict(list)
    for c, d in zip(who, created - rng.integers(1, 15, n_deals), strict=True):
        if d >= 0 and rng.random() < 0.7:
            demo_days[int(c)].append(int(d))

    # customers: existing ones (by fit) plus every company that wins a deal
    health = np.full(len(comp.ids), 0.3)
    sums = np.bincount(cont.company, weights=p, minlength=len(comp.ids))
    counts = np.bincount(cont.company, minlength=len(comp.ids))
    health = np.where(counts > 0, sums / np.maximum(counts, 1), health) + rng.normal(
        0, 0.08, len(health)
    )
    existing_pool = np.flatnonzero(comp.created_day < -400)
    k = min(len(existing_pool), round(0.12 * len(comp.ids)))
    weight = _sigmoid(2 * comp.fit[existing_pool])
    first_start = {
        int(c): int(-rng.integers(1, 700))
        for c in rng.choice(existing_pool, size=k, replace=False, p=weight / weight.sum())
    }
    order = np.argsort(close, kind="stable")
    for i in order[won[order]]:
        company = int(cont.company[who[i]])
        if company not in first_start and close[i] < days:
            first_start[company] = int(close[i])
    _customers(rng, w, comp, cont, health, first_start, days, start)
    return demo_days


def _customers(rng, w, comp, cont, health, first_start, days, start) -> None:
    subs, invoices, tickets, usage, nps = [], [], [], [], []
    contacts_of = defaultdict(list)
    for idx, c in enumerate(cont.company):
        contacts_of[int(c)].append(idx)
    sub_n = inv_n = tic_n = nps_n = 0
    survey_days = np.arange(30, days, 91)
    for company in sorted(first_start):
        h = float(health[company])
        seats = int(np.clip(rng.lognormal(np.log(40), 0.9), 5, 500))
        late_mean = max(0.0, rng.normal(25 * (0.45 - h), 6))
        s = first_start[company]
        line = PRODUCT_LINES[int(rng.integers(0, 3))]
        churn_day = None
        while s < days:
            e = s + 365
            plan = "starter" if seats < 25 else "professional" if seats < 150 else "enterprise"
            value = round(
                seats * {"starter": 300, "professional": 600, "enterprise": 1000}[plan], 2
            )
            sub_n += 1
            sid = f"S{sub_n:06d}"
            renew = rng.random() < _sigmoid(6 * (h - 0.22))
            end_status, status_day = (
                ("expired", e) if renew else ("cancelled", e - int(rng.integers(10, 60)))
            )
            row = (sid, company, line, plan, seats, value, s, e)
            if status_day <= max(s, 0):
                subs.append((*row, end_status, 0))  # changed before the window: initial export
            else:
                subs.append((*row, "active", max(s, 0)))
                if status_day < days:
                    subs.append((*row, end_status, status_day))
            # invoices
            monthly = plan != "enterprise"
            issue = s + (np.arange(12) * 30 if monthly else np.array([0]))
            issue = issue[(issue < min(e, days)) & (issue > -400)]
            amount = round(value / 12, 2) if monthly else value
            for d in issue:
                inv_n += 1
                due = int(d) + 30
                late = round(rng.normal(late_mean, 4))
                paid = due + max(late, -25)
                unpaid = rng.random() < (0.02 + 0.1 * max(0.0, 0.3 - h))
                void = rng.random() < 0.01
                invoices.append(
                    (
                        f"I{inv_n:07d}",
                        company,
                        sid,
                        amount,
                        int(d),
                        due,
                        None,  # known once paid: the "paid" version below carries it
                        "void" if void else "open",
                        int(d),
                    )
                )
                if not (unpaid or void):
                    invoices.append(
                        (f"I{inv_n:07d}", company, sid, amount, int(d), due, paid, "paid", paid)
                    )
            if not renew:
                churn_day = e
                break
            seats = int(
                np.clip(round(seats * (1 + rng.normal(0.05 + 0.5 * (h - 0.3), 0.1))), 5, 800)
            )
            s = e
        active_from = max(first_start[company], 0)
        active_to = min(churn_day if churn_day is not None else days, days)
        if active_to <= active_from:
            continue
        span = np.arange(active_from, active_to)
        util = np.clip(0.25 + 0.8 * (h - 0.3) + rng.normal(0, 0.05, len(span)), 0.02, 1.0)
        if churn_day is not None:
            util *= np.clip((churn_day - span) / 120, 0.1, 1.0)
        else:
            util *= 1 + 0.3 * (h - 0.3) * (span - active_from) / 365
        users = np.maximum(1, np.round(seats * np.clip(util, 0.01, 1.0))).astype(int)
        sessions = np.round(users * rng.lognormal(1.2, 0.3, len(span))).astype(int)
        events = np.round(sessions * rng.lognormal(1.5, 0.4, len(span))).astype(int)
        usage.append(
            pd.DataFrame(
                {
                    "company_id": comp.ids[company],
                    "usage_date": _dates(span, start),
                    "active_users": users,
                    "sessions": sessions,
                    "feature_events": events,
                    "_day": span,
                }
            )
        )
        months = len(span) / 30
        n_t = int(rng.poisson(months * (0.5 + seats / 150) * (1.5 - h)))
        people = contacts_of.get(company, [])
        for d in np.sort(rng.integers(active_from, active_to, n_t)):
            tic_n += 1
            pr = ["low", "normal", "high", "urgent"][int(rng.choice(4, p=[0.3, 0.45, 0.18, 0.07]))]
            esc = rng.random() < 0.04 + 0.2 * max(0.0, 0.5 - h)
            sat = (
                int(np.clip(round(rng.normal(1.5 + 6 * h, 1)), 1, 5))
                if rng.random() < 0.4
                else None
            )
            who = cont.ids[people[int(rng.integers(0, len(people)))]] if people else None
            closed = int(d) + int(rng.integers(0, 10))
            if closed > d:
                tickets.append((f"T{tic_n:07d}", company, who, pr, esc, None, int(d), None, int(d)))
            tickets.append((f"T{tic_n:07d}", company, who, pr, esc, sat, int(d), closed, closed))
        for sd in survey_days[(survey_days >= active_from) & (survey_days < active_to)]:
            for person in people[:5]:
                if rng.random() < 0.25:
                    nps_n += 1
                    score = int(np.clip(round(rng.normal(2 + 12 * h, 2)), 0, 10))
                    nps.append(
                        (
                            f"N{nps_n:07d}",
                            company,
                            cont.ids[person],
                            score,
                            int(sd) + int(rng.integers(0, 7)),
                        )
                    )

    def ts_col(values):
        arr = np.array([v if v is not None else 0 for v in values])
        out = _day_ts(rng, arr, start)
        return [o if v is not None else None for o, v in zip(out, values, strict=True)]

    if subs:
        f = pd.DataFrame(
            subs,
            columns=[
                "subscription_id",
                "c",
                "product_line",
                "plan",
                "seats",
                "annual_value",
                "s",
                "e",
                "status",
                "_day",
            ],
        )
        f["company_id"] = comp.ids[f["c"]]
        f["start_date"], f["end_date"] = (
            _dates(f["s"].to_numpy(), start),
            _dates(f["e"].to_numpy(), start),
        )
        f["_day"] = f["_day"].clip(lower=0)
        f["updated_at"] = ts_col(list(f["_day"]))
        w.add("crm/subscriptions", f)
    if invoices:
        f = pd.DataFrame(
            invoices,
            columns=[
                "invoice_id",
                "c",
                "subscription_id",
                "amount",
                "i",
                "d",
                "p",
                "status",
                "_day",
            ],
        )
        # an invoice issued and paid before the window is in the initial export as paid
        before = f["_day"] < 0
        later_before = f[before].groupby("invoice_id").cumcount(ascending=False) > 0
        f = f.drop(index=later_before[later_before].index)
        f["_day"] = f["_day"].clip(lower=0)
        f["company_id"] = comp.ids[f["c"]]
        f["issued_date"], f["due_date"] = (
            _dates(f["i"].to_numpy(), start),
            _dates(f["d"].to_numpy(), start),
        )
        f["paid_date"] = [
            None if pd.isna(v) else str(_dates(np.array([int(v)]), start)[0]) for v in f["p"]
        ]
        f["updated_at"] = ts_col(list(f["_day"]))
        w.add("crm/invoices", f)
    if tickets:
        f = pd.DataFrame(
            tickets,
            columns=[
                "ticket_id",
                "c",
                "contact_id",
                "priority",
                "e",
                "satisfaction",
                "cr",
                "cl",
                "_day",
            ],
        )
        f["company_id"] = comp.ids[f["c"]]
        f["is_escalated"] = np.where(f["e"], "true", "false")
        f["satisfaction"] = f["satisfaction"].astype("Int64")
        f["created_at"] = _day_ts(rng, f["cr"].to_numpy(), start)
        f["closed_at"] = ts_col([None if pd.isna(v) else int(v) for v in f["cl"]])
        f["updated_at"] = np.where(f["closed_at"].isna(), f["created_at"], f["closed_at"])
        w.add("crm/tickets", f)
    if usage:
        w.add("crm/product_usage", pd.concat(usage, ignore_index=True))
    if nps:
        f = pd.DataFrame(nps, columns=["response_id", "c", "contact_id", "score", "_day"])
        f["company_id"] = comp.ids[f["c"]]
        f["responded_at"] = _day_ts(rng, f["_day"].to_numpy(), start)
        w.add("crm/nps_responses", f)


def _email(
    rng: np.random.Generator, w: _Writer, cont: _Contacts, days: int, start: date, scale: float
) -> None:
    """About two campaigns a week, each to ~15 % of the reachable contacts."""
    p = cont.propensity
    n = len(p)
    send_days = np.flatnonzero(rng.random(days) < 2 / 7)
    camp_ids = np.array([f"M{i:05d}" for i in range(1, len(send_days) + 1)])
    topic = np.array(TOPICS)[rng.integers(0, len(TOPICS), len(send_days))]
    line = np.array([*PRODUCT_LINES, None], dtype=object)[rng.integers(0, 4, len(send_days))]
    sent_sec = send_days * 86400 + rng.integers(9 * 3600, 17 * 3600, len(send_days))
    w.add(
        "email/campaigns",
        pd.DataFrame(
            {
                "campaign_id": camp_ids,
                "name": [f"{t.replace('-', ' ').title()} #{i}" for i, t in enumerate(topic, 1)],
                "topic": topic,
                "product_line": line,
                "subject": [
                    f"{t.replace('-', ' ').capitalize()}: what's new this week" for t in topic
                ],
                "sent_at": _ts(np.zeros(len(send_days), dtype=int), sent_sec, start),
                "_day": send_days,
            }
        ),
    )
    unsubscribed = np.zeros(n, dtype=bool)
    unreachable = np.zeros(n, dtype=bool)
    parts = []
    for c, day in enumerate(send_days):
        pool = np.flatnonzero((cont.created_day <= day) & ~unsubscribed & ~unreachable)
        to = pool[rng.random(len(pool)) < 0.18]
        bounce = rng.random(len(to)) < 0.012 + 0.01 * ~cont.business[to]
        unreachable[to[bounce]] = True
        delivered = to[~bounce]
        pd_ = p[delivered]
        opened = rng.random(len(delivered)) < np.clip(0.05 + 0.75 * pd_, 0, 0.95)
        clicked = opened & (rng.random(len(delivered)) < 0.02 + 0.15 * pd_)
        unsub = rng.random(len(delivered)) < 0.004 * (1.2 - pd_)
        spam = ~unsub & (rng.random(len(delivered)) < 0.0004 * (1.2 - pd_))
        unsubscribed[delivered[unsub | spam]] = True
        t0 = int(sent_sec[c])
        open_t = t0 + 60 + rng.exponential(8 * 3600, len(delivered)).astype(int)
        click_t = open_t + rng.integers(5, 900, len(delivered))
        kinds = [
            ("bounce", to[bounce], t0 + rng.integers(1, 600, int(bounce.sum()))),
            ("delivered", delivered, t0 + rng.integers(1, 600, len(delivered))),
            ("open", delivered[opened], open_t[opened]),
            ("click", delivered[clicked], click_t[clicked]),
            ("unsubscribe", delivered[unsub], click_t[unsub] + 60),
            ("spam_complaint", delivered[spam], open_t[spam] + 30),
        ]
        for kind, who, at in kinds:
            parts.append((kind, who, np.asarray(at), c))
    kinds = np.concatenate([np.full(len(x[1]), x[0]) for x in parts])
    who = np.concatenate([x[1] for x in parts]).astype(int)
    at = np.concatenate([x[2] for x in parts]).astype(np.int64)
    camp = np.concatenate([np.full(len(x[1]), x[3]) for x in parts]).astype(int)
    ids = np.array([f"EE{i:09d}" for i in range(1, len(who) + 1)])
    url = np.where(
        kinds == "click", np.char.add("https://example-leadscore.io/r/", camp_ids[camp]), None
    )
    w.add(
        "email/events",
        pd.DataFrame(
            {
                "event_id": ids,
                "event_type": kinds,
                "email": cont.emails[who],
                "campaign_id": camp_ids[camp],
                "url": url,
                "occurred_at": _ts(np.zeros(len(at), dtype=int), at, start),
                "_day": at // 86400,
            }
        ),
    )


def _web(
    rng: np.random.Generator,
    w: _Writer,
    cont: _Contacts,
    demo_days: dict[int, list[int]],
    days: int,
    start: date,
    scale: float,
) -> None:
    """Known visitors (rate rises with propensity), demo requests before deals, anonymous."""
    p = cont.propensity
    active = days - np.maximum(cont.created_day, 0)
    intensity = 0.05 + 2.5 * p**2
    target_known = 0.7 * 175_000 * scale
    rate = target_known / float((intensity * active).sum())
    counts = rng.poisson(intensity * active * rate)
    who = np.repeat(np.arange(len(p)), counts)
    day = np.maximum(cont.created_day[who], 0) + np.floor(rng.random(len(who)) * active[who])
    pw = p[who]
    probs = np.stack(
        [0.78 - 0.2 * pw, 0.04 + 0.15 * pw, 0.08 + 0.03 * pw, 0.04 + 0 * pw, 0.03 + 0.05 * pw]
    )
    pick = (rng.random(len(who))[None, :] > np.cumsum(probs / probs.sum(0), 0)).sum(0)
    kinds = np.array(WEB_TYPES)[np.minimum(pick, len(WEB_TYPES) - 1)]
    # demo requests: before most deals, and now and then from very engaged contacts
    organic = np.flatnonzero(rng.random(len(p)) < 0.03 * p**2)
    extra_who = [c for c, ds in sorted(demo_days.items()) for _ in ds] + list(organic)
    extra_day = [d for _, ds in sorted(demo_days.items()) for d in ds] + list(
        np.maximum(cont.created_day[organic], 0)
        + rng.integers(0, days, len(organic)) % np.maximum(active[organic], 1)
    )
    extra_who, extra_day = np.array(extra_who, dtype=int), np.array(extra_day, dtype=int)
    pricing_who = np.repeat(extra_who, 2)
    pricing_day = np.maximum(np.repeat(extra_day, 2) - rng.integers(0, 5, 2 * len(extra_who)), 0)
    who = np.concatenate([who, extra_who, pricing_who])
    day = np.concatenate([day.astype(int), extra_day, pricing_day])
    kinds = np.concatenate(
        [
            kinds,
            np.full(len(extra_who), "demo_request"),
            np.full(len(pricing_who), "pricing_page_view"),
        ]
    )
    n_known = len(who)
    n_anon = round(n_known * 0.3 / 0.7)
    anon_day = rng.integers(0, days, n_anon)
    anon_kind = np.array(WEB_TYPES[:3])[rng.choice(3, n_anon, p=[0.85, 0.1, 0.05])]
    topic = np.array(TOPICS)[rng.integers(0, len(TOPICS), n_known + n_anon)]
    all_kind = np.concatenate([kinds, anon_kind])
    paths = {
        "page_view": "/blog/",
        "pricing_page_view": "/pricing",
        "content_download": "/resources/",
        "webinar_attended": "/webinars/",
        "form_submission": "/contact",
        "demo_request": "/demo",
    }
    url = [
        f"https://example-leadscore.io{paths[k]}{t if paths[k].endswith('/') else ''}"
        for k, t in zip(all_kind, topic, strict=True)
    ]
    has_topic = np.isin(all_kind, ["page_view", "content_download", "webinar_attended"])
    line = np.array([*PRODUCT_LINES, None], dtype=object)[rng.integers(0, 4, len(all_kind))]
    secs = rng.integers(0, 86400, len(all_kind))
    all_day = np.concatenate([day, anon_day])
    contact = np.concatenate([cont.ids[who], np.full(n_anon, None, dtype=object)])
    anon = np.concatenate(
        [
            np.char.add("v", who.astype(str)),
            np.char.add("a", rng.integers(10**8, 10**9, n_anon).astype(str)),
        ]
    )
    w.add(
        "web/events",
        pd.DataFrame(
            {
                "event_id": [f"WE{i:09d}" for i in range(1, len(all_kind) + 1)],
                "event_type": all_kind,
                "contact_id": contact,
                "anonymous_id": anon,
                "page_url": url,
                "content_topic": np.where(has_topic, topic, None),
                "product_line": np.where(has_topic | (all_kind == "demo_request"), line, None),
                "occurred_at": _ts(all_day, secs, start),
                "_day": all_day,
            }
        ),
    )


def _custom_properties(rng: np.random.Generator, comp: _Companies, cont: _Contacts) -> None:
    """Custom properties: how the lead came in (converting leads come through forms more often),
    a stated budget (often empty) and the company's funding stage."""
    n, p = len(cont.ids), cont.propensity
    weights = np.stack([0.35 + 0 * p, 0.05 + 0.5 * p**2, 0.1 + 0.1 * p, 0.4 * (1 - p), 0.1 + 0 * p])
    pick = (rng.random(n)[None, :] > np.cumsum(weights / weights.sum(0), 0)).sum(0)
    origin = np.array(LEAD_ORIGINS, dtype=object)[np.minimum(pick, len(LEAD_ORIGINS) - 1)]
    cont.frame["lead_origin"] = np.where(rng.random(n) < 0.1, None, origin)
    budget = np.round(rng.lognormal(np.log(8000) + 1.2 * p, 0.8, n), -2)
    cont.frame["annual_budget"] = np.where(rng.random(n) < 0.6, np.nan, budget)
    stage = np.clip(np.round(1.5 + comp.fit + rng.normal(0, 1.0, len(comp.ids))), 0, 4)
    stages = np.array(FUNDING_STAGES, dtype=object)[stage.astype(int)]
    comp.frame["funding_stage"] = np.where(rng.random(len(comp.ids)) < 0.25, None, stages)


def _activities(
    rng: np.random.Generator,
    w: _Writer,
    comp: _Companies,
    cont: _Contacts,
    demo_days: dict[int, list[int]],
    days: int,
    start: date,
) -> None:
    """Sales activities logged in the CRM: calls, emails, meetings, chats, SMS and notes, more of
    them (and more meetings, more inbound) for contacts about to buy; a meeting before most
    demo requests."""
    p = cont.propensity
    active = days - np.maximum(cont.created_day, 0)
    counts = rng.poisson((0.1 + 2.0 * p**2) * active / 120)
    who = np.repeat(np.arange(len(p)), counts)
    day = np.maximum(cont.created_day[who], 0) + np.floor(rng.random(len(who)) * active[who])
    pw = p[who]
    weights = np.stack(
        [
            0.4 + 0 * pw,
            0.25 + 0 * pw,
            0.05 + 0.3 * pw,
            0.1 + 0.1 * pw,
            0.05 + 0.1 * pw,
            0.15 + 0 * pw,
        ]
    )
    pick = (rng.random(len(who))[None, :] > np.cumsum(weights / weights.sum(0), 0)).sum(0)
    kind = np.array(ACTIVITY_TYPES, dtype=object)[np.minimum(pick, len(ACTIVITY_TYPES) - 1)]
    before_demo = [
        (c, max(d - int(rng.integers(1, 10)), 0)) for c, ds in demo_days.items() for d in ds
    ]
    if before_demo:
        extra_who, extra_day = (np.array(x, dtype=int) for x in zip(*before_demo, strict=True))
        kept = rng.random(len(extra_who)) < 0.6
        extra_who, extra_day = extra_who[kept], extra_day[kept]
        who = np.concatenate([who, extra_who])
        day = np.concatenate(
            [day, np.maximum(extra_day, np.maximum(cont.created_day[extra_who], 0))]
        )
        kind = np.concatenate([kind, np.full(len(extra_who), "meeting", dtype=object)])
        pw = p[who]
    n = len(who)
    talk = np.isin(kind, ["call", "meeting"])
    duration = np.where(
        talk,
        np.round(rng.lognormal(np.log(np.where(kind == "meeting", 1800, 240)), 0.6, n)),
        np.nan,
    )
    call_outcome = rng.choice(
        np.array(["connected", "no_answer", "left_voicemail"], dtype=object), n, p=[0.5, 0.3, 0.2]
    )
    outcome = np.where(kind == "call", call_outcome, None)
    outcome = np.where(
        kind == "meeting", np.where(rng.random(n) < 0.1, "no_show", "completed"), outcome
    )
    duration = np.where((kind == "call") & (outcome != "connected"), np.nan, duration)
    inbound = rng.random(n) < 0.1 + 0.5 * pw
    direction = np.where(np.isin(kind, ["note"]), None, np.where(inbound, "inbound", "outbound"))
    order = np.argsort(day, kind="stable")
    who, day, kind = who[order], day[order].astype(int), kind[order]
    timestamps = _ts(day, rng.integers(0, 86400, n), start)
    w.add(
        "crm/activities",
        pd.DataFrame(
            {
                "activity_id": [f"AC{i:08d}" for i in range(1, n + 1)],
                "activity_type": kind,
                "contact_id": cont.ids[who],
                "company_id": comp.ids[cont.company[who]],
                "occurred_at": timestamps,
                "duration_seconds": pd.array(duration[order], dtype="Float64").astype("Int64"),
                "direction": direction[order],
                "outcome": outcome[order],
                "updated_at": timestamps,
                "_day": day,
            }
        ),
    )


def _time_on_site(rng: np.random.Generator, w: _Writer, cont: _Contacts) -> None:
    """Seconds spent on the page, as trackers report it: longer for contacts about to buy."""
    propensity = pd.Series(cont.propensity, index=cont.ids)
    base = {"page_view": 60, "pricing_page_view": 90, "content_download": 120}
    for frame in w.frames["web/events"]:
        p = frame["contact_id"].map(propensity).fillna(0.1).to_numpy(dtype=float)
        typical = frame["event_type"].map(base).fillna(0).to_numpy(dtype=float)
        seconds = np.round(rng.lognormal(np.log(np.maximum(typical, 1)) + 1.2 * p, 0.7))
        frame["duration_seconds"] = [  # JSON numbers; none for events without a page
            int(x) if t > 0 else None for x, t in zip(seconds, typical, strict=True)
        ]
