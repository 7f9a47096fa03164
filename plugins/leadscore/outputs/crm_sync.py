"""Write the published scores onto HubSpot contact and company records (the CRM write-back).

``sync_crm`` reads the published serving copy (read-only, never the working warehouse) for its
current score date and writes, per HubSpot contact, the lead score, grade, lifecycle stage, top
reasons and score date (``marts.lead_scores``) and, per HubSpot company, the account score and
tier (``marts.account_scores``). The ``contact_id`` / ``account_id`` of the warehouse *is* the
HubSpot record id when the CRM source is ``hubspot`` (``extract: {crm: hubspot}`` in
``expectations/sources.yml``): the connector lands HubSpot's ``hs_object_id``. Ids that are not
HubSpot record ids (digits only, e.g. the demo data's ``P0001234``) are skipped and counted.

- **Properties.** Before writing an object type it reads HubSpot's properties of that type
  (``GET /crm/v3/properties/{contacts|companies}``) and creates what is missing: the property
  group (``leadscore``) and each property with its type (number, text, date, or a dropdown whose
  options are the grades, stages or tiers). A dropdown that lacks an option for a value about to
  be written gets it added (``PATCH``). Names come from the ``crm_sync:`` section of
  ``expectations/sources.yml`` (:data:`CONTACTS`, :data:`COMPANIES` hold the defaults).
- **Only what changed.** A sync log (SQLite, ``LEADSCORE_CRM_SYNC_LOG``, default
  ``<data>/crm_sync_log.sqlite``) keeps the last values HubSpot accepted per destination, object
  type and record. A record is sent when one of its written values differs; the score date alone
  does not count as a change (else every record would be sent every day), so
  ``leadscore_score_date`` is the score date of the values on the record. A destination is the
  ``destination`` name plus a SHA-256 of the base URL, never the token.
- **Batches.** ``POST /crm/v3/objects/{type}/batch/update`` with at most 100 inputs. Each batch
  is recorded as soon as HubSpot accepted it, so a sync that fails half-way (and is retried by
  Airflow) sends only the rest. A rerun sends nothing twice.
- **Records HubSpot no longer has** (deleted or merged away): HubSpot refuses the batch with 400
  ``OBJECT_NOT_FOUND`` naming the ids, or answers 207 with them under ``errors``. Those ids are
  logged, recorded as ``not_found`` (not sent again until their values change) and the rest of
  the batch is sent; the sync goes on. Any other refusal (a value HubSpot does not accept, a
  missing scope) stops the sync with :class:`CrmSyncConfigError`: retrying cannot help.
- **Rate limits.** 429 is retried after its ``Retry-After`` and 5xx with back-off
  (:class:`leadscore.sources.api.ApiClient`); :class:`leadscore.sources.api.Throttle` keeps to
  :data:`DEFAULT_REQUESTS_PER_10S` (``requests_per_10s`` to change it).
- **Dry run** reads the serving copy and the sync log only: it sends, creates and records
  nothing, and needs no token. The result's :meth:`SyncResult.summary` shows the counts and a few
  example records.

A failed sync never touches the published scores (it only reads them). Requests for ``N``
records of which ``M`` changed: ``0`` when ``M`` is 0, else per object type ``1 + ceil(M/100)``
(the properties read and the batches), plus on the first sync the group and property creations.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import re
import sqlite3
import urllib.parse
from collections.abc import Iterable
from contextlib import closing
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

from leadscore import config
from leadscore.outputs.report import (
    STAGE_ORDER,
    TIER_ORDER,
    current_score_date,
    has_column,
    has_table,
    open_serving,
)
from leadscore.sources import api
from leadscore.sources.hubspot import DEFAULT_BASE_URL, VENDOR

log = logging.getLogger(__name__)

SYNC_LOG_ENV = "LEADSCORE_CRM_SYNC_LOG"
#: The section of ``expectations/sources.yml`` holding the write-back's settings.
SETTINGS_SECTION = "crm_sync"

#: HubSpot's batch endpoints take at most 100 inputs per call.
BATCH_LIMIT = 100
#: HubSpot's burst limits for private apps, requests per 10 seconds per account (shared by every
#: app of the account): https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines
#: and https://developers.hubspot.com/changelog/increasing-our-api-limits (Professional and
#: Enterprise raised from 150 to 190). The API limit increase pack allows 250.
BURST_LIMIT_PER_10S = {"free": 100, "starter": 100, "professional": 190, "enterprise": 190}
#: What the sync keeps to unless ``requests_per_10s`` says otherwise: the lowest tier's limit.
DEFAULT_REQUESTS_PER_10S = BURST_LIMIT_PER_10S["free"]
#: A text property value written through the API holds at most 65,536 characters:
#: https://knowledge.hubspot.com/properties/property-field-types-in-hubspot
TEXT_MAX_CHARS = 65_536
#: HubSpot property and group names: lowercase letters, digits and underscores, a letter first.
PROPERTY_NAME = re.compile(r"[a-z][a-z0-9_]*")
#: HubSpot record ids (``hs_object_id``) are positive integers.
HUBSPOT_ID = re.compile(r"[1-9][0-9]*")
GRADE_ORDER = ("A", "B", "C", "D")
#: Example records per object type in a dry run's summary, and ids quoted in a message.
EXAMPLES = 3
SHOWN_IDS = 20
#: Characters of a refusal's text quoted in an error.
QUOTED_ANSWER_CHARS = 300
SQLITE_TIMEOUT_SECONDS = 30


class CrmSyncError(RuntimeError):
    """The write-back failed; what HubSpot accepted is recorded and a retry sends the rest."""


class CrmSyncConfigError(CrmSyncError):
    """Settings, credentials or values HubSpot refuses: retrying cannot help."""


# ---- what is written --------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One value written to a HubSpot property: ``key`` in the settings (the default property is
    ``leadscore_<key>``), ``column`` in the serving table, and how HubSpot should type it."""

    key: str
    column: str
    type: str  # HubSpot property type: number, string, date, enumeration
    field_type: str  # number, text, date, select
    label: str
    what: str  # the start of the property's description
    options: tuple[str, ...] = ()  # enumeration: known values, in display order

    @property
    def default_name(self) -> str:
        return f"leadscore_{self.key}"

    @property
    def description(self) -> str:
        return f"{self.what}. Written by leadscore after each publish; edits are overwritten."


@dataclass(frozen=True)
class ObjectSpec:
    object_type: str  # HubSpot's: contacts, companies
    table: str  # in the serving copy's marts schema
    id_column: str
    settings_key: str
    fields: tuple[Field, ...]


CONTACTS = ObjectSpec(
    "contacts",
    "lead_scores",
    "contact_id",
    "contact_properties",
    (
        Field("lead_score", "lead_score", "number", "number", "Lead score", "0-100"),
        Field("grade", "grade", "enumeration", "select", "Lead grade", "From fit", GRADE_ORDER),
        Field(
            "lifecycle_stage",
            "lifecycle_stage",
            "enumeration",
            "select",
            "Lead score stage",
            "From the lead score",
            STAGE_ORDER,
        ),
        Field("top_reasons", "top_reasons", "string", "text", "Lead score reasons", "Top rules"),
        Field("score_date", "score_date", "date", "date", "Lead score date", "Of these values"),
    ),
)
COMPANIES = ObjectSpec(
    "companies",
    "account_scores",
    "account_id",
    "company_properties",
    (
        Field("account_score", "account_score", "number", "number", "Account score", "0-100"),
        Field(
            "account_tier",
            "tier",
            "enumeration",
            "select",
            "Account tier",
            "From the account score",
            TIER_ORDER,
        ),
    ),
)
OBJECTS = (CONTACTS, COMPANIES)
#: The field whose change alone does not make a record changed.
SCORE_DATE_KEY = "score_date"
#: The score fields ``min_score_change`` applies to, and the reasons whose points it ignores.
SCORE_KEYS = frozenset({"lead_score", "account_score"})
REASONS_KEY = "top_reasons"
#: The points of one reason (``content_download x1 +8.4``), which decay with the score.
REASON_POINTS = re.compile(r" [+-]\d+(?:\.\d+)?(?=;|$)")


# ---- settings ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    """The ``crm_sync:`` section, checked. ``properties`` maps each object type to
    ``{field key: HubSpot property name}`` for the fields written (a field set to null is not)."""

    enabled: bool = False
    destination: str = VENDOR
    group: str = "leadscore"
    group_label: str = "Lead scoring"
    properties: dict[str, dict[str, str]] = field(default_factory=dict)
    batch_size: int = BATCH_LIMIT
    requests_per_10s: float = DEFAULT_REQUESTS_PER_10S
    #: A score that moved less than this many points since HubSpot last accepted it is not sent
    #: on its own (0: every change is sent); a change of grade, stage, reasons or tier always is.
    min_score_change: float = 0.0
    #: where the settings came from, for messages
    source: str = f"{SETTINGS_SECTION} settings"


_SETTING_KEYS = (
    "enabled",
    "destination",
    "group",
    "group_label",
    "contact_properties",
    "company_properties",
    "batch_size",
    "requests_per_10s",
    "min_score_change",
)


def parse_settings(
    raw: dict | None, *, source: str | None = None, crm_vendor: str | None = VENDOR
) -> Settings:
    """Check the ``crm_sync:`` settings; a mistake names the file and the key.

    ``enabled`` defaults to whether the CRM source is HubSpot (``crm_vendor``): only then are the
    warehouse's ids HubSpot record ids.
    """
    where = f"{source}: {SETTINGS_SECTION}" if source else SETTINGS_SECTION
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        raise CrmSyncConfigError(f"{where} must be a mapping of settings")
    unknown = sorted(set(raw) - set(_SETTING_KEYS))
    if unknown:
        raise CrmSyncConfigError(
            f"{where}: unknown setting(s) {', '.join(unknown)}; known: {', '.join(_SETTING_KEYS)}"
        )
    enabled = raw.get("enabled", crm_vendor == VENDOR)
    if not isinstance(enabled, bool):
        raise CrmSyncConfigError(f"{where}.enabled must be true or false, not {enabled!r}")
    destination = raw.get("destination", VENDOR)
    if not isinstance(destination, str) or not destination.strip():
        raise CrmSyncConfigError(f"{where}.destination must be a name, not {destination!r}")
    group = _property_name(raw.get("group", "leadscore"), f"{where}.group")
    group_label = str(raw.get("group_label") or "Lead scoring")
    properties = {}
    for spec in OBJECTS:
        properties[spec.object_type] = _property_names(
            spec, raw.get(spec.settings_key), f"{where}.{spec.settings_key}"
        )
    batch_size = raw.get("batch_size", BATCH_LIMIT)
    if not isinstance(batch_size, int) or isinstance(batch_size, bool):
        raise CrmSyncConfigError(f"{where}.batch_size must be a whole number, not {batch_size!r}")
    if not 1 <= batch_size <= BATCH_LIMIT:
        raise CrmSyncConfigError(
            f"{where}.batch_size must be 1 to {BATCH_LIMIT} (HubSpot's limit), not {batch_size}"
        )
    rate = raw.get("requests_per_10s", DEFAULT_REQUESTS_PER_10S)
    if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
        raise CrmSyncConfigError(
            f"{where}.requests_per_10s must be a positive number (HubSpot private apps: "
            f"{BURST_LIMIT_PER_10S}), not {rate!r}"
        )
    min_change = raw.get("min_score_change", 0)
    if isinstance(min_change, bool) or not isinstance(min_change, int | float) or min_change < 0:
        raise CrmSyncConfigError(
            f"{where}.min_score_change must be a number of score points, 0 or more, "
            f"not {min_change!r}"
        )
    return Settings(
        enabled=enabled,
        destination=destination.strip(),
        group=group,
        group_label=group_label,
        properties=properties,
        batch_size=batch_size,
        requests_per_10s=float(rate),
        min_score_change=float(min_change),
        source=source or f"{SETTINGS_SECTION} settings",
    )


def _property_name(value: object, where: str) -> str:
    if not isinstance(value, str) or not PROPERTY_NAME.fullmatch(value):
        raise CrmSyncConfigError(
            f"{where}: {value!r} is not a HubSpot internal name (lowercase letters, digits and "
            "underscores, starting with a letter)"
        )
    return value


def _property_names(spec: ObjectSpec, raw: object, where: str) -> dict[str, str]:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise CrmSyncConfigError(f"{where} must map fields to HubSpot property names")
    known = [f.key for f in spec.fields]
    unknown = sorted(set(raw) - set(known))
    if unknown:
        raise CrmSyncConfigError(
            f"{where}: unknown field(s) {', '.join(unknown)}; known: {', '.join(known)}"
        )
    names: dict[str, str] = {}
    for f in spec.fields:
        value = raw.get(f.key, f.default_name)
        if value is None:  # not written
            continue
        names[f.key] = _property_name(value, f"{where}.{f.key}")
    duplicates = sorted({n for n in names.values() if list(names.values()).count(n) > 1})
    if duplicates:
        raise CrmSyncConfigError(f"{where}: {', '.join(duplicates)} named for two fields")
    return names


def load_settings(path: Path | None = None) -> tuple[Settings, str]:
    """The settings from ``crm_sync:`` of the sources configuration, and the file they came from.

    Uses :func:`leadscore.sources.pull.load_extract_config`, which also says whether the CRM
    source is HubSpot (``extract: {crm: hubspot}``).
    """
    from leadscore.sources.pull import load_extract_config

    try:
        cfg = load_extract_config(path)
    except (OSError, ValueError) as err:
        raise CrmSyncConfigError(f"cannot read the sources configuration: {err}") from err
    source = str(cfg.path) if cfg.path else "sources configuration"
    raw = cfg.settings.get(SETTINGS_SECTION) or {}
    return parse_settings(raw, source=source, crm_vendor=cfg.vendor_of("crm")), source


# ---- the sync log -----------------------------------------------------------------------------


def sync_log_path() -> Path:
    """``$LEADSCORE_CRM_SYNC_LOG``, else ``<data>/crm_sync_log.sqlite`` (next to the notify log)."""
    value = os.environ.get(SYNC_LOG_ENV)
    return Path(value).resolve() if value else config.data_dir() / "crm_sync_log.sqlite"


def destination_key(name: str, base_url: str) -> str:
    """A destination in the sync log: its name and the SHA-256 of the base URL without user,
    password, query string and fragment (never the token)."""
    digest = hashlib.sha256(api.bare_url(base_url).encode("utf-8")).hexdigest()
    return f"{name} sha256:{digest}"


def _shown_destination(name: str, base_url: str) -> str:
    parts = urllib.parse.urlsplit(base_url)
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return f"{name} ({parts.scheme}://{host})"


class SyncLog:
    """The values HubSpot last accepted per destination, object type and record (SQLite)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or sync_log_path()

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(self.path, timeout=SQLITE_TIMEOUT_SECONDS)
        con.execute(
            """create table if not exists synced (
                destination text not null,
                object_type text not null,
                object_id text not null,
                sent_values text not null,
                score_date text not null,
                status text not null,
                synced_at text not null,
                primary key (destination, object_type, object_id)
            )"""
        )
        return con

    def previous(self, destination: str, object_type: str) -> dict[str, dict[str, str]]:
        if not self.path.exists():
            return {}
        with closing(self._connect()) as con:
            rows = con.execute(
                "select object_id, sent_values from synced where destination = ? "
                "and object_type = ?",
                (destination, object_type),
            ).fetchall()
        return {object_id: json.loads(values) for object_id, values in rows}

    def record(
        self,
        destination: str,
        object_type: str,
        score_date: date,
        records: Iterable[tuple[str, dict[str, str]]],
        status: str = "accepted",
    ) -> None:
        now = datetime.now(UTC).isoformat(timespec="seconds")
        with closing(self._connect()) as con, con:
            con.executemany(
                "insert or replace into synced values (?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        destination,
                        object_type,
                        object_id,
                        json.dumps(values, sort_keys=True),
                        score_date.isoformat(),
                        status,
                        now,
                    )
                    for object_id, values in records
                ],
            )


# ---- reading the published scores ------------------------------------------------------------


def read_published(
    settings: Settings, serving_dir: Path | None = None
) -> tuple[date, dict[str, dict[str, dict[str, str]]]]:
    """The current score date and, per object type, ``{id: {property name: value text}}``.

    The serving copy is closed before anything is sent.
    """
    published: dict[str, dict[str, dict[str, str]]] = {}
    with open_serving(serving_dir) as con:
        day = current_score_date(con)
        for spec in OBJECTS:
            names = settings.properties.get(spec.object_type, {})
            fields = [f for f in spec.fields if f.key in names]
            if not fields:
                continue
            if not has_table(con, "marts", spec.table):
                raise CrmSyncError(f"the serving copy has no marts.{spec.table}")
            for column in (spec.id_column, *(f.column for f in fields)):
                if not has_column(con, "marts", spec.table, column):
                    raise CrmSyncError(
                        f"marts.{spec.table} in the serving copy has no column {column!r} "
                        "(docs/bi.md)"
                    )
            columns = ", ".join(f.column for f in fields)
            rows = con.execute(
                f"select {spec.id_column}, {columns} from marts.{spec.table} "
                f"where score_date = ? order by {spec.id_column}",
                [day],
            ).fetchall()
            published[spec.object_type] = {
                str(row[0]): {
                    names[f.key]: property_value(f, value)
                    for f, value in zip(fields, row[1:], strict=True)
                }
                for row in rows
            }
    return day, published


def property_value(f: Field, value: object) -> str:
    """A value as HubSpot's API takes it: text; empty clears the property."""
    if value is None:
        return ""
    if f.type == "number":
        number = float(value)
        if not math.isfinite(number):
            return ""
        text = f"{round(number, 6):.6f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if f.type == "date":
        # date properties take midnight UTC in epoch milliseconds:
        # https://developers.hubspot.com/docs/faq/how-should-timestamps-be-formatted-for-hubspots-apis
        day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        midnight = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return str(int(midnight.timestamp()) * 1000)
    text = str(value)
    if len(text) > TEXT_MAX_CHARS:
        text = text[: TEXT_MAX_CHARS - 1] + "…"
    return text


# ---- the result -------------------------------------------------------------------------------


@dataclass
class ObjectCounts:
    published: int = 0  # records in the serving copy
    skipped: int = 0  # ids that are not HubSpot record ids
    unchanged: int = 0
    changed: int = 0
    sent: int = 0  # accepted by HubSpot
    not_found: int = 0  # HubSpot has no such record (deleted or merged)
    batches: int = 0  # batch updates HubSpot accepted (dry run: would send)


@dataclass
class SyncResult:
    score_date: date
    destination: str
    dry_run: bool = False
    contacts: ObjectCounts = field(default_factory=ObjectCounts)
    companies: ObjectCounts = field(default_factory=ObjectCounts)
    #: HTTP requests sent, retries included
    requests: int = 0
    created: list[str] = field(default_factory=list)  # "contacts group leadscore", ...
    #: a few changed records: {"object_type", "id", "properties", "before"}
    examples: list[dict] = field(default_factory=list)

    def counts(self, object_type: str) -> ObjectCounts:
        return self.contacts if object_type == "contacts" else self.companies

    @property
    def batches(self) -> int:
        return self.contacts.batches + self.companies.batches

    def as_dict(self) -> dict:
        data = asdict(self)
        data["score_date"] = self.score_date.isoformat()
        data["batches"] = self.batches
        return data

    def summary(self) -> str:
        head = f"CRM write-back to {self.destination} for score date {self.score_date}"
        lines = [head + (" (dry run: nothing sent, created or recorded)" if self.dry_run else "")]
        for spec in OBJECTS:
            c = self.counts(spec.object_type)
            if self.dry_run:
                what = f"would send {c.changed:,} in {c.batches:,} batch(es)"
            else:
                what = f"sent {c.sent:,} in {c.batches:,} batch(es)"
                if c.not_found:
                    what += f", {c.not_found:,} not found in HubSpot"
            lines.append(
                f"  {spec.object_type}: {c.published:,} published, {c.changed:,} changed, "
                f"{c.unchanged:,} unchanged, {c.skipped:,} skipped (not HubSpot ids); {what}"
            )
        if not self.dry_run:
            lines.append(f"  requests: {self.requests:,}")
        if self.created:
            lines.append(f"  created: {', '.join(self.created)}")
        for example in self.examples:
            before = example["before"] or {}
            changes = ", ".join(
                f"{k} {before[k]!r} -> {v!r}" if k in before else f"{k} {v!r}"
                for k, v in example["properties"].items()
                if before.get(k) != v
            )
            lines.append(f"  e.g. {example['object_type']} {example['id']}: {changes}")
        return "\n".join(lines)


# ---- HTTP -------------------------------------------------------------------------------------


class _Client(api.ApiClient):
    """:class:`api.ApiClient` with :meth:`call`, which reads a refusal's body."""

    def call(
        self, method: str, path: str, body: dict | None = None, *, accept: tuple[int, ...] = ()
    ) -> tuple[int, dict]:
        """Send one request; return ``(status, JSON body)`` for a success or a status in
        ``accept``. Anything else raises (credentials refused: :class:`CrmSyncConfigError`)."""
        self.last_response = None
        try:
            response = self.request(method, path, json=body)
        except api.ApiError as err:
            last = self.last_response
            status = last.status_code if last is not None else None
            if status in accept:
                return status, api.json_object(last)
            if status is not None and 400 <= status < 500 and status != 429:
                raise CrmSyncConfigError(str(err)) from err  # the request is wrong: no retry
            raise
        return response.status_code, api.json_object(response)


# ---- properties -------------------------------------------------------------------------------


def ensure_properties(
    client: _Client,
    spec: ObjectSpec,
    settings: Settings,
    values: dict[str, set[str]],
    result: SyncResult,
) -> None:
    """Create the group and properties ``spec`` writes that HubSpot lacks, and add dropdown
    options for ``values`` (property name -> values about to be written) it does not offer."""
    base = f"/crm/v3/properties/{spec.object_type}"
    _, body = client.call("GET", base)
    existing = {p.get("name"): p for p in body.get("results", []) if isinstance(p, dict)}
    names = settings.properties[spec.object_type]
    fields = [f for f in spec.fields if f.key in names]
    missing = [f for f in fields if names[f.key] not in existing]
    if missing:
        _, groups = client.call("GET", f"{base}/groups")
        if settings.group not in {g.get("name") for g in groups.get("results", [])}:
            group = {"name": settings.group, "label": settings.group_label, "displayOrder": -1}
            status, _ = client.call("POST", f"{base}/groups", group, accept=(409,))
            if status != 409:
                result.created.append(f"{spec.object_type} group {settings.group}")
    for f in missing:
        name = names[f.key]
        prop = {
            "name": name,
            "label": f.label,
            "description": f.description,
            "groupName": settings.group,
            "type": f.type,
            "fieldType": f.field_type,
            "formField": False,
        }
        if f.type == "enumeration":
            wanted = list(f.options) + sorted(values.get(name, set()) - set(f.options) - {""})
            prop["options"] = [_option(v, i) for i, v in enumerate(wanted)]
        status, _ = client.call("POST", base, prop, accept=(409,))
        if status != 409:
            result.created.append(f"{spec.object_type} property {name}")
    for f in fields:
        name = names[f.key]
        current = existing.get(name)
        if current is None:
            continue
        if current.get("type") != f.type:
            log.warning(
                "HubSpot %s property %s is of type %s, the write-back expects %s: values may be "
                "refused (rename it in %s.%s)",
                spec.object_type,
                name,
                current.get("type"),
                f.type,
                SETTINGS_SECTION,
                spec.settings_key,
            )
        if f.type != "enumeration" or current.get("type") != "enumeration":
            continue
        options = [o for o in current.get("options") or [] if isinstance(o, dict)]
        offered = {o.get("value") for o in options}
        new = sorted(values.get(name, set()) - offered - {""})
        if new:
            kept = [_option_input(o) for o in options]
            added = [_option(v, len(kept) + i) for i, v in enumerate(new)]
            client.call("PATCH", f"{base}/{name}", {"options": kept + added})
            result.created.append(f"{spec.object_type} {name} options {', '.join(new)}")


def _option(value: str, order: int) -> dict:
    return {"label": value, "value": value, "displayOrder": order, "hidden": False}


def _option_input(option: dict) -> dict:
    kept = {
        "label": option.get("label") or option.get("value"),
        "value": option.get("value"),
        "hidden": bool(option.get("hidden", False)),
    }
    if option.get("displayOrder") is not None:
        kept["displayOrder"] = option["displayOrder"]
    if option.get("description"):
        kept["description"] = option["description"]
    return kept


# ---- sending ----------------------------------------------------------------------------------


def _errors(body: dict) -> list[dict]:
    """The errors of a batch answer: a 207's ``errors``, or a refusal's body itself."""
    errors = body.get("errors") if "results" in body else [body]
    return [e for e in errors or [] if isinstance(e, dict)]


def _named_ids(error: dict) -> set[str]:
    return {str(i) for i in (error.get("context") or {}).get("ids") or []}


def _refusal(client: _Client, errors: list[dict], status: int) -> str:
    texts = [f"{e.get('category', 'error')}: {e.get('message', '')}" for e in errors]
    text = "; ".join(texts) or f"HTTP {status}"
    return client.conn.scrub(text[:QUOTED_ANSWER_CHARS])


def send_batches(
    client: _Client,
    spec: ObjectSpec,
    pending: list[tuple[str, dict[str, str]]],
    *,
    settings: Settings,
    sync_log: SyncLog,
    destination: str,
    score_date: date,
    counts: ObjectCounts,
) -> None:
    """Batch-update ``pending`` records, recording each batch once HubSpot accepted it.

    Ids HubSpot does not have (``OBJECT_NOT_FOUND``: a 207 listing them, or a 400 refusing the
    whole batch) are recorded as ``not_found`` and the rest is sent. Any other refusal raises
    :class:`CrmSyncConfigError` once what HubSpot did accept is recorded.
    """
    path = f"/crm/v3/objects/{spec.object_type}/batch/update"
    total = -(-len(pending) // settings.batch_size)
    for number, batch in enumerate(api.chunks(pending, settings.batch_size), 1):
        inputs = list(batch)
        while inputs:  # a 400 naming missing ids: send the batch again without them
            payload = {"inputs": [{"id": i, "properties": p} for i, p in inputs]}
            status, body = client.call("POST", path, payload, accept=(400,))
            errors = _errors(body) if status in (207, 400) else []
            sent_ids = {i for i, _ in inputs}
            missing = (
                set().union(
                    *(_named_ids(e) for e in errors if e.get("category") == "OBJECT_NOT_FOUND")
                )
                & sent_ids
            )
            refused = [
                e
                for e in errors
                if e.get("category") != "OBJECT_NOT_FOUND" or not _named_ids(e) & sent_ids
            ]
            gone = [(i, p) for i, p in inputs if i in missing]
            if gone:
                sync_log.record(destination, spec.object_type, score_date, gone, "not_found")
                counts.not_found += len(gone)
                log.warning(
                    "hubspot has no %s with id %s (deleted or merged): not written, and not "
                    "sent again until their scores change",
                    spec.object_type,
                    _ids(i for i, _ in gone),
                )
            if status < 400:  # 200, or 207: everything not named in an error was written
                named = set().union(*(_named_ids(e) for e in refused))
                unattributed = any(not _named_ids(e) for e in refused)
                accepted = (
                    []
                    if unattributed
                    else [(i, p) for i, p in inputs if i not in missing and i not in named]
                )
                sync_log.record(destination, spec.object_type, score_date, accepted)
                counts.sent += len(accepted)
                counts.batches += 1
            if refused:
                raise CrmSyncConfigError(
                    f"hubspot refused {spec.object_type} batch {number} of {total} "
                    f"({len(inputs)} records, ids {_ids(i for i, _ in inputs)}) with HTTP "
                    f"{status}: {_refusal(client, refused, status)}. The {counts.sent:,} "
                    f"records accepted are recorded; check the values and the property types "
                    f"({settings.source})"
                )
            if status < 400:
                break
            inputs = [(i, p) for i, p in inputs if i not in missing]  # a 400 wrote nothing


def _ids(ids: Iterable[str]) -> str:
    ids = list(ids)
    shown = ", ".join(ids[:SHOWN_IDS])
    return shown + (f" and {len(ids) - SHOWN_IDS:,} more" if len(ids) > SHOWN_IDS else "")


# ---- the sync ---------------------------------------------------------------------------------


def _plan(
    published: dict[str, dict[str, str]],
    previous: dict[str, dict[str, str]],
    names: dict[str, str],
    min_score_change: float,
    counts: ObjectCounts,
) -> list[tuple[str, dict[str, str]]]:
    """The records whose written values differ from what HubSpot last accepted (``names``: field
    key -> property name). The score date alone is no change, nor a score that moved less than
    ``min_score_change`` points: it is compared with the value last accepted, so small daily
    moves add up and are sent once they reach it. With ``min_score_change`` set, reasons that
    differ only in their points (which decay with the score) are no change either."""
    pending = []
    counts.published = len(published)
    score_date = names.get(SCORE_DATE_KEY)
    scores = {names[k] for k in SCORE_KEYS if k in names}
    reasons = names.get(REASONS_KEY) if min_score_change > 0 else None

    def same(name: str, old: str | None, new: str) -> bool:
        if old == new or old is None:
            return old == new
        if name == reasons:
            return REASON_POINTS.sub("", old) == REASON_POINTS.sub("", new)
        if name not in scores or old == "" or new == "":
            return False
        return abs(float(new) - float(old)) < min_score_change

    for object_id, props in published.items():
        if not HUBSPOT_ID.fullmatch(object_id):
            counts.skipped += 1
            continue
        before = previous.get(object_id)
        compared = [k for k in props if k != score_date]
        if before is not None and all(same(k, before.get(k), props[k]) for k in compared):
            counts.unchanged += 1
            continue
        counts.changed += 1
        pending.append((object_id, props))
    return pending


def _connection(conn: api.Connection | None, dry_run: bool) -> tuple[api.Connection | None, str]:
    if conn is not None:
        return conn, conn.base_url
    try:
        conn = api.connection(VENDOR, default_base_url=DEFAULT_BASE_URL)
    except api.ApiError as err:
        if not dry_run:
            raise CrmSyncConfigError(str(err)) from err
        # a dry run needs no token: it only reads the serving copy and the sync log
        base_url = os.environ.get(f"LEADSCORE_{VENDOR.upper()}_BASE_URL") or DEFAULT_BASE_URL
        return None, base_url.rstrip("/")
    return conn, conn.base_url


def sync_crm(
    *,
    dry_run: bool = False,
    settings: dict | Settings | None = None,
    conn: api.Connection | None = None,
    serving: Path | None = None,
    log_path: Path | None = None,
    resend: bool = False,
) -> SyncResult:
    """Write the current published scores that changed since the last sync onto HubSpot.

    ``settings`` is the ``crm_sync:`` mapping (default: read from the sources configuration);
    ``conn`` the HubSpot connection (default: ``LEADSCORE_HUBSPOT_TOKEN`` or the Airflow
    connection ``hubspot_default``); ``serving`` the serving folder; ``log_path`` the sync log.
    ``resend`` sends every record again whatever the sync log says. ``dry_run`` sends, creates
    and records nothing. Raises :class:`CrmSyncError` (retry) or :class:`CrmSyncConfigError`.
    """
    if settings is None:
        cfg, _ = load_settings()
    elif isinstance(settings, Settings):
        cfg = settings
    else:
        cfg = parse_settings(settings)
    day, published = read_published(cfg, serving)
    conn, base_url = _connection(conn, dry_run)
    destination = destination_key(cfg.destination, base_url)
    result = SyncResult(day, _shown_destination(cfg.destination, base_url), dry_run)
    sync_log = SyncLog(log_path)
    plans: dict[str, list[tuple[str, dict[str, str]]]] = {}
    for spec in OBJECTS:
        if spec.object_type not in published:
            continue
        counts = result.counts(spec.object_type)
        previous = {} if resend else sync_log.previous(destination, spec.object_type)
        plans[spec.object_type] = _plan(
            published[spec.object_type],
            previous,
            cfg.properties[spec.object_type],
            cfg.min_score_change,
            counts,
        )
        if dry_run:
            counts.batches = -(-counts.changed // cfg.batch_size)
        for object_id, props in plans[spec.object_type][:EXAMPLES]:
            result.examples.append(
                {
                    "object_type": spec.object_type,
                    "id": object_id,
                    "properties": props,
                    "before": previous.get(object_id),
                }
            )
        if counts.skipped:
            sample = [i for i in published[spec.object_type] if not HUBSPOT_ID.fullmatch(i)]
            log.warning(
                "%d of %d %s have ids that are not HubSpot record ids (e.g. %s): skipped. The "
                "write-back needs the CRM source to be hubspot (docs/connectors.md)",
                counts.skipped,
                counts.published,
                spec.object_type,
                ", ".join(sample[:3]),
            )
    if dry_run or not any(plans.values()):
        log.warning("%s", result.summary())
        return result
    assert conn is not None  # _connection raises without one unless dry_run
    client = _Client(
        conn, auth=api.bearer_auth(conn), throttle=api.Throttle(cfg.requests_per_10s / 10)
    )
    try:
        for spec in OBJECTS:
            pending = plans.get(spec.object_type)
            if not pending:
                continue
            values: dict[str, set[str]] = {}
            for _, props in pending:
                for name, value in props.items():
                    values.setdefault(name, set()).add(value)
            ensure_properties(client, spec, cfg, values, result)
            send_batches(
                client,
                spec,
                pending,
                settings=cfg,
                sync_log=sync_log,
                destination=destination,
                score_date=day,
                counts=result.counts(spec.object_type),
            )
    except api.ApiError as err:
        sent = result.contacts.sent + result.companies.sent
        raise CrmSyncError(
            f"{err} ({sent:,} records HubSpot accepted before are recorded in {sync_log.path}; "
            "a retry sends only the rest)"
        ) from err
    finally:
        result.requests = client.requests
    log.warning("%s", result.summary())
    return result


def run_sync_crm_task(data_interval_end: datetime | None = None) -> dict:
    """Airflow task (after ``publish``): write the published scores that changed onto HubSpot.

    Skipped (logged) when the write-back is off: ``crm_sync: {enabled: false}``, or the CRM
    source is not hubspot and ``enabled`` is not set. A HubSpot outage raises
    :class:`CrmSyncError` and the task is retried (the retry sends only what was not accepted);
    settings, credentials or values HubSpot refuses fail it at once.
    """
    from airflow.sdk.exceptions import AirflowFailException

    try:
        cfg, source = load_settings()
    except CrmSyncConfigError as err:
        raise AirflowFailException(str(err)) from err
    if not cfg.enabled:
        log.warning(
            "CRM write-back is off (%s: %s.enabled, or the CRM source is not hubspot): "
            "nothing sent",
            source,
            SETTINGS_SECTION,
        )
        return {"skipped": "crm_sync is off"}
    try:
        result = sync_crm(settings=cfg)
    except CrmSyncConfigError as err:
        raise AirflowFailException(str(err)) from err
    if data_interval_end is not None:
        from leadscore.orchestration import interval_score_date

        expected = interval_score_date(data_interval_end)
        if result.score_date != expected:
            log.warning(
                "the published score date is %s, not the run's %s: wrote the published scores",
                result.score_date,
                expected,
            )
    return result.as_dict()
