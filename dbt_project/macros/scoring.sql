{#- The day scores are computed for, as a SQL date literal. -#}
{% macro score_date() -%}
    {%- set value = var('score_date') -%}
    {%- if value -%}cast('{{ value }}' as date){%- else -%}current_date{%- endif -%}
{%- endmacro %}

{#- Limit a numeric expression to [low, high]. -#}
{% macro clamp(expression, low=0, high=100) -%}
    least(greatest({{ expression }}, {{ low }}), {{ high }})
{%- endmacro %}

{#- Half-life decay factor for an age in days: 1 today, 0.5 after one half-life. -#}
{% macro half_life_decay(age_days, half_life_days) -%}
    power(0.5, cast({{ age_days }} as {{ dbt.type_float() }}) / {{ half_life_days }})
{%- endmacro %}

{#- Join condition for a banded seed (lower_bound inclusive, upper_bound exclusive, null = open). -#}
{% macro in_band(value, band_alias) -%}
    ({{ band_alias }}.lower_bound is null or {{ value }} >= {{ band_alias }}.lower_bound)
    and ({{ band_alias }}.upper_bound is null or {{ value }} < {{ band_alias }}.upper_bound)
{%- endmacro %}

{#- Case-insensitive regular-expression match, dispatched per engine. -#}
{% macro regexp_matches(value, pattern) -%}
    {{ return(adapter.dispatch('regexp_matches', 'leadscore')(value, pattern)) }}
{%- endmacro %}

{% macro default__regexp_matches(value, pattern) -%}
    regexp_like(lower({{ value }}), {{ pattern }})
{%- endmacro %}

{% macro duckdb__regexp_matches(value, pattern) -%}
    regexp_matches(lower({{ value }}), {{ pattern }})
{%- endmacro %}

{% macro postgres__regexp_matches(value, pattern) -%}
    (lower({{ value }}) ~ {{ pattern }})
{%- endmacro %}

{#- Parse an ISO 8601 UTC timestamp text ("2026-11-18T14:03:22Z") into a timestamp. -#}
{% macro parse_utc_timestamp(column) -%}
    {{ return(adapter.dispatch('parse_utc_timestamp', 'leadscore')(column)) }}
{%- endmacro %}

{% macro default__parse_utc_timestamp(column) -%}
    cast(replace(replace({{ column }}, 'T', ' '), 'Z', '') as {{ dbt.type_timestamp() }})
{%- endmacro %}

{#- A double-precision float on every engine (dbt.type_float() is single precision on DuckDB). -#}
{% macro type_double() -%}
    {{ return(adapter.dispatch('type_double', 'leadscore')()) }}
{%- endmacro %}

{% macro default__type_double() -%}{{ dbt.type_float() }}{%- endmacro %}

{% macro duckdb__type_double() -%}double{%- endmacro %}

{#- Keep the newest version of each key: rank 1 = newest by the given order (none: by delivery
    alone). Ties go to the later file (its path ends in its day), then to the later row in it: what
    was delivered decides, not when it was loaded, so rerunning an older day never lets its rows
    beat a later day's, and a rerun gives what a clean run gives. -#}
{% macro newest_first(partition_by, order_by='updated_at desc') -%}
    row_number() over (
        partition by {{ partition_by }}
        order by {% if order_by %}{{ order_by }}, {% endif %}_source_file desc, _row_number desc
    )
{%- endmacro %}

{#- Point in time: only what had been delivered by the score date (a raw row's file day), so
    scoring a past date after later days were loaded gives what that day's run gave. -#}
{% macro delivered_by_score_date() -%}
    _file_day <= {{ score_date() }}
{%- endmacro %}

{#- Fixed-point type for points in rule ledgers: sums are exact and order-independent. -#}
{% macro points_type() -%}
    {{ return(adapter.dispatch('points_type', 'leadscore')()) }}
{%- endmacro %}

{% macro default__points_type() -%}decimal(18, 6){%- endmacro %}

{#- The rules each segment scores with: its own rows of a points seed, and the default rows for
    every key the segment does not override. `rules` has a segment column; `segments` lists the
    segments in use; `keys` identify a rule (e.g. ['action'] or ['attribute', 'value']). -#}
{% macro rules_per_segment(rules, segments, keys) -%}
    select
        {{ segments }}.segment as rule_set,
        {{ rules }}.*
    from {{ segments }}
    inner join {{ rules }}
        on {{ rules }}.segment = {{ segments }}.segment
    union all
    select
        {{ segments }}.segment as rule_set,
        defaults.*
    from {{ segments }}
    inner join {{ rules }} as defaults
        on defaults.segment = 'default'
    where not exists (
        select 1
        from {{ rules }} as own
        where
            own.segment = {{ segments }}.segment
    {%- for key in keys %}
                and own.{{ key }} = defaults.{{ key }}
    {%- endfor %}
    )
{%- endmacro %}

{#- Window decay factor for an age in days: 1 within the window, 0 after it. -#}
{% macro window_decay(age_days, window_days) -%}
    case when {{ age_days }} <= {{ window_days }} then 1 else 0 end
{%- endmacro %}

{#- The decay factor of a rule (columns decay, half_life_days, window_days of `rule`) for events
    `age_days` old: half_life halves, window cuts off, none keeps. -#}
{% macro decay_factor(age_days, rule) -%}
    case
        when {{ rule }}.decay = 'half_life' then {{ half_life_decay(age_days, rule ~ '.half_life_days') }}
        when {{ rule }}.decay = 'window' then {{ window_decay(age_days, rule ~ '.window_days') }}
        else 1
    end
{%- endmacro %}

{#- Days an invoice was paid after its due date, as of the score date (0 when on time; still
    open counts until the score date). -#}
{% macro days_late(due_date, paid_date) -%}
    greatest(
        {{ dbt.datediff(
            due_date,
            'case when ' ~ paid_date ~ ' <= ' ~ score_date() ~ ' then ' ~ paid_date ~ ' else ' ~ score_date() ~ ' end',
            'day'
        ) }},
        0
    )
{%- endmacro %}

{#- A subscription (alias `s`) runs on `day`: started, not ended, not cancelled or expired by then. -#}
{% macro active_on(s, day) -%}
    (
        {{ s }}.start_date <= {{ day }}
        and {{ s }}.end_date > {{ day }}
        and ({{ s }}.status = 'active' or cast({{ s }}.updated_at as date) > {{ day }})
    )
{%- endmacro %}

{#- The day of the month of a date (ANSI extract; dispatched for engines that differ). -#}
{% macro day_of_month(date_expression) -%}
    {{ return(adapter.dispatch('day_of_month', 'leadscore')(date_expression)) }}
{%- endmacro %}

{% macro default__day_of_month(date_expression) -%}
    extract(day from {{ date_expression }})
{%- endmacro %}
