"""Stand-in for dbt's ``adapter.dispatch`` (lint only): renders the DuckDB variants."""


def _regexp_matches(value, pattern):
    return f"regexp_matches(lower({value}), {pattern})"


def _parse_utc_timestamp(column):
    return f"cast(replace(replace({column}, 'T', ' '), 'Z', '') as timestamp)"


def _type_double():
    return "double"


def _points_type():
    return "decimal(18, 6)"


def _day_of_month(date_expression):
    return f"extract(day from {date_expression})"


_MACROS = {
    "regexp_matches": _regexp_matches,
    "parse_utc_timestamp": _parse_utc_timestamp,
    "type_double": _type_double,
    "points_type": _points_type,
    "day_of_month": _day_of_month,
}


def dispatch(macro_name, macro_namespace=None):
    return _MACROS[macro_name]
