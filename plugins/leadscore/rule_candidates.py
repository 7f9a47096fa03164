"""Candidate rules calibration chooses from: every rule a marketer could write from the data.

Candidates are rows of the points tables in the rule language of ``docs/rules.md``, so the same
dbt SQL that scores production evaluates them (``rule_scoring.RuleSandbox``):

fit (contact rules)
    * each value of a derived attribute (seniority, department, email_domain, lead_source and the
      company's industry, size_band, region, country; icp match) and ``is_unknown`` of each;
    * each catalogued property (seeds/property_catalogue.csv) of the contact or its company: each
      allowed value of an enum, true / false of a boolean, the most common values of a text,
      quantile bands of a number or date (``between``), and ``is_unknown``.
engagement
    * per action a source delivered: count rules ("at least N in the last D days") for every
      N in COUNT_THRESHOLDS and D in COUNT_WINDOWS (within the lookback);
    * per action with a measure (duration_seconds): a per-minute rule;
    * per CRM activity type: a count rule per direction, outcome and catalogued activity enum value;
    * ignored_mailings.

A candidate is scored with 0 points (fit: zero-point fit rules stay in the ledger) or 1 point, no
decay and no cap (engagement), so the ledger shows for every contact and cut-off which candidates
fire and, for a per-minute rule, how many minutes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Count rule thresholds and windows (days) tried per action: recency (a week, a month) and
#: frequency (once, a few times, often).
COUNT_THRESHOLDS = (1, 2, 3, 5, 10)
COUNT_WINDOWS = (7, 30, 90, 365)
#: Quantile bands a number or date property is cut into.
QUANTILE_BANDS = 5
#: A text property or derived attribute contributes at most this many of its commonest values.
MAX_TEXT_VALUES = 30
#: Per-unit rules count minutes.
SECONDS_PER_UNIT = 60
#: A candidate's cap: no cap at all (the cap of a proposal is set from the data).
NO_CAP = 1e9

CONTACT_DERIVED = ("seniority", "department", "email_domain", "lead_source")
COMPANY_DERIVED = ("industry", "size_band", "region", "country")


@dataclass(frozen=True)
class Candidate:
    """One rule row a proposal may choose; ``key`` identifies it in the ledger."""

    key: str
    subscore: str  # fit or engagement
    group: str  # mutually exclusive values share a group (an attribute, an action)
    row: dict[str, Any] = field(hash=False, compare=False)
    per_unit: bool = False

    @property
    def label(self) -> str:
        return self.key.split(":", 1)[1]


def fit_key(attribute: str, rule_value: str) -> str:
    """How a fit rule shows in the ledger: attribute and the value (``=``) or the condition."""
    return f"fit:{attribute}|{str(rule_value).strip().lower()}"


def engagement_key(rule: str) -> str:
    return f"engagement:{rule}"


def rule_label(operator: str, value: str) -> str:
    """How a fit rule's condition shows in the ledger, as int_fit_rules labels it: the value of
    an ``=`` rule, else the operator and the value."""
    if operator == "=":
        return value
    return f"{operator} {value}" if value else operator


def _fit(attribute: str, operator: str, value: str, description: str) -> Candidate:
    return Candidate(
        fit_key(attribute, rule_label(operator, value)),
        "fit",
        attribute,
        {
            "segment": "default",
            "attribute": attribute,
            "operator": operator,
            "value": value,
            "contact_points": 0,
            "account_points": None,
            "description": description,
        },
    )


def _engagement(rule: str, action: str, source: str, description: str, **extra: Any) -> Candidate:
    row = {
        "segment": "default",
        "rule": rule,
        "action": action,
        "source": source,
        "funnel_stage": "awareness",
        "points": 1,
        "max_points": NO_CAP,
        "decay": "none",
        "description": description,
        **extra,
    }
    return Candidate(
        engagement_key(rule),
        "engagement",
        f"{source}/{action}",
        row,
        per_unit=bool(extra.get("measure")),
    )


def fit_candidates(con: Any, catalogue: pd.DataFrame) -> list[Candidate]:
    """Fit candidates from the values the warehouse holds now (``con``: read-only DuckDB)."""
    out: list[Candidate] = []
    for attribute, table, column in [
        *((a, "intermediate.int_contacts_enriched", _contact_column(a)) for a in CONTACT_DERIVED),
        *((a, "intermediate.int_accounts_enriched", a) for a in COMPANY_DERIVED),
    ]:
        values = con.execute(
            f"""select {column} as value, count(*) as n from {table}
            where {column} is not null and trim({column}) != '' and lower({column}) != 'unknown'
            group by 1 order by n desc, value limit {MAX_TEXT_VALUES}"""
        ).fetchall()
        out += [_fit(attribute, "=", str(v), f"{attribute} is {v}") for v, _ in values]
        out.append(_fit(attribute, "is_unknown", "", f"{attribute} is not known"))
    out.append(_fit("icp", "=", "match", "the company matches the ideal customer profile"))
    for row in catalogue.itertuples():
        if row.entity not in ("contact", "company"):
            continue
        attribute = f"{row.entity}.{row.property}"
        out += _property_candidates(con, attribute, row)
        out.append(_fit(attribute, "is_unknown", "", f"{attribute} is not known"))
    return _unique(out)


def _contact_column(attribute: str) -> str:
    return {"email_domain": "email_domain_type"}.get(attribute, attribute)


def _property_candidates(con: Any, attribute: str, row: Any) -> list[Candidate]:
    entity, name = attribute.split(".", 1)
    values = """select value_text, value_number, value_date from intermediate.int_entity_properties
        where entity = $entity and property = $property"""
    params = {"entity": entity, "property": name}
    kind = row.type
    if kind == "enum":  # "unknown" as a value is what is_unknown already tests
        allowed = [
            v
            for v in str(row.allowed_values or "").split("|")
            if v.strip() and v.strip().lower() != "unknown"
        ]
        return [_fit(attribute, "=", v, f"{attribute} is {v}") for v in allowed]
    if kind == "boolean":
        return [_fit(attribute, "=", v, f"{attribute} is {v}") for v in ("true", "false")]
    if kind == "text":
        common = con.execute(
            f"""select value_text, count(*) from ({values}) group by 1
            order by 2 desc, 1 limit {MAX_TEXT_VALUES}""",
            params,
        ).fetchall()
        return [_fit(attribute, "=", str(v), f"{attribute} is {v}") for v, _ in common]
    column = "value_number" if kind == "number" else "value_date"
    frame = con.execute(
        f"select {column} as v from ({values}) where {column} is not null", params
    ).df()
    return [
        _fit(attribute, "between", band, f"{attribute} in {band.replace('..', ' to ')}")
        for band in quantile_bands(frame["v"], kind)
    ]


def quantile_bands(values: pd.Series, kind: str, bands: int = QUANTILE_BANDS) -> list[str]:
    """``between`` values cutting ``values`` into about equal shares, without overlaps for whole
    numbers and days (ends are inclusive): ``..29``, ``30..44``, ``45..``."""
    values = values.dropna()
    if values.empty:
        return []
    if kind == "date":
        days = pd.to_datetime(values).dt.normalize()
        edges = sorted(set(days.quantile(np.linspace(0, 1, bands + 1)[1:-1]).dt.normalize()))
        one = pd.Timedelta(days=1)
        text = [e.date().isoformat() for e in edges]
        before = [(e - one).date().isoformat() for e in edges]
    else:
        numbers = values.astype(float)
        whole = bool(np.all(np.equal(np.mod(numbers, 1), 0)))
        edges = sorted(
            set(_round(q, whole) for q in numbers.quantile(np.linspace(0, 1, bands + 1)[1:-1]))
        )
        text = [_number(e) for e in edges]
        before = [_number(e - 1) if whole else _number(e) for e in edges]
    if not edges:
        return []
    out = [f"..{before[0]}"]
    out += [f"{text[i]}..{before[i + 1]}" for i in range(len(edges) - 1)]
    out.append(f"{text[-1]}..")
    return out


def _round(value: float, whole: bool) -> float:
    if whole:
        return float(round(value))
    if value == 0:
        return 0.0
    digits = 2 - int(np.floor(np.log10(abs(value))))
    return float(round(value, digits))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def engagement_candidates(con: Any, catalogue: pd.DataFrame, lookback_days: int) -> list[Candidate]:
    """Engagement candidates from the actions the warehouse holds events of."""
    windows = sorted({min(w, lookback_days) for w in COUNT_WINDOWS})
    actions = con.execute(
        """select source, action, sum(event_count) as events,
            count(duration_seconds) as measured
        from intermediate.int_engagement_daily group by 1, 2 order by 1, 2"""
    ).fetchall()
    out: list[Candidate] = []
    for source, action, _, measured in actions:
        if action == "delivered":
            continue  # counts only towards ignored_mailings
        for threshold in COUNT_THRESHOLDS:
            for window in windows:
                out.append(
                    _engagement(
                        f"{action}_{threshold}_in_{window}d"
                        if source != "crm"
                        else f"crm_{action}_{threshold}_in_{window}d",
                        action,
                        source,
                        f"at least {threshold} {action} in {window} days",
                        min_count=threshold,
                        count_window_days=window,
                    )
                )
        if measured:
            name = f"{'crm_' if source == 'crm' else ''}{action}_minutes"
            out.append(
                _engagement(
                    name,
                    action,
                    source,
                    f"per minute of {action} ({source})",
                    measure="duration_seconds",
                    measure_unit=SECONDS_PER_UNIT,
                )
            )
        if source == "crm":
            out += _activity_filters(con, catalogue, action, lookback_days)
    if any(source == "email" for source, *_ in actions):
        out.append(
            _engagement(
                "ignored_mailings",
                "ignored_mailings",
                "email",
                "mailings in a row delivered without an open or click",
            )
        )
    return _unique(out)


def _activity_filters(
    con: Any, catalogue: pd.DataFrame, action: str, lookback_days: int
) -> list[Candidate]:
    """Count rules on one activity type narrowed by direction, outcome or an enum property."""
    filters: list[tuple[str, str]] = []
    for column in ("direction", "outcome"):
        values = con.execute(
            f"""select {column}, count(*) from staging.stg_crm__activities
            where activity_type = $a and {column} is not null
            group by 1 order by 2 desc limit {MAX_TEXT_VALUES}""",
            {"a": action},
        ).fetchall()
        filters += [(column, str(v)) for v, _ in values]
    for row in catalogue.itertuples():
        if row.entity == "activity" and row.type == "enum":
            allowed = [v for v in str(row.allowed_values or "").split("|") if v.strip()]
            filters += [(f"property.{row.property}", v) for v in allowed]
    return [
        _engagement(
            f"crm_{action}_{attribute.removeprefix('property.')}_{value}",
            action,
            "crm",
            f"a {action} with {attribute.removeprefix('property.')} {value} "
            f"in {lookback_days} days",
            filter_attribute=attribute,
            filter_operator="=",
            filter_value=value,
            min_count=1,
        )
        for attribute, value in filters
    ]


def _unique(candidates: list[Candidate]) -> list[Candidate]:
    seen: dict[str, Candidate] = {}
    for c in candidates:
        seen.setdefault(c.key, c)
    return list(seen.values())


def read_catalogue(project: Path) -> pd.DataFrame:
    return pd.read_csv(
        project / "seeds" / "property_catalogue.csv", dtype=str, keep_default_na=False
    )
