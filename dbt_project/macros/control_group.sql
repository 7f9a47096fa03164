{#- The control group of the pilot: true for the var('control_group_share') of contacts whose salted
    hash falls in the first buckets. The hash depends only on the contact id and
    var('control_group_salt'), so a contact stays in (or out of) the group on every run and rerun;
    a share of 0 turns the group off. -#}
{% macro in_control_group(contact_id) -%}
    {%- set share = var('control_group_share') or 0 -%}
    {%- if share <= 0 -%}
        false
    {%- else -%}
        ({{ hash_bucket(
            "'" ~ var('control_group_salt') ~ ":' || " ~ contact_id, 10000
        ) }} < {{ share }} * 10000)
    {%- endif -%}
{%- endmacro %}

{#- A stable bucket 0 .. buckets-1 from the MD5 of a text, dispatched per engine. -#}
{% macro hash_bucket(text, buckets) -%}
    {{ return(adapter.dispatch('hash_bucket', 'leadscore')(text, buckets)) }}
{%- endmacro %}

{% macro default__hash_bucket(text, buckets) -%}
    mod(cast(conv(substr(md5({{ text }}), 1, 15), 16, 10) as bigint), {{ buckets }})
{%- endmacro %}

{% macro duckdb__hash_bucket(text, buckets) -%}
    cast(md5_number_lower({{ text }}) % {{ buckets }} as integer)
{%- endmacro %}

{% macro postgres__hash_bucket(text, buckets) -%}
    mod(('x' || substr(md5({{ text }}), 1, 15))::bit(60)::bigint, {{ buckets }})
{%- endmacro %}
