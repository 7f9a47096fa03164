"""Convert the UCI Bank Marketing file (``bank-full.csv``) into landing files.

The file (S. Moro, P. Cortez, P. Rita 2014; UCI doi 10.24432/C5K306, CC BY 4.0) lists 45,211
people a Portuguese bank phoned about a term deposit, May 2008 - November 2010, in contact-date
order, with the outcome ``y``. This module writes it in the layout of ``docs/sources.md`` so the
normal pipeline loads it: ``<landing>/<source>/<entity>/<YYYY-MM-DD>.<csv|jsonl>``, one file per
entity and UTC day from the first to the last day, empty days included.

Mapping
-------
* **Dates.** The file gives the last contact's ``day`` and ``month`` but no year. Rows are in date
  order, so the year starts at 2008 and goes up by one each time the month number goes down from
  one row to the next. D = (year, month, day) is the person's last contact of this campaign.
* **Company.** Everyone belongs to one company, ``BANK0001`` "Retail customers" (``PT``),
  created and delivered on the first day.
* **Contacts.** Row i (1-based) is contact ``B{i:06d}`` (``Person``/``{i}``,
  ``person{i}@customers.example``, lead source ``outbound``). The person's attributes are custom
  properties (extra CSV columns, declared in :data:`CATALOGUE_ROWS`): ``age``, ``job``,
  ``marital``, ``education``, ``credit_default``, ``housing_loan``, ``personal_loan``,
  ``balance``, ``contact_channel`` (``contact``), ``previous_outcome`` (``poutcome``). A contact
  is created, and delivered, when first called.
* **Activities** (``crm/activities``): outbound calls. This campaign: ``campaign`` calls, the last
  on D, the earlier ones every 3 days before (D-3, D-6, ...). Earlier campaigns, when ``pdays``
  is not -1: ``previous`` calls, the last on D - ``pdays``, the earlier ones every 3 days before.
  Custom property ``campaign_phase`` is ``current`` or ``previous``. A person's calls share one
  time of day, 10:00:00Z + (i mod 28800) s; ``activity_id`` is ``A{i:06d}-{k:03d}`` with k
  counting the person's calls from the oldest.
* **Deals.** ``y = yes`` is one won deal ``D{i:06d}`` "Term deposit" (``term_deposit``, amount
  1000), created on D at 12:00Z, closed on D + 1, delivered on D + 1 at 09:00Z. ``y = no`` is no
  deal: the bank did not record an open opportunity, only the calls.
* Every other entity of :data:`leadscore.sources.ENTITIES` gets an empty file (header-only CSV or
  empty JSONL) for every day.

``duration`` (the last call's length) is left out entirely, not even as a property: it is known
only after the call, and the call decides ``y`` (in this file 1,943 of the 1,947 calls shorter
than 30 s end in "no"). A score that saw it would look excellent and be useless before the call
(leakage). ``day`` and ``month`` serve only to build dates, and ``y`` only to create the won deals.

Data notes: the earliest call is long before May 2008 (one person has ``previous`` = 275 calls
before ``pdays`` = 262, so calls go back to 2006-02-14), and in 50 rows ``pdays`` is shorter than
this campaign's calls span, so earlier-campaign calls fall between this campaign's calls.
"""

from __future__ import annotations

import math
import shutil
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from leadscore.config import PROJECT_ROOT
from leadscore.sources import ENTITIES, SOURCES, Entity, entity

#: The real file, shared next to the repository.
DEFAULT_CSV = PROJECT_ROOT.parent / "shared" / "real" / "bank-marketing" / "bank-full.csv"

FIRST_YEAR = 2008
COMPANY_ID = "BANK0001"
MONTHS = {
    m: n
    for n, m in enumerate(
        ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
        start=1,
    )
}
#: Days between two calls to the same person within one campaign.
CALL_SPACING_DAYS = 3
#: Calls start at 10:00:00Z; row i adds (i mod CALL_SPREAD_SECONDS) seconds (up to 17:59:59Z).
CALL_START_SECONDS = 10 * 3600
CALL_SPREAD_SECONDS = 28_800

#: Custom property columns of ``crm/contacts``, in file order: (property, column of the file).
CONTACT_PROPERTIES: tuple[tuple[str, str], ...] = (
    ("age", "age"),
    ("job", "job"),
    ("marital", "marital"),
    ("education", "education"),
    ("credit_default", "default"),
    ("housing_loan", "housing"),
    ("personal_loan", "loan"),
    ("balance", "balance"),
    ("contact_channel", "contact"),
    ("previous_outcome", "poutcome"),
)
ACTIVITY_PROPERTIES: tuple[str, ...] = ("campaign_phase",)

#: Columns of the file the converter reads; ``duration`` is deliberately not among them.
USED_COLUMNS: tuple[str, ...] = (
    *(source for _, source in CONTACT_PROPERTIES),
    "day",
    "month",
    "campaign",
    "pdays",
    "previous",
    "y",
)


def _catalogue(
    entity_name: str, prop: str, kind: str, values: str, description: str
) -> dict[str, str]:
    return {
        "entity": entity_name,
        "property": prop,
        "type": kind,
        "allowed_values": values,
        "kind": "custom",
        "description": description,
    }


#: Rows for the property catalogue seed: the custom properties this converter writes.
CATALOGUE_ROWS: list[dict[str, str]] = [
    _catalogue("contact", "age", "number", "", "Age in years (bank marketing data)"),
    _catalogue(
        "contact",
        "job",
        "enum",
        "admin.|blue-collar|entrepreneur|housemaid|management|retired|self-employed|services"
        "|student|technician|unemployed|unknown",
        "Type of job as the bank recorded it, unknown = not known (bank marketing data)",
    ),
    _catalogue(
        "contact",
        "marital",
        "enum",
        "divorced|married|single",
        "Marital status, divorced includes widowed (bank marketing data)",
    ),
    _catalogue(
        "contact",
        "education",
        "enum",
        "primary|secondary|tertiary|unknown",
        "Highest education level, unknown = not known (bank marketing data)",
    ),
    _catalogue(
        "contact", "credit_default", "enum", "yes|no", "Has credit in default (bank marketing data)"
    ),
    _catalogue(
        "contact", "housing_loan", "enum", "yes|no", "Has a housing loan (bank marketing data)"
    ),
    _catalogue(
        "contact", "personal_loan", "enum", "yes|no", "Has a personal loan (bank marketing data)"
    ),
    _catalogue(
        "contact",
        "balance",
        "number",
        "",
        "Average yearly account balance in EUR, may be negative (bank marketing data)",
    ),
    _catalogue(
        "contact",
        "contact_channel",
        "enum",
        "cellular|telephone|unknown",
        "Phone type the bank reached the person on in this campaign (bank marketing data)",
    ),
    _catalogue(
        "contact",
        "previous_outcome",
        "enum",
        "success|failure|other|unknown",
        "Outcome of the bank's earlier campaign, unknown = none or not known (bank marketing data)",
    ),
    _catalogue(
        "activity",
        "campaign_phase",
        "enum",
        "current|previous",
        "Call of the current campaign or of an earlier one (bank marketing data)",
    ),
]


@dataclass
class ConversionSummary:
    """What :func:`convert` wrote."""

    landing: Path
    first_day: date
    last_day: date
    people: int
    activities: int
    won: int
    rows_per_entity: dict[str, int] = field(default_factory=dict)

    @property
    def days(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def files(self) -> int:
        return self.days * len(ENTITIES)


def derive_years(months: np.ndarray, first_year: int = FIRST_YEAR) -> np.ndarray:
    """The year of each row of month numbers (1-12) in date order: +1 each time a month drops."""
    months = np.asarray(months)
    drops = np.r_[False, months[1:] < months[:-1]] if len(months) else np.zeros(0, bool)
    return first_year + np.cumsum(drops)


def read_bank(csv_path: Path) -> pd.DataFrame:
    """The file's rows with ``row`` (1-based i) and ``last_contact`` (D, datetime64[D]) added.

    The year is derived over the whole file, so it does not depend on which rows are kept later.
    """
    frame = pd.read_csv(csv_path, usecols=list(USED_COLUMNS), dtype={"y": str})
    month = frame["month"].str.lower().map(MONTHS)
    if month.isna().any():
        bad = sorted(set(frame.loc[month.isna(), "month"]))
        raise ValueError(f"{csv_path}: unknown month value(s) {bad}")
    month = month.to_numpy(dtype=np.int64)
    years = derive_years(month)
    frame["row"] = np.arange(1, len(frame) + 1)
    frame["last_contact"] = pd.to_datetime(
        {"year": years, "month": month, "day": frame["day"].to_numpy()}
    ).to_numpy(dtype="datetime64[D]")
    return frame


def _timestamps(values: np.ndarray) -> np.ndarray:
    """ISO 8601 UTC text (``2009-05-14T10:00:00Z``) for datetime64 values."""
    return np.char.add(np.datetime_as_string(values.astype("datetime64[s]"), unit="s"), "Z")


def _activities(people: pd.DataFrame) -> pd.DataFrame:
    """One row per call, oldest first per person, with ``activity_id`` numbered in that order."""
    rows = people["row"].to_numpy()
    last = people["last_contact"].to_numpy(dtype="datetime64[D]")
    parts = []
    for phase, order, counts, anchor in (
        (
            "previous",
            0,
            np.where(
                (people["pdays"].to_numpy() != -1) & (people["previous"].to_numpy() > 0),
                people["previous"].to_numpy(),
                0,
            ),
            last - people["pdays"].to_numpy().astype("timedelta64[D]"),
        ),
        ("current", 1, people["campaign"].to_numpy(), last),
    ):
        counts = np.maximum(counts, 0)
        who = np.repeat(np.arange(len(people)), counts)
        # calls counted back from the last one: 0 for the last, 1 for the one before, ...
        back = np.arange(len(who)) - np.repeat(np.cumsum(counts) - counts, counts)
        day = anchor[who] - (back * CALL_SPACING_DAYS).astype("timedelta64[D]")
        parts.append(
            pd.DataFrame(
                {"row": rows[who], "day": day, "phase": phase, "order": order, "back": -back}
            )
        )
    calls = pd.concat(parts, ignore_index=True)
    calls = calls.sort_values(["row", "day", "order", "back"], kind="stable", ignore_index=True)
    k = calls.groupby("row", sort=False).cumcount().to_numpy() + 1
    row = calls["row"].to_numpy()
    seconds = CALL_START_SECONDS + row % CALL_SPREAD_SECONDS
    day = calls["day"].to_numpy(dtype="datetime64[D]").astype("datetime64[s]")
    occurred = day + seconds.astype("timedelta64[s]")
    stamp = _timestamps(occurred)
    return pd.DataFrame(
        {
            "activity_id": [f"A{r:06d}-{n:03d}" for r, n in zip(row, k, strict=True)],
            "activity_type": "call",
            "contact_id": [f"B{r:06d}" for r in row],
            "company_id": COMPANY_ID,
            "occurred_at": stamp,
            "duration_seconds": "",
            "direction": "outbound",
            "outcome": "",
            "updated_at": stamp,
            "campaign_phase": calls["phase"].to_numpy(),
            "_row": row,
            "_at": occurred,
        }
    )


def _contacts(people: pd.DataFrame, calls: pd.DataFrame) -> pd.DataFrame:
    first = calls.groupby("_row", sort=False)["updated_at"].first()  # calls are oldest first
    rows = people["row"].to_numpy()
    created = first.reindex(rows).to_numpy()
    frame = pd.DataFrame(
        {
            "contact_id": [f"B{r:06d}" for r in rows],
            "company_id": COMPANY_ID,
            "first_name": "Person",
            "last_name": rows.astype(str),
            "email": [f"person{r}@customers.example" for r in rows],
            "job_title": "",
            "department": "",
            "lead_source": "outbound",
            "created_at": created,
            "updated_at": created,
        }
    )
    for prop, source in CONTACT_PROPERTIES:
        frame[prop] = people[source].astype(str).to_numpy()
    return frame


def _deals(people: pd.DataFrame) -> pd.DataFrame:
    won = people[people["y"].str.strip().str.lower() == "yes"]
    rows = won["row"].to_numpy()
    last = won["last_contact"].to_numpy(dtype="datetime64[D]")
    close = last + np.timedelta64(1, "D")
    return pd.DataFrame(
        {
            "deal_id": [f"D{r:06d}" for r in rows],
            "company_id": COMPANY_ID,
            "contact_id": [f"B{r:06d}" for r in rows],
            "deal_name": "Term deposit",
            "product_line": "term_deposit",
            "amount": "1000",
            "stage": "closed_won",
            "created_at": _timestamps(last.astype("datetime64[s]") + np.timedelta64(12, "h")),
            "close_date": np.datetime_as_string(close, unit="D"),
            "updated_at": _timestamps(close.astype("datetime64[s]") + np.timedelta64(9, "h")),
        }
    )


def _company(first_day: date) -> pd.DataFrame:
    stamp = f"{first_day.isoformat()}T00:00:00Z"
    return pd.DataFrame(
        {
            "company_id": [COMPANY_ID],
            "name": ["Retail customers"],
            "domain": ["bank.example"],
            "industry": [""],
            "employees": [""],
            "annual_revenue": [""],
            "country": ["PT"],
            "created_at": [stamp],
            "updated_at": [stamp],
        }
    )


def _write_entity(
    ent: Entity, frame: pd.DataFrame | None, extras: tuple[str, ...], root: Path, days: list[date]
) -> int:
    """Write one file per day of ``days``; ``frame`` rows go to the day of their day column."""
    folder = root / ent.source / ent.name
    folder.mkdir(parents=True, exist_ok=True)
    columns = [*ent.columns, *extras]
    # a header-only CSV (the registry's names need no quoting) or an empty JSONL file
    empty = ",".join(columns) + "\n" if ent.file_format == "csv" else ""
    if frame is None or frame.empty:
        for day in days:
            (folder / f"{day.isoformat()}.{ent.extension}").write_text(empty, encoding="utf-8")
        return 0
    if ent.file_format != "csv":
        raise NotImplementedError(f"{ent.qualified}: only CSV entities are filled")
    body = frame[columns].astype(str)
    file_day = body[ent.day_column].str.slice(0, 10)
    order = np.lexsort((body[ent.keys[0]].to_numpy(), file_day.to_numpy()))
    body = body.iloc[order]
    file_day = file_day.to_numpy()[order]
    text = body.to_csv(index=False, lineterminator="\n")
    lines = text.split("\n")  # header, one line per row, then "" after the last "\n"
    header, lines = lines[0], lines[1:-1]
    if len(lines) != len(body):  # a value with a line break would span several lines
        raise ValueError(f"{ent.qualified}: a value holds a line break; cannot split by day")
    names = np.array([d.isoformat() for d in days])
    if file_day[0] < names[0] or file_day[-1] > names[-1]:
        raise ValueError(f"{ent.qualified}: rows outside {names[0]}..{names[-1]}")
    bounds = [*np.searchsorted(file_day, names, side="left").tolist(), len(lines)]
    for n, name in enumerate(names):
        chunk = lines[bounds[n] : bounds[n + 1]]
        content = header + "\n" + "".join(f"{line}\n" for line in chunk)
        (folder / f"{name}.{ent.extension}").write_text(content, encoding="utf-8")
    return len(body)


def convert(
    csv_path: Path,
    landing: Path,
    *,
    sample: int | None = None,
    rows: int | None = None,
) -> ConversionSummary:
    """Convert ``csv_path`` into landing files under ``landing`` (replacing its crm/email/web).

    ``rows`` keeps the first N rows; ``sample`` then keeps every k-th of them, k = ceil(n /
    sample), so about ``sample`` people remain. Row numbers (ids) stay those of the file.
    """
    people = read_bank(Path(csv_path))
    if rows is not None:
        people = people.iloc[: max(rows, 0)]
    if sample is not None and sample > 0 and len(people):
        step = math.ceil(len(people) / sample)
        people = people.iloc[::step]
    people = people.reset_index(drop=True)
    if people.empty:
        raise ValueError(f"{csv_path}: no rows to convert")

    calls = _activities(people)
    contacts = _contacts(people, calls)
    deals = _deals(people)
    first_day = pd.Timestamp(calls["_at"].min()).date()
    last_stamp = max(
        calls["updated_at"].max(),
        contacts["updated_at"].max(),
        deals["updated_at"].max() if len(deals) else "",
    )
    last_day = date.fromisoformat(last_stamp[:10])
    days = [first_day + timedelta(days=n) for n in range((last_day - first_day).days + 1)]

    entity("crm/activities")  # fails clearly, before deleting anything, if it is not registered
    landing = Path(landing)
    for source in SOURCES:
        shutil.rmtree(landing / source, ignore_errors=True)
    filled: dict[str, tuple[pd.DataFrame, tuple[str, ...]]] = {
        "crm/companies": (_company(first_day), ()),
        "crm/contacts": (contacts, tuple(p for p, _ in CONTACT_PROPERTIES)),
        "crm/activities": (calls, ACTIVITY_PROPERTIES),
        "crm/deals": (deals, ()),
    }
    written: dict[str, int] = {}
    for ent in ENTITIES:
        frame, extras = filled.get(ent.qualified, (None, ()))
        written[ent.qualified] = _write_entity(ent, frame, extras, landing, days)
    return ConversionSummary(
        landing=landing,
        first_day=first_day,
        last_day=last_day,
        people=len(people),
        activities=len(calls),
        won=len(deals),
        rows_per_entity=written,
    )


def main(argv: list[str] | None = None) -> int:
    """``python -m leadscore.examples.bank_marketing LANDING [--csv F] [--sample N] [--rows N]``."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("landing", type=Path)
    parser.add_argument("--csv", type=Path, default=DEFAULT_CSV)
    parser.add_argument("--sample", type=int)
    parser.add_argument("--rows", type=int)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    summary = convert(args.csv, args.landing, sample=args.sample, rows=args.rows)
    print(
        f"{summary.people} people, {summary.activities} activities, {summary.won} won deals, "
        f"{summary.first_day}..{summary.last_day} ({summary.days} days, {summary.files} files) "
        f"in {time.perf_counter() - started:.1f}s -> {summary.landing}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
