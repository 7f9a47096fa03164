{#- The median of a numeric expression in an aggregate (nulls ignored), as a double. The ANSI
    ordered-set aggregate by default; an engine without it (BigQuery, Trino) adds its variant. -#}
{% macro median(expression) -%}
    {{ return(adapter.dispatch('median', 'leadscore')(expression)) }}
{%- endmacro %}

{% macro default__median(expression) -%}
    cast(percentile_cont(0.5) within group (order by {{ expression }}) as {{ type_double() }})
{%- endmacro %}
