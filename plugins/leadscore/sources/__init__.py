"""The source entities the pipeline lands: one entry per exported file type.

This registry is the Python side of ``docs/sources.md``: file layout, expected columns and the
column that decides which day a record belongs to. Raw tables keep every value as delivered
(text); staging models in dbt type and rename them.

Which of these entities a company delivers is its *shape*, declared in ``expectations/sources.yml``
(``LEADSCORE_SOURCES_CONFIG`` points elsewhere): see :func:`load_shape`. :data:`ENTITIES` are the
standard ones (the full shape, the demo); :data:`OPTIONAL_ENTITIES` are delivered only by a company
whose shape lists them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import yaml

from leadscore import config


@dataclass(frozen=True)
class Entity:
    source: str
    name: str
    file_format: str  # "csv" or "jsonl"
    columns: tuple[str, ...]
    keys: tuple[str, ...]
    day_column: str  # the timestamp/date column whose day decides the file
    #: Columns that may be empty (docs/sources.md says "nullable"); every other one is required.
    nullable: tuple[str, ...] = ()

    @property
    def qualified(self) -> str:
        """``crm/contacts``: how messages and the landing folder name the entity."""
        return f"{self.source}/{self.name}"

    @property
    def raw_table(self) -> str:
        return f"raw.{self.source}__{self.name}"

    @property
    def extension(self) -> str:
        return self.file_format

    @property
    def required(self) -> tuple[str, ...]:
        """Columns every record must fill: the rest of the documented columns."""
        return tuple(c for c in self.columns if c not in self.nullable)

    @property
    def quarantine_table(self) -> str:
        return f"quarantine.{self.source}__{self.name}"


#: Metadata columns every raw table carries after the delivered columns. ``_properties`` holds
#: the columns (CSV) or keys (JSONL) a file has beyond the documented ones, as one JSON object of
#: text values: a CRM's custom properties, kept per record (docs/sources.md).
LOAD_METADATA_COLUMNS: tuple[str, ...] = (
    "_properties",
    "_source_file",
    "_row_number",
    "_file_day",
    "_loaded_at",
    "_interval_start",
    "_interval_end",
)

ENTITIES: tuple[Entity, ...] = (
    Entity(
        "crm",
        "companies",
        "csv",
        (
            "company_id",
            "name",
            "domain",
            "industry",
            "employees",
            "annual_revenue",
            "country",
            "created_at",
            "updated_at",
        ),
        ("company_id",),
        "updated_at",
        ("industry", "employees", "annual_revenue", "country"),
    ),
    Entity(
        "crm",
        "contacts",
        "csv",
        (
            "contact_id",
            "company_id",
            "first_name",
            "last_name",
            "email",
            "job_title",
            "department",
            "lead_source",
            "created_at",
            "updated_at",
        ),
        ("contact_id",),
        "updated_at",
        ("job_title", "department", "lead_source"),
    ),
    Entity(
        "crm",
        "deals",
        "csv",
        (
            "deal_id",
            "company_id",
            "contact_id",
            "deal_name",
            "product_line",
            "amount",
            "stage",
            "created_at",
            "close_date",
            "updated_at",
        ),
        ("deal_id",),
        "updated_at",
        ("contact_id", "close_date"),
    ),
    Entity(
        "crm",
        "subscriptions",
        "csv",
        (
            "subscription_id",
            "company_id",
            "product_line",
            "plan",
            "seats",
            "annual_value",
            "start_date",
            "end_date",
            "status",
            "updated_at",
        ),
        ("subscription_id",),
        "updated_at",
    ),
    Entity(
        "crm",
        "invoices",
        "csv",
        (
            "invoice_id",
            "company_id",
            "subscription_id",
            "amount",
            "issued_date",
            "due_date",
            "paid_date",
            "status",
            "updated_at",
        ),
        ("invoice_id",),
        "updated_at",
        ("paid_date",),
    ),
    Entity(
        "crm",
        "tickets",
        "csv",
        (
            "ticket_id",
            "company_id",
            "contact_id",
            "priority",
            "is_escalated",
            "satisfaction",
            "created_at",
            "closed_at",
            "updated_at",
        ),
        ("ticket_id",),
        "updated_at",
        ("contact_id", "satisfaction", "closed_at"),
    ),
    Entity(
        "crm",
        "activities",
        "csv",
        (
            "activity_id",
            "activity_type",
            "contact_id",
            "company_id",
            "occurred_at",
            "duration_seconds",
            "direction",
            "outcome",
            "updated_at",
        ),
        ("activity_id",),
        "updated_at",
        ("company_id", "duration_seconds", "direction", "outcome"),
    ),
    Entity(
        "crm",
        "product_usage",
        "csv",
        ("company_id", "usage_date", "active_users", "sessions", "feature_events"),
        ("company_id", "usage_date"),
        "usage_date",
    ),
    Entity(
        "crm",
        "nps_responses",
        "csv",
        ("response_id", "company_id", "contact_id", "score", "responded_at"),
        ("response_id",),
        "responded_at",
        ("contact_id",),
    ),
    Entity(
        "email",
        "campaigns",
        "jsonl",
        ("campaign_id", "name", "topic", "product_line", "subject", "sent_at"),
        ("campaign_id",),
        "sent_at",
        ("product_line",),
    ),
    Entity(
        "email",
        "events",
        "jsonl",
        ("event_id", "event_type", "email", "campaign_id", "url", "occurred_at"),
        ("event_id",),
        "occurred_at",
        ("url",),
    ),
    Entity(
        "web",
        "events",
        "jsonl",
        (
            "event_id",
            "event_type",
            "contact_id",
            "anonymous_id",
            "page_url",
            "content_topic",
            "product_line",
            "occurred_at",
            "duration_seconds",
        ),
        ("event_id",),
        "occurred_at",
        ("contact_id", "content_topic", "product_line", "duration_seconds"),
    ),
)

#: Entities a company opts into by listing them in its shape. Listed, one is delivered, loaded and
#: checked like any other. Not listed (the committed shape, the demo, every generated world), it
#: changes nothing: it is not in :data:`FULL_SHAPE`, not reported absent, and only its raw table is
#: created (empty, as for an absent entity), so dbt builds.
OPTIONAL_ENTITIES: tuple[Entity, ...] = (
    Entity(
        "email",
        "members",
        "csv",  # merge fields are columns beyond these (custom properties), as in CRM exports
        ("list_id", "email", "status", "member_rating", "last_changed"),
        ("list_id", "email"),
        "last_changed",
        ("member_rating",),
    ),
)
#: Every entity there is: the standard ones, then the optional ones.
ALL_ENTITIES: tuple[Entity, ...] = ENTITIES + OPTIONAL_ENTITIES

SOURCES: tuple[str, ...] = tuple(dict.fromkeys(e.source for e in ENTITIES))


def entities_of(source: str) -> tuple[Entity, ...]:
    """Every entity of ``source``, optional ones included."""
    found = tuple(e for e in ALL_ENTITIES if e.source == source)
    if not found:
        raise ValueError(f"unknown source {source!r}; known sources: {', '.join(SOURCES)}")
    return found


def entity(qualified: str) -> Entity:
    """Look an entity up by ``source/name``."""
    for e in ALL_ENTITIES:
        if e.qualified == qualified:
            return e
    raise ValueError(
        f"unknown entity {qualified!r}; known: {', '.join(e.qualified for e in ALL_ENTITIES)}"
    )


# --- the company's shape ------------------------------------------------------------------------

#: What every company delivers: its leads and their companies.
ALWAYS_DELIVERED: tuple[str, ...] = ("crm/companies", "crm/contacts")
#: The entities of paying customers; a company without customers yet leaves them out.
CUSTOMER_ENTITIES: tuple[str, ...] = (
    "crm/subscriptions",
    "crm/invoices",
    "crm/product_usage",
    "crm/nps_responses",
    "crm/tickets",
)


@dataclass(frozen=True)
class Shape:
    """The entities a company delivers. Every other entity is absent by design: no files are
    expected, its raw table stays empty, and no gate checks it (rows, freshness, the scores it
    feeds)."""

    delivered: frozenset[str]
    #: the file it was read from, for messages
    path: Path | None = None

    def has(self, e: Entity | str) -> bool:
        return (e.qualified if isinstance(e, Entity) else e) in self.delivered

    def absent(self) -> tuple[Entity, ...]:
        """The standard entities it leaves out; an optional one not listed is not absent."""
        return tuple(e for e in ENTITIES if e.qualified not in self.delivered)

    def describe(self) -> str:
        """``crm (companies, contacts), web (events); absent: ...`` for logs and messages."""
        parts = []
        for source in SOURCES:
            names = [e.name for e in entities_of(source) if self.has(e)]
            if names:
                parts.append(f"{source} ({', '.join(names)})")
        absent = [e.qualified for e in self.absent()]
        return "; ".join(parts) + (f"; absent: {', '.join(absent)}" if absent else "")


#: Every standard entity delivered: the shape when the configuration lists them all (the
#: committed one); optional entities are added by listing them.
FULL_SHAPE = Shape(frozenset(e.qualified for e in ENTITIES))


def shape_path() -> Path:
    value = os.environ.get("LEADSCORE_SOURCES_CONFIG")
    return Path(value) if value else config.expectations_dir() / "sources.yml"


def load_shape(path: Path | None = None) -> Shape:
    """Read the company's shape: ``sources:`` maps each source it has to the entities it delivers.

    A source or entity left out is absent by design. A mistake names the file and the key.
    """
    path = path or shape_path()
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise ValueError(
            f"cannot read the sources configuration {path}: {err.strerror or err}; it lists the "
            "sources and entities your company delivers (docs/sources.md#the-shape-of-your-data)"
        ) from err
    except yaml.YAMLError as err:
        raise ValueError(f"{path}: not valid YAML: {err}") from err
    section = raw.get("sources") if isinstance(raw, dict) else None
    if not isinstance(section, dict):
        raise ValueError(f"{path}: needs a mapping `sources:` of source -> list of entities")
    delivered: set[str] = set()
    for source, names in section.items():
        if source not in SOURCES:
            raise ValueError(f"{path}: unknown source {source!r}; known: {', '.join(SOURCES)}")
        if names is None:
            names = []
        if not isinstance(names, list):
            raise ValueError(f"{path}: sources.{source} must be a list of entity names")
        known = [e.name for e in entities_of(source)]
        for name in names:
            if name not in known:
                raise ValueError(
                    f"{path}: sources.{source}: unknown entity {name!r}; known: {', '.join(known)}"
                )
            delivered.add(f"{source}/{name}")
    missing = [q for q in ALWAYS_DELIVERED if q not in delivered]
    if missing:
        raise ValueError(
            f"{path}: {', '.join(missing)} must be listed: every company delivers its leads "
            "(crm/contacts) and their companies (crm/companies)"
        )
    return Shape(frozenset(delivered), path)
