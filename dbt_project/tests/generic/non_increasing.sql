{#- Fails for rows where a column is larger than the column before it in `columns` (e.g. funnel
    stage counts: every stage at most the one before). Nulls pass; pair with not_null. -#}
{% test non_increasing(model, columns) %}
    {%- set conditions = [] -%}
    {%- for column in columns[1:] -%}
        {%- do conditions.append(column ~ ' > ' ~ columns[loop.index0]) -%}
    {%- endfor %}
    select *
    from {{ model }}
    where {{ conditions | join(' or ') }}
{% endtest %}
