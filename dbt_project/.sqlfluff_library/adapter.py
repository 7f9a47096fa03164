"""Stand-in for dbt's ``adapter.dispatch`` (lint only): renders the DuckDB variants."""


def _regexp_matches(value, pattern):
    return f"regexp_matches(lower({value}), {pattern})"


def _parse_utc_timestamp(column):
    return f"cast(replace(replace({column}, 'T', ' '), 'Z', '') as timestamp)"


def _type_double():
    return "double"


_MACROS = {
    "regexp_matches": _regexp_matches,
    "parse_utc_timestamp": _parse_utc_timestamp,
    "type_double": _type_double,
}


def dispatch(macro_name, macro_namespace=None):
    return _MACROS[macro_name]
