"""Great Expectations suites of the two gates, defined in code and written to ``expectations/gx``.

The raw gate checks each source entity's rows for the run's interval, as delivered (text), before
dbt runs. The score gate checks the marts after dbt, before anything is published. Thresholds the
score gate compares against are suite parameters (``{"$PARAMETER": ...}``) filled at run time
from the dbt vars and seeds, so a changed threshold never needs a suite edit.

After changing this module run ``leadscore expectations`` and commit ``expectations/gx``.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe

from leadscore.sources import ENTITIES, LOAD_METADATA_COLUMNS, Entity

TIMESTAMP_REGEX = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$"
DATE_REGEX = r"^\d{4}-\d{2}-\d{2}$"
INTEGER_REGEX = r"^-?\d+$"
NON_NEGATIVE_DECIMAL_REGEX = r"^\d+(?:\.\d+)?$"
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

TIMESTAMP_COLUMNS = {
    "created_at",
    "updated_at",
    "closed_at",
    "responded_at",
    "sent_at",
    "occurred_at",
}
DATE_COLUMNS = {
    "close_date",
    "start_date",
    "end_date",
    "issued_date",
    "due_date",
    "paid_date",
    "usage_date",
}
INTEGER_COLUMNS = {
    "employees",
    "seats",
    "active_users",
    "sessions",
    "feature_events",
    "satisfaction",
    "score",
}
AMOUNT_COLUMNS = {"annual_revenue", "amount", "annual_value"}
BOOLEAN_COLUMNS = {"is_escalated"}
EMAIL_COLUMNS = {"email"}

ALLOWED_VALUES: dict[tuple[str, str], list[str]] = {
    ("crm/deals", "stage"): [
        "prospecting",
        "qualification",
        "proposal",
        "negotiation",
        "closed_won",
        "closed_lost",
    ],
    ("crm/subscriptions", "status"): ["active", "cancelled", "expired"],
    ("crm/subscriptions", "plan"): ["starter", "professional", "enterprise"],
    ("crm/invoices", "status"): ["open", "paid", "void"],
    ("crm/tickets", "priority"): ["low", "normal", "high", "urgent"],
    ("email/events", "event_type"): [
        "delivered",
        "open",
        "click",
        "bounce",
        "unsubscribe",
        "spam_complaint",
    ],
    ("web/events", "event_type"): [
        "page_view",
        "pricing_page_view",
        "content_download",
        "webinar_attended",
        "form_submission",
        "demo_request",
    ],
}

#: Column the raw gate adds when it reads an interval: the record's own day (first 10 characters
#: of the entity's day column), compared with the day of the file it came in.
RECORD_DAY_COLUMN = "_record_day"
FILE_DAY_COLUMN = "_file_day_text"

#: The marts the score gate checks, with the key that identifies a row in messages.
MART_KEYS: dict[str, list[str]] = {
    "fit_scores": ["entity_type", "entity_id"],
    "engagement_scores": ["contact_id"],
    "financial_scores": ["account_id"],
    "lead_scores": ["contact_id"],
    "account_scores": ["account_id"],
}


def raw_suite_name(entity: Entity) -> str:
    return f"raw__{entity.source}__{entity.name}"


def score_suite_name(mart: str) -> str:
    return f"marts__{mart}"


def raw_suite(entity: Entity) -> gx.ExpectationSuite:
    """Expectations on one entity's delivered rows for an interval."""
    q = entity.qualified
    suite = gx.ExpectationSuite(name=raw_suite_name(entity), meta={"gate": "raw", "entity": q})
    suite.add_expectation(
        gxe.ExpectTableColumnsToMatchSet(
            column_set=[
                *entity.columns,
                *LOAD_METADATA_COLUMNS,
                RECORD_DAY_COLUMN,
                FILE_DAY_COLUMN,
            ],
            exact_match=True,
            description=f"{q}: the delivered columns are the documented ones (docs/sources.md)",
        )
    )
    for key in entity.keys:
        suite.add_expectation(
            gxe.ExpectColumnValuesToNotBeNull(column=key, description=f"{q}: key {key} is set")
        )
    suite.add_expectation(
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*entity.keys, "_file_day"],
            description=f"{q}: a key appears at most once per day file",
        )
    )
    suite.add_expectation(
        gxe.ExpectColumnPairValuesToBeEqual(
            column_A=RECORD_DAY_COLUMN,
            column_B=FILE_DAY_COLUMN,
            description=f"{q}: {entity.day_column} falls on the day of the file it came in",
        )
    )
    for column in entity.columns:
        for expectation in _column_expectations(q, column):
            suite.add_expectation(expectation)
    return suite


def _column_expectations(q: str, column: str) -> list[gxe.Expectation]:
    checks: list[gxe.Expectation] = []
    shapes = [
        (TIMESTAMP_COLUMNS, TIMESTAMP_REGEX, "an ISO 8601 UTC timestamp like 2026-11-18T14:03:22Z"),
        (DATE_COLUMNS, DATE_REGEX, "a date like 2026-11-18"),
        (INTEGER_COLUMNS, INTEGER_REGEX, "a whole number"),
        (AMOUNT_COLUMNS, NON_NEGATIVE_DECIMAL_REGEX, "a non-negative amount like 1250.50"),
        (EMAIL_COLUMNS, EMAIL_REGEX, "an email address like name@example.com"),
    ]
    for columns, regex, what in shapes:
        if column in columns:
            checks.append(
                gxe.ExpectColumnValuesToMatchRegex(
                    column=column, regex=regex, description=f"{q}: {column} is {what}"
                )
            )
    if column in BOOLEAN_COLUMNS:
        checks.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=["true", "false"],
                description=f"{q}: {column} is true/false",
            )
        )
    allowed = ALLOWED_VALUES.get((q, column))
    if allowed:
        checks.append(
            gxe.ExpectColumnValuesToBeInSet(
                column=column,
                value_set=allowed,
                description=f"{q}: {column} is one of {', '.join(allowed)}",
            )
        )
    return checks


def _score_range(mart: str, column: str, *, nullable: bool = False) -> list[gxe.Expectation]:
    checks: list[gxe.Expectation] = [
        gxe.ExpectColumnValuesToBeBetween(
            column=column, min_value=0, max_value=100, description=f"{mart}: {column} is 0-100"
        )
    ]
    if not nullable:
        checks.append(
            gxe.ExpectColumnValuesToNotBeNull(column=column, description=f"{mart}: {column} is set")
        )
    return checks


def score_suite(mart: str) -> gx.ExpectationSuite:
    """Expectations on one mart after dbt, before publishing."""
    suite = gx.ExpectationSuite(name=score_suite_name(mart), meta={"gate": "score", "mart": mart})
    keys = MART_KEYS[mart]
    checks: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(min_value=1, description=f"{mart}: has rows"),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*keys, "score_date"], description=f"{mart}: one row per entity and date"
        ),
        *[
            gxe.ExpectColumnValuesToNotBeNull(column=k, description=f"{mart}: {k} is set")
            for k in keys
        ],
        gxe.ExpectColumnDistinctValuesToEqualSet(
            column="score_date",
            value_set={"$PARAMETER": "score_dates"},
            description=f"{mart}: every row is for the run's score date",
        ),
    ]
    if mart == "fit_scores":
        checks += _score_range(mart, "fit_score")
    elif mart == "engagement_scores":
        checks += _score_range(mart, "engagement_score")
    elif mart == "financial_scores":
        checks += _score_range(mart, "financial_score")
    elif mart == "lead_scores":
        for column in ("fit_score", "engagement_score", "lead_score"):
            checks += _score_range(mart, column)
        checks += [
            gxe.ExpectColumnValuesToBeInSet(
                column="grade", value_set=["A", "B", "C", "D"], description="grade is A-D"
            ),
            gxe.ExpectColumnValuesToBeInSet(
                column="lifecycle_stage",
                value_set=["lead", "MQL", "SQL", "customer"],
                description="lifecycle_stage is lead, MQL, SQL or customer",
            ),
            _band("lead_score", "lifecycle_stage", "SQL", "sql_threshold", None),
            _band("lead_score", "lifecycle_stage", "MQL", "mql_threshold", "sql_threshold"),
            _band("lead_score", "lifecycle_stage", "lead", None, "mql_threshold"),
        ]
        for grade, low, high in (
            ("A", "grade_a", None),
            ("B", "grade_b", "grade_a"),
            ("C", "grade_c", "grade_b"),
            ("D", None, "grade_c"),
        ):
            checks.append(_band("fit_score", "grade", grade, low, high))
    elif mart == "account_scores":
        for column in ("fit_score", "engagement_score", "account_score"):
            checks += _score_range(mart, column)
        checks += _score_range(mart, "financial_score", nullable=True)
        checks.append(
            gxe.ExpectColumnValuesToBeInSet(
                column="tier",
                value_set=["Strategic", "Growth", "Retain", "Evaluate"],
                description="tier is Strategic, Growth, Retain or Evaluate",
            )
        )
        for tier, low, high in (
            ("Strategic", "tier_strategic", None),
            ("Growth", "tier_growth", "tier_strategic"),
            ("Retain", "tier_retain", "tier_growth"),
            ("Evaluate", None, "tier_retain"),
        ):
            checks.append(_band("account_score", "tier", tier, low, high))
    for check in checks:
        suite.add_expectation(check)
    return suite


def _band(
    score: str, label_column: str, label: str, low: str | None, high: str | None
) -> gxe.Expectation:
    """Rows labelled ``label`` have ``score`` in [low, high) where the bounds are parameters."""
    bounds = []
    if low:
        bounds.append(f">= {low}")
    if high:
        bounds.append(f"< {high}")
    return gxe.ExpectColumnValuesToBeBetween(
        column=score,
        min_value={"$PARAMETER": low} if low else None,
        max_value={"$PARAMETER": high} if high else None,
        strict_max=bool(high),
        row_condition=f'{label_column}=="{label}"',
        condition_parser="pandas",
        description=f"{label_column} {label} means {score} {' and '.join(bounds)}",
    )


def all_raw_suites() -> list[gx.ExpectationSuite]:
    return [raw_suite(e) for e in ENTITIES]


def all_score_suites() -> list[gx.ExpectationSuite]:
    return [score_suite(m) for m in MART_KEYS]
