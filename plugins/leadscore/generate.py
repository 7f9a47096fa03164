"""Deterministic demo exports: what a CRM, an email platform and a web tracker would deliver.

A hidden propensity per contact (from company fit, seniority, department and noise) drives both
behaviour (opens, clicks, visits, demo requests) and outcomes (deals won, renewals, payment), so
good scoring separates winners from losers. The propensity is never written. Layout and columns
follow ``docs/sources.md``. Same arguments give byte-identical files.

Each entity is written as soon as it is made, and DuckDB formats the files (:class:`_Writer`), so
memory follows the biggest entity's compact arrays: a million contacts with 100M email and web
events fit in a few GB.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import defaultdict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
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
#: The open deal stages in order (docs/sources.md, crm/deals), and how often a deal's last open
#: stage before it closes is each of them: won deals usually get to proposal or negotiation, lost
#: ones often drop out in prospecting or qualification.
OPEN_STAGES = ["prospecting", "qualification", "proposal", "negotiation"]
LAST_OPEN_STAGE_WON = [0.02, 0.08, 0.30, 0.60]
LAST_OPEN_STAGE_LOST = [0.45, 0.35, 0.15, 0.05]
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
#: Every web event type: the page kinds, then demo requests.
WEB_EVENT_TYPES = [*WEB_TYPES, "demo_request"]
EMAIL_EVENT_TYPES = ["bounce", "delivered", "open", "click", "unsubscribe", "spam_complaint"]
#: Event columns built by DuckDB when the files are written (EE000000001, WE000000001; the
#: anonymous id v<contact index> for a known visitor, a<random number> for the others).
EMAIL_EVENT_SQL = {"event_id": "printf('EE%09d', event_id)"}
WEB_EVENT_SQL = {
    "event_id": "printf('WE%09d', event_id)",
    "anonymous_id": "(case when contact_id is null then 'a' else 'v' end) || anonymous_id",
}


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


def _ts(day_index: np.ndarray, seconds: np.ndarray, start: date) -> np.ndarray:
    """UTC timestamps (``datetime64[s]``) for day offsets from ``start`` and seconds into that day;
    the writer prints them as ISO 8601 (``2026-06-01T06:25:15Z``)."""
    values = np.asarray(seconds).astype(np.int64)  # built in place: one array of the size
    values += np.asarray(day_index).astype(np.int64) * 86400
    values += np.datetime64(start.isoformat(), "s").astype(np.int64)
    return values.view("datetime64[s]")


def _dates(day_index: np.ndarray, start: date) -> np.ndarray:
    base = np.datetime64(start.isoformat(), "D")
    return (base + day_index.astype("timedelta64[D]")).astype(str)


#: Categoricals with more categories than this reach DuckDB as text rather than as an ENUM.
ENUM_LIMIT = 10_000
#: Events worked on at once where a step needs several arrays per event (memory, not results).
SLICE = 1 << 20


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _sql_name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class _Writer:
    """Writes an entity's files as soon as the generator hands it over: one file per day, empty
    days included (a CSV header only, an empty JSONL file), then forgets the rows.

    Rows are ordered by day, the entity's day column and its keys; ties keep the order they were
    made in. DuckDB formats and writes them a chunk of days at a time (memory follows the chunk,
    not the entity): one ``COPY`` of the chunk to a scratch file, one line per row, which a
    background thread then cuts into the days' files while the next chunk, or the next entity,
    is being made. (A ``COPY ... PARTITION_BY`` would write the day files itself, but does not
    keep the row order within a file: duckdb/duckdb#14349.) What goes into the files:

    - text (object and string columns hold text) as is; an empty text is an empty CSV field,
      like a missing one;
    - ``datetime64`` columns as ISO 8601 UTC (``2026-06-01T06:25:15Z``);
    - floats in CSV as Python prints them (``1234000.0``), in JSONL whole ones as integers;
    - categoricals as their categories (compact columns for big entities);
    - ``sql`` overrides a column with an SQL expression over the frame's columns (event ids);
    - JSONL objects hold the documented columns in order and leave out missing values.
    """

    #: Rows formatted at once: bounds the memory a big entity takes while it is written.
    CHUNK_ROWS = 500_000
    #: Threads creating the day files (file creation waits on the disk, not on Python).
    THREADS = 2
    #: Bytes searched for line ends at once.
    WINDOW = 8 << 20

    def __init__(self, out: Path, start: date, n_days: int, done):
        self.out, self.start, self.n_days, self.done = out, start, n_days, done
        self.rows: dict[str, int] = {}
        self.files = 0
        self.con = duckdb.connect()
        self.con.execute("set enable_progress_bar = false")  # progress is ours (done)
        self.cutter = ThreadPoolExecutor(1)  # cuts one chunk while the next is formatted
        self.pool = ThreadPoolExecutor(self.THREADS)
        self.cutting: Future | None = None
        self.buffer = bytearray()  # the chunk being cut, reused (it grows to the biggest)

    def __enter__(self) -> _Writer:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._cut_done()
        finally:
            self.cutter.shutdown()
            self.pool.shutdown()
            self.con.close()

    def write(self, qualified: str, frame: pd.DataFrame, sql: dict[str, str] | None = None) -> None:
        """Write every day's file of ``qualified`` from ``frame`` (its columns and ``_day``)."""
        entity = next(e for e in ENTITIES if e.qualified == qualified)
        columns = [*entity.columns, *CUSTOM_PROPERTIES.get(qualified, ())]
        frame = frame[[*columns, "_day"]]
        # the rows day by day, then each chunk of days by the rest of the order
        order, bounds = _by_day(frame["_day"].to_numpy(), self.n_days)
        self.rows[qualified] = len(order)
        folder = self.out / entity.source / entity.name
        folder.mkdir(parents=True, exist_ok=True)
        csv_file = entity.file_format == "csv"
        select = _select_sql(columns, frame.dtypes, sql or {}, csv=csv_file)
        if csv_file:
            header = io.StringIO()
            csv.writer(header, lineterminator="\n").writerow(columns)
            head, options = header.getvalue().encode(), "format csv, header false"
        else:  # one JSON object per line, written verbatim: nothing to quote or escape
            head, options = b"", "format csv, header false, quote '', escape '', delim '\t'"
        first, turn = 0, 0
        while first < self.n_days:
            end = int(np.searchsorted(bounds, bounds[first] + self.CHUNK_ROWS, side="right")) - 1
            end = min(max(end, first + 1), self.n_days)
            rows = frame.iloc[order[bounds[first] : bounds[end]]]
            keys = [_sortable(rows[c]) for c in (entity.day_column, *entity.keys)]
            rows = rows.take(np.lexsort([*reversed(keys), rows["_day"].to_numpy()]))
            chunk = _for_duckdb(rows, csv=csv_file)
            del rows, keys
            scratch = folder / f".chunk{turn}"  # two, so one is written while the other is cut
            self.con.register("chunk", chunk)
            target = _sql_literal(str(scratch))
            self.con.execute(f"copy (select {select} from chunk) to {target} ({options})")
            self.con.unregister("chunk")
            del chunk
            self._cut_done()
            days = range(first, end)
            self.cutting = self.cutter.submit(
                self._cut, scratch, entity, head, days, bounds[first : end + 1]
            )
            first, turn = end, 1 - turn

    def write_missing(self) -> None:
        """Empty files for every entity the world has no rows of (e.g. no customers yet)."""
        for e in ENTITIES:
            if e.qualified not in self.rows:
                columns = [*e.columns, *CUSTOM_PROPERTIES.get(e.qualified, ())]
                empty = pd.DataFrame({c: pd.Series(dtype="str") for c in columns})
                self.write(e.qualified, empty.assign(_day=pd.Series(dtype=np.int64)))

    def _cut_done(self) -> None:
        """Wait for the chunk being cut (its error, if any, is raised here)."""
        if self.cutting is not None:
            cutting, self.cutting = self.cutting, None
            cutting.result()

    def _cut(self, scratch: Path, entity: Entity, head: bytes, days: range, bounds) -> None:
        """Cut ``scratch`` (the days' rows in order, one line each) into one file per day."""
        size = scratch.stat().st_size
        if len(self.buffer) < size:
            self.buffer = bytearray(size)
        data = memoryview(self.buffer)[:size]
        with scratch.open("rb", buffering=0) as fh:
            done = 0
            while done < size:
                done += fh.readinto(data[done:])
        scratch.unlink()
        text = np.frombuffer(self.buffer, dtype=np.uint8, count=size)
        ends = [np.zeros(1, dtype=np.int64)]
        for lo in range(0, size, self.WINDOW):
            ends.append(np.flatnonzero(text[lo : lo + self.WINDOW] == ord("\n")) + (lo + 1))
        del text
        cuts = np.concatenate(ends)
        rows = int(bounds[-1] - bounds[0])
        if len(cuts) - 1 != rows:  # a quoted line break in a CSV value
            raise ValueError(
                f"{entity.qualified}: {len(cuts) - 1:,} lines written for {rows:,} rows; "
                "a value holds a line break, which the day files cannot be cut at"
            )
        cuts = cuts[bounds - bounds[0]]
        folder = self.out / entity.source / entity.name

        def put(i: int) -> None:
            name = f"{(self.start + timedelta(days=days[i])).isoformat()}.{entity.extension}"
            with (folder / name).open("wb") as fh:
                fh.write(head)
                fh.write(data[cuts[i] : cuts[i + 1]])

        for _ in self.pool.map(put, range(len(days))):
            self.files += 1
            self.done.update(1)
        data.release()


def _by_day(day: np.ndarray, n_days: int) -> tuple[np.ndarray, np.ndarray]:
    """The positions of the rows with a day in the window, day by day, each day's rows in the
    order they were made; and where each day starts among them.

    A counting sort, a slice of rows at a time: one 32-bit number per row and no sort buffers
    the size of the entity (100M events: 400 MB rather than 2.4 GB).
    """
    slices = [day[lo : lo + SLICE] for lo in range(0, len(day), SLICE)]
    counts = sum(
        (np.bincount(d[(d >= 0) & (d < n_days)], minlength=n_days) for d in slices),
        np.zeros(n_days, dtype=np.int64),
    )
    bounds = np.concatenate([[0], np.cumsum(counts)])
    order = np.empty(bounds[-1], dtype=np.int32 if len(day) < 2**31 else np.int64)
    fill = bounds[:-1].copy()  # where the next row of each day goes
    for lo, d in zip(range(0, len(day), SLICE), slices, strict=True):
        inside = np.flatnonzero((d >= 0) & (d < n_days))
        by_day = inside[np.argsort(d[inside], kind="stable")]
        days = d[by_day]
        rank = np.arange(len(days)) - np.searchsorted(days, days)  # within its day, in the slice
        order[fill[days] + rank] = by_day + lo
        fill += np.bincount(days, minlength=n_days)
    return order, bounds


def _sortable(column: pd.Series) -> np.ndarray:
    """Numbers that sort like the values the file will hold (missing ones last)."""
    dtype = column.dtype
    if isinstance(dtype, pd.CategoricalDtype) and column.cat.categories.is_monotonic_increasing:
        codes = column.cat.codes.to_numpy()
        if not len(codes) or codes.min() >= 0:
            return codes
    elif dtype.kind in "iu" and not column.hasnans:
        return column.to_numpy()
    elif dtype.kind == "M" and not column.hasnans:
        return column.to_numpy().view(np.int64)
    else:
        codes = pd.factorize(column, sort=True)[0]
    return np.where(codes < 0, np.iinfo(np.int64).max, codes)


def _for_duckdb(chunk: pd.DataFrame, *, csv: bool) -> pd.DataFrame:
    """The chunk in types DuckDB scans quickly and as the files need them."""
    chunk = chunk.reset_index(drop=True)
    for name, column in chunk.items():
        dtype = column.dtype
        if isinstance(dtype, pd.CategoricalDtype):
            if len(dtype.categories) > ENUM_LIMIT:  # an ENUM that big costs more than the text
                text = np.append(dtype.categories.to_numpy(dtype=object), None)
                chunk[name] = pd.Series(text[column.cat.codes.to_numpy()], dtype=object)
        elif dtype.kind == "O":
            chunk[name] = column.astype("str")
        elif dtype.kind == "b" and csv:
            chunk[name] = column.astype("str")  # True/False, as pandas writes them
        elif dtype.kind == "f" and csv:
            # pandas' CSV text for floats (repr: 1234000.0, 1e+16), missing ones empty
            values = column.to_numpy()
            text = np.where(np.isnan(values), None, values.astype(str))
            chunk[name] = pd.Series(text, dtype="str")
    return chunk


def _select_sql(columns: list[str], dtypes: pd.Series, sql: dict[str, str], *, csv: bool) -> str:
    """SQL over ``chunk``: the file's columns (CSV) or one JSON object per row (``line``)."""
    values = {}
    for name in columns:
        dtype, ref = dtypes[name], _sql_name(name)
        if name in sql:
            values[name] = (sql[name], "text")
        elif isinstance(dtype, pd.CategoricalDtype):
            values[name] = (f"{ref}::varchar", "text")
        elif dtype.kind == "M":
            values[name] = (f"strftime({ref}, '%Y-%m-%dT%H:%M:%SZ')", "text")
        elif dtype.kind == "f" and not csv:
            values[name] = (ref, "float")
        elif dtype.kind in "iub":
            values[name] = (ref, "number")
        else:
            values[name] = (ref, "text")
    if csv:
        # pandas wrote an empty text as an empty field, DuckDB would quote it ("")
        return ", ".join(
            f"nullif({v}, '') as {_sql_name(n)}" if kind == "text" else f"{v} as {_sql_name(n)}"
            for n, (v, kind) in values.items()
        )
    fields = []
    for name, (value, kind) in values.items():
        if kind == "float":  # whole numbers as JSON integers, NaN left out
            value = (
                f"case when isnan({value}) then null when {value} = trunc({value}) "
                f"and abs({value}) < 1e18 then ({value})::bigint::varchar else to_json({value}) end"
            )
        elif kind == "number":
            value = f"({value})::varchar"
        else:
            value = f"to_json({value})"
        fields.append(f"{_sql_literal(json.dumps(name) + ': ')} || {value}")
    return f"'{{' || concat_ws(', ', {', '.join(fields)}) || '}}' as line"


def generate(
    out_dir: Path,
    *,
    seed: int = 42,
    scale: float = 1.0,
    end_date: date = date(2026, 11, 20),
    days: int = 548,
    event_rate: float = 1.0,
) -> GenerationSummary:
    """Write ``days`` days of exports ending ``end_date`` under ``out_dir``.

    ``scale`` sets the number of records (1 = 10,000 contacts and 2,000 companies).
    ``event_rate`` multiplies the email and web events per contact (1 = about 46 per contact over
    548 days): more campaigns (at most one a day, reached at 3.5) and more visits. A million
    contacts with 100M events over 18 months is ``scale=100, event_rate=2.7``. The default
    world is the one the row-by-row writer wrote, file for file.
    """
    out_dir = Path(out_dir)
    for source in ("crm", "email", "web"):
        shutil.rmtree(out_dir / source, ignore_errors=True)
    start = end_date - timedelta(days=days - 1)
    rng = np.random.default_rng(seed)
    # What real CRMs hold beyond the documented columns: custom properties, activities and
    # time on site. A random stream of its own, so every other file stays as it was before.
    extras = np.random.default_rng([seed, 1])

    with (
        counter("generating the demo world", total=5, unit="parts") as made,
        counter("writing the landing files", total=len(ENTITIES) * days, unit="files") as done,
        _Writer(out_dir, start, days, done) as w,
    ):
        companies = _companies(rng, max(20, round(2000 * scale)), days, start)
        contacts = _contacts(rng, companies, max(100, round(10000 * scale)), days, start)
        _custom_properties(extras, companies, contacts)
        w.write("crm/companies", companies.frame)
        w.write("crm/contacts", contacts.frame)
        companies.frame = contacts.frame = pd.DataFrame()  # written: free the text
        made.update(1)
        # the stages a deal goes through: a stream of its own too (the deals file changed, the
        # others stayed as they were)
        paths = np.random.default_rng([seed, 2])
        demo_days = _deals_and_customers(rng, paths, w, companies, contacts, days, start)
        made.update(1)
        _activities(extras, w, companies, contacts, demo_days, days, start)
        made.update(1)
        _email(rng, w, contacts, days, start, event_rate)
        made.update(1)
        web = _web(rng, contacts, demo_days, days, start, scale, event_rate)
        _time_on_site(extras, web, contacts)
        w.write("web/events", web, sql=WEB_EVENT_SQL)
        made.update(1)
        w.write_missing()
    rows = {e.qualified: w.rows[e.qualified] for e in ENTITIES}
    return GenerationSummary(out_dir, start, end_date, rows, w.files)


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
    rng: np.random.Generator,
    paths: np.random.Generator,
    w: _Writer,
    comp: _Companies,
    cont: _Contacts,
    days: int,
    start: date,
) -> dict[int, list[int]]:
    """Deals, subscriptions, invoices, tickets, usage and NPS; returns demo-request days.

    ``paths`` draws the stages each deal goes through (:func:`_deal_paths`); every draw of ``rng``
    is the one it was before deals had realistic paths, so every other file stays the same."""
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
    # the draws that made the stages before deals had paths: kept, so the main stream (customers,
    # invoices, emails, web) does not shift
    rng.random(n_deals)
    rng.random(n_deals)
    with_middle = rng.random(n_deals) < 0.6
    rng.integers(0, 86400, 2 * n_deals + int(with_middle.sum()))
    first, moves, move_day = _deal_paths(paths, won, created, close)
    opened = base.assign(stage=np.array(OPEN_STAGES)[first], close_date=None, _day=created)
    deal, step = np.nonzero(np.arange(move_day.shape[1]) < moves[:, None])
    moved = base.iloc[deal].assign(
        stage=np.array(OPEN_STAGES)[first[deal] + step + 1],
        close_date=None,
        _day=move_day[deal, step],
    )
    closed = base.assign(
        stage=np.where(won, "closed_won", "closed_lost"),
        close_date=_dates(close, start),
        _day=close,
    )
    deals = pd.concat([opened, moved, closed], ignore_index=True)
    deals["updated_at"] = _day_ts(paths, deals["_day"].to_numpy(), start)
    # the first update happens with the creation itself
    first_version = deals.index < n_deals
    deals.loc[first_version, "updated_at"] = deals.loc[first_version, "created_at"]
    w.write("crm/deals", deals)

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


def _deal_paths(
    rng: np.random.Generator, won: np.ndarray, created: np.ndarray, close: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The open stages each deal goes through, as in a real CRM: it opens in prospecting or
    qualification; won deals usually reach proposal or negotiation and move on steadily, lost ones
    often stop early and sit in their last stage until they are closed lost.

    Returns the first stage (index into OPEN_STAGES), the number of stages moved on to after it,
    and the day each move happens (one column per move, later columns unused); moves fall on
    distinct days after the creation day and before the close day."""
    n = len(won)
    first = (rng.random(n) < 0.5).astype(int)
    last = np.where(
        won,
        rng.choice(len(OPEN_STAGES), n, p=LAST_OPEN_STAGE_WON),
        rng.choice(len(OPEN_STAGES), n, p=LAST_OPEN_STAGE_LOST),
    )
    moves = np.maximum(last, first) - first
    width = len(OPEN_STAGES) - 1
    # the moves happen at sorted random shares of the deal's life: spread over it for won deals,
    # early for lost ones (which then wait in their last stage)
    share = rng.random((n, width))
    share[np.arange(width) >= moves[:, None]] = np.inf
    share = np.sort(share, axis=1)
    low = np.where(won, 0.15, 0.05)[:, None]
    high = np.where(won, 0.85, 0.5)[:, None]
    day = created[:, None] + np.round((low + share * (high - low)) * (close - created)[:, None])
    day = np.where(np.isfinite(day), day, 0).astype(int)
    day[:, 0] = np.maximum(day[:, 0], created + 1)
    for col in range(1, width):
        day[:, col] = np.maximum(day[:, col], day[:, col - 1] + 1)
    return first, moves, day


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
        usage.append((company, *(x.astype(np.int32) for x in (span, users, sessions, events))))
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
        return np.where([v is None for v in values], np.datetime64("NaT", "s"), out)

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
        w.write("crm/subscriptions", f)
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
        paid = f["p"].isna().to_numpy()
        f["paid_date"] = np.where(paid, None, _dates(f["p"].fillna(0).to_numpy(int), start))
        f["updated_at"] = ts_col(list(f["_day"]))
        w.write("crm/invoices", f)
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
        w.write("crm/tickets", f)
    if usage:
        company = np.repeat(
            np.array([u[0] for u in usage], dtype=np.int32), [len(u[1]) for u in usage]
        )
        span, users, sessions, events = (np.concatenate([u[i] for u in usage]) for i in range(1, 5))
        del usage
        w.write(
            "crm/product_usage",
            pd.DataFrame(
                {  # categoricals: ids and dates become text only when written
                    "company_id": pd.Categorical.from_codes(company, comp.ids),
                    "usage_date": pd.Categorical.from_codes(span, _dates(np.arange(days), start)),
                    "active_users": users,
                    "sessions": sessions,
                    "feature_events": events,
                    "_day": span,
                },
                copy=False,  # no second copy of a big frame
            ),
        )
    if nps:
        f = pd.DataFrame(nps, columns=["response_id", "c", "contact_id", "score", "_day"])
        f["company_id"] = comp.ids[f["c"]]
        f["responded_at"] = _day_ts(rng, f["_day"].to_numpy(), start)
        w.write("crm/nps_responses", f)


def _email(
    rng: np.random.Generator,
    w: _Writer,
    cont: _Contacts,
    days: int,
    start: date,
    event_rate: float,
) -> None:
    """About two campaigns a week (``event_rate`` times that, at most one a day), each to ~18 %
    of the reachable contacts."""
    p = cont.propensity
    n = len(p)
    send_days = np.flatnonzero(rng.random(days) < 2 / 7 * event_rate)
    camp_ids = np.array([f"M{i:05d}" for i in range(1, len(send_days) + 1)])
    topic = np.array(TOPICS)[rng.integers(0, len(TOPICS), len(send_days))]
    line = np.array([*PRODUCT_LINES, None], dtype=object)[rng.integers(0, 4, len(send_days))]
    sent_sec = send_days * 86400 + rng.integers(9 * 3600, 17 * 3600, len(send_days))
    w.write(
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
                "sent_at": _ts(np.int64(0), sent_sec, start),
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
        kinds = [  # (who, when) in the order of EMAIL_EVENT_TYPES
            (to[bounce], t0 + rng.integers(1, 600, int(bounce.sum()))),
            (delivered, t0 + rng.integers(1, 600, len(delivered))),
            (delivered[opened], open_t[opened]),
            (delivered[clicked], click_t[clicked]),
            (delivered[unsub], click_t[unsub] + 60),
            (delivered[spam], open_t[spam] + 30),
        ]
        for kind, (who, at) in enumerate(kinds):
            parts.append([kind, who.astype(np.int32), np.asarray(at).astype(np.int32), c])
    sizes = [len(x[1]) for x in parts]
    kind = np.repeat(np.array([x[0] for x in parts], dtype=np.int8), sizes)
    camp = np.repeat(np.array([x[3] for x in parts], dtype=np.int32), sizes)
    who, at = np.empty(sum(sizes), dtype=np.int32), np.empty(sum(sizes), dtype=np.int32)
    lo = 0
    for part in parts:  # into place, dropping each part as it goes
        who[lo : lo + len(part[1])], at[lo : lo + len(part[1])] = part[1], part[2]
        lo += len(part[1])
        part[1] = part[2] = None
    del parts
    url = np.where(kind == EMAIL_EVENT_TYPES.index("click"), camp, -1)
    events = pd.DataFrame(
        {  # compact columns: ids, codes and categoricals become text only when written
            "event_id": np.arange(1, len(who) + 1, dtype=np.int32),
            "event_type": pd.Categorical.from_codes(kind, EMAIL_EVENT_TYPES),
            "email": pd.Categorical.from_codes(who, cont.emails),
            "campaign_id": pd.Categorical.from_codes(camp, camp_ids),
            "url": pd.Categorical.from_codes(
                url, np.char.add("https://example-leadscore.io/r/", camp_ids)
            ),
            "occurred_at": _ts(np.int64(0), at, start),
            "_day": at // 86400,
        },
        copy=False,  # no second copy of a big frame
    )
    del kind, who, camp, url, at  # the frame holds what is needed
    w.write("email/events", events, sql=EMAIL_EVENT_SQL)


def _web(
    rng: np.random.Generator,
    cont: _Contacts,
    demo_days: dict[int, list[int]],
    days: int,
    start: date,
    scale: float,
    event_rate: float,
) -> pd.DataFrame:
    """Known visitors (rate rises with propensity), demo requests before deals, anonymous."""
    p = cont.propensity
    active = days - np.maximum(cont.created_day, 0)
    intensity = 0.05 + 2.5 * p**2
    target_known = 0.7 * 175_000 * scale * event_rate
    rate = target_known / float((intensity * active).sum())
    counts = rng.poisson(intensity * active * rate)
    who = np.repeat(np.arange(len(p), dtype=np.int32), counts)
    # random numbers are drawn for all at once and used in slices (the same numbers, less memory)
    draw = rng.random(len(who))  # the day within the contact's time in the CRM
    day = np.empty(len(who), dtype=np.int32)
    for lo in range(0, len(who), SLICE):
        part = who[lo : lo + SLICE]
        start_day = np.maximum(cont.created_day[part], 0)
        day[lo : lo + SLICE] = start_day + np.floor(draw[lo : lo + SLICE] * active[part])
    draw = rng.random(len(who))  # the kind of page
    kinds = np.empty(len(who), dtype=np.int8)
    for lo in range(0, len(who), SLICE):
        pw, u = p[who[lo : lo + SLICE]], draw[lo : lo + SLICE]
        probs = np.stack(
            [0.78 - 0.2 * pw, 0.04 + 0.15 * pw, 0.08 + 0.03 * pw, 0.04 + 0 * pw, 0.03 + 0.05 * pw]
        )
        pick = (u[None, :] > np.cumsum(probs / probs.sum(0), 0)).sum(0)
        kinds[lo : lo + SLICE] = np.minimum(pick, len(WEB_TYPES) - 1)
    del draw
    # demo requests: before most deals, and now and then from very engaged contacts
    organic = np.flatnonzero(rng.random(len(p)) < 0.03 * p**2)
    extra_who = [c for c, ds in sorted(demo_days.items()) for _ in ds] + list(organic)
    extra_day = [d for _, ds in sorted(demo_days.items()) for d in ds] + list(
        np.maximum(cont.created_day[organic], 0)
        + rng.integers(0, days, len(organic)) % np.maximum(active[organic], 1)
    )
    extra_who, extra_day = np.array(extra_who, dtype=np.int32), np.array(extra_day, dtype=int)
    pricing_who = np.repeat(extra_who, 2)
    pricing_day = np.maximum(np.repeat(extra_day, 2) - rng.integers(0, 5, 2 * len(extra_who)), 0)
    who = np.concatenate([who, extra_who, pricing_who])
    day = np.concatenate([day, extra_day, pricing_day]).astype(np.int32)
    kinds = np.concatenate(
        [
            kinds,
            np.full(len(extra_who), WEB_EVENT_TYPES.index("demo_request"), dtype=np.int8),
            np.full(len(pricing_who), WEB_EVENT_TYPES.index("pricing_page_view"), dtype=np.int8),
        ]
    )
    n_known = len(who)
    n_anon = round(n_known * 0.3 / 0.7)
    anon_day = rng.integers(0, days, n_anon)
    anon_kind = rng.choice(3, n_anon, p=[0.85, 0.1, 0.05]).astype(np.int8)  # WEB_TYPES[:3]
    topic = rng.integers(0, len(TOPICS), n_known + n_anon).astype(np.int8)
    all_kind = np.concatenate([kinds, anon_kind])
    del kinds, anon_kind
    paths = {
        "page_view": "/blog/",
        "pricing_page_view": "/pricing",
        "content_download": "/resources/",
        "webinar_attended": "/webinars/",
        "form_submission": "/contact",
        "demo_request": "/demo",
    }
    # the page of each (kind, topic): a categorical of the few distinct addresses
    urls, url_code = np.unique(
        [
            f"https://example-leadscore.io{paths[k]}{t if paths[k].endswith('/') else ''}"
            for k in WEB_EVENT_TYPES
            for t in TOPICS
        ],
        return_inverse=True,
    )
    page = url_code.astype(np.int16)[all_kind.astype(np.int16) * len(TOPICS) + topic]
    topical = [
        WEB_EVENT_TYPES.index(k) for k in ("page_view", "content_download", "webinar_attended")
    ]
    has_topic = np.isin(all_kind, topical)
    topic[~has_topic] = -1  # no topic
    line = rng.integers(0, 4, len(all_kind)).astype(np.int8)
    line[line == len(PRODUCT_LINES)] = -1  # no product line
    line[~(has_topic | (all_kind == WEB_EVENT_TYPES.index("demo_request")))] = -1
    del has_topic
    secs = rng.integers(0, 86400, len(all_kind))
    all_day = np.concatenate([day, anon_day.astype(np.int32)])
    del day, anon_day
    occurred_at = _ts(all_day, secs, start)
    del secs
    contact = np.concatenate([who, np.full(n_anon, -1, dtype=np.int32)])
    anon = np.concatenate([who, rng.integers(10**8, 10**9, n_anon).astype(np.int32)])
    del who
    return pd.DataFrame(
        {  # compact columns: ids, codes and categoricals become text only when written
            "event_id": np.arange(1, len(all_kind) + 1, dtype=np.int32),
            "event_type": pd.Categorical.from_codes(all_kind, WEB_EVENT_TYPES),
            "contact_id": pd.Categorical.from_codes(contact, cont.ids),
            "anonymous_id": anon,
            "page_url": pd.Categorical.from_codes(page, urls),
            "content_topic": pd.Categorical.from_codes(topic, TOPICS),
            "product_line": pd.Categorical.from_codes(line, PRODUCT_LINES),
            "occurred_at": occurred_at,
            "_day": all_day,
        },
        copy=False,  # no second copy of a big frame
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
    w.write(
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


def _time_on_site(rng: np.random.Generator, web: pd.DataFrame, cont: _Contacts) -> None:
    """Seconds spent on the page, as trackers report it: longer for contacts about to buy."""
    base = {"page_view": 60, "pricing_page_view": 90, "content_download": 120}
    typical = np.array([base.get(k, 0) for k in WEB_EVENT_TYPES], dtype=float)
    who = web["contact_id"].cat.codes.to_numpy()
    kind = web["event_type"].cat.codes.to_numpy()
    mean = np.empty(len(web))
    for lo in range(0, len(web), SLICE):  # the same numbers as all at once, in less memory
        part, seconds = who[lo : lo + SLICE], typical[kind[lo : lo + SLICE]]
        p = np.where(part >= 0, cont.propensity[part], 0.1)  # an anonymous visitor: 0.1
        mean[lo : lo + SLICE] = np.log(np.maximum(seconds, 1)) + 1.2 * p
    seconds = rng.lognormal(mean, 0.7)
    del mean
    np.round(seconds, out=seconds)
    whole = seconds.astype(np.int32 if seconds.max(initial=0) < 2**31 else np.int64)
    del seconds
    # whole seconds; none for events without a page
    web["duration_seconds"] = pd.arrays.IntegerArray(whole, typical[kind] == 0)
