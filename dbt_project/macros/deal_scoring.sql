{#- A whole percentage as text, e.g. "41" for 57 won of 139: round(100 x part / whole). -#}
{% macro percent_text(part, whole) -%}
    cast(cast(round(100.0 * {{ part }} / {{ whole }}) as integer) as {{ dbt.type_string() }})
{%- endmacro %}
