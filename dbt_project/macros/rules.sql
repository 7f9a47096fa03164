{#- The rule language of the points tables (docs/rules.md): operators, how a value is tested,
    and the checks that stop a build on a bad rule row. -#}

{#- Operators a fit rule or an engagement filter may use; empty means '='. -#}
{% macro rule_operators() -%}
    {{ return(['=', 'in', 'contains', 'matches', 'between', 'is_known', 'is_unknown']) }}
{%- endmacro %}

{#- A SQL list literal of strings: ('a', 'b'). -#}
{% macro sql_list(values) -%}
    ({%- for value in values -%}'{{ value }}'{{ ", " if not loop.last }}{%- endfor -%})
{%- endmacro %}

{#- An attribute value that says nothing: missing, empty or the word unknown. -#}
{% macro value_is_unknown(value) -%}
    ({{ value }} is null or trim({{ value }}) = '' or lower(trim({{ value }})) = 'unknown')
{%- endmacro %}

{#- Does a value (its text, and its number or date where typed) pass rule `r`? `r` has the
    columns operator, value, low_number, high_number, low_date, high_date. is_unknown is tested
    where values are missing (no row), so it never matches a present value here. '=' compares a
    typed value as a number or a date (the CRM may write 6400.0, or a time of day), text
    case-insensitively. -#}
{% macro rule_matches(r, value_text, value_number, value_date) -%}
    case {{ r }}.operator
        when '=' then
            case
                when {{ value_number }} is not null
                    then {{ value_number }} = {{ try_cast_to("trim(" ~ r ~ ".value)", type_double()) }}
                when {{ value_date }} is not null
                    then {{ value_date }} = {{ try_cast_to("trim(" ~ r ~ ".value)", 'date') }}
                else lower(trim({{ value_text }})) = lower(trim({{ r }}.value))
            end
        when 'in' then {{ dbt.position("'|' || lower(trim(" ~ value_text ~ ")) || '|'", "'|' || lower(" ~ r ~ ".value) || '|'") }} > 0
        when 'contains' then {{ dbt.position('lower(' ~ r ~ '.value)', 'lower(' ~ value_text ~ ')') }} > 0
        when 'matches' then {{ regexp_matches(value_text, r ~ '.value') }}
        when 'between' then
            coalesce(
                ({{ r }}.low_number is null or {{ value_number }} >= {{ r }}.low_number)
                and ({{ r }}.high_number is null or {{ value_number }} <= {{ r }}.high_number)
                and ({{ r }}.low_date is null or {{ value_date }} >= {{ r }}.low_date)
                and ({{ r }}.high_date is null or {{ value_date }} <= {{ r }}.high_date),
                false
            )
        when 'is_known' then not {{ value_is_unknown(value_text) }}
        else false
    end
{%- endmacro %}

{#- The parsed ends of a `between` value ("low..high", either end may be empty) as numbers or
    dates, by the type of the attribute (`value_type`). -#}
{% macro between_ends(value, value_type) -%}
    case when {{ value_type }} = 'number' then
            {{ try_cast_to("nullif(trim(" ~ dbt.split_part(value, "'..'", 1) ~ "), '')", type_double()) }}
    end as low_number,
    case when {{ value_type }} = 'number' then
            {{ try_cast_to("nullif(trim(" ~ dbt.split_part(value, "'..'", 2) ~ "), '')", type_double()) }}
    end as high_number,
    case when {{ value_type }} = 'date' then
            {{ try_cast_to("nullif(trim(" ~ dbt.split_part(value, "'..'", 1) ~ "), '')", 'date') }}
    end as low_date,
    case when {{ value_type }} = 'date' then
            {{ try_cast_to("nullif(trim(" ~ dbt.split_part(value, "'..'", 2) ~ "), '')", 'date') }}
    end as high_date
{%- endmacro %}

{#- The problems of one rule condition (attribute known and typed as `value_type`, operator,
    value) as a text, or null when it is fine. `what` names the condition in the message. -#}
{% macro condition_problem(operator, value, value_type, allowed_values, what) -%}
    case
        when {{ operator }} not in {{ sql_list(rule_operators()) }}
            then 'unknown operator ''' || {{ operator }} || ''' in ' || {{ what }}
            || '; use one of {{ rule_operators() | join(", ") }}'
        when {{ operator }} in ('is_known', 'is_unknown') and nullif(trim({{ value }}), '') is not null
            then {{ operator }} || ' takes no value, but ' || {{ what }} || ' has ''' || {{ value }} || ''''
        when {{ operator }} not in ('is_known', 'is_unknown') and nullif(trim({{ value }}), '') is null
            then 'operator ' || {{ operator }} || ' needs a value, and ' || {{ what }} || ' has none'
        when {{ operator }} = 'between' and {{ value_type }} not in ('number', 'date')
            then 'between compares numbers or dates, but ' || {{ what }} || ' is ' || {{ value_type }}
        when {{ operator }} in ('contains', 'matches') and {{ value_type }} in ('number', 'date', 'boolean')
            then {{ operator }} || ' compares text, but ' || {{ what }} || ' is ' || {{ value_type }}
        when {{ operator }} = 'between' and {{ dbt.position("'..'", value) }} = 0
            then 'between needs low..high (an empty end is open), not ''' || {{ value }} || ''''
        when {{ operator }} = 'between' and {{ value_type }} = 'number' and (
            (nullif(trim({{ dbt.split_part(value, "'..'", 1) }}), '') is not null
                and {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 1) ~ ")", type_double()) }} is null)
            or (nullif(trim({{ dbt.split_part(value, "'..'", 2) }}), '') is not null
                and {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 2) ~ ")", type_double()) }} is null)
        )
            then 'between ''' || {{ value }} || ''' has an end that is not a number'
        when {{ operator }} = 'between' and {{ value_type }} = 'date' and (
            (nullif(trim({{ dbt.split_part(value, "'..'", 1) }}), '') is not null
                and {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 1) ~ ")", 'date') }} is null)
            or (nullif(trim({{ dbt.split_part(value, "'..'", 2) }}), '') is not null
                and {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 2) ~ ")", 'date') }} is null)
        )
            then 'between ''' || {{ value }} || ''' has an end that is not a date (YYYY-MM-DD)'
        when {{ operator }} = 'between' and (
            {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 1) ~ ")", type_double()) }}
            > {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 2) ~ ")", type_double()) }}
            or {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 1) ~ ")", 'date') }}
            > {{ try_cast_to("trim(" ~ dbt.split_part(value, "'..'", 2) ~ ")", 'date') }}
        )
            then 'between ''' || {{ value }} || ''' has its ends reversed (low..high)'
        when {{ operator }} = '=' and {{ value_type }} = 'number'
            and {{ try_cast_to("trim(" ~ value ~ ")", type_double()) }} is null
            then '= compares numbers, but ''' || {{ value }} || ''' is not a number'
        when {{ operator }} = '=' and {{ value_type }} = 'date'
            and {{ try_cast_to("trim(" ~ value ~ ")", 'date') }} is null
            then '= compares dates, but ''' || {{ value }} || ''' is not a date (YYYY-MM-DD)'
        when {{ operator }} = 'matches' and not {{ regex_is_valid(value) }}
            then 'matches ''' || {{ value }} || ''' is not a valid regular expression'
        when {{ operator }} = '=' and {{ value_type }} = 'enum'
            and {{ dbt.position("'|' || lower(trim(" ~ value ~ ")) || '|'", "'|' || lower(" ~ allowed_values ~ ") || '|'") }} = 0
            then 'value ''' || {{ value }} || ''' is not one of ' || {{ what }} || '''s allowed values ' || {{ allowed_values }}
    end
{%- endmacro %}

{#- Stop the build when `errors_sql` (one column: message) returns rows: every bad rule row is
    named with its seed file and what is wrong. Runs when the model runs, after the seeds. -#}
{% macro raise_rule_errors(errors_sql) -%}
    {#- unit tests give the model fixture rows, not the seeds: nothing to check there -#}
    {%- if execute and model.resource_type != 'unit_test' -%}
        {%- set found = run_query(errors_sql) -%}
        {%- if found.rows | length > 0 -%}
            {%- set lines = [] -%}
            {%- for row in found.rows -%}
                {%- do lines.append('  - ' ~ row[0]) -%}
            {%- endfor -%}
            {{ exceptions.raise_compiler_error(
                (found.rows | length) ~ " bad rule row(s); fix them and rerun:\n" ~ (lines | join("\n"))
            ) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{#- Is a regular expression valid? Checked where the engine can tell without failing the query. -#}
{% macro regex_is_valid(pattern) -%}
    {{ return(adapter.dispatch('regex_is_valid', 'leadscore')(pattern)) }}
{%- endmacro %}

{% macro default__regex_is_valid(pattern) -%}
    true
{%- endmacro %}

{% macro duckdb__regex_is_valid(pattern) -%}
    (try(regexp_matches('', {{ pattern }})) is not null)
{%- endmacro %}

{#- One row per key of a JSON object column: `id_column` as entity_id, property, property_value
    (text). `relation` is a relation or CTE name. -#}
{% macro json_object_rows(relation, id_column, json_column) -%}
    {{ return(adapter.dispatch('json_object_rows', 'leadscore')(relation, id_column, json_column)) }}
{%- endmacro %}

{% macro default__json_object_rows(relation, id_column, json_column) -%}
    select
        {{ relation }}.{{ id_column }} as entity_id,
        entries.key as property,
        entries.value as property_value
    from {{ relation }}
    cross join lateral json_each_text(cast({{ relation }}.{{ json_column }} as json)) as entries
    where {{ relation }}.{{ json_column }} is not null
{%- endmacro %}

{% macro duckdb__json_object_rows(relation, id_column, json_column) -%}
    select
        entity_id,
        key as property,
        value as property_value
    from (
        select
            {{ id_column }} as entity_id,
            unnest(
                map_entries(json_transform({{ json_column }}, '"MAP(VARCHAR, VARCHAR)"')), recursive := true
            )
        from {{ relation }}
        where {{ json_column }} is not null
    ) as entries
{%- endmacro %}

{#- The text value of key `key` (an expression) in a JSON object column (null when absent). -#}
{% macro json_value_text(json_column, key) -%}
    {{ return(adapter.dispatch('json_value_text', 'leadscore')(json_column, key)) }}
{%- endmacro %}

{% macro default__json_value_text(json_column, key) -%}
    (cast({{ json_column }} as json) ->> {{ key }})
{%- endmacro %}

{% macro duckdb__json_value_text(json_column, key) -%}
    json_extract_string({{ json_column }}, '$."' || {{ key }} || '"')
{%- endmacro %}

{#- True unless the record's newest version says it was deleted in the CRM (var deleted_property). -#}
{% macro not_deleted(json_column='_properties') -%}
    coalesce(
        lower({{ json_value_text(json_column, "'" ~ var('deleted_property') ~ "'") }}), 'false'
    ) != 'true'
{%- endmacro %}
