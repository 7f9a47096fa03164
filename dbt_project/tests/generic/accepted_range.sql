{#- Fails for rows where the column is outside [min_value, max_value] (null passes; pair with not_null). -#}
{% test accepted_range(model, column_name, min_value=none, max_value=none) %}
    {%- set conditions = [] -%}
    {%- if min_value is not none -%}{%- do conditions.append(column_name ~ ' < ' ~ min_value) -%}{%- endif -%}
    {%- if max_value is not none -%}{%- do conditions.append(column_name ~ ' > ' ~ max_value) -%}{%- endif %}
    select *
    from {{ model }}
    where {{ conditions | join(' or ') }}
{% endtest %}
