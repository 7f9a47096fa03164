{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='activity_date',
        on_schema_change='fail',
    )
}}

-- Events per person (web and CRM activities: contact id, email: address), day, action and topic /
-- product line, with their count and summed measures. Incremental: only the days touched by newly
-- staged events are recomputed (and replaced whole), so a daily run costs the day's delta.
-- Addresses are matched to contacts downstream (int_engagement_contact_daily).
with events as (
    select * from {{ ref('int_engagement_events') }}
),

{% if is_incremental() %}
    touched_days as (
        select distinct activity_date
        from events
        where _loaded_at > (select max(this_model._loaded_at) from {{ this }} as this_model)
    ),
{% endif %}

final as (
    select
        events.contact_id,
        events.email,
        events.activity_date,
        events.source,
        events.action,
        events.topic,
        events.product_line,
        count(*) as event_count,
        sum(events.duration_seconds) as duration_seconds,
        max(events._loaded_at) as _loaded_at
    from events
    {% if is_incremental() %}
        inner join touched_days
            on events.activity_date = touched_days.activity_date
    {% endif %}
    group by
        events.contact_id,
        events.email,
        events.activity_date,
        events.source,
        events.action,
        events.topic,
        events.product_line
)

select * from final
