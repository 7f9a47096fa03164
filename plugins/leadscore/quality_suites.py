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

from leadscore.quality_config import CATALOGUE_ENTITIES, CATALOGUE_NAME
from leadscore.sources import ALL_ENTITIES, ENTITIES, LOAD_METADATA_COLUMNS, Entity
from leadscore.sources.delivery import TIMESTAMP_COLUMNS

TIMESTAMP_REGEX = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$"
DATE_REGEX = r"^\d{4}-\d{2}-\d{2}$"
INTEGER_REGEX = r"^-?\d+$"
NON_NEGATIVE_DECIMAL_REGEX = r"^\d+(?:\.\d+)?$"
NON_NEGATIVE_INTEGER_REGEX = r"^\d+$"
EMAIL_REGEX = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"

#: TIMESTAMP_COLUMNS (leadscore.sources.delivery): the load stores them in UTC, offsets converted.
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
    "member_rating",
}
AMOUNT_COLUMNS = {"annual_revenue", "amount", "annual_value"}
#: Durations in seconds: numeric (a plausible maximum may be configured), shaped per entity below.
SECONDS_COLUMNS = {"duration_seconds"}
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
    ("crm/activities", "activity_type"): [
        "call",
        "meeting",
        "sms",
        "chat",
        "note",
        "email",
        "task",
    ],
    ("crm/activities", "direction"): ["inbound", "outbound"],
    ("email/members", "status"): [
        "subscribed",
        "unsubscribed",
        "cleaned",
        "pending",
        "transactional",
        "archived",
    ],
}
#: Shapes of columns whose format differs between entities: (regex, what it is).
ENTITY_COLUMN_SHAPES: dict[tuple[str, str], tuple[str, str]] = {
    # logged by the CRM in whole seconds
    ("crm/activities", "duration_seconds"): (
        NON_NEGATIVE_INTEGER_REGEX,
        "a non-negative whole number of seconds",
    ),
    # a JSON number from the tracker (arrives as text like "230" or "12.5")
    ("web/events", "duration_seconds"): (
        NON_NEGATIVE_DECIMAL_REGEX,
        "a non-negative number of seconds like 230",
    ),
}

#: Columns the raw gate adds when it reads an interval: the record's own day (first 10 characters
#: of the entity's day column) next to the day of the file it came in, and whether the record's
#: company_id names a company the CRM delivered.
RECORD_DAY_COLUMN = "_record_day"
FILE_DAY_COLUMN = "_file_day_text"
COMPANY_KNOWN_COLUMN = "_company_known"
#: Typed copies the raw gate adds for range checks: ``<column>__number``, ``<column>__time`` and,
#: for date orders, ``<column>__day`` (the UTC day of a date or timestamp).
NUMBER_SUFFIX = "__number"
TIME_SUFFIX = "__time"
DAY_SUFFIX = "__day"
#: Date and timestamp columns that record something that already happened, so they cannot lie
#: after the end of the interval they were delivered in (close_date, due_date, end_date can).
PAST_COLUMNS = (TIMESTAMP_COLUMNS | {"issued_date", "paid_date", "usage_date"}) - {"close_date"}
#: Dates a record cannot have in the other order, per entity: (later, earlier), compared by day,
#: so a deal created and closed on the same day is fine whatever the hour (docs/sources.md).
DATE_ORDERS: dict[str, list[tuple[str, str]]] = {
    "crm/deals": [("close_date", "created_at")],
    "crm/subscriptions": [("end_date", "start_date")],
    "crm/invoices": [("due_date", "issued_date"), ("paid_date", "issued_date")],
    "crm/tickets": [("closed_at", "created_at")],
}
#: The ``meta`` key listing the delivered columns a row-level expectation's quarantine reason
#: quotes, with the bound and the file and row: ``seats '-17', expected >= 1 (file ... row 3)``.
REASON_COLUMNS = "reason_columns"

#: Custom properties (kind custom in seeds/property_catalogue.csv, delivered in ``_properties``) are
#: checked in a frame of their own, one row per record and catalogued property with a value: the
#: record's row in the entity's frame, its file and row, the property, its catalogue type, the value
#: as delivered, and the value trimmed (lower-cased for boolean and enum) in the column of its type
#: (null in the others). Which properties exist, their types and allowed values are read from the
#: catalogue at run time: the suites only know the types.
PROPERTY_RECORD_COLUMN = "_record"
PROPERTY_COLUMN = "property"
PROPERTY_TYPE_COLUMN = "property_type"
PROPERTY_VALUE_COLUMN = "value"
PROPERTY_TYPED_COLUMNS = {
    "number": "number_value",
    "boolean": "boolean_value",
    "date": "date_value",
    "enum": "enum_value",
}
#: The ``meta`` key naming the property type a custom-property expectation checks.
PROPERTY_TYPE_META = "property_type"
PROPERTY_NUMBER_REGEX = r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)$"
PROPERTY_DATE_REGEX = (
    r"^\d{4}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\d|3[01])"
    r"(?:T(?:[01]\d|2[0-3]):[0-5]\d:[0-5]\d(?:\.\d+)?(?:Z|\+00:?00))?$"
)
PROPERTY_BOOLEAN_VALUES = ["true", "false", "yes", "no", "1", "0"]
#: What a value of each checked type looks like, as messages say it.
PROPERTY_TYPE_SHAPES = {
    "number": "a number like -12 or 8500.0",
    "boolean": "true/false, yes/no or 1/0",
    "date": "a date like 2026-11-18 or an ISO 8601 UTC timestamp like 2026-11-18T14:03:22Z",
    "enum": "one of its allowed_values",
}

#: What a failed expectation does, in its ``meta``: ``quarantine`` moves the failing rows aside
#: (up to ``quarantine_max_share`` of the rows), ``fail`` stops the run.
ON_FAILURE = "on_failure"
QUARANTINE = "quarantine"
FAIL = "fail"

#: The marts the score gate checks, with the key that identifies a row in messages.
MART_KEYS: dict[str, list[str]] = {
    "fit_scores": ["entity_type", "entity_id"],
    "engagement_scores": ["contact_id"],
    "financial_scores": ["account_id"],
    "lead_scores": ["contact_id"],
    "account_scores": ["account_id"],
    "score_history": ["entity_type", "entity_id"],
}
#: Marts that keep every score date: the gate checks the run's date only.
DATED_MARTS = {"score_history"}
#: Columns the score gate adds to lead_scores: 1 where the contact is in that stage (their means
#: are the stage shares the drift check compares with the last publish).
STAGE_SHARE_COLUMNS = {"_is_mql": "MQL", "_is_sql": "SQL", "_is_customer": "customer"}
#: The mean score each mart's drift check follows.
DRIFT_MEAN_COLUMNS = {"lead_scores": "lead_score", "account_scores": "account_score"}


def raw_suite_name(entity: Entity) -> str:
    return f"raw__{entity.source}__{entity.name}"


def score_suite_name(mart: str) -> str:
    return f"marts__{mart}"


def numeric_columns(entity: Entity) -> list[str]:
    return [c for c in entity.columns if c in INTEGER_COLUMNS | AMOUNT_COLUMNS | SECONDS_COLUMNS]


def past_columns(entity: Entity) -> list[str]:
    return [c for c in entity.columns if c in PAST_COLUMNS]


def day_columns(entity: Entity) -> list[str]:
    """The columns of ``entity`` whose day a date order compares."""
    ordered = {c for pair in DATE_ORDERS.get(entity.qualified, []) for c in pair}
    return [c for c in entity.columns if c in ordered]


def property_suite_name(entity: Entity) -> str:
    return f"{raw_suite_name(entity)}__properties"


def property_entities() -> list[Entity]:
    """The entities the property catalogue can declare properties of."""
    return [e for e in ENTITIES if e.qualified in CATALOGUE_ENTITIES.values()]


def has_company(entity: Entity) -> bool:
    return entity.qualified != "crm/companies" and "company_id" in entity.columns


def _row(expectation: gxe.Expectation, *, quoting: list[str] | None = None) -> gxe.Expectation:
    """Mark a row-level expectation: its failing rows may be quarantined; their reason quotes
    the delivered values of the columns ``quoting`` names."""
    expectation.meta = {**(expectation.meta or {}), ON_FAILURE: QUARANTINE}
    if quoting:
        expectation.meta[REASON_COLUMNS] = quoting
    return expectation


def _table(expectation: gxe.Expectation) -> gxe.Expectation:
    expectation.meta = {**(expectation.meta or {}), ON_FAILURE: FAIL}
    return expectation


def raw_suite(entity: Entity) -> gx.ExpectationSuite:
    """Expectations on one entity's delivered rows for an interval.

    Table-level expectations fail the run; row-level ones quarantine their rows while few fail.
    Bounds are parameters (``min_rows``, ``known_company_min_share``, ``max__<column>``,
    ``min__<column>``, ``interval_end``) the gate fills from ``expectations/gates.yml`` and the
    run's interval. A value above its maximum is an outlier that fails the run; one below its
    documented minimum, or dates in an impossible order, make a bad row.
    """
    q = entity.qualified
    suite = gx.ExpectationSuite(name=raw_suite_name(entity), meta={"gate": "raw", "entity": q})
    added = [
        *[c + NUMBER_SUFFIX for c in numeric_columns(entity)],
        *[c + TIME_SUFFIX for c in past_columns(entity)],
        *[c + DAY_SUFFIX for c in day_columns(entity)],
        *([COMPANY_KNOWN_COLUMN] if has_company(entity) else []),
    ]
    checks: list[gxe.Expectation] = [
        _table(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[
                    *entity.columns,
                    *LOAD_METADATA_COLUMNS,
                    RECORD_DAY_COLUMN,
                    FILE_DAY_COLUMN,
                    *added,
                ],
                exact_match=True,
                description=f"{q}: the delivered columns are the documented ones (docs/sources.md)",
            )
        ),
        _table(
            gxe.ExpectTableRowCountToBeBetween(
                min_value={"$PARAMETER": "min_rows"},
                description=f"{q}: the files that arrived are not empty (min_rows_per_file)",
            )
        ),
        _table(
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=[*entity.keys, "_file_day"],
                description=f"{q}: a key appears at most once per day file",
            )
        ),
        _row(
            gxe.ExpectColumnPairValuesToBeEqual(
                column_A=RECORD_DAY_COLUMN,
                column_B=FILE_DAY_COLUMN,
                description=f"{q}: {entity.day_column} falls on the day of the file it came in",
            )
        ),
    ]
    for column in entity.required:
        what = "key" if column in entity.keys else "required"
        checks.append(
            _row(
                gxe.ExpectColumnValuesToNotBeNull(
                    column=column, description=f"{q}: {what} {column} is set"
                )
            )
        )
    for column in entity.columns:
        checks += [_row(e) for e in _column_expectations(q, column)]
    for column in numeric_columns(entity):
        checks.append(
            _table(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column + NUMBER_SUFFIX,
                    max_value={"$PARAMETER": f"max__{column}"},
                    description=f"{q}: {column} is at most its plausible maximum (max_values)",
                )
            )
        )
        checks.append(
            _row(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column + NUMBER_SUFFIX,
                    min_value={"$PARAMETER": f"min__{column}"},
                    description=f"{q}: {column} is at least its documented minimum (min_values)",
                ),
                quoting=[column],
            )
        )
    for later, earlier in DATE_ORDERS.get(q, []):
        of = "" if earlier in DATE_COLUMNS else "the day of "
        checks.append(
            _row(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=later + DAY_SUFFIX,
                    column_B=earlier + DAY_SUFFIX,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                    description=f"{q}: {later} is on or after {of}{earlier}",
                ),
                quoting=[later, earlier],
            )
        )
    for column in past_columns(entity):
        checks.append(
            _row(
                gxe.ExpectColumnValuesToBeBetween(
                    column=column + TIME_SUFFIX,
                    max_value={"$PARAMETER": "interval_end"},
                    description=f"{q}: {column} is not after the end of the interval (future)",
                )
            )
        )
    if has_company(entity):
        checks.append(
            _table(
                gxe.ExpectColumnValuesToBeInSet(
                    column=COMPANY_KNOWN_COLUMN,
                    value_set=[True],
                    mostly={"$PARAMETER": "known_company_min_share"},
                    description=(
                        f"{q}: company_id names a company the CRM delivered (for at least "
                        "known_company_min_share of the rows)"
                    ),
                )
            )
        )
    for check in checks:
        suite.add_expectation(check)
    return suite


def property_suite(entity: Entity) -> gx.ExpectationSuite:
    """Expectations on an entity's catalogued custom property values (see PROPERTY_* above).

    Every check is row-level: a record with a value that does not fit its property's type is
    quarantined like any other bad row. Enum values are compared with the parameter
    ``enum_values``: [property, allowed value lower-cased] pairs the gate reads from the catalogue.
    """
    q = entity.qualified
    suite = gx.ExpectationSuite(
        name=property_suite_name(entity), meta={"gate": "raw", "entity": q, "of": CATALOGUE_NAME}
    )
    typed = PROPERTY_TYPED_COLUMNS

    def of_type(kind: str, expectation: gxe.Expectation) -> gxe.Expectation:
        expectation.meta = {PROPERTY_TYPE_META: kind}
        return _row(expectation)

    checks: list[gxe.Expectation] = [
        _table(
            gxe.ExpectTableColumnsToMatchSet(
                column_set=[
                    PROPERTY_RECORD_COLUMN,
                    "_source_file",
                    "_row_number",
                    PROPERTY_COLUMN,
                    PROPERTY_TYPE_COLUMN,
                    PROPERTY_VALUE_COLUMN,
                    *typed.values(),
                ],
                exact_match=True,
                description=f"{q}: the custom property frame has its columns",
            )
        ),
        of_type(
            "number",
            gxe.ExpectColumnValuesToMatchRegex(
                column=typed["number"],
                regex=PROPERTY_NUMBER_REGEX,
                description=f"{q}: number properties are {PROPERTY_TYPE_SHAPES['number']}",
            ),
        ),
        of_type(
            "boolean",
            gxe.ExpectColumnValuesToBeInSet(
                column=typed["boolean"],
                value_set=PROPERTY_BOOLEAN_VALUES,
                description=f"{q}: boolean properties are {PROPERTY_TYPE_SHAPES['boolean']}",
            ),
        ),
        of_type(
            "date",
            gxe.ExpectColumnValuesToMatchRegex(
                column=typed["date"],
                regex=PROPERTY_DATE_REGEX,
                description=f"{q}: date properties are {PROPERTY_TYPE_SHAPES['date']}",
            ),
        ),
        of_type(
            "enum",
            gxe.ExpectColumnPairValuesToBeInSet(
                column_A=PROPERTY_COLUMN,
                column_B=typed["enum"],
                value_pairs_set={"$PARAMETER": "enum_values"},
                ignore_row_if="either_value_is_missing",
                description=(
                    f"{q}: enum properties are one of their allowed_values ({CATALOGUE_NAME}), "
                    "trimmed, in any case"
                ),
            ),
        ),
    ]
    for check in checks:
        suite.add_expectation(check)
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
    shape = ENTITY_COLUMN_SHAPES.get((q, column))
    if shape:
        regex, what = shape
        checks.append(
            gxe.ExpectColumnValuesToMatchRegex(
                column=column, regex=regex, description=f"{q}: {column} is {what}"
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
    """Expectations on one mart after dbt, before publishing.

    How many rows it must hold is the parameter ``min_rows`` (``score.min_rows`` in
    ``expectations/gates.yml``, 0 for a table whose inputs the company does not deliver): an
    empty table passes every other check.
    """
    suite = gx.ExpectationSuite(name=score_suite_name(mart), meta={"gate": "score", "mart": mart})
    keys = MART_KEYS[mart]
    checks: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": "min_rows"},
            description=f"{mart}: holds at least min_rows rows (score.min_rows)",
        ),
        gxe.ExpectCompoundColumnsToBeUnique(
            column_list=[*keys, "score_date"], description=f"{mart}: one row per entity and date"
        ),
        *[
            gxe.ExpectColumnValuesToNotBeNull(column=k, description=f"{mart}: {k} is set")
            for k in keys
        ],
        gxe.ExpectColumnValuesToBeInSet(
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
            # thresholds are per segment: each row carries the ones its stage was decided with
            *_stage_checks(),
        ]
        for grade, low, high in (
            ("A", "grade_a", None),
            ("B", "grade_b", "grade_a"),
            ("C", "grade_c", "grade_b"),
            ("D", None, "grade_c"),
        ):
            checks.append(_band("fit_score", "grade", grade, low, high))
    elif mart == "score_history":
        checks += _score_range(mart, "score")
        for column in ("fit_score", "engagement_score"):
            checks += _score_range(mart, column)
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
    checks += _drift_checks(mart)
    for check in checks:
        suite.add_expectation(check)
    return suite


def _drift_checks(mart: str) -> list[gxe.Expectation]:
    """Against the last publish: bounds are parameters the gate computes from the serving copy."""
    checks: list[gxe.Expectation] = [
        gxe.ExpectTableRowCountToBeBetween(
            min_value={"$PARAMETER": "drift_rows_min"},
            max_value={"$PARAMETER": "drift_rows_max"},
            description=f"{mart}: row count within max_row_count_change of the last publish",
        )
    ]
    means = dict.fromkeys(STAGE_SHARE_COLUMNS) if mart == "lead_scores" else {}
    if mart in DRIFT_MEAN_COLUMNS:
        means[DRIFT_MEAN_COLUMNS[mart]] = None
    for column in means:
        is_share = column in STAGE_SHARE_COLUMNS
        bound = "max_stage_share_change" if is_share else "max_mean_score_change"
        what = f"share of {STAGE_SHARE_COLUMNS[column]} contacts" if is_share else f"mean {column}"
        checks.append(
            gxe.ExpectColumnMeanToBeBetween(
                column=column,
                min_value={"$PARAMETER": f"drift_{column}_min"},
                max_value={"$PARAMETER": f"drift_{column}_max"},
                description=f"{mart}: {what} within {bound} of the last publish",
            )
        )
    return checks


def _stage_checks() -> list[gxe.Expectation]:
    """Each open lead's stage matches its lead_score and the thresholds of its row's segment."""
    checks = []
    for stage, greater, lesser, or_equal in (
        ("SQL", "lead_score", "sql_threshold", True),
        ("MQL", "lead_score", "mql_threshold", True),
        ("MQL", "sql_threshold", "lead_score", False),
        ("lead", "mql_threshold", "lead_score", False),
    ):
        relation = ">=" if or_equal else ">"
        checks.append(
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A=greater,
                column_B=lesser,
                or_equal=or_equal,
                row_condition=f'lifecycle_stage=="{stage}"',
                condition_parser="pandas",
                description=f"lifecycle_stage {stage} means {greater} {relation} {lesser}",
            )
        )
    return checks


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
    return [raw_suite(e) for e in ALL_ENTITIES] + [property_suite(e) for e in property_entities()]


def all_score_suites() -> list[gx.ExpectationSuite]:
    return [score_suite(m) for m in MART_KEYS]
