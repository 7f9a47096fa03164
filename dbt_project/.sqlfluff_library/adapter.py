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


def _regex_is_valid(pattern):
    return f"(try(regexp_matches('', {pattern})) is not null)"


def _json_object_rows(relation, id_column, json_column):
    return (
        f"select entity_id, key as property, value as property_value from (select {id_column} "
        f"as entity_id, unnest(map_entries(json_transform({json_column}, "
        f"'\"MAP(VARCHAR, VARCHAR)\"')), recursive := true) from {relation} "
        f"where {json_column} is not null) as entries"
    )


def _json_value_text(json_column, key):
    return f"json_extract_string({json_column}, '$.\"' || {key} || '\"')"


def _try_cast_to(field, type):
    return f"try_cast({field} as {type})"


def _median(expression):
    return f"cast(percentile_cont(0.5) within group (order by {expression}) as double)"


def _hash_bucket(text, buckets):
    return f"cast(('0x' || substr(md5({text}), 1, 15))::bigint % {buckets} as integer)"


_MACROS = {
    "regexp_matches": _regexp_matches,
    "parse_utc_timestamp": _parse_utc_timestamp,
    "type_double": _type_double,
    "points_type": _points_type,
    "day_of_month": _day_of_month,
    "regex_is_valid": _regex_is_valid,
    "json_object_rows": _json_object_rows,
    "json_value_text": _json_value_text,
    "try_cast_to": _try_cast_to,
    "median": _median,
    "hash_bucket": _hash_bucket,
}


def dispatch(macro_name, macro_namespace=None):
    return _MACROS[macro_name]
