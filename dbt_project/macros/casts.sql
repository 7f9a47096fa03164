{#- A cast that gives null instead of failing on a value that does not convert (dbt's safe_cast
    is a plain cast on DuckDB). -#}
{% macro try_cast_to(field, type) -%}
    {{ return(adapter.dispatch('try_cast_to', 'leadscore')(field, type)) }}
{%- endmacro %}

{% macro default__try_cast_to(field, type) -%}
    {{ dbt.safe_cast(field, type) }}
{%- endmacro %}

{% macro duckdb__try_cast_to(field, type) -%}
    try_cast({{ field }} as {{ type }})
{%- endmacro %}
