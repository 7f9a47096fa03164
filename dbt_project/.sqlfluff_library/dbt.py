"""Stand-ins for dbt's cross-database macros so sqlfluff's jinja templater can render models."""


def dateadd(datepart, interval, from_date_or_timestamp):
    return f"({from_date_or_timestamp} + to_days(cast({interval} as integer)))"


def datediff(first_date, second_date, datepart):
    return f"date_diff('{datepart}', {first_date}, {second_date})"


def split_part(string_text, delimiter_text, part_number):
    return f"split_part({string_text}, {delimiter_text}, {part_number})"


def type_numeric():
    return "numeric(28, 6)"


def type_float():
    return "double"


def type_timestamp():
    return "timestamp"


def type_string():
    return "varchar"


def date_trunc(datepart, date):
    return f"date_trunc('{datepart}', {date})"


def listagg(measure, delimiter_text, order_by_clause=None, limit_num=None):
    return f"string_agg({measure}, {delimiter_text} {order_by_clause or ''})"


def position(substring_text, string_text):
    return f"position({substring_text} in {string_text})"


def safe_cast(field, type):
    return f"try_cast({field} as {type})"


def generate_series(upper_bound):
    return f"select range as generated_number from range(1, {upper_bound} + 1)"
