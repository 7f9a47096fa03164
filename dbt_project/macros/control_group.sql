{#- The control group of the pilot: true for the var('control_group_share') of contacts whose salted
    hash falls in the first buckets. The hash depends only on the contact id and
    var('control_group_salt'), so a contact stays in (or out of) the group on every run and rerun;
    a share of 0 turns the group off. -#}
{% macro in_control_group(contact_id) -%}
    {%- set share = var('control_group_share') or 0 -%}
    {#- the share's resolution: 0.01 % -#}
    {%- set buckets = 10000 -%}
    {%- if share <= 0 -%}
        false
    {%- else -%}
        ({{ hash_bucket(
            "'" ~ var('control_group_salt') ~ ":' || " ~ contact_id, buckets
        ) }} < {{ share }} * {{ buckets }})
    {%- endif -%}
{%- endmacro %}

{#- A stable bucket 0 .. buckets-1: the first 15 hex digits of the MD5 of a text (60 bits, so it
    fits a bigint) modulo buckets. The same number on every engine, so moving the warehouse keeps
    the control group; only the hex-to-integer conversion is dispatched. -#}
{% macro hash_bucket(text, buckets) -%}
    {{ return(adapter.dispatch('hash_bucket', 'leadscore')(text, buckets)) }}
{%- endmacro %}

{% macro default__hash_bucket(text, buckets) -%}
    mod(cast(conv(substr(md5({{ text }}), 1, 15), 16, 10) as bigint), {{ buckets }})
{%- endmacro %}

{% macro duckdb__hash_bucket(text, buckets) -%}
    cast(('0x' || substr(md5({{ text }}), 1, 15))::bigint % {{ buckets }} as integer)
{%- endmacro %}

{% macro postgres__hash_bucket(text, buckets) -%}
    mod(('x' || substr(md5({{ text }}), 1, 15))::bit(60)::bigint, {{ buckets }})
{%- endmacro %}
