"""The source entities the pipeline lands: one entry per exported file type.

This registry is the Python side of ``docs/sources.md``: file layout, expected columns and the
column that decides which day a record belongs to. Raw tables keep every value as delivered
(text); staging models in dbt type and rename them.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    #: An entity a company may not have at all: when its landing folder does not exist, nothing is
    #: expected and its raw table stays empty. Once the folder exists, every day needs its file.
    optional: bool = False

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
        optional=True,
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

SOURCES: tuple[str, ...] = tuple(dict.fromkeys(e.source for e in ENTITIES))


def entities_of(source: str) -> tuple[Entity, ...]:
    found = tuple(e for e in ENTITIES if e.source == source)
    if not found:
        raise ValueError(f"unknown source {source!r}; known sources: {', '.join(SOURCES)}")
    return found


def entity(qualified: str) -> Entity:
    """Look an entity up by ``source/name``."""
    for e in ENTITIES:
        if e.qualified == qualified:
            return e
    raise ValueError(
        f"unknown entity {qualified!r}; known: {', '.join(e.qualified for e in ENTITIES)}"
    )
